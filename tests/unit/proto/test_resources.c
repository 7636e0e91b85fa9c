/*
 * test_resources.c: proto/resources.h: the tables each kind of request
 * reaches, read by proto/grants.tsv's paths: single tables, batches and
 * transactions (every table), PartiQL, resource ARNs of every kind, shard
 * iterators, operations that reach no table or the whole account, member
 * names in any case, and the positions ddbx cannot read. And the table
 * itself: one row per operation of proto/operations.tsv, and no other.
 */
#include "proto_test.h"
#include "testutil.h"

#include "proto/resources.h"

static enum op_id op_named(const char *name)
{
    for (int i = 0; i < OP_COUNT; i++)
        if (strcmp(ops_names[i], name) == 0) return (enum op_id)i;
    fail_msg("no operation %s", name);
    return OP_COUNT;
}

/* Lists what `op` with body `json` reaches as "name|arn:...|..." (ARNs
 * marked with a leading '@'), or the reach when it is not TABLES. */
static const char *reach(struct arena *a, const char *op, const char *json)
{
    struct ddb_reached r;
    int rc = ddb_resources(a, op_named(op), json_lit(a, json), &r);
    if (rc == DDB_REACH_OPEN) return "OPEN";
    if (rc == DDB_REACH_ACCOUNT) return "ACCOUNT";
    if (rc == DDB_REACH_UNREADABLE) return "UNREADABLE";
    assert_int_equal(rc, DDB_REACH_TABLES);
    assert_true(r.n > 0);
    struct buf b = BUF_INIT;
    for (int i = 0; i < r.n; i++)
        buf_printf(&b, "%s%s%.*s", i ? "|" : "", r.tables[i].arn ? "@" : "", (int)r.tables[i].len,
                   r.tables[i].name);
    const char *s = arena_strndup(a, b.data, b.len);
    buf_free(&b);
    return s;
}

#define ARN "arn:aws:dynamodb:us-east-1:123456789012:table/"

static void test_single_tables(void **state)
{
    struct arena *a = *state;
    assert_string_equal(reach(a, "GetItem", "{\"TableName\":\"Music\",\"Key\":{}}"), "Music");
    assert_string_equal(reach(a, "Query", "{\"TableName\":\"" ARN "Music\"}"), "@" ARN "Music");
    assert_string_equal(
        reach(a, "ImportTable", "{\"TableCreationParameters\":{\"TableName\":\"T\"}}"), "T");
    assert_string_equal(reach(a, "RestoreTableFromBackup",
                              "{\"TargetTableName\":\"New\",\"BackupArn\":\"" ARN
                              "Old/backup/01-abc\"}"),
                        "New|@" ARN "Old");
    assert_string_equal(reach(a, "ListBackups", "{\"TableName\":\"Music\"}"), "Music");
    assert_string_equal(reach(a, "CreateGlobalTable", "{\"GlobalTableName\":\"G\"}"), "G");
}

/* Member names in any case: the backend must never read a table ddbx missed. */
static void test_member_names_any_case(void **state)
{
    struct arena *a = *state;
    assert_string_equal(reach(a, "GetItem", "{\"tablename\":\"secret\",\"Key\":{}}"), "secret");
    assert_string_equal(reach(a, "GetItem", "{\"TableName\":\"ok\",\"TABLENAME\":\"secret\"}"),
                        "ok|secret");
}

static void test_batches_and_transactions(void **state)
{
    struct arena *a = *state;
    assert_string_equal(
        reach(a, "BatchGetItem", "{\"RequestItems\":{\"A\":{\"Keys\":[]},\"B\":{\"Keys\":[]}}}"),
        "A|B");
    assert_string_equal(reach(a, "BatchWriteItem", "{\"RequestItems\":{\"" ARN "A\":[],\"B\":[]}}"),
                        "@" ARN "A|B");
    assert_string_equal(reach(a, "TransactWriteItems",
                              "{\"TransactItems\":[{\"Put\":{\"TableName\":\"A\"}},"
                              "{\"ConditionCheck\":{\"TableName\":\"B\"}},"
                              "{\"Update\":{\"TableName\":\"A\"}}]}"),
                        "A|B|A");
    assert_string_equal(
        reach(a, "TransactGetItems", "{\"TransactItems\":[{\"Get\":{\"TableName\":\"A\"}}]}"), "A");
}

static void test_partiql(void **state)
{
    struct arena *a = *state;
    assert_string_equal(reach(a, "ExecuteStatement", "{\"Statement\":\"SELECT * FROM \\\"A\\\"\"}"),
                        "A");
    assert_string_equal(reach(a, "BatchExecuteStatement",
                              "{\"Statements\":[{\"Statement\":\"INSERT INTO A VALUE {}\"},"
                              "{\"Statement\":\"DELETE FROM B WHERE pk = 'x'\"}]}"),
                        "A|B");
    assert_string_equal(reach(a, "ExecuteTransaction",
                              "{\"TransactStatements\":[{\"Statement\":\"UPDATE A SET x = 1\"},"
                              "{\"Statement\":\"EXISTS(SELECT * FROM C WHERE pk = 'x')\"}]}"),
                        "A|C");
    assert_string_equal(reach(a, "ExecuteStatement", "{\"Statement\":\"SELECT * FROM a-b\"}"),
                        "UNREADABLE");
    /* one unreadable statement makes the whole request unreadable */
    assert_string_equal(reach(a, "BatchExecuteStatement",
                              "{\"Statements\":[{\"Statement\":\"SELECT * FROM A\"},"
                              "{\"Statement\":\"SELECT * FROM /**/ B\"}]}"),
                        "UNREADABLE");
}

