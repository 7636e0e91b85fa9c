/*
 * test_backend.c: the backend client (backend/backend.h) through its public
 * API, with the client --backend-client auto gives an http:// endpoint
 * (backend/http1.c), against a stub HTTP server on 127.0.0.1 run in a thread
 * of this test: a call answered (signed, its body and target sent,
 * the x-amzn-RequestId captured), error statuses passed through, a timeout,
 * a refused connection, a reset, connections kept and reused, in-flight
 * calls finished by backend_destroy, and the URLs setup refuses; then
 * (on the fixture of fixture.h, a scripted server on the client's own loop)
 * the endpoint URL and what it becomes on the wire (Host, path), the choice
 * of HTTP client (--backend-client, https://, proxies), and the SigV4
 * signature on every request, checked by ddbx's own verifier
 * (auth/verify.h) as DynamoDB would check it.
 */
#include "nettest.h"

#include <pthread.h>
#include <uv.h>

#include <time.h>

#include "auth/credentials.h"
#include "auth/verify.h"
#include "backend/backend.h"
#include "config/config.h"
#include "fixture.h"
#include "metrics/metrics.h"
#include "util/common.h"
#include "util/log.h"

/* ---- the stub server: one thread, poll(2) over its sockets ---- */

enum stub_mode {
    STUB_ANSWER,   /* 200, a request id, {"n":<request number>} */
    STUB_ERROR500, /* 500 with a DynamoDB error body and no request id */
    STUB_SILENT,   /* reads the request, never answers */
    STUB_RESET,    /* reads the request, resets the connection */
};

#define STUB_CONNS 8

struct stub {
    int listen_fd, port;
    int wake[2]; /* written to stop the thread */
    pthread_t tid;
    pthread_mutex_t lock;
    enum stub_mode mode;     /* set by the test, read by the thread */
    int accepted;            /* connections accepted */
    int requests;            /* whole requests read */
    struct nettest_msg last; /* the last request */
    struct nettest_stream conns[STUB_CONNS];
};

