/*
 * test_admin.c: the admin port (net/server.h admin_start) on a loop run in a
 * thread of this test: /healthz, /metrics in Prometheus text, other paths
 * and methods refused, an address by name, no port when --admin is empty,
 * and an address that does not resolve refused at start; --admin-token
 * (and its file, refused when others may read it) guarding /metrics only.
 */
#include "nettest.h"

#include <pthread.h>
#include <uv.h>

#include "config/config.h"
#include "metrics/metrics.h"
#include "net/server.h"
#include "util/common.h"
#include "util/log.h"

static struct config cfg;
static uv_loop_t loop;
static uv_async_t stop;
static pthread_t tid;

static void on_stop(uv_async_t *a)
{
    admin_stop();
    uv_close((uv_handle_t *)a, NULL);
}

static void *loop_main(void *arg)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    return NULL;
}

static int setup(void **state)
{
    log_set_level(LOG_ERROR);
    metrics_setup();
    config_defaults(&cfg);
    assert_int_equal(uv_loop_init(&loop), 0);
    return 0;
}

static int teardown(void **state)
{
    assert_int_equal(uv_loop_close(&loop), 0);
    config_free(&cfg);
    metrics_teardown();
    return 0;
}

/* Starts the admin port on cfg.admin and runs the loop in a thread. */
static void start(void)
{
    assert_int_equal(admin_start(&loop, &cfg), DDBX_OK);
    uv_async_init(&loop, &stop, on_stop);
    assert_int_equal(pthread_create(&tid, NULL, loop_main, NULL), 0);
}

static void finish(void)
{
    uv_async_send(&stop);
    pthread_join(tid, NULL);
}

/* Sends one request on a new connection; the response's status. */
static int ask(int port, const char *request, struct nettest_msg *m)
{
    struct nettest_stream *s = calloc(1, sizeof(*s));
    s->fd = nettest_connect(port, 5000);
    nettest_send_str(s->fd, request);
    if (!nettest_read_msg(s, m)) fail_msg("no answer to %s", request);
    close(s->fd);
    free(s);
    return m->status;
}

static void test_admin_paths(void **state)
{
    int port = nettest_free_port();
    nettest_set_address(&cfg.admin, "localhost:%d", port); /* a name */
    start();
    struct nettest_msg *m = malloc(sizeof(*m));
    assert_int_equal(ask(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", m), 200);
    assert_string_equal(m->body, "ok\n");
    assert_int_equal(ask(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", m), 200);
    char v[64];
    assert_string_equal(nettest_header(m->head, "content-type", v, sizeof(v)),
                        "text/plain; version=0.0.4");
    assert_contains(m->body, "# TYPE ddbx_requests_total counter\n");
    assert_contains(m->body, "# TYPE ddbx_backend_request_duration_seconds histogram\n");
    assert_contains(m->body, "\nddbx_http_errors_total 0\n");
    assert_null(nettest_header(m->head, "x-amz-crc32", v, sizeof(v))); /* not the API */
    assert_int_equal(ask(port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", m),
                     405);
    assert_int_equal(ask(port, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n", m), 404);
    assert_contains(m->body, "/healthz");
    finish();
    free(m);
}

static void test_no_admin_port(void **state)
{
    free(cfg.admin);
    cfg.admin = xstrdup("");
    assert_int_equal(admin_start(&loop, &cfg), DDBX_OK);
    admin_stop();                                      /* nothing to stop */
    assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0); /* no handle was opened */
}

static void test_bad_address_fails_at_start(void **state)
{
    nettest_set_address(&cfg.admin, "ddbx-no-such-admin.invalid:%d", 9111);
    assert_int_equal(admin_start(&loop, &cfg), DDBX_ERR);
    nettest_set_address(&cfg.admin, "%d", 9111);
    assert_int_equal(admin_start(&loop, &cfg), DDBX_ERR);
    assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);
}

static void test_admin_token(void **state)
{
    int port = nettest_free_port();
    nettest_set_address(&cfg.admin, "127.0.0.1:%d", port);
    free(cfg.admin_token);
    cfg.admin_token = xstrdup("s3cret-token");
    start();
    struct nettest_msg *m = malloc(sizeof(*m));
    char v[64];
    assert_int_equal(ask(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", m), 401);
    assert_string_equal(nettest_header(m->head, "www-authenticate", v, sizeof(v)),
                        "Bearer realm=\"ddbx\"");
    assert_not_contains(m->body, "ddbx_");
    assert_int_equal(
        ask(port, "GET /metrics HTTP/1.1\r\nAuthorization: Bearer s3cret-tokeN\r\n\r\n", m), 401);
    assert_int_equal(ask(port, "GET /metrics HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n", m),
                     401);
    assert_int_equal(
        ask(port, "GET /metrics HTTP/1.1\r\nAuthorization: Basic czNjcmV0LXRva2Vu\r\n\r\n", m),
        401);
    assert_int_equal(
        ask(port, "GET /metrics HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\n\r\n", m), 200);
    assert_contains(m->body, "# TYPE ddbx_requests_total counter\n");
    assert_int_equal(
        ask(port, "GET /metrics HTTP/1.1\r\nAuthorization: bearer s3cret-token\r\n\r\n", m), 200);
    /* health probes need no secret */
    assert_int_equal(ask(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", m), 200);
    finish();
    free(m);
}

static void test_admin_token_file(void **state)
{
    struct tmpdir d;
    tmpdir_create(&d);
    const char *path = tmpdir_write(&d, "token", "from-a-file\n");
    int port = nettest_free_port();
    nettest_set_address(&cfg.admin, "127.0.0.1:%d", port);
    free(cfg.admin_token_file);
    cfg.admin_token_file = xstrdup(path);
    assert_int_equal(chmod(path, 0644), 0); /* others may read it: refused */
    assert_int_equal(admin_start(&loop, &cfg), DDBX_ERR);
    assert_int_equal(chmod(path, 0600), 0);
    free(cfg.admin_token);
    cfg.admin_token = xstrdup("both"); /* a token and a file: refused */
    assert_int_equal(admin_start(&loop, &cfg), DDBX_ERR);
    free(cfg.admin_token);
    cfg.admin_token = xstrdup("");
    start();
    struct nettest_msg *m = malloc(sizeof(*m));
    assert_int_equal(ask(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", m), 401);
    assert_int_equal(
        ask(port, "GET /metrics HTTP/1.1\r\nAuthorization: Bearer from-a-file\r\n\r\n", m), 200);
    finish();
    free(m);
    tmpdir_remove(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_admin_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_admin_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_address_fails_at_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_token_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
