/*
 * test_batch_get.c: BatchGetItem key by key (src/handler/batch_get.c) against
 * a fake backend: hits from the cache, every miss in one backend call,
 * UnprocessedKeys in DynamoDB's shape, projections per table, consistent
 * tables always read, waiters on a failed shared read, limits.
 */
#include "handler_test.h"

static int setup(void **state)
{
    ht_setup(state);
    ht_known_table("t");
    ht_known_table("u");
    return 0;
}

#define KEYS_AB "[{\"pk\":{\"S\":\"a\"}},{\"pk\":{\"S\":\"b\"}}]"

static void test_hits_from_the_cache_misses_in_one_call(void **state)
{
    ht_cached("t", "a", "1");
    int c = ht.ncalls;
    struct ht_req *q = ht_send("BatchGetItem", "{\"RequestItems\":{\"t\":{\"Keys\":" KEYS_AB "},"
                                               "\"u\":{\"Keys\":[{\"pk\":{\"S\":\"c\"}}]}}}");
    assert_int_equal(ht.ncalls, c + 1);
    ht_expect(c, "BatchGetItem", "\"b\"");
    assert_not_contains(ht_call(c)->body.data, "\"a\""); /* a was a hit */
    assert_contains(ht_call(c)->body.data, "\"ConsistentRead\":true");
    ht_answer(c, 200,
              "{\"Responses\":{\"t\":[{\"pk\":{\"S\":\"b\"},\"v\":{\"S\":\"2\"}}],\"u\":[]},"
              "\"UnprocessedKeys\":{}}");
    ht_replied(q, 200,
               "{\"Responses\":{\"t\":[{\"pk\":{\"S\":\"a\"},\"v\":{\"S\":\"1\"}},"
               "{\"pk\":{\"S\":\"b\"},\"v\":{\"S\":\"2\"}}],\"u\":[]},\"UnprocessedKeys\":{}}");
    /* everything it read is cached, "not found" included */
    ht_hit("t", "b", "2");
    ht_hit("u", "c", NULL);
}

static void test_unprocessed_keys_come_back_in_dynamodbs_shape(void **state)
{
    int c = ht.ncalls;
    struct ht_req *q = ht_send("BatchGetItem", "{\"RequestItems\":{\"t\":{\"Keys\":" KEYS_AB
                                               ",\"ProjectionExpression\":\"v\"}}}");
    ht_answer(c, 200,
              "{\"Responses\":{\"t\":[{\"pk\":{\"S\":\"a\"},\"v\":{\"S\":\"1\"}}]},"
              "\"UnprocessedKeys\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"b\"}}]}}}");
    /* projected per table; the unprocessed key with the table's own parameters */
    ht_replied(q, 200,
               "{\"Responses\":{\"t\":[{\"v\":{\"S\":\"1\"}}]},"
               "\"UnprocessedKeys\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"b\"}}],"
               "\"ProjectionExpression\":\"v\"}}}");
    ht_hit("t", "a", "1");
    ht_miss("t", "b", "2"); /* unprocessed: nothing cached */
}

static void test_consistent_tables_always_read(void **state)
{
    ht_cached("t", "a", "1");
    for (int i = 0; i < 2; i++) {
        int c = ht.ncalls;
        struct ht_req *q = ht_send("BatchGetItem", "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{"
                                                   "\"S\":\"a\"}}],\"ConsistentRead\":true}}}");
        assert_int_equal(ht.ncalls, c + 1);
        ht_answer(c, 200,
                  "{\"Responses\":{\"t\":[{\"pk\":{\"S\":\"a\"},\"v\":{\"S\":\"2\"}}]},"
                  "\"UnprocessedKeys\":{}}");
        assert_int_equal(q->status, 200);
    }
    ht_hit("t", "a", "2");
}

