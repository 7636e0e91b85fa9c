/*
 * test_json.c: the JSON tree parser, the object validator, lookup, deep
 * equality and the writer (proto/json.h).
 */
#include "testutil.h"

#include "proto/json.h"

static struct arena arena;

static int setup(void **state)
{
    arena_init(&arena);
    return 0;
}

static int teardown(void **state)
{
    arena_free(&arena);
    return 0;
}

static int parse_len(const char *text, size_t len, const struct json **out)
{
    struct json *root = (struct json *)1;
    char err[128] = "";
    int rc = json_parse(&arena, text, len, &root, err, sizeof(err));
    if (rc == JSON_OK) {
        assert_non_null(root);
        assert_string_equal(err, "");
    } else {
        assert_null(root);
        assert_true(err[0] != '\0'); /* every failure says why */
        assert_null(strchr(err, '\n'));
    }
    if (out) *out = root;
    return rc;
}

static int parse_rc(const char *text)
{
    return parse_len(text, strlen(text), NULL);
}

static const struct json *parse_ok(const char *text)
{
    const struct json *root;
    int rc = parse_len(text, strlen(text), &root);
    if (rc != JSON_OK) fail_msg("json_parse(%s) = %d", text, rc);
    return root;
}

/* Writes v with jw_value; the text lives in the arena. */
static const char *write_json(const struct json *v)
{
    struct buf b = BUF_INIT;
    struct json_writer w;
    jw_init(&w, &b);
    jw_value(&w, v);
    jw_free(&w);
    char *s = arena_strndup(&arena, b.data, b.len);
    buf_free(&b);
    return s;
}

/* parse -> write -> parse must give an equal tree; returns the written text. */
static const char *roundtrip(const char *text)
{
    const struct json *a = parse_ok(text);
    const char *out = write_json(a);
    const struct json *b = parse_ok(out);
    if (!json_equal(a, b)) fail_msg("%s was written as %s, which differs", text, out);
    assert_string_equal(write_json(b), out); /* writing is deterministic */
    return out;
}

static void test_object(void **state)
{
    const struct json *o = parse_ok("{\"a\":1,\"b\":\"x\",\"c\":true,\"d\":false,\"e\":null}");
    assert_true(json_is_object(o));
    assert_int_equal(o->len, 5);
    assert_null(o->key);
    static const struct {
        const char *key;
        enum json_type type;
    } want[] = {{"a", JSON_NUMBER},
                {"b", JSON_STRING},
                {"c", JSON_TRUE},
                {"d", JSON_FALSE},
                {"e", JSON_NULL}};
    const struct json *c = o->child;
    for (size_t i = 0; i < ARRAY_LEN(want); i++, c = c->next) {
        assert_non_null(c);
        assert_string_equal(c->key, want[i].key); /* members in document order */
        assert_int_equal(c->keylen, 1);
        assert_int_equal(c->type, want[i].type);
        assert_ptr_equal(json_get(o, want[i].key), c);
    }
    assert_null(c);
    assert_string_equal(json_get(o, "b")->str, "x");
    assert_int_equal(json_get(o, "b")->len, 1);
    assert_true(json_is_string(json_get(o, "b")));
    assert_true(json_is_bool(json_get(o, "c")) && json_is_bool(json_get(o, "d")));
    assert_false(json_is_bool(json_get(o, "e")));
    assert_null(json_get(o, "f"));
    assert_null(json_get(o, ""));
    assert_null(json_get(o, "ab"));
    assert_null(json_getn(o, "ab", 2));
    assert_ptr_equal(json_getn(o, "ab", 1), json_get(o, "a"));
    assert_null(json_get(NULL, "a"));
    assert_null(json_get(json_get(o, "b"), "a")); /* not an object */

    const struct json *empty = parse_ok(" { } ");
    assert_true(json_is_object(empty));
    assert_int_equal(empty->len, 0);
    assert_null(empty->child);
}

