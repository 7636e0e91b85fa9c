/*
 * test_conn.c: what the connection layer (net/conn.h) writes without a
 * socket: the reason phrase of every status, from proto/http_status.tsv.
 * Replies themselves are driven over sockets by tests/integration/test_http.py
 * and test_conformance.py.
 */
#include "testutil.h"

#include "net/conn.h"

static void test_reasons_match_tsv(void **state)
{
    struct tsv t;
    tsv_load(&t, PROTO_DIR "/http_status.tsv");
    assert_true(t.nrows >= 10);
    for (int i = 0; i < t.nrows; i++) {
        assert_int_equal(t.ncols[i], 2);
        assert_string_equal(conn_reason(atoi(t.col[i][0])), t.col[i][1]);
    }
    tsv_free(&t);
    /* the admin port's refusal of other methods, once "405 Bad Request" */
    assert_string_equal(conn_reason(405), "Method Not Allowed");
    /* a status without a row gets its class's: relayed backend statuses stay readable */
    assert_string_equal(conn_reason(429), "Bad Request");
    assert_string_equal(conn_reason(502), "Internal Server Error");
    assert_string_equal(conn_reason(204), "OK");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reasons_match_tsv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
