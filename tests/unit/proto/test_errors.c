/*
 * test_errors.c: the DynamoDB error table, the message table and error
 * bodies (proto/errors.h), checked against proto/errors.tsv and
 * proto/messages.tsv, the tables the Python tests also read.
 */
#include "testutil.h"

#include "proto/errors.h"
#include "proto/json.h"

static struct tsv table, msgs;
static struct arena arena;

static int setup(void **state)
{
    tsv_load(&table, PROTO_DIR "/errors.tsv");
    tsv_load(&msgs, PROTO_DIR "/messages.tsv");
    arena_init(&arena);
    return 0;
}

static int teardown(void **state)
{
    tsv_free(&table);
    tsv_free(&msgs);
    arena_free(&arena);
    return 0;
}

/* Composes e's body and parses it (the tree lives in the arena). */
static const struct json *compose(enum ddb_error e, const char *message)
{
    struct buf b = BUF_INIT;
    ddb_error_compose(&b, e, message);
    struct json *root;
    assert_int_equal(json_parse(&arena, b.data, b.len, &root, NULL, 0), JSON_OK);
    buf_free(&b);
    assert_true(json_is_object(root));
    return root;
}

static void test_table_matches_tsv(void **state)
{
    assert_int_equal(table.nrows, DDB_ERROR_COUNT);
    for (int i = 0; i < table.nrows; i++) {
        char **col = table.col[i];
        assert_int_equal(table.ncols[i], 7);
        const struct ddb_error_desc *d = ddb_error_desc((enum ddb_error)i);
        assert_string_equal(d->name, col[0]);
        assert_int_equal(d->status, atoi(col[1]));
        assert_true(d->status == 400 || d->status == 413 || d->status >= 500);
        static const char *const effects[] = {"unchanged", "invalidate", "ambiguous"};
        assert_string_equal(effects[d->write], col[2]);
        assert_true(strcmp(col[3], "keep") == 0 || strcmp(col[3], "forget") == 0);
        assert_int_equal(d->forgets_table, strcmp(col[3], "forget") == 0);
        char type[256];
        snprintf(type, sizeof(type), "%s#%s", col[4], col[0]);
        assert_string_equal(d->type, type);
        assert_string_equal(d->member, col[5]);
        assert_true(strcmp(col[5], "message") == 0 || strcmp(col[5], "Message") == 0);
        assert_string_equal(d->message, col[6]);
        assert_ptr_equal(ddb_error_find(d->name, strlen(d->name)), d);
    }
    /* spot checks against DynamoDB's documented behaviour */
    assert_int_equal(ddb_error_desc(DDB_InternalServerError)->status, 500);
    assert_int_equal(ddb_error_desc(DDB_InternalServerError)->write, DDB_WRITE_AMBIGUOUS);
    assert_int_equal(ddb_error_desc(DDB_ServiceUnavailable)->status, 503);
    assert_int_equal(ddb_error_desc(DDB_ConditionalCheckFailedException)->write,
                     DDB_WRITE_INVALIDATE);
    assert_int_equal(ddb_error_desc(DDB_ThrottlingException)->write, DDB_WRITE_UNCHANGED);
    assert_true(ddb_error_desc(DDB_ResourceNotFoundException)->forgets_table);
    assert_null(ddb_error_find("NoSuchError", 11));
    assert_int_equal(ddb_error_desc(DDB_ValidationException)->write, DDB_WRITE_UNCHANGED);
    assert_string_equal(ddb_error_desc(DDB_ResourceNotFoundException)->type,
                        "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException");
    /* DynamoDB's deserializer capitalises its member; the service does not */
    assert_string_equal(ddb_error_desc(DDB_SerializationException)->member, "Message");
    assert_string_equal(ddb_error_desc(DDB_ValidationException)->member, "message");
}

static void test_compose_default_messages(void **state)
{
    for (int i = 0; i < DDB_ERROR_COUNT; i++) {
        const struct ddb_error_desc *d = ddb_error_desc((enum ddb_error)i);
        const struct json *body = compose((enum ddb_error)i, NULL);
        assert_string_equal(json_get(body, "__type")->str, d->type);
        /* botocore takes the code from after the '#' */
        assert_string_equal(strchr(json_get(body, "__type")->str, '#') + 1, table.col[i][0]);
        assert_string_equal(body->child->key, "__type"); /* first, as DynamoDB */
        if (strcmp(table.col[i][6], "-") == 0) {
            assert_int_equal(body->len, 1); /* DynamoDB sends no message for it */
        } else {
            assert_int_equal(body->len, 2);
            assert_string_equal(json_get(body, d->member)->str, table.col[i][6]);
        }
    }
}