static void test_array_and_scalars(void **state)
{
    const struct json *a = parse_ok("[1, [2, 3], {}, \"s\", []]");
    assert_true(json_is_array(a));
    assert_int_equal(a->len, 5);
    const struct json *c = a->child;
    assert_string_equal(c->str, "1");
    assert_null(c->key);
    c = c->next;
    assert_true(json_is_array(c));
    assert_int_equal(c->len, 2);
    assert_string_equal(c->child->str, "2");
    assert_string_equal(c->child->next->str, "3");
    assert_null(c->child->next->next);
    assert_true(json_is_object(c->next));
    assert_string_equal(c->next->next->str, "s");
    assert_true(json_is_array(c->next->next->next));
    assert_int_equal(c->next->next->next->len, 0);
    assert_null(c->next->next->next->next);
    assert_null(json_get(a, "1")); /* json_get only looks in objects */

    /* any value may stand at the top level of json_parse */
    assert_int_equal(parse_ok("\"top\"")->type, JSON_STRING);
    assert_int_equal(parse_ok(" 42 ")->type, JSON_NUMBER);
    assert_int_equal(parse_ok("null")->type, JSON_NULL);
    assert_int_equal(parse_ok("true")->type, JSON_TRUE);
}

static void test_nested_dynamodb_request(void **state)
{
    const struct json *r =
        parse_ok("{\"TableName\":\"Music\",\"Key\":{\"Artist\":{\"S\":\"No One You Know\"},"
                 "\"SongTitle\":{\"S\":\"Call Me Today\"}},\"ProjectionExpression\":\"#t\","
                 "\"ExpressionAttributeNames\":{\"#t\":\"AlbumTitle\"},\"ConsistentRead\":true,"
                 "\"Extra\":{\"L\":[{\"N\":\"1\"},{\"M\":{\"x\":{\"NULL\":true}}}]}}");
    assert_string_equal(json_get(r, "TableName")->str, "Music");
    const struct json *key = json_get(r, "Key");
    assert_int_equal(key->len, 2);
    assert_string_equal(json_get(json_get(key, "SongTitle"), "S")->str, "Call Me Today");
    assert_string_equal(json_get(json_get(r, "ExpressionAttributeNames"), "#t")->str, "AlbumTitle");
    assert_int_equal(json_get(r, "ConsistentRead")->type, JSON_TRUE);
    const struct json *l = json_get(json_get(r, "Extra"), "L");
    assert_int_equal(l->len, 2);
    const struct json *m = json_get(l->child->next, "M");
    assert_int_equal(json_get(json_get(m, "x"), "NULL")->type, JSON_TRUE);
    roundtrip("{\"TableName\":\"Music\",\"Key\":{\"Artist\":{\"S\":\"A\"}}}");
}

static void test_strings_and_escapes(void **state)
{
    const struct json *s = parse_ok("\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t\"");
    assert_string_equal(s->str, "q\" b\\ s/ \b\f\n\r\t");
    assert_int_equal(s->len, strlen("q\" b\\ s/ \b\f\n\r\t"));
    /* \u escapes become UTF-8, surrogate pairs one code point */
    s = parse_ok("\"\\u00e9\\u4E2D\\ud83d\\ude00\\u0041\"");
    assert_string_equal(s->str, "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80"
                                "A");
    /* raw UTF-8 is kept as it is */
    s = parse_ok("\"caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80\"");
    assert_string_equal(s->str, "caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80");
    /* keys are unescaped too */
    const struct json *o = parse_ok("{\"k\\u00e9y\":1}");
    assert_non_null(json_get(o, "k\xc3\xa9y"));
    assert_int_equal(o->child->keylen, 4);
}

static void test_nul_in_strings(void **state)
{
    const struct json *s = parse_ok("\"a\\u0000b\"");
    assert_int_equal(s->len, 3);
    assert_memory_equal(s->str, "a\0b", 4); /* and NUL-terminated after */
    const struct json *o = parse_ok("{\"k\\u0000x\":\"v\",\"k\":\"w\",\"k\\u0000y\":\"z\"}");
    assert_int_equal(o->len, 3); /* not duplicates: they differ after the NUL */
    assert_string_equal(json_get(o, "k")->str, "w");
    assert_string_equal(json_getn(o, "k\0y", 3)->str, "z");
    assert_int_equal(o->child->keylen, 3);
    const char *out = roundtrip("[\"a\\u0000b\",{\"k\\u0000x\":\"\\u0000\"}]");
    assert_contains(out, "\\u0000");
}