static void stub_close(struct nettest_stream *s, bool reset)
{
    if (reset) {
        struct linger l = {1, 0};
        setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
    close(s->fd);
    s->fd = -1;
    s->len = 0;
}

/* Serves every whole request in s's buffer; false if s was closed. */
static bool stub_serve(struct stub *st, struct nettest_stream *s)
{
    struct nettest_msg *m = malloc(sizeof(*m));
    bool open = true;
    while (open && nettest_take(s, m)) {
        pthread_mutex_lock(&st->lock);
        int n = ++st->requests;
        st->last = *m;
        enum stub_mode mode = st->mode;
        pthread_mutex_unlock(&st->lock);
        char reply[512];
        if (mode == STUB_ANSWER) {
            char body[32];
            int bl = snprintf(body, sizeof(body), "{\"n\":%d}", n);
            snprintf(reply, sizeof(reply),
                     "HTTP/1.1 200 OK\r\nx-amzn-RequestId: REQ-%d\r\n"
                     "Content-Type: application/x-amz-json-1.0\r\nContent-Length: %d\r\n\r\n%s",
                     n, bl, body);
            nettest_send_str(s->fd, reply);
        } else if (mode == STUB_ERROR500) {
            static const char body[] = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
                                       "InternalServerError\",\"message\":\"stub\"}";
            snprintf(reply, sizeof(reply),
                     "HTTP/1.1 500 Internal Server Error\r\nContent-Length: %zu\r\n\r\n%s",
                     sizeof(body) - 1, body);
            nettest_send_str(s->fd, reply);
        } else if (mode == STUB_RESET) {
            stub_close(s, true);
            open = false;
        }
    }
    free(m);
    return open;
}

static void *stub_main(void *arg)
{
    struct stub *st = arg;
    for (;;) {
        struct pollfd p[STUB_CONNS + 2] = {{st->wake[0], POLLIN, 0}, {st->listen_fd, POLLIN, 0}};
        for (int i = 0; i < STUB_CONNS; i++)
            p[i + 2] = (struct pollfd){st->conns[i].fd, POLLIN, 0};
        if (poll(p, STUB_CONNS + 2, -1) < 0) continue;
        if (p[0].revents) break;
        if (p[1].revents & POLLIN) {
            int fd = accept(st->listen_fd, NULL, NULL);
            for (int i = 0; fd >= 0 && i < STUB_CONNS; i++)
                if (st->conns[i].fd < 0) {
                    st->conns[i].fd = fd;
                    fd = -1;
                }
            if (fd >= 0) close(fd); /* more than STUB_CONNS at once: not in these tests */
            pthread_mutex_lock(&st->lock);
            st->accepted++;
            pthread_mutex_unlock(&st->lock);
        }
        for (int i = 0; i < STUB_CONNS; i++) {
            struct nettest_stream *s = &st->conns[i];
            if (s->fd < 0 || !(p[i + 2].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = recv(s->fd, s->buf + s->len, sizeof(s->buf) - s->len, 0);
            if (n <= 0) {
                stub_close(s, false);
                continue;
            }
            s->len += (size_t)n;
            stub_serve(st, s);
        }
    }
    return NULL;
}

static struct stub *stub_start(void)
{
    struct stub *st = calloc(1, sizeof(*st));
    st->listen_fd = nettest_listen(&st->port);
    assert_int_equal(pipe(st->wake), 0);
    pthread_mutex_init(&st->lock, NULL);
    for (int i = 0; i < STUB_CONNS; i++)
        st->conns[i].fd = -1;
    assert_int_equal(pthread_create(&st->tid, NULL, stub_main, st), 0);
    return st;
}

static void stub_stop(struct stub *st)
{
    assert_int_equal(write(st->wake[1], "x", 1), 1);
    pthread_join(st->tid, NULL);
    for (int i = 0; i < STUB_CONNS; i++)
        if (st->conns[i].fd >= 0) close(st->conns[i].fd);
    close(st->listen_fd);
    close(st->wake[0]);
    close(st->wake[1]);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

static void stub_set(struct stub *st, enum stub_mode mode)
{
    pthread_mutex_lock(&st->lock);
    st->mode = mode;
    pthread_mutex_unlock(&st->lock);
}

/* A copy of the last request the stub read. */
static void stub_last(struct stub *st, struct nettest_msg *m)
{
    pthread_mutex_lock(&st->lock);
    *m = st->last;
    pthread_mutex_unlock(&st->lock);
}

static int stub_count(struct stub *st, int *field)
{
    pthread_mutex_lock(&st->lock);
    int n = *field;
    pthread_mutex_unlock(&st->lock);
    return n;
}

/* ---- the client side: a loop, the backend, calls run to their end ---- */

struct fixture {
    struct stub *stub;
    struct config cfg;
    uv_loop_t loop;
    struct backend *b;
};

struct outcome {
    bool done;
    enum backend_outcome outcome;
    int status;
    char body[256];
    char request_id[128];
    uint64_t elapsed_ns;
    const char *error;
};

static void on_done(struct backend_result *res, void *arg)
{
    struct outcome *o = arg;
    o->done = true;
    o->outcome = res->outcome;
    o->status = res->status;
    snprintf(o->body, sizeof(o->body), "%.*s", (int)res->body.len,
             res->body.data ? res->body.data : "");
    snprintf(o->request_id, sizeof(o->request_id), "%s", res->request_id);
    o->elapsed_ns = res->elapsed_ns;
    o->error = res->error;
}

static void set_url(struct config *cfg, int port)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    free(cfg->backend);
    cfg->backend = xstrdup(url);
}

/* Sets the backend module up for cfg and gives the fixture a client. */
static void client_start(struct fixture *f)
{
    assert_int_equal(backend_setup(&f->cfg), DDBX_OK);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->b = backend_create(&f->loop);
}

static void client_stop(struct fixture *f)
{
    backend_destroy(f->b);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* the handles close */
    assert_int_equal(uv_loop_close(&f->loop), 0);
    backend_teardown();
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "test-secret", 1);
    unsetenv("AWS_SESSION_TOKEN");
    log_set_level(LOG_ERROR);
    metrics_setup();
    metrics_thread_register();
    config_defaults(&f->cfg);
    free(f->cfg.region);
    f->cfg.region = xstrdup("eu-west-1");
    f->cfg.backend_timeout = 2000;
    f->stub = stub_start();
    set_url(&f->cfg, f->stub->port);
    client_start(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    client_stop(f);
    stub_stop(f->stub);
    config_free(&f->cfg);
    metrics_teardown();
    free(f);
    return 0;
}

/* Sends `json` as `op` and runs the loop until the call's callback ran. */
static void call(struct fixture *f, const char *op, const char *json, struct outcome *o)
{
    char target[96];
    snprintf(target, sizeof(target), "DynamoDB_20120810.%s", op);
    struct buf body = BUF_INIT;
    buf_append_str(&body, json);
    memset(o, 0, sizeof(*o));
    backend_call(f->b, target, &body, on_done, o);
    assert_false(o->done);         /* never inside backend_call */
    assert_int_equal(body.len, 0); /* the body was taken */
    assert_int_equal(backend_inflight(f->b), 1);
    uint64_t deadline = nettest_now_ms() + 10000;
    while (!o->done) {
        uv_run(&f->loop, UV_RUN_ONCE);
        if (nettest_now_ms() > deadline) fail_msg("no callback within 10 s");
    }
    assert_int_equal(backend_inflight(f->b), 0);
    buf_free(&body);
}

static void test_call_answered(void **state)
{
    struct fixture *f = *state;
    struct outcome o;
    call(f, "GetItem", "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}}}", &o);
    assert_int_equal(o.outcome, BACKEND_ANSWERED);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "{\"n\":1}");
    assert_string_equal(o.request_id, "REQ-1"); /* x-amzn-RequestId captured */
    assert_true(o.elapsed_ns > 0);
    /* what the stub read: the target, the body, and ddbx's own signature */
    struct nettest_msg *m = malloc(sizeof(*m));
    stub_last(f->stub, m);
    char v[512];
    assert_true(strncmp(m->head, "POST / HTTP/1.1\r\n", 17) == 0);
    assert_string_equal(nettest_header(m->head, "x-amz-target", v, sizeof(v)),
                        "DynamoDB_20120810.GetItem");
    assert_string_equal(nettest_header(m->head, "content-type", v, sizeof(v)),
                        "application/x-amz-json-1.0");
    assert_string_equal(m->body, "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}}}");
    assert_non_null(nettest_header(m->head, "authorization", v, sizeof(v)));
    assert_true(strncmp(v, "AWS4-HMAC-SHA256 Credential=AKIDTEST/", 37) == 0);
    assert_contains(v, "/eu-west-1/dynamodb/aws4_request");
    assert_contains(v, "x-amz-target");
    assert_non_null(nettest_header(m->head, "x-amz-date", v, sizeof(v)));
    free(m);
    assert_int_equal(metrics_tls->backend_requests, 1);
    assert_int_equal(metrics_tls->backend_failures, 0);
}

static void test_connections_reused(void **state)
{
    struct fixture *f = *state;
    struct outcome o;
    for (int i = 1; i <= 5; i++) {
        call(f, "PutItem", "{}", &o);
        assert_int_equal(o.status, 200);
        char want[16];
        snprintf(want, sizeof(want), "REQ-%d", i);
        assert_string_equal(o.request_id, want);
    }
    assert_int_equal(stub_count(f->stub, &f->stub->accepted), 1);
    assert_int_equal(metrics_tls->backend_connections_opened, 1);
    assert_int_equal(metrics_tls->backend_connections, 1); /* kept open */
    assert_int_equal(metrics_tls->backend_requests, 5);
    client_stop(f);
    /* destroying the client closes its connection */
    assert_int_equal(metrics_tls->backend_connections, 0);
    client_start(f);
}

static void test_error_status_is_an_answer(void **state)
{
    struct fixture *f = *state;
    stub_set(f->stub, STUB_ERROR500);
    struct outcome o;
    call(f, "GetItem", "{}", &o);
    assert_int_equal(o.outcome, BACKEND_ANSWERED);
    assert_int_equal(o.status, 500);
    assert_contains(o.body, "#InternalServerError");
    assert_string_equal(o.request_id, ""); /* none was sent */
    assert_int_equal(metrics_tls->backend_failures, 0);
}

static void test_timeout(void **state)
{
    struct fixture *f = *state;
    client_stop(f);
    f->cfg.backend_timeout = 300;
    client_start(f);
    stub_set(f->stub, STUB_SILENT);
    struct outcome o;
    call(f, "GetItem", "{}", &o);
    assert_int_equal(o.outcome, BACKEND_TIMEOUT);
    assert_int_equal(o.status, 0);
    assert_non_null(o.error);
    assert_true(o.elapsed_ns >= 250 * 1000000ull && o.elapsed_ns < 5000 * 1000000ull);
    assert_int_equal(metrics_tls->backend_timeouts, 1);
    assert_int_equal(metrics_tls->backend_failures, 1);
    /* the next call gets an answer, on a new connection */
    stub_set(f->stub, STUB_ANSWER);
    call(f, "GetItem", "{}", &o);
    assert_int_equal(o.status, 200);
    assert_int_equal(stub_count(f->stub, &f->stub->accepted), 2);
}

static void test_refused(void **state)
{
    struct fixture *f = *state;
    client_stop(f);
    set_url(&f->cfg, nettest_free_port());
    client_start(f);
    struct outcome o;
    call(f, "GetItem", "{}", &o);
    assert_int_equal(o.outcome, BACKEND_UNREACHABLE);
    assert_int_equal(o.status, 0);
    assert_non_null(o.error);
    assert_int_equal(metrics_tls->backend_failures, 1);
    assert_int_equal(metrics_tls->backend_timeouts, 0);
    assert_int_equal(metrics_tls->backend_connections, 0);
}

static void test_reset(void **state)
{
    struct fixture *f = *state;
    stub_set(f->stub, STUB_RESET);
    struct outcome o;
    call(f, "PutItem", "{}", &o);
    assert_int_equal(o.outcome, BACKEND_IO_ERROR);
    assert_int_equal(o.status, 0);
    assert_int_equal(metrics_tls->backend_failures, 1);
    assert_int_equal(metrics_tls->backend_timeouts, 0);
}

/* backend_destroy finishes calls still in flight, so their owners can
 * release their requests. */
static void test_destroy_finishes_inflight(void **state)
{
    struct fixture *f = *state;
    stub_set(f->stub, STUB_SILENT);
    struct buf body = BUF_INIT;
    buf_append_str(&body, "{}");
    struct outcome o = {0};
    backend_call(f->b, "DynamoDB_20120810.GetItem", &body, on_done, &o);
    uint64_t deadline = nettest_now_ms() + 10000;
    while (stub_count(f->stub, &f->stub->requests) < 1) { /* the request is out */
        uv_run(&f->loop, UV_RUN_NOWAIT);
        if (nettest_now_ms() > deadline) fail_msg("the request never reached the stub");
    }
    assert_false(o.done);
    backend_destroy(f->b);
    assert_true(o.done);
    assert_int_equal(o.outcome, BACKEND_IO_ERROR);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    backend_teardown();
    buf_free(&body);
    client_start(f); /* for teardown */
}

/* A backend URL is refused at setup unless it is http(s) and its host
 * resolves; a name that resolves is taken. */
static void test_setup_checks_the_url(void **state)
{
    struct fixture *f = *state;
    client_stop(f);
    static const char *const bad[] = {"http://ddbx-no-such-backend.invalid:8000",
                                      "ftp://127.0.0.1/", "not a url", "http://[::1:80/"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        free(f->cfg.backend);
        f->cfg.backend = xstrdup(bad[i]);
        if (backend_setup(&f->cfg) != DDBX_ERR) fail_msg("%s was accepted", bad[i]);
    }
    char url[64];
    snprintf(url, sizeof(url), "http://localhost:%d", f->stub->port);
    free(f->cfg.backend);
    f->cfg.backend = xstrdup(url);
    client_start(f);
    assert_string_equal(backend_region(), "eu-west-1");
    struct outcome o;
    call(f, "GetItem", "{}", &o); /* through the name */
    assert_int_equal(o.status, 200);
}

/* ---- the endpoint, the client chosen, the signature (fixture.h) ---- */

#define GET_BODY "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"k\"}}}"

/* backend_setup for url and client; on success *name gets the client chosen
 * (may be NULL). Returns backend_setup's result; tears down again. */
static int setup_with(const char *url, const char *client, char name[16])
{
    struct config cfg;
    config_defaults(&cfg);
    free(cfg.backend);
    cfg.backend = xstrdup(url);
    free(cfg.backend_client);
    cfg.backend_client = xstrdup(client);
    int rc = backend_setup(&cfg);
    if (rc == 0) {
        if (name) snprintf(name, 16, "%s", backend_client_name());
        backend_teardown();
    }
    config_free(&cfg);
    return rc;
}

static void bad_endpoints_are_refused(void **state)
{
    const char *bad[] = {"ftp://host/",
                         "http://",
                         "http://:8000",
                         "http://h:0",
                         "http://h:65536",
                         "http://h:12x",
                         "http://user@h:8000",
                         "http://h:8000/?q=1",
                         "http://[::1:8000",
                         "http://[::1]x:8000",
                         "h:8000",
                         "http://h:8000/#frag"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        if (setup_with(bad[i], "auto", NULL) != -1) fail_msg("accepted %s", bad[i]);
    assert_int_equal(setup_with("http://127.0.0.1:8000", "libcurl", NULL), -1);
}

static const char *client_for(const char *url, const char *client)
{
    static char name[16];
    assert_int_equal(setup_with(url, client, name), 0);
    return name;
}

static void the_client_follows_the_scheme_proxies_and_the_option(void **state)
{
    assert_string_equal(client_for("http://127.0.0.1:8000", "auto"), "http1");
    assert_string_equal(client_for("http://[::1]:8000/", "auto"), "http1");
    assert_string_equal(client_for("https://127.0.0.1:8443/", "auto"), "curl");
    assert_string_equal(client_for("http://127.0.0.1:8000", "curl"), "curl");
    setenv("http_proxy", "http://127.0.0.1:3128", 1);
    assert_string_equal(client_for("http://127.0.0.1:8000", "auto"), "curl");
    unsetenv("http_proxy");
    setenv("ALL_PROXY", "socks5://127.0.0.1:1080", 1);
    assert_string_equal(client_for("http://127.0.0.1:8000", "auto"), "curl");
    unsetenv("ALL_PROXY");
}

/* Verifies the recorded request's signature as DynamoDB would, against the
 * principals in keys_text; returns verify_request's result. */
static int verify_with(const struct ts_request *r, const char *keys_text)
{
    struct auth_keys *keys;
    struct buf err = BUF_INIT;
    if (credentials_parse(keys_text, strlen(keys_text), "test", &keys, &err) != 0)
        fail_msg("%s", err.data);
    buf_free(&err);
    struct sigv4_request sr = {r->method,  r->path.data, r->path.len,  NULL,       0,
                               r->headers, r->nheaders,  r->body.data, r->body.len};
    struct verify_params vp = {"us-east-1", "dynamodb", (int64_t)time(NULL)};
    const struct auth_principal *who = NULL;
    struct auth_failure f;
    auth_failure_init(&f);
    int rc = verify_request(&sr, &vp, keys, &who, &f);
    if (rc == 0) assert_string_equal(auth_principal_key_id(who), FX_KEY_ID);
    auth_failure_free(&f);
    auth_keys_release(keys);
    return rc;
}

static void assert_verifies(const struct ts_request *r)
{
    if (verify_with(r, FX_KEY_ID " " FX_SECRET "\n") != 0)
        fail_msg("signature refused: %s", ts_header(r, "authorization"));
}

static void requests_are_signed_as_dynamodb_checks(void **state)
{
    struct fx f;
    struct got g = {0};
    fx_start(&f, NULL, 5000);
    fx_roundtrip(&f, GET_BODY, &g);
    got_free(&g);
    fx_call(&f, "DynamoDB_20120810.ListTables", "{}", 2, &g);
    fx_wait(&f, &g);
    got_free(&g);
    for (int i = 0; i < 2; i++) {
        const struct ts_request *r = ts_request(f.srv, i);
        assert_verifies(r);
        const char *auth = ts_header(r, "authorization");
        assert_contains(auth, "SignedHeaders=content-type;host;x-amz-date;x-amz-target,");
        assert_contains(auth, "/us-east-1/dynamodb/aws4_request");
        assert_null(ts_header(r, "x-amz-security-token"));
    }
    /* a wrong secret does not verify: the check above means something */
    assert_int_equal(verify_with(ts_request(f.srv, 0), FX_KEY_ID " not-the-secret\n"), -1);
    fx_stop(&f);
}

static void session_token_is_sent_and_signed(void **state)
{
    struct fx f;
    struct got g = {0};
    fx_session_token = "FwoGZXIvYXdzEDEVtoken";
    fx_start(&f, NULL, 5000);
    fx_session_token = NULL;
    fx_roundtrip(&f, GET_BODY, &g);
    got_free(&g);
    const struct ts_request *r = ts_request(f.srv, 0);
    assert_string_equal(ts_header(r, "x-amz-security-token"), "FwoGZXIvYXdzEDEVtoken");
    assert_contains(
        ts_header(r, "authorization"),
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,");
    assert_verifies(r);
    fx_stop(&f);
}

static void host_and_path_come_from_the_url(void **state)
{
    struct fx f;
    struct got g = {0};
    /* a name to resolve (the client's asynchronous resolver path) and a path */
    fx_start(&f, "http://localhost:%d/prefix/path", 5000);
    fx_roundtrip(&f, GET_BODY, &g);
    assert_int_equal(g.outcome, BACKEND_ANSWERED);
    got_free(&g);
    const struct ts_request *r = ts_request(f.srv, 0);
    char host[32];
    snprintf(host, sizeof(host), "localhost:%d", ts_port(f.srv));
    assert_string_equal(ts_header(r, "host"), host);
    assert_string_equal(r->path.data, "/prefix/path");
    assert_verifies(r);
    fx_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_call_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connections_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_status_is_an_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_finishes_inflight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setup_checks_the_url, setup, teardown),
        cmocka_unit_test(bad_endpoints_are_refused),
        cmocka_unit_test(the_client_follows_the_scheme_proxies_and_the_option),
        cmocka_unit_test(requests_are_signed_as_dynamodb_checks),
        cmocka_unit_test(session_token_is_sent_and_signed),
        cmocka_unit_test(host_and_path_come_from_the_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
