/*
 * proto_test.h: helpers shared by the proto/ unit tests: an arena per test
 * (cmocka state), JSON literals parsed into that arena, and comparison of
 * written JSON against an expected literal by value (json_equal).
 * Include after <cmocka.h>'s prerequisites; everything here is static inline.
 */
#ifndef DDBX_TESTS_PROTO_TEST_H
#define DDBX_TESTS_PROTO_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/json.h"
#include "util/arena.h"
#include "util/buf.h"

/* cmocka setup/teardown giving each test a fresh arena in *state. */
static inline int arena_setup(void **state)
{
    struct arena *a = malloc(sizeof(*a));
    if (!a) return -1;
    arena_init(a);
    *state = a;
    return 0;
}

static inline int arena_teardown(void **state)
{
    arena_free(*state);
    free(*state);
    return 0;
}

#define ARENA_TEST(f) cmocka_unit_test_setup_teardown(f, arena_setup, arena_teardown)

/* Parses text[0..len) (which must be valid JSON) into the arena. */
static inline const struct json *json_lit_n(struct arena *a, const char *text, size_t len)
{
    struct json *v = NULL;
    char err[256] = "";
    int rc = json_parse(a, text, len, &v, err, sizeof(err));
    if (rc != JSON_OK) print_error("bad JSON literal (%s): %.200s\n", err, text);
    assert_int_equal(rc, JSON_OK);
    assert_non_null(v);
    return v;
}

static inline const struct json *json_lit(struct arena *a, const char *text)
{
    return json_lit_n(a, text, strlen(text));
}

/* Asserts that the JSON text `actual` equals the JSON literal `expected` by
 * value (object members in any order). */
static inline void assert_json_text(struct arena *a, const char *actual, size_t len,
                                    const char *expected)
{
    const struct json *got = json_lit_n(a, actual, len);
    const struct json *want = json_lit(a, expected);
    if (!json_equal(got, want))
        print_error("JSON differs\n  got:  %.*s\n  want: %s\n", (int)len, actual, expected);
    assert_true(json_equal(got, want));
}

/* Formats into a string that lives in the arena (JSON texts built from parts). */
static inline const char *arena_printf(struct arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline const char *arena_printf(struct arena *a, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    char *s = arena_strndup(a, b.data ? b.data : "", b.len);
    buf_free(&b);
    return s;
}

/* Parses the JSON file DATA_DIR/name (a captured answer; tests using it
 * define DATA_DIR) into the arena. */
#ifdef DATA_DIR
static inline const struct json *json_file(struct arena *a, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", DATA_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    struct buf b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    const struct json *v = json_lit_n(a, b.data, b.len);
    buf_free(&b);
    return v;
}
#endif

/* Fills a NUL-terminated string of n copies of c (malloc'd; caller frees). */
static inline char *repeat_char(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

#endif
