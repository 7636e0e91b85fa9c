/*
 * test_get.c: GetItem (src/handler/get.c) against a fake backend and clock:
 * misses read the whole item once and cache it, hits and negative hits need
 * no backend, projections and consumed capacity are answered from the cache,
 * concurrent misses coalesce, a fill that a write overtook never lands,
 * consistent reads always read, held keys are never cached, TTLs, table ARNs,
 * and whatever ddbx cannot answer itself is relayed as it came.
 */
#include "handler_test.h"

static void test_miss_reads_whole_item_once_then_hits(void **state)
{
    struct ht_req *q = ht_get("t", "a");
    ht_describe(0, "t");
    /* the whole item, consistently (--fill-consistent), whatever was asked */
    ht_expect(1, "GetItem", "\"ConsistentRead\":true");
    ht_answer(1, 200, ht_item("a", "1"));
    ht_replied(q, 200, ht_item("a", "1"));
    assert_true(q->crc_set);
    for (int i = 0; i < 5; i++)
        ht_hit("t", "a", "1");
    assert_int_equal(ht.ncalls, 2);
}

static void test_not_found_is_cached(void **state)
{
    ht_known_table("t");
    ht_miss("t", "b", NULL);
    ht_hit("t", "b", NULL);
}

static void test_projection_and_capacity_from_the_cache(void **state)
{
    ht_known_table("t");
    ht_cached("t", "a", "1");
    struct ht_req *q = ht_send("GetItem", "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}},"
                                          "\"ProjectionExpression\":\"v\"}");
    ht_replied(q, 200, "{\"Item\":{\"v\":{\"S\":\"1\"}}}");
    q = ht_send("GetItem", "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}},"
                           "\"AttributesToGet\":[\"pk\"],\"ReturnConsumedCapacity\":\"TOTAL\"}");
    ht_replied(q, 200,
               "{\"Item\":{\"pk\":{\"S\":\"a\"}},"
               "\"ConsumedCapacity\":{\"TableName\":\"t\",\"CapacityUnits\":0.5}}");
    /* the caller's own read, as DynamoDB charges it: 0.5 per 4 KB, eventually
     * consistent, whether the cache or a consistent fill answered */
    assert_int_equal(ht.ncalls, 3); /* describe, the fill: nothing since */
}

static void test_equal_numbers_are_one_key(void **state)
{
    struct ht_req *q = ht_send("GetItem", "{\"TableName\":\"n\",\"Key\":{\"pk\":{\"N\":\"1\"}}}");
    ht_describe_type(0, "n", 'N');
    ht_answer(1, 200, "{\"Item\":{\"pk\":{\"N\":\"1\"}}}");
    ht_replied(q, 200, "{\"Item\":{\"pk\":{\"N\":\"1\"}}}");
    static const char *const same[] = {"1.0", "01", "1E0", "10e-1", "0.1e1"};
    for (size_t i = 0; i < ARRAY_LEN(same); i++) {
        char b[128];
        snprintf(b, sizeof(b), "{\"TableName\":\"n\",\"Key\":{\"pk\":{\"N\":\"%s\"}}}", same[i]);
        q = ht_send("GetItem", b);
        ht_replied(q, 200, "{\"Item\":{\"pk\":{\"N\":\"1\"}}}");
    }
    assert_int_equal(ht.ncalls, 2);
}

static void test_concurrent_misses_make_one_read(void **state)
{
    ht_known_table("t");
    int c = ht.ncalls;
    struct ht_req *q[5];
    for (int i = 0; i < 5; i++)
        q[i] = ht_get("t", "a");
    assert_int_equal(ht.ncalls, c + 1);
    ht_answer(c, 200, ht_item("a", "1"));
    for (int i = 0; i < 5; i++)
        ht_replied(q[i], 200, ht_item("a", "1"));
    ht_hit("t", "a", "1");
}

static void test_a_fill_overtaken_by_a_write_never_lands(void **state)
{
    ht_known_table("t");
    int c = ht.ncalls;
    struct ht_req *g = ht_get("t", "a"); /* reads before the write */
    struct ht_req *p = ht_put("t", "a", "new");
    ht_expect(c + 1, "PutItem", NULL);
    ht_answer(c + 1, 200, "{}");
    ht_replied(p, 200, "{}");
    ht_answer(c, 200, ht_item("a", "old")); /* the read's older value arrives last */
    ht_replied(g, 200, ht_item("a", "old"));
    ht_hit("t", "a", "new");
}

