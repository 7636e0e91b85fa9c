/*
 * test_write.c: the write-through operations (src/handler/write.c) against a
 * fake backend and clock: the backend first, the cache after its answer;
 * what each outcome does (success, refused, conditional check failed,
 * unknown); UpdateItem's ALL_NEW; BatchWriteItem's unprocessed items;
 * transactions; overlapping writes; keys ddbx cannot build; limits.
 */
#include "handler_test.h"

#define T "t"

static void setup_table(void)
{
    ht_known_table(T);
}

static int setup(void **state)
{
    ht_setup(state);
    setup_table();
    return 0;
}

static void test_put_goes_to_the_backend_first(void **state)
{
    ht_cached(T, "a", "old");
    int c = ht.ncalls;
    struct ht_req *p = ht_put(T, "a", "new");
    ht_expect(c, "PutItem", "\"new\"");
    ht_hit(T, "a", "old"); /* not acknowledged yet: the cache is unchanged */
    ht_answer(c, 200, "{}");
    ht_replied(p, 200, "{}");
    ht_hit(T, "a", "new");
}

static void test_put_with_numbers_dynamodb_stores_otherwise_is_read_back(void **state)
{
    ht_cached(T, "a", "old");
    int c = ht.ncalls;
    struct ht_req *p = ht_send("PutItem", "{\"TableName\":\"t\",\"Item\":{\"pk\":{\"S\":\"a\"},"
                                          "\"n\":{\"N\":\"1.50\"}}}");
    ht_answer(c, 200, "{}");
    ht_replied(p, 200, "{}");
    c = ht.ncalls;
    struct ht_req *g = ht_get(T, "a"); /* invalidated: the stored form is read */
    ht_answer(c, 200, "{\"Item\":{\"pk\":{\"S\":\"a\"},\"n\":{\"N\":\"1.5\"}}}");
    ht_replied(g, 200, "{\"Item\":{\"pk\":{\"S\":\"a\"},\"n\":{\"N\":\"1.5\"}}}");
}

static void test_delete_leaves_a_negative_entry(void **state)
{
    ht_cached(T, "a", "1");
    int c = ht.ncalls;
    struct ht_req *d =
        ht_send("DeleteItem", "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}}}");
    ht_answer(c, 200, "{}");
    ht_replied(d, 200, "{}");
    ht_hit(T, "a", NULL);
}

static void test_update_caches_the_new_image_and_answers_as_asked(void **state)
{
    ht_cached(T, "a", "1");
    const char *upd = "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}},"
                      "\"UpdateExpression\":\"SET v = :v\","
                      "\"ExpressionAttributeValues\":{\":v\":{\"S\":\"2\"}}}";
    int c = ht.ncalls;
    struct ht_req *u = ht_send("UpdateItem", upd);
    ht_expect(c, "UpdateItem", "\"ReturnValues\":\"ALL_NEW\""); /* asked of the backend */
    ht_answer(c, 200, "{\"Attributes\":{\"pk\":{\"S\":\"a\"},\"v\":{\"S\":\"2\"}}}");
    ht_replied(u, 200, "{}"); /* the caller asked for nothing back */
    ht_hit(T, "a", "2");
    /* ALL_NEW asked by the caller: relayed as it came, cached too */
    const char *all_new = "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}},"
                          "\"UpdateExpression\":\"SET v = :v\","
                          "\"ExpressionAttributeValues\":{\":v\":{\"S\":\"3\"}},"
                          "\"ReturnValues\":\"ALL_NEW\"}";
    c = ht.ncalls;
    u = ht_send("UpdateItem", all_new);
    assert_string_equal(ht_call(c)->body.data, all_new);
    const char *ans = "{\"Attributes\":{\"pk\":{\"S\":\"a\"},\"v\":{\"S\":\"3\"}}}";
    ht_answer(c, 200, ans);
    ht_replied(u, 200, ans);
    ht_hit(T, "a", "3");
    /* UPDATED_OLD: the new image cannot be known; invalidated */
    c = ht.ncalls;
    u = ht_send("UpdateItem", "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}},"
                              "\"UpdateExpression\":\"SET v = :v\","
                              "\"ExpressionAttributeValues\":{\":v\":{\"S\":\"4\"}},"
                              "\"ReturnValues\":\"UPDATED_OLD\"}");
    ht_answer(c, 200, "{\"Attributes\":{\"v\":{\"S\":\"3\"}}}");
    ht_miss(T, "a", "4");
    /* an enumeration with a NUL inside is not "NONE": relayed as it came */
    c = ht.ncalls;
    const char *junk = "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}},"
                       "\"UpdateExpression\":\"SET v = :v\","
                       "\"ExpressionAttributeValues\":{\":v\":{\"S\":\"5\"}},"
                       "\"ReturnValues\":\"NONE\\u0000junk\"}";
    u = ht_send("UpdateItem", junk);
    assert_string_equal(ht_call(c)->body.data, junk);
    ht_answer(c, 400, ht_error("ValidationException"));
    ht_hit(T, "a", "4");
}

