/*
 * test_ops.c: the operations table and lookup by X-Amz-Target
 * (proto/ops.h), checked row by row against proto/operations.tsv.
 */
#include "testutil.h"

#include <ctype.h>

#include "proto/ops.h"

static struct tsv table;

static int setup(void **state)
{
    tsv_load(&table, PROTO_DIR "/operations.tsv");
    return 0;
}

static int teardown(void **state)
{
    tsv_free(&table);
    return 0;
}

static enum op_class class_named(const char *name)
{
    static const char *names[] = {
        "relay",         "cached_read", "write_through", "consistent_read",
        "schema_change", "partiql",     "local"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        if (strcmp(names[i], name) == 0) return (enum op_class)i;
    fail_msg("unknown class %s in operations.tsv", name);
    return OPC_relay;
}

static const struct op *lookup(const char *target)
{
    return ops_lookup(target, strlen(target));
}

/* Whether `target` is some row of the table. */
static bool in_table(const char *target)
{
    for (int i = 0; i < table.nrows; i++) {
        size_t p = strlen(table.col[i][0]);
        if (strncmp(target, table.col[i][0], p) == 0 && target[p] == '.' &&
            strcmp(target + p + 1, table.col[i][1]) == 0)
            return true;
    }
    return false;
}

static void test_every_row_is_found(void **state)
{
    assert_int_equal(table.nrows, OP_COUNT);
    bool seen[OP_COUNT] = {false};
    for (int i = 0; i < table.nrows; i++) {
        char **col = table.col[i];
        assert_int_equal(table.ncols[i], 6);
        char target[128];
        snprintf(target, sizeof(target), "%s.%s", col[0], col[1]);
        const struct op *op = lookup(target);
        if (!op) fail_msg("%s not found", target);
        assert_string_equal(op->target, target);
        assert_string_equal(op->name, col[1]);
        assert_int_equal(op->cls, class_named(col[2]));
        if (strcmp(col[4], "-") == 0)
            assert_null(op->describes);
        else
            assert_string_equal(op->describes, col[4]);
        assert_string_equal(op->note, col[5]);
        assert_int_equal(op->id, i); /* ids follow the table's order */
        assert_ptr_equal(ops_get(op->id), op);
        assert_string_equal(ops_names[op->id], col[1]);
        assert_false(seen[op->id]);
        seen[op->id] = true;
    }
    assert_string_equal(ops_get(OP_GetItem)->name, "GetItem");
    assert_int_equal(ops_get(OP_GetItem)->cls, OPC_cached_read);
    assert_string_equal(ops_get(OP_BatchGetItem)->target, "DynamoDB_20120810.BatchGetItem");
    assert_string_equal(ops_get(OP_DescribeTable)->name, "DescribeTable");
    assert_string_equal(ops_get(OP_DescribeTable)->describes, "Table");
}

static void test_lookup_uses_length(void **state)
{
    /* the header value is not NUL-terminated where it ends */
    const char *raw = "DynamoDB_20120810.GetItemAndMore";
    const struct op *op = ops_lookup(raw, strlen("DynamoDB_20120810.GetItem"));
    assert_non_null(op);
    assert_int_equal(op->id, OP_GetItem);
    assert_null(ops_lookup(raw, strlen(raw)));
    assert_null(ops_lookup(raw, 0));
}

static void expect_miss(const char *target)
{
    if (in_table(target)) return; /* the variation happens to name another operation */
    if (lookup(target)) fail_msg("\"%s\" should not be found", target);
}

static void test_near_misses(void **state)
{
    static const char *fixed[] = {"",
                                  "GetItem",
                                  "DynamoDB_20120810",
                                  "DynamoDB_20120810.",
                                  ".GetItem",
                                  "DynamoDB_20120811.GetItem",
                                  "DynamoDB_2012081.GetItem",
                                  "DynamoDB_20120810GetItem",
                                  "DynamoDB_20120810..GetItem",
                                  "DynamoDB_20120810 GetItem",
                                  "DynamoDBStreams_20120810.GetItem",
                                  "DynamoDB_20120810.GetRecords",
                                  "dynamodb_20120810.GetItem",
                                  "DynamoDB_20120810.getitem",
                                  "DynamoDB_20120810.GETITEM",
                                  " DynamoDB_20120810.GetItem",
                                  "DynamoDB_20120810.GetItem ",
                                  "DynamoDB_20120810.GetItem\r",
                                  "DynamoDB_20120810.GetItems",
                                  "DynamoDB_20120810.GetIte"};
    for (size_t i = 0; i < ARRAY_LEN(fixed); i++)
        assert_null(lookup(fixed[i]));
    assert_null(ops_lookup("DynamoDB_20120810.GetItem\0", 26)); /* trailing NUL counted */

    /* and for every row: a char dropped, added, changed in case, or the other prefix */
    for (int i = 0; i < table.nrows; i++) {
        char t[160];
        int n = snprintf(t, sizeof(t), "%s.%s", table.col[i][0], table.col[i][1]);
        char v[200];
        snprintf(v, sizeof(v), "%.*s", n - 1, t);
        expect_miss(v);
        snprintf(v, sizeof(v), "%sX", t);
        expect_miss(v);
        snprintf(v, sizeof(v), "%s.", t);
        expect_miss(v);
        snprintf(v, sizeof(v), "x%s", t);
        expect_miss(v);
        for (int k = 0; k < n; k++) { /* flip the case of each letter in turn */
            if (!isalpha((unsigned char)t[k])) continue;
            memcpy(v, t, (size_t)n + 1);
            v[k] = (char)(isupper((unsigned char)v[k]) ? tolower((unsigned char)v[k])
                                                       : toupper((unsigned char)v[k]));
            expect_miss(v);
        }
        const char *other = strcmp(table.col[i][0], "DynamoDB_20120810") == 0
                                ? "DynamoDBStreams_20120810"
                                : "DynamoDB_20120810";
        snprintf(v, sizeof(v), "%s.%s", other, table.col[i][1]);
        expect_miss(v);
        assert_non_null(lookup(t)); /* the probes did not disturb the table */
    }
}

static void test_lookup_from_threads_is_consistent(void **state)
{
    /* the table is built once on first use; later lookups see the same rows */
    const struct op *a = lookup("DynamoDB_20120810.Query");
    const struct op *b = lookup("DynamoDB_20120810.Query");
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_ptr_equal(a, ops_get(a->id));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_row_is_found),
        cmocka_unit_test(test_lookup_uses_length),
        cmocka_unit_test(test_near_misses),
        cmocka_unit_test(test_lookup_from_threads_is_consistent),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
