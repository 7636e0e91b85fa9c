/*
 * test_addr.c: HOST:PORT parsing and resolution (util/addr.h): literals and
 * names ("localhost", the machine's own name), IPv6 in brackets, the syntax
 * refused, a name that cannot resolve, and an address resolved from a name
 * actually listened on and connected to.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "util/addr.h"
#include "util/common.h"

static void test_split(void **state)
{
    static const struct {
        const char *in, *host;
        uint16_t port;
    } good[] = {
        {"0.0.0.0:8111", "0.0.0.0", 8111},
        {"localhost:0", "localhost", 0},
        {"ddbx-2:7000", "ddbx-2", 7000},
        {"[::1]:0", "::1", 0},
        {"[fe80::1%lo]:65535", "fe80::1%lo", 65535},
        {"dynamodb.us-east-1.amazonaws.com:443", "dynamodb.us-east-1.amazonaws.com", 443},
    };
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        char host[64];
        uint16_t port = 1;
        assert_int_equal(addr_split(good[i].in, host, sizeof(host), &port), DDBX_OK);
        assert_string_equal(host, good[i].host);
        assert_int_equal(port, good[i].port);
    }
    static const char *const bad[] = {
        "",
        ":80",
        "host",
        "host:",
        "host:x",
        "host:65536",
        "host:-1",
        "host:8 0",
        "::1:80",
        "[::1]80",
        "[::1]",
        "[::1",
        "[]:80",
        "a]:1",
        "[a]b]:1",
        "host:1:",
        "h:99999999999999999999",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        char host[64];
        uint16_t port;
        if (addr_split(bad[i], host, sizeof(host), &port) != ADDR_ESYNTAX)
            fail_msg("\"%s\" was accepted", bad[i]);
    }
    /* a host longer than the caller's buffer is refused, not cut */
    char small[4];
    uint16_t port;
    assert_int_equal(addr_split("abcd:1", small, sizeof(small), &port), ADDR_ESYNTAX);
    assert_int_equal(addr_split("abc:1", small, sizeof(small), &port), DDBX_OK);
}

/* Resolves s, expecting success; returns the numeric form. */
static const char *resolved(const char *s, struct sockaddr_storage *a, socklen_t *len)
{
    static char text[64];
    char err[256] = "";
    if (addr_resolve(s, a, len, err, sizeof(err)) != DDBX_OK) fail_msg("%s: %s", s, err);
    addr_format((struct sockaddr *)a, text, sizeof(text));
    return text;
}

static void test_resolve_literals_and_names(void **state)
{
    struct sockaddr_storage a;
    socklen_t len;
    assert_string_equal(resolved("127.0.0.1:8111", &a, &len), "127.0.0.1:8111");
    assert_int_equal(a.ss_family, AF_INET);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_string_equal(resolved("0.0.0.0:0", &a, &len), "0.0.0.0:0");
    assert_string_equal(resolved("[::1]:9111", &a, &len), "[::1]:9111");
    assert_int_equal(a.ss_family, AF_INET6);
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    /* a name: IPv4 first when it has both (what "localhost" always meant here) */
    assert_string_equal(resolved("localhost:7000", &a, &len), "127.0.0.1:7000");
    /* the machine's own name, as a cluster node would give its --listen */
    char self[256], hostport[300];
    assert_int_equal(gethostname(self, sizeof(self)), 0);
    snprintf(hostport, sizeof(hostport), "%s:7000", self);
    const char *text = resolved(hostport, &a, &len);
    assert_true(strlen(text) > 5 && strcmp(text + strlen(text) - 5, ":7000") == 0);
}

static void test_resolve_errors(void **state)
{
    struct sockaddr_storage a;
    socklen_t len;
    char err[256];
    /* .invalid never resolves (RFC 6761) */
    assert_int_equal(addr_resolve("ddbx-no-such-node.invalid:7000", &a, &len, err, sizeof(err)),
                     ADDR_ERESOLVE);
    assert_contains(err, "cannot resolve \"ddbx-no-such-node.invalid\"");
    assert_int_equal(addr_resolve("localhost", &a, &len, err, sizeof(err)), ADDR_ESYNTAX);
    assert_contains(err, "not HOST:PORT");
    assert_int_equal(addr_resolve("::1:80", &a, &len, err, sizeof(err)), ADDR_ESYNTAX);
    assert_contains(err, "[::1]");
    assert_int_equal(addr_resolve_host("[::1]", 80, &a, &len, err, sizeof(err)), ADDR_ERESOLVE);
}

/* "localhost:0" resolved, bound and listened on: a client reaches it. */
static void test_resolved_name_listens(void **state)
{
    struct sockaddr_storage a;
    socklen_t len;
    resolved("localhost:0", &a, &len);
    int srv = socket(a.ss_family, SOCK_STREAM, 0);
    assert_true(srv >= 0);
    assert_int_equal(bind(srv, (struct sockaddr *)&a, len), 0);
    assert_int_equal(listen(srv, 1), 0);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    assert_int_equal(getsockname(srv, (struct sockaddr *)&bound, &blen), 0);
    char text[64];
    addr_format((struct sockaddr *)&bound, text, sizeof(text));
    assert_true(strncmp(text, "127.0.0.1:", 10) == 0);
    assert_true(atoi(text + 10) > 0);
    int cli = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(cli, (struct sockaddr *)&bound, blen), 0);
    int got = accept(srv, NULL, NULL);
    assert_true(got >= 0);
    close(got);
    close(cli);
    close(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_resolve_literals_and_names),
        cmocka_unit_test(test_resolve_errors),
        cmocka_unit_test(test_resolved_name_listens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
