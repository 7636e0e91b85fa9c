/*
 * test_relay.c: relayed operations (src/handler/relay.c, request.c) against a
 * fake backend: bodies and answers pass unchanged, answers that describe a
 * table teach ddbx its key schema, a backend that does not answer gives a
 * DynamoDB-shaped 5xx (one that answers is relayed whatever its body), DescribeEndpoints is
 * answered by ddbx itself.
 */
#include "handler_test.h"

static void test_relayed_unchanged_both_ways(void **state)
{
    static const char *const ops[] = {"DescribeTimeToLive", "ListTagsOfResource", "ListTables",
                                      "UpdateTimeToLive"};
    for (size_t i = 0; i < ARRAY_LEN(ops); i++) {
        const char *body = "{\"TableName\":\"t\", \"Limit\" : 1}";
        int c = ht.ncalls;
        struct ht_req *q = ht_send(ops[i], body);
        ht_expect(c, ops[i], NULL);
        assert_string_equal(ht_call(c)->body.data, body);
        const char *ans = "{\"Items\":[],\"Count\":0,\"ScannedCount\":0}";
        ht_answer(c, 200, ans);
        ht_replied(q, 200, ans);
        assert_false(q->crc_set); /* the network layer computes the CRC of what it sends */
    }
}

static void test_describe_table_teaches_the_schema(void **state)
{
    struct ht_req *q = ht_send("DescribeTable", "{\"TableName\":\"t\"}");
    char ans[700];
    snprintf(ans, sizeof(ans), "{\"Table\":%s}", ht_description("t", 'S'));
    ht_answer(0, 200, ans);
    ht_replied(q, 200, ans);
    ht_miss("t", "a", "1"); /* no DescribeTable first */
    ht_hit("t", "a", "1");
}

static void test_no_answer_is_a_dynamodb_5xx(void **state)
{
    static const struct {
        enum backend_outcome outcome;
        int status;
        const char *type;
    } cases[] = {{BACKEND_TIMEOUT, 500, "InternalServerError"},
                 {BACKEND_UNREACHABLE, 503, "ServiceUnavailable"},
                 {BACKEND_IO_ERROR, 500, "InternalServerError"}};
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        int c = ht.ncalls;
        struct ht_req *q = ht_send("DescribeTimeToLive", "{\"TableName\":\"t\"}");
        ht_fail(c, cases[i].outcome);
        assert_int_equal(q->status, cases[i].status);
        assert_contains(q->body, cases[i].type);
    }
    /* an answer, whatever its body, goes back as it came (TagResource's is empty) */
    struct ht_req *q = ht_send("DescribeTimeToLive", "{\"TableName\":\"t\"}");
    ht_answer(ht.ncalls - 1, 502, "<html>bad gateway</html>");
    ht_replied(q, 502, "<html>bad gateway</html>");
    q = ht_send("TagResource", "{\"ResourceArn\":\"arn\",\"Tags\":[]}");
    ht_answer(ht.ncalls - 1, 200, "");
    ht_replied(q, 200, "");
}

static void test_a_body_that_is_not_an_object_is_refused(void **state)
{
    static const char *const bodies[] = {"[]", "nope", "{\"a\":1", "\"x\""};
    for (size_t i = 0; i < ARRAY_LEN(bodies); i++) {
        struct ht_req *q = ht_send("Query", bodies[i]);
        assert_int_equal(q->status, 400);
        assert_contains(q->body, "SerializationException");
    }
    assert_int_equal(ht.ncalls, 0);
}

static void test_describe_endpoints_points_back_at_ddbx(void **state)
{
    struct ht_req *q = ht_send("DescribeEndpoints", "{}");
    assert_int_equal(ht.ncalls, 0);
    ht_replied(q, 200,
               "{\"Endpoints\":[{\"Address\":\"localhost\",\"CachePeriodInMinutes\":1440}]}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_relayed_unchanged_both_ways, ht_setup, ht_teardown),
        cmocka_unit_test_setup_teardown(test_describe_table_teaches_the_schema, ht_setup,
                                        ht_teardown),
        cmocka_unit_test_setup_teardown(test_no_answer_is_a_dynamodb_5xx, ht_setup, ht_teardown),
        cmocka_unit_test_setup_teardown(test_a_body_that_is_not_an_object_is_refused, ht_setup,
                                        ht_teardown),
        cmocka_unit_test_setup_teardown(test_describe_endpoints_points_back_at_ddbx, ht_setup,
                                        ht_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
