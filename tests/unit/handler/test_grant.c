/*
 * test_grant.c: per-table grants (handler/grant.h) through handler_dispatch,
 * against the fake backend: a principal limited to tables reaches only
 * those, through the cache as through the backend; a batch or transaction
 * naming one table it may not use is refused whole; a plain name and an ARN
 * are matched each in its own spelling; operations naming no table are
 * refused, those reaching none allowed; every refusal is DynamoDB's
 * AccessDeniedException with no backend call and no cached byte.
 */
#include "handler_test.h"

#include "auth/credentials.h"

#define ARN "arn:aws:dynamodb:us-east-1:123456789012:table/"

static struct auth_keys *keys;

/* The principal of key id `id` in a keyring of three: every table, two
 * tables, and one table by its ARN. */
static const struct auth_principal *who(const char *id)
{
    const struct auth_principal *p = auth_keys_find(keys, id, strlen(id));
    assert_non_null(p);
    return p;
}

static int setup(void **state)
{
    static const char text[] = "AKIDALL secret-all\n"
                               "AKIDTWO secret-two Music Books\n"
                               "AKIDARN secret-arn " ARN "Music\n";
    struct buf err = BUF_INIT;
    if (credentials_parse(text, sizeof(text) - 1, "test", &keys, &err) != 0)
        fail_msg("credentials: %s", err.data);
    buf_free(&err);
    return ht_setup(state);
}

static int teardown(void **state)
{
    auth_keys_release(keys);
    return ht_teardown(state);
}

/* Asserts q was refused AccessDeniedException for `op` on `resource`, by `id`. */
static void expect_denied(struct ht_req *q, const char *id, const char *op, const char *resource)
{
    char msg[512];
    snprintf(msg, sizeof(msg),
             "{\"__type\":\"com.amazon.coral.service#AccessDeniedException\",\"message\":\"User: "
             "%s is not authorized to perform: dynamodb:%s on resource: %s because no "
             "identity-based policy allows the dynamodb:%s action\"}",
             id, op, resource, op);
    ht_replied(q, 400, msg);
}

static uint64_t denied(void)
{
    return (uint64_t)metrics_tls->access_denied;
}

/* A table not granted is refused even when its item is cached: the grant
 * comes before the cache. */
static void test_not_granted_even_when_cached(void **state)
{
    ht_known_table("Secrets");
    ht_cached("Secrets", "k", "classified");
    int64_t hits = metrics_tls->item_cache_hits;
    ht.principal = who("AKIDTWO");
    int calls = ht.ncalls;
    expect_denied(ht_get("Secrets", "k"), "AKIDTWO", "GetItem", "Secrets");
    assert_int_equal(ht.ncalls, calls);
    assert_int_equal(metrics_tls->item_cache_hits, hits);
    assert_int_equal(denied(), 1);
    /* the granted table is served as usual, a principal of every table too */
    ht_known_table("Music");
    ht_cached("Music", "k", "v");
    ht.principal = who("AKIDALL");
    ht_hit("Secrets", "k", "classified");
}

static void test_batch_needs_every_table(void **state)
{
    ht.principal = who("AKIDTWO");
    struct ht_req *q = ht_send("BatchGetItem", "{\"RequestItems\":{\"Music\":{\"Keys\":[{\"pk\":{"
                                               "\"S\":\"a\"}}]},\"Secrets\":{\"Keys\":[{\"pk\":{"
                                               "\"S\":\"a\"}}]}}}");
    expect_denied(q, "AKIDTWO", "BatchGetItem", "Secrets");
    q = ht_send(
        "TransactWriteItems",
        "{\"TransactItems\":[{\"Put\":{\"TableName\":\"Books\",\"Item\":{\"pk\":{\"S\":"
        "\"a\"}}}},{\"Delete\":{\"TableName\":\"Secrets\",\"Key\":{\"pk\":{\"S\":\"a\"}}}}]}");
    expect_denied(q, "AKIDTWO", "TransactWriteItems", "Secrets");
    q = ht_send("BatchWriteItem", "{\"RequestItems\":{\"Books\":[{\"DeleteRequest\":{\"Key\":{"
                                  "\"pk\":{\"S\":\"a\"}}}}],\"Other\":[]}}");
    expect_denied(q, "AKIDTWO", "BatchWriteItem", "Other");
    assert_int_equal(ht.ncalls, 0);
    assert_int_equal(denied(), 3);
    /* every table granted: on to the backend */
    q = ht_send("TransactGetItems",
                "{\"TransactItems\":[{\"Get\":{\"TableName\":\"Music\",\"Key\":{\"pk\":{\"S\":"
                "\"a\"}}}},{\"Get\":{\"TableName\":\"Books\",\"Key\":{\"pk\":{\"S\":\"a\"}}}}]}");
    assert_true(ht.ncalls > 0);
    while (ht_pending())
        ht_answer(ht.ncalls - 1, 400, ht_error("ValidationException"));
    assert_true(q->done);
}