static void test_conditional_check_failed_invalidates(void **state)
{
    ht_cached(T, "a", "1");
    int c = ht.ncalls;
    struct ht_req *p = ht_put(T, "a", "2");
    ht_answer(c, 400, ht_error("ConditionalCheckFailedException"));
    assert_int_equal(p->status, 400);
    ht_miss(T, "a", "9"); /* the cached copy may have been stale: read again */
}

static void test_a_refused_write_changes_nothing(void **state)
{
    ht_cached(T, "a", "1");
    static const char *const refusals[] = {"ValidationException",
                                           "ProvisionedThroughputExceededException",
                                           "ThrottlingException", "AccessDeniedException"};
    for (size_t i = 0; i < ARRAY_LEN(refusals); i++) {
        int c = ht.ncalls;
        struct ht_req *p = ht_put(T, "a", "2");
        ht_answer(c, 400, ht_error(refusals[i]));
        assert_int_equal(p->status, 400);
        ht_hit(T, "a", "1");
    }
}

/* A write whose outcome is unknown holds its key: every read goes to the
 * backend and nothing is cached, until the hold-off has passed. */
static void check_held(const char *pk, const char *v)
{
    for (int i = 0; i < 3; i++) {
        int c = ht.ncalls;
        struct ht_req *g = ht_get(T, pk);
        assert_int_equal(ht.ncalls, c + 1);
        ht_answer(c, 200, ht_item(pk, v));
        ht_replied(g, 200, ht_item(pk, v));
        ht.now += 1000;
    }
    ht.now += HT_HOLDOFF_MS;
    ht_miss(T, pk, v);
    ht_hit(T, pk, v);
}

static void test_unknown_outcomes_hold_the_key(void **state)
{
    ht_cached(T, "a", "1");
    int c = ht.ncalls;
    struct ht_req *p = ht_put(T, "a", "2");
    ht_answer(c, 500, ht_error("InternalServerError"));
    assert_int_equal(p->status, 500);
    check_held("a", "1");
    c = ht.ncalls;
    p = ht_put(T, "a", "3");
    ht_fail(c, BACKEND_TIMEOUT);
    assert_int_equal(p->status, 500);
    /* a successful write during the hold does not end it: the first may land after it */
    c = ht.ncalls;
    p = ht_put(T, "a", "4");
    ht_answer(c, 200, "{}");
    check_held("a", "4");
    c = ht.ncalls;
    p = ht_put(T, "a", "5");
    ht_fail(c, BACKEND_IO_ERROR);
    check_held("a", "5");
}

static void test_overlapping_writes_store_nothing(void **state)
{
    ht_cached(T, "a", "0");
    int c = ht.ncalls;
    struct ht_req *p1 = ht_put(T, "a", "1"), *p2 = ht_put(T, "a", "2");
    ht_answer(c + 1, 200, "{}");
    ht_answer(c, 200, "{}");
    ht_replied(p1, 200, "{}");
    ht_replied(p2, 200, "{}");
    ht_miss(T, "a", "2"); /* which one the backend applied last is unknown */
}

static void test_batch_write_caches_processed_requests_only(void **state)
{
    ht_cached(T, "a", "0");
    ht_cached(T, "b", "0");
    ht_cached(T, "c", "0");
    int c = ht.ncalls;
    struct ht_req *w = ht_send(
        "BatchWriteItem", "{\"RequestItems\":{\"t\":["
                          "{\"PutRequest\":{\"Item\":{\"pk\":{\"S\":\"a\"},\"v\":{\"S\":\"1\"}}}},"
                          "{\"PutRequest\":{\"Item\":{\"pk\":{\"S\":\"b\"},\"v\":{\"S\":\"1\"}}}},"
                          "{\"DeleteRequest\":{\"Key\":{\"pk\":{\"S\":\"c\"}}}}]}}");
    const char *ans = "{\"UnprocessedItems\":{\"t\":[{\"PutRequest\":{\"Item\":"
                      "{\"pk\":{\"S\":\"b\"},\"v\":{\"S\":\"1\"}}}}]}}";
    ht_answer(c, 200, ans);
    ht_replied(w, 200, ans);
    ht_hit(T, "a", "1");
    ht_hit(T, "b", "0"); /* unprocessed: unchanged */
    ht_hit(T, "c", NULL);
}

static void test_batch_write_limits_and_duplicates(void **state)
{
    char body[8192];
    size_t n = (size_t)snprintf(body, sizeof(body), "{\"RequestItems\":{\"t\":[");
    for (int i = 0; i < 26; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n,
                              "%s{\"DeleteRequest\":{\"Key\":{\"pk\":{\"S\":\"k%d\"}}}}",
                              i ? "," : "", i);
    snprintf(body + n, sizeof(body) - n, "]}}");
    int c = ht.ncalls;
    struct ht_req *w = ht_send("BatchWriteItem", body);
    assert_int_equal(ht.ncalls, c); /* refused by ddbx, as DynamoDB does */
    assert_int_equal(w->status, 400);
    assert_contains(w->body, "ValidationException");
    w = ht_send("BatchWriteItem", "{\"RequestItems\":{\"t\":["
                                  "{\"DeleteRequest\":{\"Key\":{\"pk\":{\"S\":\"x\"}}}},"
                                  "{\"DeleteRequest\":{\"Key\":{\"pk\":{\"S\":\"x\"}}}}]}}");
    assert_int_equal(ht.ncalls, c);
    assert_contains(w->body, "Provided list of item keys contains duplicates");
}