static void test_numbers_kept_as_text(void **state)
{
    static const char *nums[] = {"0",
                                 "-0",
                                 "1.50",
                                 "100",
                                 "-12.000",
                                 "1e400",
                                 "1E-7",
                                 "2.5e+10",
                                 "123456789012345678901234567890",
                                 "0.0000000000000000000000000000000000001"};
    for (size_t i = 0; i < ARRAY_LEN(nums); i++) {
        char doc[96];
        snprintf(doc, sizeof(doc), "{\"N\":%s}", nums[i]);
        const struct json *n = json_get(parse_ok(doc), "N");
        assert_int_equal(n->type, JSON_NUMBER);
        assert_string_equal(n->str, nums[i]);
        assert_int_equal(n->len, strlen(nums[i]));
        snprintf(doc, sizeof(doc), "[%s]", nums[i]);
        char want[96];
        snprintf(want, sizeof(want), "[%s]", nums[i]);
        assert_string_equal(roundtrip(doc), want); /* written back unchanged */
    }
    static const char *bad[] = {"[01]",   "[1.]",  "[.5]",       "[+1]", "[1e]",
                                "[0x10]", "[NaN]", "[Infinity]", "[-]",  "[1.5.5]"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        if (parse_rc(bad[i]) != JSON_EINVALID) fail_msg("%s was accepted", bad[i]);
}

static void test_invalid_utf8_rejected(void **state)
{
    static const char *bad[] = {
        "\"\xff\"", /* never valid */
        "\"\xfe\xff\"",
        "\"a\x80\"",        /* lone continuation byte */
        "\"\xc3\"",         /* truncated two-byte sequence */
        "\"\xe4\xb8\"",     /* truncated three-byte sequence */
        "\"\xf0\x9f\x98\"", /* truncated four-byte sequence */
        "\"\xc3\x28\"",     /* bad continuation */
        "{\"\xff\":1}",     /* in a key */
        "[\"ok\",\"\xe4\x41\"]",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        if (parse_rc(bad[i]) != JSON_EINVALID) fail_msg("invalid UTF-8 #%zu accepted", i);
        assert_int_equal(json_validate_object(bad[i], strlen(bad[i])), JSON_EINVALID);
    }
    /* raw control characters inside strings are not JSON either */
    assert_int_equal(parse_rc("\"a\nb\""), JSON_EINVALID);
    assert_int_equal(parse_rc("\"a\tb\""), JSON_EINVALID);
    assert_int_equal(parse_len("\"a\0b\"", 5, NULL), JSON_EINVALID);
}

static void test_malformed_rejected(void **state)
{
    static const char *bad[] = {
        "{} x",
        "{}{}",
        "{}}",
        "[] []",
        "1 2",
        "{\"a\":1}garbage",
        "{\"a\":1},", /* trailing */
        "",
        " ",
        "\n\t ", /* empty */
        "{",
        "[",
        "{\"a\"",
        "{\"a\":",
        "{\"a\":1",
        "\"open",
        "[1,",
        "tru", /* truncated */
        "{a:1}",
        "{'a':1}",
        "[1,]",
        "{\"a\":1,}",
        "{,}",
        "[,1]",
        "{\"a\" 1}",
        "{1:2}",
        "// c\n{}",
        "/* c */{}",
        "{\"a\":\"\\x\"}",
        "\"\\u12\"",
        "nul",
        "True",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        if (parse_rc(bad[i]) != JSON_EINVALID) fail_msg("%s was accepted", bad[i]);
        assert_int_equal(json_validate_object(bad[i], strlen(bad[i])), JSON_EINVALID);
    }
    /* only the given length is parsed */
    assert_int_equal(parse_len("{}xyz", 2, NULL), JSON_OK);
    assert_int_equal(parse_len("{\"a\":1}", 6, NULL), JSON_EINVALID);
    /* whitespace around the value is fine */
    parse_ok("\r\n\t {\"a\" : [ 1 , 2 ] } \n");
}

static void test_duplicates_rejected(void **state)
{
    static const char *dup[] = {"{\"a\":1,\"a\":2}",           "{\"a\":1,\"b\":2,\"a\":1}",
                                "{\"x\":{\"k\":[],\"k\":{}}}", "[{\"ok\":1},{\"a\":1,\"a\":null}]",
                                "{\"\\u0061\":1,\"a\":2}",     "{\"\":1,\"\":2}"};
    for (size_t i = 0; i < ARRAY_LEN(dup); i++) {
        char err[128] = "";
        struct json *root = NULL;
        int rc = json_parse(&arena, dup[i], strlen(dup[i]), &root, err, sizeof(err));
        if (rc != JSON_EDUPLICATE) fail_msg("%s gave %d", dup[i], rc);
        assert_null(root);
        assert_contains(err, "Duplicate");
    }
    /* the same name in different objects, or differing by case, is fine */
    parse_ok("{\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":1},{\"a\":2}],\"A\":0}");
    /* a NULL err buffer is allowed */
    struct json *root;
    assert_int_equal(json_parse(&arena, dup[0], strlen(dup[0]), &root, NULL, 0), JSON_EDUPLICATE);
}

/* n nested arrays or objects, with a 1 at the bottom. */
static const char *nested(int n, bool objects)
{
    struct buf b = BUF_INIT;
    for (int i = 0; i < n; i++)
        buf_append_str(&b, objects ? "{\"k\":" : "[");
    buf_append_str(&b, "1");
    for (int i = 0; i < n; i++)
        buf_append_char(&b, objects ? '}' : ']');
    char *s = arena_strndup(&arena, b.data, b.len);
    buf_free(&b);
    return s;
}

static void test_depth_cap(void **state)
{
    for (int objects = 0; objects < 2; objects++) {
        const char *max = nested(JSON_MAX_DEPTH, objects);
        /* the deepest accepted tree can be written back */
        assert_string_equal(roundtrip(max), max);
        assert_int_equal(json_validate_object(max, strlen(max)), objects ? JSON_OK : JSON_EINVALID);
        for (int extra = 1; extra <= 2; extra++) {
            const char *deep = nested(JSON_MAX_DEPTH + extra, objects);
            char err[128];
            struct json *root = NULL;
            assert_int_equal(json_parse(&arena, deep, strlen(deep), &root, err, sizeof(err)),
                             JSON_EDEPTH);
            assert_null(root);
            assert_contains(err, "nesting");
            assert_int_equal(json_validate_object(deep, strlen(deep)), JSON_EINVALID);
        }
    }
    /* very deep input is refused without recursion trouble */
    const char *huge = nested(100000, false);
    assert_int_equal(parse_rc(huge), JSON_EDEPTH);
}

static void test_validate_object(void **state)
{
    static const char *ok[] = {"{}", " {\"a\":[1,{\"b\":null}],\"c\":\"\\u00e9\"} ",
                               "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"1\"}}}"};
    for (size_t i = 0; i < ARRAY_LEN(ok); i++)
        assert_int_equal(json_validate_object(ok[i], strlen(ok[i])), JSON_OK);
    static const char *not_object[] = {"[]",   "[{}]", "\"{}\"", "1",
                                       "-2.5", "null", "true",   "false"};
    for (size_t i = 0; i < ARRAY_LEN(not_object); i++) {
        assert_int_equal(json_validate_object(not_object[i], strlen(not_object[i])), JSON_EINVALID);
        assert_int_equal(parse_rc(not_object[i]), JSON_OK); /* valid JSON all the same */
    }
}

static void test_equal(void **state)
{
    static const struct {
        const char *a, *b;
        bool equal;
    } cases[] = {
        {"{\"a\":1,\"b\":[1,2],\"c\":{\"x\":1,\"y\":2}}",
         "{\"c\":{\"y\":2,\"x\":1},\"b\":[1,2],\"a\":1}", true},
        {"[1,2]", "[2,1]", false}, /* arrays keep their order */
        {"[1,2]", "[1,2,3]", false},
        {"{\"a\":1}", "{\"a\":1,\"b\":1}", false},
        {"{\"a\":1,\"b\":1}", "{\"a\":1}", false},
        {"{\"a\":1}", "{\"b\":1}", false},
        {"{\"a\":1}", "{\"a\":\"1\"}", false}, /* number and string */
        {"{\"N\":1.0}", "{\"N\":1}", false},   /* numbers compare as text */
        {"1.50", "1.50", true},
        {"true", "false", false},
        {"null", "null", true},
        {"[]", "{}", false},
        {"\"a\\u0000b\"", "\"a\\u0000c\"", false}, /* past an embedded NUL */
        {"\"a\\u0000b\"", "\"a\\u0000b\"", true},
        {"\"\\u00e9\"", "\"\xc3\xa9\"", true}, /* escaped and raw are one string */
        {"{\"a\\u0000x\":1}", "{\"a\\u0000y\":1}", false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const struct json *a = parse_ok(cases[i].a), *b = parse_ok(cases[i].b);
        if (json_equal(a, b) != cases[i].equal || json_equal(b, a) != cases[i].equal)
            fail_msg("json_equal(%s, %s) should be %d", cases[i].a, cases[i].b, cases[i].equal);
        assert_true(json_equal(a, a));
    }
    assert_true(json_equal(NULL, NULL));
    assert_false(json_equal(parse_ok("{}"), NULL));
    assert_false(json_equal(NULL, parse_ok("{}")));
}

static void test_writer_roundtrip_and_escaping(void **state)
{
    /* compact, members in their original order */
    assert_string_equal(roundtrip(" { \"b\" : [ 1 , true , null ] , \"a\" : { } } "),
                        "{\"b\":[1,true,null],\"a\":{}}");
    /* quotes, backslashes and control characters are escaped */
    const char *out = roundtrip("[\"q\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\\u007f/\"]");
    assert_contains(out, "q\\\"b\\\\c\\n\\r\\t");
    assert_contains(out, "\\u0001");
    assert_contains(out, "\\u001F"); /* yajl writes upper-case hex */
    for (const char *p = out; *p; p++)
        assert_true((unsigned char)*p >= 0x20);
    /* escaped keys too */
    out = roundtrip("{\"k\\\"\\\\\\n\":\"v\"}");
    assert_string_equal(out, "{\"k\\\"\\\\\\n\":\"v\"}");
    /* every control character survives */
    struct buf doc = BUF_INIT;
    buf_append_str(&doc, "\"");
    for (int c = 0; c < 0x20; c++)
        buf_printf(&doc, "\\u%04x", c);
    buf_append_str(&doc, "\"");
    const struct json *s = parse_ok(doc.data);
    assert_int_equal(s->len, 0x20);
    for (int c = 0; c < 0x20; c++)
        assert_int_equal(s->str[c], c);
    roundtrip(doc.data);
    buf_free(&doc);
    /* UTF-8 is written through */
    assert_string_equal(roundtrip("\"\\u00e9\\ud83d\\ude00\""), "\"\xc3\xa9\xf0\x9f\x98\x80\"");
}

static void test_writer_calls(void **state)
{
    struct buf b = BUF_INIT;
    struct json_writer w;
    jw_init(&w, &b);
    jw_object_begin(&w);
    jw_cstr(&w, "ConsumedCapacity");
    jw_array_begin(&w);
    jw_double(&w, 0.5);
    jw_double(&w, 1);
    jw_double(&w, 25);
    jw_double(&w, 1e21);
    jw_array_end(&w);
    jw_cstr(&w, "ok");
    jw_bool(&w, true);
    jw_cstr(&w, "raw");
    jw_number_raw(&w, "1.50", 4);
    jw_cstr(&w, "s");
    jw_string(&w, "a\0b", 3);
    const struct json *tree = parse_ok("{\"m\":[1,{\"x\":null}]}");
    jw_member(&w, tree->child);
    jw_object_end(&w);
    jw_free(&w);
    jw_free(&w); /* twice is harmless */
    assert_string_equal(b.data, "{\"ConsumedCapacity\":[0.5,1.0,25.0,1e+21],\"ok\":true,"
                                "\"raw\":1.50,\"s\":\"a\\u0000b\",\"m\":[1,{\"x\":null}]}");
    parse_ok(b.data);
    buf_free(&b);
}

/* json_append_plain_string writes what the writer would, or nothing */
static void test_plain_string_as_writer(void **state)
{
    const char *cases[] = {"bench", "my-table_1.x", "arn:aws:dynamodb:us-east-1:1:table/t",
                           "",      "quo\"te",      "back\\slash",
                           "tab\t", "caf\xc3\xa9",  "del\x7f"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct buf plain = BUF_INIT, written = BUF_INIT;
        buf_append_str(&plain, "x");
        bool ok = json_append_plain_string(&plain, cases[i], strlen(cases[i]));
        struct json_writer w;
        jw_init(&w, &written);
        jw_string(&w, cases[i], strlen(cases[i]));
        jw_free(&w);
        if (ok)
            assert_string_equal(plain.data + 1, written.data);
        else
            assert_string_equal(plain.data, "x"); /* nothing appended */
        assert_int_equal(ok, i < 4);
        buf_free(&plain);
        buf_free(&written);
    }
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_object),
        T(test_array_and_scalars),
        T(test_nested_dynamodb_request),
        T(test_strings_and_escapes),
        T(test_nul_in_strings),
        T(test_numbers_kept_as_text),
        T(test_invalid_utf8_rejected),
        T(test_malformed_rejected),
        T(test_duplicates_rejected),
        T(test_depth_cap),
        T(test_validate_object),
        T(test_equal),
        T(test_writer_roundtrip_and_escaping),
        T(test_writer_calls),
        T(test_plain_string_as_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
