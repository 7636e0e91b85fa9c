/*
 * test_params.c: BatchGetItem read without a tree (ddb_scan_batch_get,
 * proto/params.h): the shapes it reads, what it gives for them (the same
 * tables as ddb_parse_batch_get, keys as text), and the shapes it leaves to
 * the tree, which decides every error. fuzz_batch_scan compares the two on
 * any input; these are the cases by name.
 */
#include "proto_test.h"

#include "proto/limits.h"
#include "proto/params.h"

static bool scans(struct arena *a, const char *body, struct ddb_batch_get *q)
{
    return ddb_scan_batch_get(a, body, strlen(body), q);
}

static void test_reads_what_sdks_send(void **state)
{
    struct arena *a = *state;
    struct ddb_batch_get q, tree;
    struct attr_error err;
    const char *body =
        "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"a\"}},{\"pk\":{\"S\":\"b\"}}]},"
        "\"arn:aws:dynamodb:us-east-1:123456789012:table/u\":{\"Keys\":[{\"pk\":{\"S\":\"c\"},"
        "\"sk\":{\"N\":\"1.50\"}}]}},\"ReturnConsumedCapacity\":\"TOTAL\"}";
    assert_true(scans(a, body, &q));
    assert_int_equal(ddb_parse_batch_get(a, body, strlen(body), &tree, &err), DDB_PARAMS_OK);
    assert_int_equal(q.ntables, 2);
    assert_int_equal(q.rcc, DDB_RCC_TOTAL);
    assert_true(json_str_is(q.tables[0].name, "t"));
    assert_true(json_str_is(q.tables[1].name, "arn:aws:dynamodb:us-east-1:123456789012:table/u"));
    assert_int_equal(q.tables[0].nkeys, 2);
    assert_int_equal(q.tables[1].nkeys, 1);
    for (int i = 0; i < 2; i++) {
        assert_null(q.tables[i].keys);
        assert_null(q.tables[i].proj);
        assert_false(q.tables[i].consistent);
        assert_int_equal(q.tables[i].params->len, 0);
    }
    const struct key_text *k = &q.tables[1].text[0];
    assert_int_equal(k->nattrs, 2);
    assert_int_equal(k->attr[1].type, 'N');
    assert_int_equal(k->attr[1].value_len, 4);
    assert_memory_equal(k->attr[1].value, "1.50", 4);
    /* each key's text is its object, which parses to the tree's node */
    assert_true(json_equal(json_lit_n(a, k->json, k->len), tree.tables[1].keys->child));
    assert_true(json_equal(json_lit_n(a, q.tables[0].text[1].json, q.tables[0].text[1].len),
                           tree.tables[0].keys->child->next));
    /* white space anywhere JSON allows it, members in any order */
    assert_true(
        scans(a,
              " {\n\"ReturnConsumedCapacity\" : \"NONE\" ,\t\"RequestItems\":{ \"t\" : "
              "{ \"Keys\" : [ { \"sk\" : { \"N\" : \"1\" } , \"pk\" : { \"S\" : \"x\" } } ] "
              "} } }\r\n",
              &q));
    assert_int_equal(q.rcc, DDB_RCC_NONE);
    assert_int_equal(q.tables[0].text[0].nattrs, 2);
}

/* Everything else goes to the tree: other parameters, other value types,
 * escapes, and whatever is an error (the tree's words decide it). */
static void test_leaves_the_rest_to_the_tree(void **state)
{
    struct arena *a = *state;
    struct ddb_batch_get q;
    static const char *const bodies[] = {
        "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"a\"}}],\"ConsistentRead\":true}}}",
        "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"a\"}}],"
        "\"ProjectionExpression\":\"v\"}}}",
        "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"B\":\"QQ==\"}}]}}}",
        "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"N\":1}}]}}}",
        "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"a\",\"N\":\"1\"}}]}}}",
        "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"caf\\u00e9\"}}]}}}",
        "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"caf\xc3\xa9\"}}]}}}",
        "{\"RequestItems\":{\"t\":{\"Keys\":[{\"a\":{\"S\":\"1\"},\"b\":{\"S\":\"2\"},"
        "\"c\":{\"S\":\"3\"}}]}}}",
        "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"a\"},\"pk\":{\"S\":\"b\"}}]}}}",
        "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"a\"}}]},"
        "\"t\":{\"Keys\":[{\"pk\":{\"S\":\"b\"}}]}}}",
        "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"a\"}}]}},"
        "\"RequestItems\":{\"u\":{\"Keys\":[{\"pk\":{\"S\":\"a\"}}]}}}",
        "{\"RequestItems\":{\"t\":{\"Keys\":[]}}}",
        "{\"RequestItems\":{\"t\":{\"Keys\":[{}]}}}",
        "{\"RequestItems\":{}}",
        "{\"ReturnConsumedCapacity\":\"TOTAL\"}",
        "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"a\"}}]}},"
        "\"ReturnConsumedCapacity\":\"SOME\"}",
        "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"a\"}}]}},\"Other\":1}",
        "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"a\"}}]}}} x",
        "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"a\"}}]}}",
        "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"a\"}},]}}}",
        "[]",
        "",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        if (scans(a, bodies[i], &q)) print_error("scanned: %s\n", bodies[i]);
        assert_false(scans(a, bodies[i], &q));
    }
}

/* More keys than DynamoDB takes, in one table or over several: the tree
 * gives the error (its message quotes the list). */
static void test_key_limits_are_the_trees(void **state)
{
    struct arena *a = *state;
    struct ddb_batch_get q;
    uint64_t limit = ddb_limit(DDB_LIMIT_batch_get_keys);
    for (int tables = 1; tables <= 2; tables++) {
        for (uint64_t n = limit; n <= limit + 1; n++) {
            struct buf b = BUF_INIT;
            buf_append_str(&b, "{\"RequestItems\":{");
            for (int t = 0; t < tables; t++) {
                buf_printf(&b, "%s\"t%d\":{\"Keys\":[", t ? "," : "", t);
                uint64_t first = n * (uint64_t)t / (uint64_t)tables,
                         end = n * (uint64_t)(t + 1) / (uint64_t)tables;
                for (uint64_t i = first; i < end; i++)
                    buf_printf(&b, "%s{\"pk\":{\"S\":\"k%llu\"}}", i > first ? "," : "",
                               (unsigned long long)i);
                buf_append_str(&b, "]}");
            }
            buf_append_str(&b, "}}");
            assert_int_equal(scans(a, b.data, &q), n <= limit);
            if (n <= limit) assert_int_equal(q.tables[tables - 1].nkeys, (int)(n / tables));
            buf_free(&b);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ARENA_TEST(test_reads_what_sdks_send),
        ARENA_TEST(test_leaves_the_rest_to_the_tree),
        ARENA_TEST(test_key_limits_are_the_trees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