static void test_consistent_read_always_reads_and_installs(void **state)
{
    ht_known_table("t");
    ht_cached("t", "a", "1");
    const char *body =
        "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}},\"ConsistentRead\":true}";
    for (int i = 0; i < 2; i++) {
        int c = ht.ncalls;
        struct ht_req *q = ht_send("GetItem", body);
        ht_expect(c, "GetItem", "\"ConsistentRead\":true");
        ht_answer(c, 200, ht_item("a", "2"));
        ht_replied(q, 200, ht_item("a", "2"));
    }
    ht_hit("t", "a", "2");
}

static void test_unusual_requests_are_relayed_as_they_came(void **state)
{
    ht_known_table("t");
    static const char *const relayed[] = {
        /* a parameter ddbx does not read */
        "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}},\"Unknown\":1}",
        /* a reserved word as a projection (DynamoDB refuses it) */
        "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}},\"ProjectionExpression\":\"size\"}",
        /* a key that does not match the schema */
        "{\"TableName\":\"t\",\"Key\":{\"id\":{\"S\":\"a\"}}}",
        /* an enumeration with a NUL inside: not its prefix */
        "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}},"
        "\"ReturnConsumedCapacity\":\"TOTAL\\u0000x\"}",
        "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}},\"ConsistentRead\":\"yes\"}",
    };
    for (size_t i = 0; i < ARRAY_LEN(relayed); i++) {
        int c = ht.ncalls;
        struct ht_req *q = ht_send("GetItem", relayed[i]);
        ht_expect(c, "GetItem", NULL);
        assert_string_equal(ht_call(c)->body.data, relayed[i]); /* byte for byte */
        const char *err = ht_error("ValidationException");
        ht_answer(c, 400, err);
        ht_replied(q, 400, err); /* the backend's answer, as it came */
    }
}

static void test_not_json_is_a_serialization_error(void **state)
{
    struct ht_req *q = ht_send("GetItem", "{\"TableName\":");
    assert_int_equal(ht.ncalls, 0);
    assert_int_equal(q->status, 400);
    assert_contains(q->body, "SerializationException");
}

static void test_ttl(void **state)
{
    ht_known_table("t");
    ht_cached("t", "a", "1");
    ht.now += ht.cfg.item_ttl - 1;
    ht_hit("t", "a", "1");
    ht.now += 1;
    ht_miss("t", "a", "2");
    /* a long time later (more than 2^32 ms) an expired entry is still expired */
    ht.now += 50ull * 24 * 3600 * 1000;
    ht_miss("t", "a", "3");
}

static void test_a_failed_read_is_never_cached(void **state)
{
    ht_known_table("t");
    int c = ht.ncalls;
    struct ht_req *q1 = ht_get("t", "a"), *q2 = ht_get("t", "a");
    const char *err = ht_error("InternalServerError");
    ht_answer(c, 500, err);
    ht_replied(q1, 500, err);
    ht_replied(q2, 500, err); /* a waiter on this very read shares its error */
    ht_miss("t", "a", "1");
    /* no answer at all: a DynamoDB-shaped 5xx */
    c = ht.ncalls;
    ht.now += ht.cfg.item_ttl;
    struct ht_req *q = ht_get("t", "a");
    ht_fail(c, BACKEND_TIMEOUT);
    assert_int_equal(q->status, 500);
    assert_contains(q->body, "InternalServerError");
    ht_miss("t", "a", "1");
}

static void test_resource_not_found_forgets_the_table(void **state)
{
    ht_known_table("t");
    int c = ht.ncalls;
    struct ht_req *q = ht_get("t", "a");
    ht_answer(c, 400, ht_error("ResourceNotFoundException"));
    assert_int_equal(q->status, 400);
    q = ht_get("t", "a");
    ht_describe(c + 1, "t"); /* described again */
    ht_answer(c + 2, 200, ht_item("a", "1"));
    ht_replied(q, 200, ht_item("a", "1"));
}