static void test_a_waiter_reads_its_own_key_when_the_shared_read_fails(void **state)
{
    int c = ht.ncalls;
    struct ht_req *b = ht_send("BatchGetItem", "{\"RequestItems\":{"
                                               "\"t\":{\"Keys\":[{\"pk\":{\"S\":\"x\"}}]},"
                                               "\"u\":{\"Keys\":[{\"pk\":{\"S\":\"k\"}}]}}}");
    struct ht_req *g = ht_get("u", "k"); /* waits on the batch's read of u/k */
    assert_int_equal(ht.ncalls, c + 1);
    const char *err = ht_error("ResourceNotFoundException"); /* about table t */
    ht_answer(c, 400, err);
    ht_replied(b, 400, err);
    assert_false(g->done);
    ht_expect(c + 1, "GetItem", "\"k\""); /* its own read */
    ht_answer(c + 1, 200, ht_item("k", "fine"));
    ht_replied(g, 200, ht_item("k", "fine"));
}

static void test_limits_and_duplicates(void **state)
{
    char body[8192];
    size_t n = (size_t)snprintf(body, sizeof(body), "{\"RequestItems\":{\"t\":{\"Keys\":[");
    for (int i = 0; i < 101; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%s{\"pk\":{\"S\":\"k%d\"}}",
                              i ? "," : "", i);
    snprintf(body + n, sizeof(body) - n, "]}}}");
    int c = ht.ncalls;
    struct ht_req *q = ht_send("BatchGetItem", body);
    assert_int_equal(ht.ncalls, c);
    assert_int_equal(q->status, 400);
    assert_contains(q->body, "ValidationException");
    q = ht_send("BatchGetItem", "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"a\"}},"
                                "{\"pk\":{\"S\":\"a\"}}]}}}");
    assert_int_equal(ht.ncalls, c);
    assert_contains(q->body, "Provided list of item keys contains duplicates");
}

/* A key read as text (the shape ddb_scan_batch_get reads) that its text
 * cannot key is judged by the tree, as it would have been: a limit is
 * ddbx's error, a key not matching the schema is relayed as it came, and a
 * text key that goes to the backend is written out as the caller sent it. */
static void test_keys_read_as_text_fall_back_to_the_tree(void **state)
{
    char body[4096], value[2050];
    memset(value, 'x', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0'; /* 2049 bytes: over the hash key limit */
    snprintf(
        body, sizeof(body),
        "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"a\"}},{\"pk\":{\"S\":\"%s\"}}]}}}",
        value);
    int c = ht.ncalls;
    struct ht_req *q = ht_send("BatchGetItem", body);
    assert_int_equal(ht.ncalls, c);
    assert_int_equal(q->status, 400);
    assert_contains(q->body, "ValidationException");
    assert_contains(q->body, "Size of hashkey has exceeded the maximum size limit of2048 bytes");
    const char *mismatch = "{\"RequestItems\":{\"t\":{\"Keys\":[{\"id\":{\"S\":\"a\"}}]}}}";
    q = ht_send("BatchGetItem", mismatch);
    ht_expect(c, "BatchGetItem", NULL);
    assert_string_equal(ht_call(c)->body.data, mismatch); /* relayed byte for byte */
    const char *err = ht_error("ValidationException");
    ht_answer(c, 400, err);
    ht_replied(q, 400, err);
    /* a miss sends the caller's key, white space and all, parsed from its text */
    q = ht_send("BatchGetItem",
                "{\"RequestItems\":{\"t\":{\"Keys\":[ { \"pk\" : { \"S\" : \"m1\" } } ]}}}");
    ht_expect(c + 1, "BatchGetItem", "\"Keys\":[{\"pk\":{\"S\":\"m1\"}}]");
    ht_answer(c + 1, 200,
              "{\"Responses\":{\"t\":[]},\"UnprocessedKeys\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":"
              "\"m1\"}}]}}}");
    ht_replied(q, 200,
               "{\"Responses\":{\"t\":[]},\"UnprocessedKeys\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":"
               "\"m1\"}}]}}}");
}

/* Duplicates are found by hash among many keys (build_keys): a repeat of
 * an early key at the end of 99, and the same key in two tables is none. */
static void test_duplicates_among_many_keys(void **state)
{
    char body[8192];
    for (int dup = 0; dup < 2; dup++) {
        size_t n = (size_t)snprintf(body, sizeof(body), "{\"RequestItems\":{\"t\":{\"Keys\":[");
        for (int i = 0; i < 98; i++)
            n += (size_t)snprintf(body + n, sizeof(body) - n, "%s{\"pk\":{\"S\":\"k%d\"}}",
                                  i ? "," : "", i);
        snprintf(body + n, sizeof(body) - n,
                 ",{\"pk\":{\"S\":\"k%d\"}}]},\"u\":{\"Keys\":[{\"pk\":{\"S\":\"k3\"}}]}}}",
                 dup ? 3 : 98);
        int c = ht.ncalls;
        struct ht_req *q = ht_send("BatchGetItem", body);
        if (dup) {
            assert_int_equal(ht.ncalls, c);
            assert_int_equal(q->status, 400);
            assert_contains(q->body, "Provided list of item keys contains duplicates");
            continue;
        }
        assert_int_equal(ht.ncalls, c + 1); /* 100 distinct keys: one backend read */
        ht_expect(c, "BatchGetItem", "\"k98\"");
        ht_answer(c, 200, "{\"Responses\":{\"t\":[],\"u\":[]},\"UnprocessedKeys\":{}}");
        ht_replied(q, 200, "{\"Responses\":{\"t\":[],\"u\":[]},\"UnprocessedKeys\":{}}");
    }
}

/* The answer's x-amz-crc32 is built without reading spliced items (from
 * their stored CRCs): items of many lengths, next to each other, between
 * projected ones and ConsumedCapacity, must still give the body's CRC
 * (ht_replied checks every CRC a handler sets). */
static void test_answer_crc_over_spliced_and_projected_items(void **state)
{
    static const char *vals[] = {
        "", "x", "0123456789", "a longer value with spaces",
        "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"};
    char pk[8], body[2048];
    size_t n = (size_t)snprintf(body, sizeof(body), "{\"RequestItems\":{\"t\":{\"Keys\":[");
    for (int i = 0; i < 5; i++) {
        snprintf(pk, sizeof(pk), "p%d", i);
        ht_cached("t", pk, vals[i]);
        ht_cached("u", pk, vals[4 - i]);
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%s{\"pk\":{\"S\":\"%s\"}}", i ? "," : "",
                              pk);
    }
    n += (size_t)snprintf(body + n, sizeof(body) - n,
                          "]},\"u\":{\"ProjectionExpression\":\"v\",\"Keys\":[{\"pk\":{\"S\":"
                          "\"p1\"}},{\"pk\":{\"S\":\"p3\"}}]},\"w\":{\"Keys\":[{\"pk\":"
                          "{\"S\":\"p0\"}}]}},\"ReturnConsumedCapacity\":\"TOTAL\"}");
    ht_known_table("w");
    ht_cached("w", "p0", "last");
    int c = ht.ncalls;
    struct ht_req *q = ht_send("BatchGetItem", body);
    if (ht.ncalls != c) fail_msg("went to the backend: %s", ht.calls[c].body.data); /* all hits */
    ht_replied(q, 200, NULL);
    assert_true(q->crc_set);
    assert_contains(q->body, "\"t\":[{\"pk\":{\"S\":\"p0\"},\"v\":{\"S\":\"\"}},{\"pk\"");
    assert_contains(q->body,
                    "\"u\":[{\"v\":{\"S\":\"a longer value with spaces\"}},{\"v\":{\"S\":\"x\"}}]");
    assert_contains(q->body, "\"w\":[{\"pk\":{\"S\":\"p0\"},\"v\":{\"S\":\"last\"}}]}");
    assert_contains(q->body, "\"ConsumedCapacity\":[");
}

/* As the network layer serves it (r->zero_copy): every whole cached item of
 * 4 KB or more is its stored bytes between ddbx's text (request_splice), each
 * held by the request until written; smaller ones are copied into the text
 * (a buffer each would cost the kernel more than the copy); projected
 * tables and items read from the backend are copies. */
static void test_hits_are_written_from_the_cache(void **state)
{
    bool was = ht.zero_copy;
    ht.zero_copy = true;
    static char big1[5001], big2[5001], want[12000];
    memset(big1, '1', 5000);
    memset(big2, '2', 5000);
    ht_cached("t", "a", big1);
    ht_cached("t", "b", big2);
    ht_cached("u", "a", "3");
    int c = ht.ncalls;
    struct ht_req *q =
        ht_send("BatchGetItem",
                "{\"RequestItems\":{\"t\":{\"Keys\":" KEYS_AB "},"
                "\"u\":{\"Keys\":[{\"pk\":{\"S\":\"a\"}}],\"ProjectionExpression\":\"v\"}}}");
    assert_int_equal(ht.ncalls, c);
    snprintf(want, sizeof(want),
             "{\"Responses\":{\"t\":[{\"pk\":{\"S\":\"a\"},\"v\":{\"S\":\"%s\"}},"
             "{\"pk\":{\"S\":\"b\"},\"v\":{\"S\":\"%s\"}}],\"u\":[{\"v\":{\"S\":\"3\"}}]},"
             "\"UnprocessedKeys\":{}}",
             big1, big2);
    ht_replied(q, 200, want);
    assert_true(q->crc_set);
    assert_int_equal(q->refs, 2);   /* t's two items; u's is projected from a copy */
    assert_int_equal(q->pieces, 5); /* text, item, text, item, text */
    /* small items: copied into the text; still held until written */
    ht_cached("t", "c", "1");
    ht_cached("t", "d", "2");
    c = ht.ncalls;
    q = ht_send("BatchGetItem", "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"c\"}},"
                                "{\"pk\":{\"S\":\"d\"}}]}}}");
    assert_int_equal(ht.ncalls, c);
    ht_replied(q, 200,
               "{\"Responses\":{\"t\":[{\"pk\":{\"S\":\"c\"},\"v\":{\"S\":\"1\"}},"
               "{\"pk\":{\"S\":\"d\"},\"v\":{\"S\":\"2\"}}]},\"UnprocessedKeys\":{}}");
    assert_true(q->crc_set);
    assert_int_equal(q->pieces, 0); /* the body is the reply buffer alone */
    assert_int_equal(q->refs, 2);
    /* a hit and a miss: the miss's item is composed from the backend's answer */
    q = ht_send("BatchGetItem", "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"a\"}},"
                                "{\"pk\":{\"S\":\"z\"}}]}}}");
    ht_answer(c, 200,
              "{\"Responses\":{\"t\":[{\"pk\":{\"S\":\"z\"},\"v\":{\"S\":\"9\"}}]},"
              "\"UnprocessedKeys\":{}}");
    snprintf(want, sizeof(want),
             "{\"Responses\":{\"t\":[{\"pk\":{\"S\":\"a\"},\"v\":{\"S\":\"%s\"}},"
             "{\"pk\":{\"S\":\"z\"},\"v\":{\"S\":\"9\"}}]},\"UnprocessedKeys\":{}}",
             big1);
    ht_replied(q, 200, want);
    assert_int_equal(q->refs, 1);
    ht.zero_copy = was;
}

int main(void)
{
#define B(t) cmocka_unit_test_setup_teardown(t, setup, ht_teardown)
    const struct CMUnitTest tests[] = {
        B(test_hits_from_the_cache_misses_in_one_call),
        B(test_unprocessed_keys_come_back_in_dynamodbs_shape),
        B(test_consistent_tables_always_read),
        B(test_a_waiter_reads_its_own_key_when_the_shared_read_fails),
        B(test_limits_and_duplicates),
        B(test_duplicates_among_many_keys),
        B(test_keys_read_as_text_fall_back_to_the_tree),
        B(test_answer_crc_over_spliced_and_projected_items),
        B(test_hits_are_written_from_the_cache),
    };
    int failed = cmocka_run_group_tests_name("copied", tests, NULL, NULL);
    ht.zero_copy = true; /* every test again, answered as the network layer asks */
    return failed + cmocka_run_group_tests_name("zero_copy", tests, NULL, NULL);
}
