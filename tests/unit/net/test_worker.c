/*
 * test_worker.c: the worker threads (net/server.h): --listen given as a host
 * name, an IPv4 or a bracketed IPv6 address is bound and served (the health
 * answer on GET /), an unresolvable name or a bad address fails at start,
 * several workers share one port, and a stop ends every worker.
 */
#include "nettest.h"

#include "backend/backend.h"
#include "config/config.h"
#include "metrics/metrics.h"
#include "net/server.h"
#include "util/common.h"
#include "util/log.h"

static struct config cfg;

static int setup(void **state)
{
    log_set_level(LOG_ERROR);
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "test-secret", 1);
    metrics_setup();
    config_defaults(&cfg);
    free(cfg.backend);
    cfg.backend = xstrdup("http://127.0.0.1:9");
    free(cfg.region);
    cfg.region = xstrdup("eu-west-1");
    cfg.threads = 1;
    assert_int_equal(backend_setup(&cfg), DDBX_OK);
    return 0;
}

static int teardown(void **state)
{
    backend_teardown();
    config_free(&cfg);
    metrics_teardown();
    return 0;
}

static void stop_workers(void)
{
    server_stop();
    uint64_t deadline = nettest_now_ms() + 10000;
    while (!server_stopped()) {
        assert_true(nettest_now_ms() < deadline);
        usleep(1000);
    }
    server_join();
}

/* GET / on a connected socket: DynamoDB's health answer. */
static void expect_health(int fd)
{
    struct nettest_stream *s = calloc(1, sizeof(*s));
    struct nettest_msg *m = malloc(sizeof(*m));
    s->fd = fd;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    nettest_send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(nettest_read_msg(s, m));
    assert_int_equal(m->status, 200);
    assert_true(strncmp(m->body, "healthy: dynamodb.eu-west-1.amazonaws.com", 41) == 0);
    close(fd);
    free(s);
    free(m);
}

static void test_listen_on_a_name(void **state)
{
    int port = nettest_free_port();
    nettest_set_address(&cfg.listen, "localhost:%d", port);
    assert_int_equal(server_start(&cfg), DDBX_OK);
    expect_health(nettest_connect(port, 5000));
    stop_workers();
}

static void test_listen_on_ipv6(void **state)
{
    int port = nettest_free_port();
    nettest_set_address(&cfg.listen, "[::1]:%d", port);
    assert_int_equal(server_start(&cfg), DDBX_OK);
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    a.sin6_addr = in6addr_loopback;
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    expect_health(fd);
    stop_workers();
}

/* Several workers bind the one port (SO_REUSEPORT); every connection is served. */
static void test_workers_share_the_port(void **state)
{
    int port = nettest_free_port();
    nettest_set_address(&cfg.listen, "127.0.0.1:%d", port);
    cfg.threads = 3;
    assert_int_equal(server_start(&cfg), DDBX_OK);
    for (int i = 0; i < 12; i++)
        expect_health(nettest_connect(port, 5000));
    stop_workers();
}

static void test_bad_listen_fails_at_start(void **state)
{
    static const char *const bad[] = {"ddbx-no-such-node.invalid:7000", "localhost", "::1:80",
                                      "127.0.0.1:65536", "999.0.0.1:80"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        free(cfg.listen);
        cfg.listen = xstrdup(bad[i]);
        if (server_start(&cfg) != DDBX_ERR) fail_msg("--listen %s was accepted", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_listen_on_a_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_on_ipv6, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workers_share_the_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_listen_fails_at_start, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