static void test_table_arns(void **state)
{
    ht_known_table("t");
    ht_cached("t", "a", "1");
    /* the table's own ARN is the table */
    struct ht_req *q = ht_send("GetItem", "{\"TableName\":\"arn:aws:dynamodb:us-east-1:"
                                          "123456789012:table/t\",\"Key\":{\"pk\":{\"S\":\"a\"}}}");
    ht_replied(q, 200, ht_item("a", "1"));
    /* another account's, another region's: relayed as sent, never cached */
    static const char *const others[] = {
        "{\"TableName\":\"arn:aws:dynamodb:us-east-1:999999999999:table/t\","
        "\"Key\":{\"pk\":{\"S\":\"a\"}}}",
        "{\"TableName\":\"arn:aws:dynamodb:eu-west-1:123456789012:table/t\","
        "\"Key\":{\"pk\":{\"S\":\"a\"}}}"};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 2; i++) {
            int c = ht.ncalls;
            q = ht_send("GetItem", others[k]);
            assert_string_equal(ht_call(c)->body.data, others[k]);
            ht_answer(c, 400, ht_error("ResourceNotFoundException"));
            assert_int_equal(q->status, 400);
        }
    ht_hit("t", "a", "1"); /* and the table itself was not forgotten */
}

/* As the network layer serves it (r->zero_copy): an unprojected hit is the
 * cache's stored bytes, held by the request until written, not a copy; what
 * is composed (projections, capacity, misses, "not found") is not. */
static void test_hits_are_written_from_the_cache(void **state)
{
    bool was = ht.zero_copy;
    ht.zero_copy = true;
    ht_known_table("t");
    ht_cached("t", "a", "1");
    struct ht_req *q = ht_get("t", "a");
    ht_replied(q, 200, ht_item("a", "1"));
    assert_true(q->crc_set);
    assert_int_equal(q->refs, 1);
    assert_int_equal(q->pieces, 1); /* the stored bytes alone */
    q = ht_send(
        "GetItem",
        "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}},\"ProjectionExpression\":\"v\"}");
    ht_replied(q, 200, "{\"Item\":{\"v\":{\"S\":\"1\"}}}");
    assert_int_equal(q->refs, 0);
    q = ht_miss("t", "b", "2");
    assert_int_equal(q->refs, 0);
    q = ht_get("t", "__none__"); /* a cached "not found" */
    ht_replied(q, 200, "{}");
    assert_int_equal(q->refs, 0);
    ht.zero_copy = was;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_miss_reads_whole_item_once_then_hits, ht_setup,
                                        ht_teardown),
        cmocka_unit_test_setup_teardown(test_not_found_is_cached, ht_setup, ht_teardown),
        cmocka_unit_test_setup_teardown(test_projection_and_capacity_from_the_cache, ht_setup,
                                        ht_teardown),
        cmocka_unit_test_setup_teardown(test_equal_numbers_are_one_key, ht_setup, ht_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_misses_make_one_read, ht_setup,
                                        ht_teardown),
        cmocka_unit_test_setup_teardown(test_a_fill_overtaken_by_a_write_never_lands, ht_setup,
                                        ht_teardown),
        cmocka_unit_test_setup_teardown(test_consistent_read_always_reads_and_installs, ht_setup,
                                        ht_teardown),
        cmocka_unit_test_setup_teardown(test_unusual_requests_are_relayed_as_they_came, ht_setup,
                                        ht_teardown),
        cmocka_unit_test_setup_teardown(test_not_json_is_a_serialization_error, ht_setup,
                                        ht_teardown),
        cmocka_unit_test_setup_teardown(test_ttl, ht_setup, ht_teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_read_is_never_cached, ht_setup, ht_teardown),
        cmocka_unit_test_setup_teardown(test_resource_not_found_forgets_the_table, ht_setup,
                                        ht_teardown),
        cmocka_unit_test_setup_teardown(test_table_arns, ht_setup, ht_teardown),
        cmocka_unit_test_setup_teardown(test_hits_are_written_from_the_cache, ht_setup,
                                        ht_teardown),
    };
    int failed = cmocka_run_group_tests_name("copied", tests, NULL, NULL);
    ht.zero_copy = true; /* every test again, answered as the network layer asks */
    return failed + cmocka_run_group_tests_name("zero_copy", tests, NULL, NULL);
}