static void test_transactions_invalidate_every_key(void **state)
{
    ht_cached(T, "a", "0");
    ht_cached(T, "b", "0");
    int c = ht.ncalls;
    struct ht_req *w = ht_send(
        "TransactWriteItems",
        "{\"TransactItems\":["
        "{\"Put\":{\"TableName\":\"t\",\"Item\":{\"pk\":{\"S\":\"a\"},\"v\":{\"S\":\"1\"}}}},"
        "{\"ConditionCheck\":{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"b\"}},"
        "\"ConditionExpression\":\"attribute_exists(pk)\"}}]}");
    ht_answer(c, 200, "{}");
    ht_replied(w, 200, "{}");
    ht_miss(T, "a", "1");
    ht_miss(T, "b", "0");
    /* cancelled: invalidated too (the condition may have failed on a stale copy) */
    c = ht.ncalls;
    w = ht_send(
        "TransactWriteItems",
        "{\"TransactItems\":[{\"Delete\":{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}}}}]}");
    ht_answer(c, 400, ht_error("TransactionCanceledException"));
    ht_miss(T, "a", "1");
}

static void test_a_key_ddbx_cannot_build_drops_its_table(void **state)
{
    ht_cached(T, "a", "0");
    int c = ht.ncalls;
    struct ht_req *b =
        ht_send("GetItem", "{\"TableName\":\"tb\",\"Key\":{\"pk\":{\"B\":\"QQ==\"}}}");
    ht_describe_type(c, "tb", 'B');
    ht_answer(c + 1, 200, "{\"Item\":{\"pk\":{\"B\":\"QQ==\"},\"v\":{\"S\":\"0\"}}}");
    assert_int_equal(b->status, 200);
    /* "QR==" decodes to the same byte as "QQ==", but is not its canonical text */
    c = ht.ncalls;
    struct ht_req *w = ht_send(
        "BatchWriteItem",
        "{\"RequestItems\":{"
        "\"t\":[{\"PutRequest\":{\"Item\":{\"pk\":{\"S\":\"a\"},\"v\":{\"S\":\"1\"}}}}],"
        "\"tb\":[{\"PutRequest\":{\"Item\":{\"pk\":{\"B\":\"QR==\"},\"v\":{\"S\":\"1\"}}}}]}}");
    ht_expect(c, "BatchWriteItem", "QR==");
    ht_answer(c, 200, "{\"UnprocessedItems\":{}}");
    ht_replied(w, 200, "{\"UnprocessedItems\":{}}");
    ht_hit(T, "a", "1");
    c = ht.ncalls;
    b = ht_send("GetItem", "{\"TableName\":\"tb\",\"Key\":{\"pk\":{\"B\":\"QQ==\"}}}");
    assert_int_equal(ht.ncalls, c + 1); /* every entry of tb was dropped */
    ht_answer(c, 200, "{\"Item\":{\"pk\":{\"B\":\"QQ==\"},\"v\":{\"S\":\"1\"}}}");
}

static void test_a_table_ddbx_cannot_describe_is_dropped_after_the_write(void **state)
{
    ht_cached(T, "a", "0");
    int c = ht.ncalls;
    struct ht_req *w = ht_send(
        "TransactWriteItems",
        "{\"TransactItems\":["
        "{\"Put\":{\"TableName\":\"t\",\"Item\":{\"pk\":{\"S\":\"a\"},\"v\":{\"S\":\"1\"}}}},"
        "{\"Put\":{\"TableName\":\"u\",\"Item\":{\"pk\":{\"S\":\"x\"}}}}]}");
    ht_expect(c, "DescribeTable", "\"u\"");
    ht_answer(c, 500, ht_error("InternalServerError"));
    ht_expect(c + 1, "TransactWriteItems", NULL);
    ht_answer(c + 1, 200, "{}");
    ht_replied(w, 200, "{}");
    ht_miss(T, "a", "1");
}

int main(void)
{
#define W(t) cmocka_unit_test_setup_teardown(t, setup, ht_teardown)
    const struct CMUnitTest tests[] = {
        W(test_put_goes_to_the_backend_first),
        W(test_put_with_numbers_dynamodb_stores_otherwise_is_read_back),
        W(test_delete_leaves_a_negative_entry),
        W(test_update_caches_the_new_image_and_answers_as_asked),
        W(test_conditional_check_failed_invalidates),
        W(test_a_refused_write_changes_nothing),
        W(test_unknown_outcomes_hold_the_key),
        W(test_overlapping_writes_store_nothing),
        W(test_batch_write_caches_processed_requests_only),
        W(test_batch_write_limits_and_duplicates),
        W(test_transactions_invalidate_every_key),
        W(test_a_key_ddbx_cannot_build_drops_its_table),
        W(test_a_table_ddbx_cannot_describe_is_dropped_after_the_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
