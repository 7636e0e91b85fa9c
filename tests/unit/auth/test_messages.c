/*
 * test_messages.c: the authentication message table (auth/messages.h)
 * against proto/auth_messages.tsv, and how failures are composed.
 */
#include "testutil.h"

#include "auth/messages.h"

static struct tsv table;

static int setup(void **state)
{
    tsv_load(&table, PROTO_DIR "/auth_messages.tsv");
    return 0;
}

static int teardown(void **state)
{
    tsv_free(&table);
    return 0;
}

/* The highest argument a format uses; fails on anything but %s and %N$s. */
static int format_args(const char *fmt)
{
    int next = 0, max = 0;
    for (const char *p = strchr(fmt, '%'); p; p = strchr(p + 1, '%')) {
        int n;
        if (p[1] == 's') {
            n = ++next;
        } else if (p[1] >= '1' && p[1] <= '9' && p[2] == '$' && p[3] == 's') {
            n = p[1] - '0';
        } else {
            fail_msg("conversion other than %%s in \"%s\"", fmt);
            return -1;
        }
        if (n > max) max = n;
    }
    return max;
}

static void test_table_matches_tsv(void **state)
{
    assert_int_equal(table.nrows, AUTH_MSG_COUNT);
    for (int i = 0; i < table.nrows; i++) {
        char **col = table.col[i];
        assert_int_equal(table.ncols[i], 5);
        const struct auth_msg_desc *d = auth_msg_desc((enum auth_msg)i);
        assert_string_equal(d->id, col[0]);
        assert_string_equal(ddb_error_desc(d->error)->name, col[1]);
        assert_int_equal(d->nargs, atoi(col[2]));
        assert_string_equal(d->source, col[3]);
        assert_true(!strcmp(col[3], "dynamodb") || !strcmp(col[3], "aws") ||
                    !strcmp(col[3], "ddbx"));
        assert_string_equal(d->format, col[4]);
        assert_int_equal(format_args(d->format), d->nargs);
        /* DynamoDB answers every authentication failure with a 400 */
        assert_int_equal(ddb_error_desc(d->error)->status, 400);
    }
}

static void test_fail_replaces_and_more_joins(void **state)
{
    struct auth_failure f;
    auth_failure_init(&f);
    assert_int_equal(f.reason, AUTH_MSG_COUNT);
    assert_int_equal(auth_fail(&f, AUTH_MSG_SCOPE_REGION, "eu-west-1"), -1);
    assert_int_equal(f.reason, AUTH_MSG_SCOPE_REGION);
    assert_int_equal(f.error, DDB_InvalidSignatureException);
    auth_fail_more(&f, AUTH_MSG_SCOPE_SERVICE, "dynamodb");
    assert_int_equal(f.reason, AUTH_MSG_SCOPE_REGION); /* the first reason stays */
    assert_string_equal(f.message.data,
                        "Credential should be scoped to a valid region, not 'eu-west-1'. "
                        "Credential should be scoped to correct service: 'dynamodb'.");
    auth_fail(&f, AUTH_MSG_UNKNOWN_KEY); /* starts over */
    assert_int_equal(f.error, DDB_UnrecognizedClientException);
    assert_string_equal(f.message.data, "The security token included in the request is invalid.");
    auth_failure_free(&f);
    /* on an empty failure, "more" starts the message */
    auth_failure_init(&f);
    auth_fail_more(&f, AUTH_MSG_QUERY_REEXAMINE);
    assert_int_equal(f.reason, AUTH_MSG_QUERY_REEXAMINE);
    assert_string_equal(f.message.data, "Re-examine the query-string parameters.");
    auth_failure_free(&f);
}

static void test_access_denied(void **state)
{
    struct auth_failure f;
    auth_failure_init(&f);
    assert_int_equal(auth_access_denied(&f, "AKIDREADER", "GetItem", "Music"), -1);
    assert_int_equal(f.error, DDB_AccessDeniedException);
    assert_string_equal(f.message.data,
                        "User: AKIDREADER is not authorized to perform: dynamodb:GetItem on "
                        "resource: Music because no identity-based policy allows the "
                        "dynamodb:GetItem action");
    auth_failure_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_matches_tsv),
        cmocka_unit_test(test_fail_replaces_and_more_joins),
        cmocka_unit_test(test_access_denied),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