static void test_resource_arns(void **state)
{
    struct arena *a = *state;
    assert_string_equal(reach(a, "TagResource", "{\"ResourceArn\":\"" ARN "Music\"}"),
                        "@" ARN "Music");
    assert_string_equal(reach(a, "DescribeStream",
                              "{\"StreamArn\":\"" ARN "Music/stream/2025-01-01T00:00:00.000\"}"),
                        "@" ARN "Music");
    assert_string_equal(reach(a, "GetRecords",
                              "{\"ShardIterator\":\"" ARN
                              "Music/stream/2025-01-01T00:00:00.000|1|AAAA\"}"),
                        "@" ARN "Music");
    assert_string_equal(reach(a, "DescribeExport", "{\"ExportArn\":\"" ARN "T/export/0\"}"),
                        "@" ARN "T");
    assert_string_equal(reach(a, "TagResource", "{\"ResourceArn\":\"arn:aws:s3:::bucket\"}"),
                        "UNREADABLE");
    assert_string_equal(reach(a, "GetRecords", "{\"ShardIterator\":\"opaque-token\"}"),
                        "UNREADABLE");
    assert_string_equal(reach(a, "GetItem", "{\"TableName\":\"arn:aws:dynamodb:x\"}"),
                        "UNREADABLE");
}

static void test_no_table(void **state)
{
    struct arena *a = *state;
    assert_string_equal(reach(a, "DescribeEndpoints", "{}"), "OPEN");
    assert_string_equal(reach(a, "DescribeLimits", "{}"), "OPEN");
    assert_string_equal(reach(a, "ListTables", "{}"), "ACCOUNT");
    /* ListTables names no table even when the body says one */
    assert_string_equal(reach(a, "ListTables", "{\"TableName\":\"A\"}"), "ACCOUNT");
    assert_string_equal(reach(a, "ListBackups", "{}"), "ACCOUNT");
    assert_string_equal(reach(a, "GetItem", "{}"), "ACCOUNT");
    assert_string_equal(reach(a, "BatchGetItem", "{\"RequestItems\":{}}"), "ACCOUNT");
    /* a table position holding something else than a string */
    assert_string_equal(reach(a, "GetItem", "{\"TableName\":7}"), "UNREADABLE");
    assert_string_equal(reach(a, "GetItem", "{\"TableName\":\"\"}"), "UNREADABLE");
}

static void test_table_arn(void **state)
{
    size_t n = 0;
    const char *s = ARN "Music/index/ByArtist";
    assert_true(ddb_table_arn(s, strlen(s), &n));
    assert_int_equal(n, strlen(ARN "Music"));
    s = "arn:aws-cn:dynamodb:cn-north-1:1:table/T";
    assert_true(ddb_table_arn(s, strlen(s), &n));
    assert_int_equal(n, strlen(s));
    const char *bad[] = {"arn:aws:dynamodb:r:a:table/", "arn:aws:dynamodb:r:a:tables/T",
                         "arn::dynamodb:r:a:table/T",   "arn:aws:kinesis:r:a:table/T",
                         "arn:aws:dynamodb:r:a",        "Music"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        if (ddb_table_arn(bad[i], strlen(bad[i]), &n)) fail_msg("accepted %s", bad[i]);
}

/* proto/grants.tsv has one row per operation, and every path kind is known. */
static void test_every_operation_has_a_row(void **state)
{
    struct tsv g;
    tsv_load(&g, PROTO_DIR "/grants.tsv");
    assert_int_equal(g.nrows, OP_COUNT);
    for (int op = 0; op < OP_COUNT; op++) {
        const char *spec = ddb_resources_spec((enum op_id)op);
        if (!spec) fail_msg("no row in grants.tsv for %s", ops_names[op]);
        for (const char *k = strchr(spec, ':'); k; k = strchr(k + 1, ':'))
            if (strncmp(k + 1, "arn", 3) && strncmp(k + 1, "partiql", 7) &&
                strncmp(k + 1, "iterator", 8))
                fail_msg("%s: unknown kind in '%s'", ops_names[op], spec);
    }
    tsv_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ARENA_TEST(test_single_tables),
        ARENA_TEST(test_member_names_any_case),
        ARENA_TEST(test_batches_and_transactions),
        ARENA_TEST(test_partiql),
        ARENA_TEST(test_resource_arns),
        ARENA_TEST(test_no_table),
        cmocka_unit_test(test_table_arn),
        cmocka_unit_test(test_every_operation_has_a_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
