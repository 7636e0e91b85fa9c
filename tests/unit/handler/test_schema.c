/*
 * test_schema.c: table epochs across a clean restart (handler/schema.c with
 * a spill tier in a temp dir). Each "run" is the handlers, cache and schema
 * set up afresh over the spill left by the previous run's clean stop, with
 * RAM spilled at the stop as main.c does. A table learnt again with the same
 * identity serves its spilled items without a backend read; a table
 * forgotten (DeleteTable), re-created while ddbx was stopped, of another
 * account, behind another backend, or whose entries a PartiQL write dropped
 * never serves the older records; a statement ddbx cannot read drops even
 * the tables the run never learnt; a table with a stream is read from the
 * backend until its stream reader is ready (schema_stream_ready).
 */
#include "handler_test.h"
#include "spill/spill_test.h"

#define ACCOUNT "123456789012"
#define CREATED "1.7000000001E9"

static bool streamed; /* descriptions name a stream */

/* Answers call i, a DescribeTable of t (hash key pk S) of `account`, created at `created`. */
static void describe_as(int i, const char *t, const char *account, const char *created)
{
    char b[900];
    snprintf(b, sizeof(b),
             "{\"Table\":{\"TableName\":\"%s\",\"TableStatus\":\"ACTIVE\","
             "\"TableArn\":\"arn:aws:dynamodb:us-east-1:%s:table/%s\",\"CreationDateTime\":%s,"
             "\"KeySchema\":[{\"AttributeName\":\"pk\",\"KeyType\":\"HASH\"}],"
             "\"AttributeDefinitions\":[{\"AttributeName\":\"pk\",\"AttributeType\":\"S\"}]%s}}",
             t, account, t, created,
             streamed ? ",\"StreamSpecification\":{\"StreamEnabled\":true,\"StreamViewType\":"
                        "\"KEYS_ONLY\"},\"LatestStreamArn\":\"arn:aws:dynamodb:us-east-1:1:table/"
                        "t/stream/x\""
                      : "");
    ht_expect(i, "DescribeTable", NULL);
    ht_answer(i, 200, b);
}

/* The first GetItem of t/pk in a run: t is described (as account, created);
 * then pk is a hit (v) or, with miss, read from the backend (answered v). */
static void first_get(const char *t, const char *pk, const char *account, const char *created,
                      bool miss, const char *v)
{
    int c = ht.ncalls;
    struct ht_req *q = ht_get(t, pk);
    describe_as(c, t, account, created);
    if (miss) {
        if (ht.ncalls != c + 2) fail_msg("GetItem %s/%s did not read the backend", t, pk);
        ht_expect(c + 1, "GetItem", NULL);
        ht_answer(c + 1, 200, v ? ht_item(pk, v) : "{}");
    } else if (ht.ncalls != c + 1) {
        fail_msg("GetItem %s/%s read the backend (%s)", t, pk, ht.calls[c + 1].body.data);
    }
    ht_replied(q, 200, v ? ht_item(pk, v) : "{}");
}

static int start_run(const char *const *flags, int nflags)
{
    return ht_setup_with(flags, nflags, NULL);
}

/* A clean stop as main.c makes it (RAM spilled, the tier marked clean),
 * then the next run over the same directory. */
static void restart_with(const char *const *flags, int nflags)
{
    cache_spill_all(ht.now);
    spill_teardown();
    ht_teardown(NULL);
    assert_int_equal(reopen(), SPILL_OK);
    assert_int_equal(stats().start, SPILL_START_WARM);
    start_run(flags, nflags);
}

static void restart(void)
{
    restart_with(NULL, 0);
}

static int setup(void **state)
{
    streamed = false;
    open_fresh(16 * MIB);
    return start_run(NULL, 0);
}

static int teardown(void **state)
{
    spill_teardown();
    ht_teardown(state);
    spill_dir_remove();
    return 0;
}

static void test_warm_restart_reuses_the_epoch(void **state)
{
    first_get("t", "a", ACCOUNT, CREATED, true, "1");
    ht_miss("t", "n", NULL); /* absent: a negative entry */
    restart();
    /* described again (the registry starts empty), then served from the spill */
    first_get("t", "a", ACCOUNT, CREATED, false, "1");
    ht_hit("t", "n", NULL);
    /* and again after a second restart */
    restart();
    first_get("t", "n", ACCOUNT, CREATED, false, NULL);
    ht_hit("t", "a", "1");
}

static void test_a_deleted_table_is_never_served_again(void **state)
{
    first_get("t", "a", ACCOUNT, CREATED, true, "1");
    int c = ht.ncalls;
    struct ht_req *q = ht_send("DeleteTable", "{\"TableName\":\"t\"}");
    ht_answer(c, 200, "{\"TableDescription\":{\"TableName\":\"t\",\"TableStatus\":\"DELETING\"}}");
    ht_replied(q, 200, NULL);
    restart();
    /* created again with the same schema (and, here, the same creation time) */
    first_get("t", "a", ACCOUNT, CREATED, true, NULL);
    ht_miss("t", "b", "2");
    restart(); /* the new table's epoch is the one kept now */
    first_get("t", "b", ACCOUNT, CREATED, false, "2");
    ht_hit("t", "a", NULL);
}

