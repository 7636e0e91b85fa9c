/*
 * test_golden.c: the golden request/response pairs (proto/golden/requests.json)
 * seen from the protocol layer: every error a case expects is in ddbx's
 * error table with that HTTP status; bodies marked "check": "json" do not
 * parse; items marked "check": "item" are refused by attr_check_item with
 * the expected error. The integration test test_golden.py sends the same
 * cases through the running binary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/attr.h"
#include "proto/errors.h"
#include "proto/json.h"

static struct arena arena;
static struct json *golden;

static const struct ddb_error_desc *error_named(const char *name)
{
    for (int e = 0; e < DDB_ERROR_COUNT; e++)
        if (strcmp(ddb_error_desc((enum ddb_error)e)->name, name) == 0)
            return ddb_error_desc((enum ddb_error)e);
    return NULL;
}

static int load(void **state)
{
    FILE *f = fopen(PROTO_DIR "/golden/requests.json", "rb");
    if (!f) return -1;
    struct buf b = BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    arena_init(&arena);
    char *copy = arena_strndup(&arena, b.data, b.len);
    int rc = json_parse(&arena, copy, b.len, &golden, NULL, 0);
    buf_free(&b);
    return rc == JSON_OK ? 0 : -1;
}

static int unload(void **state)
{
    arena_free(&arena);
    return 0;
}

static void test_expected_errors_are_in_the_table(void **state)
{
    int errors = 0;
    for (const struct json *c = json_get(golden, "cases")->child; c; c = c->next) {
        const struct json *expect = json_get(c, "expect"), *err = json_get(expect, "error");
        if (!err) continue;
        const struct ddb_error_desc *d = error_named(err->str);
        assert_non_null(d);
        assert_int_equal(d->status, atoi(json_get(expect, "status")->str));
        errors++;
    }
    assert_true(errors >= 15);
}

static void test_json_checks(void **state)
{
    int checked = 0;
    for (const struct json *c = json_get(golden, "cases")->child; c; c = c->next) {
        const struct json *check = json_get(c, "check");
        if (strcmp(check->str, "json") != 0) continue;
        const struct json *text = json_get(c, "body_text");
        struct json *doc = NULL;
        int rc = json_parse(&arena, text->str, text->len, &doc, NULL, 0);
        /* a body that parses must at least not be an object: either way ddbx refuses it */
        assert_true(rc != JSON_OK || doc->type != JSON_OBJECT);
        assert_int_not_equal(json_validate_object(text->str, text->len), JSON_OK);
        checked++;
    }
    assert_true(checked >= 3);
}

static void test_item_checks(void **state)
{
    int checked = 0;
    for (const struct json *c = json_get(golden, "cases")->child; c; c = c->next) {
        const struct json *check = json_get(c, "check");
        if (strcmp(check->str, "item") != 0) continue;
        const struct json *expect = json_get(c, "expect");
        const struct json *item = json_get(json_get(c, "body"), "Item");
        struct attr_check chk;
        struct attr_error err;
        assert_int_equal(attr_check_item(item, &chk, &err), -1);
        assert_string_equal(ddb_error_desc(err.code)->name, json_get(expect, "error")->str);
        const struct json *contains = json_get(expect, "message_contains");
        if (contains) assert_non_null(strstr(err.message, contains->str));
        checked++;
    }
    assert_true(checked >= 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expected_errors_are_in_the_table),
        cmocka_unit_test(test_json_checks),
        cmocka_unit_test(test_item_checks),
    };
    return cmocka_run_group_tests(tests, load, unload);
}
