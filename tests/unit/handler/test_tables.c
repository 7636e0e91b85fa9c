/*
 * test_tables.c: what table changes, PartiQL and TransactGetItems do to the
 * cache (src/handler/tables.c, schema.c), against a fake backend and clock.
 */
#include "handler_test.h"

static int setup(void **state)
{
    ht_setup(state);
    ht_known_table("t");
    ht_cached("t", "a", "1");
    return 0;
}

static const char *create_t =
    "{\"TableName\":\"t\",\"BillingMode\":\"PAY_PER_REQUEST\","
    "\"KeySchema\":[{\"AttributeName\":\"pk\",\"KeyType\":\"HASH\"}],"
    "\"AttributeDefinitions\":[{\"AttributeName\":\"pk\",\"AttributeType\":\"S\"}]}";

static void test_a_refused_table_change_changes_nothing(void **state)
{
    int c = ht.ncalls;
    struct ht_req *q = ht_send("CreateTable", create_t);
    assert_string_equal(ht_call(c)->body.data, create_t);
    ht_answer(c, 400, ht_error("ResourceInUseException"));
    assert_int_equal(q->status, 400);
    ht_hit("t", "a", "1");
}

static void test_a_deleted_table_is_forgotten_and_a_created_one_learnt(void **state)
{
    int c = ht.ncalls;
    struct ht_req *q = ht_send("DeleteTable", "{\"TableName\":\"t\"}");
    char ans[700];
    snprintf(ans, sizeof(ans), "{\"TableDescription\":%s}", ht_description("t", 'S'));
    ht_answer(c, 200, ans);
    assert_int_equal(q->status, 200);
    q = ht_send("CreateTable", create_t);
    ht_answer(c + 1, 200, ans); /* ACTIVE at once, as moto answers */
    assert_int_equal(q->status, 200);
    /* learnt from the answer (no DescribeTable), and nothing of the old table survives */
    ht_miss("t", "a", NULL);
}

static void test_partiql_writes_drop_their_tables_entries(void **state)
{
    ht_known_table("u");
    ht_cached("u", "x", "1");
    int c = ht.ncalls;
    struct ht_req *q = ht_send("ExecuteStatement", "{\"Statement\":\"SELECT * FROM \\\"t\\\"\"}");
    ht_answer(c, 200, "{\"Items\":[]}");
    ht_replied(q, 200, "{\"Items\":[]}");
    ht_hit("t", "a", "1"); /* a SELECT changes nothing */
    c = ht.ncalls;
    q = ht_send("ExecuteStatement",
                "{\"Statement\":\"UPDATE \\\"t\\\" SET v = 2 WHERE pk = 'b'\"}");
    ht_answer(c, 200, "{}");
    ht_miss("t", "a", "1"); /* every entry of t, not only the key written */
    ht_hit("u", "x", "1");  /* other tables keep theirs */
    /* a statement ddbx cannot read drops every table's entries */
    c = ht.ncalls;
    q = ht_send("BatchExecuteStatement", "{\"Statements\":[{\"Statement\":\"EXISTS(x)\"}]}");
    ht_answer(c, 200, "{\"Responses\":[]}");
    ht_miss("t", "a", "1");
    ht_miss("u", "x", "1");
    /* a refused statement changes nothing */
    c = ht.ncalls;
    q = ht_send("ExecuteStatement", "{\"Statement\":\"DELETE FROM t WHERE pk = 'a'\"}");
    ht_answer(c, 400, ht_error("ValidationException"));
    ht_hit("t", "a", "1");
}

static void test_a_partiql_write_of_unknown_outcome_holds_the_table(void **state)
{
    int c = ht.ncalls;
    struct ht_req *q =
        ht_send("ExecuteStatement", "{\"Statement\":\"INSERT INTO t VALUE {'pk': 'z'}\"}");
    ht_fail(c, BACKEND_TIMEOUT);
    assert_int_equal(q->status, 500);
    for (int i = 0; i < 3; i++) { /* read, never cached */
        ht_miss("t", "a", "1");
        ht.now += 1000;
    }
    ht.now += HT_HOLDOFF_MS;
    ht_miss("t", "a", "1");
    ht_hit("t", "a", "1");
}

static void test_a_table_forgotten_while_a_write_is_in_flight(void **state)
{
    /* issue 7's first path: the write's lease covers the key whatever the
     * table's epoch becomes meanwhile */
    int c = ht.ncalls;
    struct ht_req *p = ht_put("t", "a", "2");
    struct ht_req *s = ht_send("ExecuteStatement",
                               "{\"Statement\":\"UPDATE \\\"t\\\" SET v = 1 WHERE pk = 'other'\"}");
    ht_answer(c + 1, 200, "{}"); /* the statement: t's epoch changes */
    ht_miss("t", "a", "1");      /* a read fills the old value under the new epoch */
    ht_answer(c, 200, "{}");     /* the put is acknowledged */
    ht_replied(p, 200, "{}");
    ht_replied(s, 200, "{}");
    ht_miss("t", "a", "2"); /* never the old value again */
    ht_hit("t", "a", "2");
}

static void test_transact_get_always_reads_and_installs(void **state)
{
    const char *body = "{\"TransactItems\":[{\"Get\":{\"TableName\":\"t\","
                       "\"Key\":{\"pk\":{\"S\":\"a\"}}}}]}";
    int c = ht.ncalls;
    struct ht_req *q = ht_send("TransactGetItems", body);
    assert_string_equal(ht_call(c)->body.data, body);
    const char *ans = "{\"Responses\":[{\"Item\":{\"pk\":{\"S\":\"a\"},\"v\":{\"S\":\"2\"}}}]}";
    ht_answer(c, 200, ans);
    ht_replied(q, 200, ans);
    ht_hit("t", "a", "2");
}

int main(void)
{
#define T(t) cmocka_unit_test_setup_teardown(t, setup, ht_teardown)
    const struct CMUnitTest tests[] = {
        T(test_a_refused_table_change_changes_nothing),
        T(test_a_deleted_table_is_forgotten_and_a_created_one_learnt),
        T(test_partiql_writes_drop_their_tables_entries),
        T(test_a_partiql_write_of_unknown_outcome_holds_the_table),
        T(test_a_table_forgotten_while_a_write_is_in_flight),
        T(test_transact_get_always_reads_and_installs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
