/*
 * test_partiql.c: proto/partiql.h: which table a statement writes (the
 * cache's question) and which table it reads or writes (the grants'):
 * every statement form DynamoDB's PartiQL has, quoted and bare names,
 * indexes, and the forms ddbx must refuse to read because the backend might
 * read another table than ddbx (comments, escaped quotes, names that run on,
 * second statements).
 */
#include "testutil.h"

#include "proto/partiql.h"

/* Asserts partiql_table reads `table` from s (NULL: refuses to read it). */
static void expect_table(const char *s, const char *table)
{
    const char *t = NULL;
    size_t n = 0;
    int rc = partiql_table(s, strlen(s), &t, &n);
    if (!table) {
        if (rc == 0) fail_msg("read table '%.*s' from: %s", (int)n, t, s);
        return;
    }
    if (rc != 0) fail_msg("could not read a table from: %s", s);
    if (n != strlen(table) || memcmp(t, table, n) != 0)
        fail_msg("read '%.*s', wanted '%s' from: %s", (int)n, t, table, s);
}

static void test_statement_forms(void **state)
{
    expect_table("SELECT * FROM Music", "Music");
    expect_table("select a, b from \"Music\" where pk = 'x'", "Music");
    expect_table("  SELECT *\nFROM\t\"Music\".\"ByArtist\" WHERE Artist = ?", "Music");
    expect_table("SELECT * FROM Music.ByArtist", "Music");
    expect_table("INSERT INTO \"Music\" VALUE {'pk': 'a', 'from': 'x'}", "Music");
    expect_table("UPDATE Music SET Plays = Plays + 1 WHERE pk = 'a'", "Music");
    expect_table("DELETE FROM \"my.table-1\" WHERE pk = 'a'", "my.table-1");
    expect_table("EXISTS(SELECT * FROM \"Music\" WHERE pk = 'a')", "Music");
    /* words inside strings and quoted names are not keywords */
    expect_table("SELECT \"from\", \"select\" FROM t WHERE a = 'SELECT * FROM other'", "t");
    expect_table("SELECT * FROM t WHERE a = 'it''s'", "t");
}

static void test_unreadable_forms(void **state)
{
    expect_table("", NULL);
    expect_table("SELECT * FROM", NULL);
    expect_table("SELECT 1", NULL);
    expect_table("EXPLAIN SELECT * FROM t", NULL);
    expect_table("INSERT Music VALUE {}", NULL);
    expect_table("DELETE Music", NULL);
    /* a bare name that runs on into characters only a quoted name may hold */
    expect_table("SELECT * FROM my-table", NULL);
    expect_table("SELECT * FROM t$x", NULL);
    /* comments, escaped quotes in names, backticks, unterminated quotes */
    expect_table("SELECT * FROM /* t */ secret", NULL);
    expect_table("SELECT * FROM t -- comment", NULL);
    expect_table("SELECT * FROM \"a\"\"b\"", NULL);
    expect_table("SELECT * FROM `t`", NULL);
    expect_table("SELECT * FROM \"t", NULL);
    expect_table("SELECT * FROM t WHERE a = 'x", NULL);
    /* a second statement, or a subquery naming another table */
    expect_table("SELECT * FROM t WHERE a IN (SELECT b FROM secret)", NULL);
    expect_table("SELECT (SELECT x FROM secret) FROM t", NULL);
    expect_table("SELECT * FROM t.i.j", NULL);
    expect_table("INSERT INTO t VALUE {'a': 1} INTO secret", NULL);
}

static void test_write_effects(void **state)
{
    const char *t = NULL;
    size_t n = 0;
    const char *s = "UPDATE \"Music\" SET a = 1";
    assert_int_equal(partiql_statement(s, strlen(s), &t, &n), PARTIQL_WRITES);
    assert_int_equal(n, 5);
    assert_memory_equal(t, "Music", 5);
    s = "SELECT * FROM Music";
    assert_int_equal(partiql_statement(s, strlen(s), &t, &n), PARTIQL_READS);
    s = "EXISTS(SELECT * FROM Music)";
    assert_int_equal(partiql_statement(s, strlen(s), &t, &n), PARTIQL_WRITES_ANY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statement_forms),
        cmocka_unit_test(test_unreadable_forms),
        cmocka_unit_test(test_write_effects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