static void test_compose_exact_text(void **state)
{
    struct buf b = BUF_INIT;
    buf_append_str(&b, "kept:");
    ddb_error_compose(&b, DDB_ValidationException, NULL);
    assert_string_equal(b.data,
                        "kept:{\"__type\":\"com.amazon.coral.validate#ValidationException\","
                        "\"message\":\"One or more parameter values were invalid\"}");
    buf_reset(&b);
    ddb_error_compose(&b, DDB_UnknownOperationException, NULL);
    assert_string_equal(b.data,
                        "{\"__type\":\"com.amazon.coral.service#UnknownOperationException\"}");
    /* a body that is not JSON: DynamoDB's answer has no text */
    buf_reset(&b);
    ddb_error_compose(&b, DDB_SerializationException, NULL);
    assert_string_equal(b.data, "{\"__type\":\"com.amazon.coral.service#SerializationException\"}");
    buf_reset(&b);
    ddb_error_compose(&b, DDB_SerializationException, "Unexpected field type");
    assert_string_equal(b.data, "{\"__type\":\"com.amazon.coral.service#SerializationException\","
                                "\"Message\":\"Unexpected field type\"}");
    buf_free(&b);
}

static void test_compose_custom_message(void **state)
{
    const char *msg = "Table \"t\\1\" not found\n\tat \xc3\xa9 \x01";
    const struct json *body = compose(DDB_ResourceNotFoundException, msg);
    assert_int_equal(body->len, 2);
    assert_string_equal(json_get(body, "message")->str, msg); /* escaped and back */
    /* an explicit message is kept even for UnknownOperationException */
    body = compose(DDB_UnknownOperationException, "Unknown operation Foo");
    assert_int_equal(body->len, 2);
    assert_string_equal(json_get(body, "Message")->str, "Unknown operation Foo");
    body = compose(DDB_SerializationException, "");
    assert_string_equal(json_get(body, "Message")->str, "");
}

static void test_messages_match_tsv(void **state)
{
    assert_int_equal(msgs.nrows, DDB_MSG_COUNT);
    for (int i = 0; i < msgs.nrows; i++) {
        char **col = msgs.col[i];
        assert_int_equal(msgs.ncols[i], 3);
        assert_string_equal(ddb_msg_text((enum ddb_msg)i), col[2]);
        assert_string_equal(ddb_error_desc(ddb_msg_error((enum ddb_msg)i))->name, col[1]);
    }
}

static void test_message_formatting(void **state)
{
    char text[128];
    assert_int_equal(ddb_msg_format(text, sizeof(text), MSG_value_base64_length, (size_t)7),
                     DDB_SerializationException);
    assert_string_equal(text,
                        "Base64 encoded length is expected a multiple of 4 bytes but found: 7");
    /* truncated, NUL-terminated */
    assert_int_equal(ddb_msg_format(text, 12, MSG_number_invalid_text, 3, "abcdef"),
                     DDB_ValidationException);
    assert_string_equal(text, "The paramet");
    /* DynamoDB's oddities survive the table: "dectected" */
    assert_non_null(strstr(ddb_msg_text(MSG_value_base64_last), "dectected"));
    /* a composed body: the error the row names, the member its table names */
    struct buf b = BUF_INIT;
    ddb_msg_compose(&b, MSG_projection_key_path, "pk");
    assert_string_equal(b.data,
                        "{\"__type\":\"com.amazon.coral.validate#ValidationException\","
                        "\"message\":\"Key attributes must be scalars; list random access '[]' "
                        "and map lookup '.' are not allowed: Key: pk\"}");
    buf_reset(&b);
    ddb_msg_compose(&b, MSG_value_scalar_for_value);
    assert_string_equal(b.data, "{\"__type\":\"com.amazon.coral.service#SerializationException\","
                                "\"Message\":\"Unexpected value type in payload\"}");
    /* a long text (a request quoted in it) is not cut */
    buf_reset(&b);
    char big[5001];
    memset(big, 'w', 5000);
    big[5000] = '\0';
    ddb_msg_compose(&b, MSG_batch_write_table_requests, big);
    assert_non_null(strstr(b.data, big));
    assert_non_null(strstr(b.data, "' at 'requestItems' failed"));
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_matches_tsv),  cmocka_unit_test(test_compose_default_messages),
        cmocka_unit_test(test_compose_exact_text), cmocka_unit_test(test_compose_custom_message),
        cmocka_unit_test(test_messages_match_tsv), cmocka_unit_test(test_message_formatting),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