/* A plain name and an ARN are matched each in the spelling it was granted in. */
static void test_names_and_arns(void **state)
{
    ht.principal = who("AKIDTWO"); /* Music by name */
    expect_denied(ht_get(ARN "Music", "k"), "AKIDTWO", "GetItem", ARN "Music");
    ht.principal = who("AKIDARN"); /* Music by ARN */
    expect_denied(ht_get("Music", "k"), "AKIDARN", "GetItem", "Music");
    struct ht_req *q = ht_send("DescribeTable", "{\"TableName\":\"" ARN "Music\"}");
    ht_expect(0, "DescribeTable", ARN "Music");
    ht_answer(0, 200, "{\"Table\":{}}");
    ht_replied(q, 200, "{\"Table\":{}}");
    /* its stream, by the stream's ARN */
    q = ht_send("TagResource", "{\"ResourceArn\":\"" ARN "Music/index/ByArtist\",\"Tags\":[]}");
    ht_expect(1, "TagResource", NULL);
    ht_answer(1, 200, "{}");
    ht_replied(q, 200, "{}");
    expect_denied(ht_send("TagResource", "{\"ResourceArn\":\"" ARN "Other\",\"Tags\":[]}"),
                  "AKIDARN", "TagResource", ARN "Other");
}

static void test_operations_without_a_table(void **state)
{
    ht.principal = who("AKIDTWO");
    expect_denied(ht_send("ListTables", "{}"), "AKIDTWO", "ListTables", "*");
    expect_denied(ht_send("ListBackups", "{}"), "AKIDTWO", "ListBackups", "*");
    /* DescribeEndpoints reaches no table: answered by ddbx itself */
    struct ht_req *q = ht_send("DescribeEndpoints", "{}");
    assert_true(q->done);
    assert_int_equal(q->status, 200);
    q = ht_send("DescribeLimits", "{}");
    ht_expect(0, "DescribeLimits", NULL);
    ht_answer(0, 200, "{}");
    ht_replied(q, 200, "{}");
    /* ListBackups of a granted table */
    q = ht_send("ListBackups", "{\"TableName\":\"Books\"}");
    ht_expect(1, "ListBackups", NULL);
    ht_answer(1, 200, "{}");
    ht_replied(q, 200, "{}");
    /* a principal of every table may list them */
    ht.principal = who("AKIDALL");
    q = ht_send("ListTables", "{}");
    ht_expect(2, "ListTables", NULL);
    ht_answer(2, 200, "{\"TableNames\":[]}");
    ht_replied(q, 200, "{\"TableNames\":[]}");
}

static void test_partiql(void **state)
{
    ht.principal = who("AKIDTWO");
    expect_denied(ht_send("ExecuteStatement", "{\"Statement\":\"SELECT * FROM \\\"Secrets\\\"\"}"),
                  "AKIDTWO", "ExecuteStatement", "Secrets");
    expect_denied(ht_send("ExecuteStatement", "{\"Statement\":\"SELECT * FROM /*x*/ Music\"}"),
                  "AKIDTWO", "ExecuteStatement", "*");
    expect_denied(ht_send("BatchExecuteStatement",
                          "{\"Statements\":[{\"Statement\":\"UPDATE Music SET a = 1\"},"
                          "{\"Statement\":\"DELETE FROM Secrets WHERE pk = 'a'\"}]}"),
                  "AKIDTWO", "BatchExecuteStatement", "Secrets");
    assert_int_equal(ht.ncalls, 0);
    struct ht_req *q =
        ht_send("ExecuteStatement", "{\"Statement\":\"SELECT * FROM Music WHERE pk = 'a'\"}");
    ht_expect(0, "ExecuteStatement", NULL);
    ht_answer(0, 200, "{\"Items\":[]}");
    ht_replied(q, 200, "{\"Items\":[]}");
}

/* A second spelling of TableName is a table too; a body that is not an
 * object gets DynamoDB's SerializationException, as without grants. */
static void test_odd_bodies(void **state)
{
    ht.principal = who("AKIDTWO");
    expect_denied(ht_send("GetItem", "{\"TableName\":\"Music\",\"tableName\":\"Secrets\","
                                     "\"Key\":{\"pk\":{\"S\":\"a\"}}}"),
                  "AKIDTWO", "GetItem", "Secrets");
    expect_denied(ht_send("GetItem", "{\"TableName\":7,\"Key\":{}}"), "AKIDTWO", "GetItem", "*");
    ht_replied(ht_send("GetItem", "[]"), 400,
               "{\"__type\":\"com.amazon.coral.service#SerializationException\"}");
    assert_int_equal(ht.ncalls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_not_granted_even_when_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_needs_every_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_and_arns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operations_without_a_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partiql, setup, teardown),
        cmocka_unit_test_setup_teardown(test_odd_bodies, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