static void test_a_table_the_backend_says_is_gone(void **state)
{
    first_get("t", "a", ACCOUNT, CREATED, true, "1");
    int c = ht.ncalls;
    struct ht_req *q = ht_get("t", "b");
    ht_answer(c, 400, ht_error("ResourceNotFoundException"));
    ht_replied(q, 400, NULL);
    /* described again with nothing to tell it from the old table: a new epoch
     * all the same, in this run and after a restart */
    first_get("t", "a", ACCOUNT, CREATED, true, "2");
    restart();
    first_get("t", "a", ACCOUNT, CREATED, false, "2");
}

static void test_a_table_created_again_while_stopped(void **state)
{
    first_get("t", "a", ACCOUNT, CREATED, true, "1");
    restart();
    first_get("t", "a", ACCOUNT, "1.7000000999E9", true, NULL);
}

static void test_another_account_or_backend(void **state)
{
    first_get("t", "a", ACCOUNT, CREATED, true, "1");
    restart();
    first_get("t", "a", "210987654321", CREATED, true, "other account");
    static const char *const flags[] = {"--backend", "http://127.0.0.1:1"};
    restart_with(flags, 2);
    first_get("t", "a", "210987654321", CREATED, true, "other backend");
    restart_with(flags, 2);
    first_get("t", "a", "210987654321", CREATED, false, "other backend");
}

static void test_a_partiql_write_keeps_the_new_epoch(void **state)
{
    first_get("t", "a", ACCOUNT, CREATED, true, "1");
    int c = ht.ncalls;
    struct ht_req *q = ht_send("ExecuteStatement",
                               "{\"Statement\":\"UPDATE \\\"t\\\" SET v = 2 WHERE pk = 'a'\"}");
    ht_answer(c, 200, "{}");
    ht_replied(q, 200, "{}");
    ht_miss("t", "b", "1"); /* cached under the new epoch */
    restart();
    first_get("t", "a", ACCOUNT, CREATED, true, "2"); /* a's record predates the write */
    ht_hit("t", "b", "1");
}

static void test_an_unreadable_statement_drops_every_table(void **state)
{
    first_get("t", "a", ACCOUNT, CREATED, true, "1");
    first_get("u", "a", ACCOUNT, CREATED, true, "1");
    restart();
    /* this run learns only u; the statement may have written t as well */
    first_get("u", "a", ACCOUNT, CREATED, false, "1");
    int c = ht.ncalls;
    struct ht_req *q =
        ht_send("BatchExecuteStatement", "{\"Statements\":[{\"Statement\":\"EXISTS(x)\"}]}");
    ht_answer(c, 200, "{\"Responses\":[]}");
    ht_replied(q, 200, NULL);
    ht_miss("u", "b", "2"); /* cached under u's new epoch */
    restart();
    first_get("t", "a", ACCOUNT, CREATED, true, "3");
    first_get("u", "a", ACCOUNT, CREATED, true, "3");
    ht_hit("u", "b", "2");
}

static void test_no_epoch_is_issued_twice(void **state)
{
    /* the counter the tier keeps is past every epoch issued so far */
    first_get("t", "a", ACCOUNT, CREATED, true, "1");
    first_get("u", "a", ACCOUNT, CREATED, true, "1");
    struct buf b = BUF_INIT;
    assert_int_equal(spill_meta_get("schema.next_epoch", &b), SPILL_OK);
    assert_int_equal(b.len, 4);
    uint32_t next = (uint32_t)(uint8_t)b.data[0] << 24 | (uint32_t)(uint8_t)b.data[1] << 16 |
                    (uint32_t)(uint8_t)b.data[2] << 8 | (uint8_t)b.data[3];
    struct ht_req *q = ht_get("u", "a");
    const struct key_schema *ks = schema_peek(&q->r, "u", 1);
    assert_non_null(ks);
    assert_true(next > ks->epoch);
    buf_free(&b);
}

static void test_a_streamed_table_waits_for_its_reader(void **state)
{
    streamed = true;
    first_get("t", "a", ACCOUNT, CREATED, true, "1");
    first_get("u", "a", ACCOUNT, CREATED, true, "1");
    restart();
    schema_wait_for_streams(true); /* main.c: streams read, a spill tier */
    /* its spilled entries may predate writes that bypassed ddbx meanwhile:
     * read from the backend, nothing cached, until the reader is ready */
    first_get("t", "a", ACCOUNT, CREATED, true, "1");
    ht_miss("t", "a", "1");
    schema_stream_ready("t", 1);
    ht_hit("t", "a", "1"); /* the spilled entry, the reader having applied what came since */
    first_get("u", "a", ACCOUNT, CREATED, true, "1"); /* u's reader is not ready */
    ht_miss("u", "a", "1");
    /* a table learnt with an epoch of this run does not wait */
    first_get("v", "a", ACCOUNT, CREATED, true, "1");
    ht_hit("v", "a", "1");
}

int main(int argc, char **argv)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_warm_restart_reuses_the_epoch),
        T(test_a_deleted_table_is_never_served_again),
        T(test_a_table_the_backend_says_is_gone),
        T(test_a_table_created_again_while_stopped),
        T(test_another_account_or_backend),
        T(test_a_partiql_write_keeps_the_new_epoch),
        T(test_an_unreadable_statement_drops_every_table),
        T(test_no_epoch_is_issued_twice),
        T(test_a_streamed_table_waits_for_its_reader),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
