/*
 * test_attr.c: AttributeValue checks (proto/attr.h): item sizes as DynamoDB
 * counts them, the canonical-numbers flag, DynamoDB's SerializationException
 * texts for values of the wrong JSON type, what is left to the backend
 * (relay), number limits, nesting depth, the 400 KB item limit, and base64.
 */
#include "proto_test.h"

#include <openssl/evp.h>

#include "proto/attr.h"

static int check(struct arena *a, const char *item, struct attr_check *c, struct attr_error *e)
{
    memset(e, 0, sizeof(*e));
    return attr_check_item(json_lit(a, item), c, e);
}

/* Checks a valid item and returns its size. */
static size_t size_of(struct arena *a, const char *item)
{
    struct attr_check c;
    struct attr_error e;
    int rc = check(a, item, &c, &e);
    if (rc != 0) print_error("%s: %s\n", item, e.message);
    assert_int_equal(rc, 0);
    return c.size;
}

static bool canonical(struct arena *a, const char *item)
{
    struct attr_check c;
    struct attr_error e;
    assert_int_equal(check(a, item, &c, &e), 0);
    return c.canonical;
}

/* Checks that item is refused with code and (when not NULL) message. */
static void assert_refused(struct arena *a, const char *item, enum ddb_error code,
                           const char *message)
{
    struct attr_check c;
    struct attr_error e;
    int rc = check(a, item, &c, &e);
    if (rc != -1 || e.code != code)
        print_error("%.200s: rc %d code %d (%s)\n", item, rc, e.code, e.message);
    assert_int_equal(rc, -1);
    assert_int_equal(e.code, code);
    assert_true(e.message[0] != '\0');
    if (message) assert_string_equal(e.message, message);
}

#define INVALID(a, item, msg) assert_refused(a, item, DDB_ValidationException, msg)

static const char MSG_NAN[] = "The parameter cannot be converted to a numeric value";
static const char MSG_DIGITS[] = "Attempting to store more than 38 significant digits in a Number";
static const char MSG_OVER[] =
    "Number overflow. Attempting to store a number with magnitude larger than supported range";
static const char MSG_UNDER[] =
    "Number underflow. Attempting to store a number with magnitude smaller than supported range";
static const char MSG_NESTING[] = "Nesting Levels have exceeded supported limits";
static const char MSG_SIZE[] = "Item size has exceeded the maximum allowed size";

static void test_sizes_per_type(void **state)
{
    struct arena *a = *state;
    static const struct {
        const char *item;
        size_t size;
    } cases[] = {
        {"{}", 0},
        {"{\"a\":{\"S\":\"xyz\"}}", 1 + 3},
        {"{\"abc\":{\"S\":\"\"}}", 3},
        /* numbers: (significant digits + 1) / 2 + 1 */
        {"{\"n\":{\"N\":\"123\"}}", 1 + 3},
        {"{\"n\":{\"N\":\"12345\"}}", 1 + 4},
        {"{\"n\":{\"N\":\"1234\"}}", 1 + 3},
        {"{\"n\":{\"N\":\"1\"}}", 1 + 2},
        {"{\"n\":{\"N\":\"0\"}}", 1 + 1},
        {"{\"n\":{\"N\":\"-1.50E10\"}}", 1 + 2}, /* digits "15" */
        {"{\"n\":{\"N\":\"1000000\"}}", 1 + 2},  /* digits "1" */
        {"{\"n\":{\"N\":\"12345678901234567890123456789012345678\"}}", 1 + 20},
        /* binary: decoded bytes */
        {"{\"b\":{\"B\":\"AAECAwQFBg==\"}}", 1 + 7},
        {"{\"b\":{\"B\":\"QQ==\"}}", 1 + 1},
        {"{\"b\":{\"B\":\"QUJD\"}}", 1 + 3},
        {"{\"b\":{\"B\":\"\"}}", 1},
        {"{\"t\":{\"BOOL\":true}}", 1 + 1},
        {"{\"t\":{\"BOOL\":false}}", 1 + 1},
        {"{\"z\":{\"NULL\":true}}", 1 + 1},
        /* sets: the sum of their elements */
        {"{\"ss\":{\"SS\":[\"a\",\"bc\"]}}", 2 + 3},
        {"{\"ns\":{\"NS\":[\"1\",\"22\",\"333\"]}}", 2 + 2 + 2 + 3},
        {"{\"bs\":{\"BS\":[\"QQ==\",\"QUI=\"]}}", 2 + 1 + 2},
        /* M and L: 3 bytes, plus 1 per element, plus the elements (and names) */
        {"{\"m\":{\"M\":{}}}", 1 + 3},
        {"{\"l\":{\"L\":[]}}", 1 + 3},
        {"{\"m\":{\"M\":{\"x\":{\"S\":\"ab\"},\"yy\":{\"BOOL\":false}}}}",
         1 + 3 + (1 + 1 + 2) + (1 + 2 + 1)},
        {"{\"l\":{\"L\":[{\"S\":\"ab\"},{\"N\":\"1\"}]}}", 1 + 3 + (1 + 2) + (1 + 2)},
        {"{\"l\":{\"L\":[{\"M\":{\"k\":{\"NULL\":true}}},{\"L\":[]}]}}",
         1 + 3 + (1 + 3 + (1 + 1 + 1)) + (1 + 3)},
        /* strings count UTF-8 bytes of the decoded text, names too */
        {"{\"\xc3\xa9\":{\"S\":\"\xe6\x97\xa5\xe6\x9c\xac\"}}", 2 + 6},
        {"{\"a\":{\"S\":\"\\u00e9\\n\"}}", 1 + 3},
        {"{\"a\":{\"SS\":[\"\\u65e5\"]}}", 1 + 3},
        /* a whole item adds up */
        {"{\"id\":{\"S\":\"abc\"},\"n\":{\"N\":\"12345\"},"
         "\"flag\":{\"BOOL\":true},\"l\":{\"L\":[{\"S\":\"xy\"}]}}",
         (2 + 3) + (1 + 4) + (4 + 1) + (1 + 3 + 1 + 2)},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t got = size_of(a, cases[i].item);
        if (got != cases[i].size) print_error("%s: %zu bytes\n", cases[i].item, got);
        assert_int_equal(got, cases[i].size);
    }
}

static void test_check_value_and_type_member(void **state)
{
    struct arena *a = *state;
    struct attr_check c = {10, true};
    struct attr_error e;
    /* attr_check_value adds to what is there, without the attribute name */
    assert_int_equal(attr_check_value(json_lit(a, "{\"S\":\"abcd\"}"), 0, &c, &e), 0);
    assert_int_equal(c.size, 14);
    assert_true(c.canonical);
    assert_int_equal(attr_check_value(json_lit(a, "{\"N\":\"01\"}"), 3, &c, &e), 0);
    assert_int_equal(c.size, 16);
    assert_false(c.canonical);
    /* binary: only the canonical base64 text reads back as written */
    struct attr_check b = {0, true};
    assert_int_equal(
        attr_check_value(json_lit(a, "{\"BS\":[\"QQ==\",\"QUE=\",\"QUFB\"]}"), 0, &b, &e), 0);
    assert_true(b.canonical);
    assert_int_equal(attr_check_value(json_lit(a, "{\"B\":\"QR==\"}"), 0, &b, &e), 0);
    assert_false(b.canonical);
    assert_true(b.relay); /* whether DynamoDB takes it is the backend's to say */
    assert_true(attr_base64_canonical("", 0));
    assert_true(attr_base64_canonical("QUE=", 4));
    assert_false(attr_base64_canonical("QUF=", 4));
    assert_false(attr_base64_canonical("QR==", 4));
    assert_false(attr_base64_canonical("Q===", 4));

    const struct json *m = attr_type_member(json_lit(a, "{\"SS\":[\"x\"]}"));
    assert_non_null(m);
    assert_int_equal(m->keylen, 2);
    assert_memory_equal(m->key, "SS", 2);
    assert_int_equal(m->type, JSON_ARRAY);
    assert_null(attr_type_member(json_lit(a, "{}")));
    assert_null(attr_type_member(json_lit(a, "{\"S\":\"x\",\"N\":\"1\"}")));
    assert_null(attr_type_member(json_lit(a, "[{\"S\":\"x\"}]")));
    assert_null(attr_type_member(json_lit(a, "\"S\"")));
    assert_null(attr_type_member(NULL));
}

static void test_canonical_flag(void **state)
{
    struct arena *a = *state;
    assert_true(canonical(a, "{}"));
    assert_true(canonical(a, "{\"s\":{\"S\":\"1.0\"},\"b\":{\"BOOL\":true}}"));
    assert_true(canonical(a, "{\"n\":{\"N\":\"100\"},\"h\":{\"N\":\"0.5\"},\"m\":{\"N\":\"-3\"},"
                             "\"z\":{\"N\":\"0\"}}"));
    assert_true(canonical(a, "{\"ns\":{\"NS\":[\"1\",\"2\",\"-0.25\"]},"
                             "\"m\":{\"M\":{\"x\":{\"N\":\"7\"}}},\"l\":{\"L\":[{\"N\":\"8\"}]}}"));
    assert_false(canonical(a, "{\"n\":{\"N\":\"1.0\"}}"));
    assert_false(canonical(a, "{\"n\":{\"N\":\"1E2\"}}"));
    assert_false(canonical(a, "{\"n\":{\"N\":\"-0\"}}"));
    assert_false(canonical(a, "{\"n\":{\"N\":\"+1\"}}"));
    assert_false(canonical(a, "{\"ok\":{\"N\":\"1\"},\"n\":{\"N\":\"01\"}}"));
    assert_false(canonical(a, "{\"ns\":{\"NS\":[\"1\",\"2.0\"]}}"));
    assert_false(canonical(a, "{\"m\":{\"M\":{\"x\":{\"N\":\".5\"}}}}"));
    assert_false(canonical(a, "{\"l\":{\"L\":[{\"N\":\"1\"},{\"N\":\"5.\"}]}}"));
    assert_false(
        canonical(a, "{\"l\":{\"L\":[{\"M\":{\"d\":{\"L\":[{\"NS\":[\"3\",\"1e0\"]}]}}}]}}"));
    /* the flag starts over for each item */
    assert_true(canonical(a, "{\"n\":{\"N\":\"1\"}}"));
}

static void test_serialization_errors(void **state)
{
    /* DynamoDB's texts, as dynalite (which copies them) answers each case */
    static const struct {
        const char *item, *message;
    } cases[] = {
        {"{\"a\":{\"N\":5}}", "NUMBER_VALUE cannot be converted to String"},
        {"{\"a\":{\"S\":5}}", "NUMBER_VALUE cannot be converted to String"},
        {"{\"a\":{\"S\":-12}}", "NUMBER_VALUE cannot be converted to String"},
        {"{\"a\":{\"S\":1.5}}", "DECIMAL_VALUE cannot be converted to String"},
        {"{\"a\":{\"N\":true}}", "TRUE_VALUE cannot be converted to String"},
        {"{\"a\":{\"S\":false}}", "FALSE_VALUE cannot be converted to String"},
        {"{\"a\":{\"B\":true}}", "only base-64-encoded strings are convertible to bytes"},
        {"{\"a\":{\"B\":7}}", "only base-64-encoded strings are convertible to bytes"},
        {"{\"a\":{\"S\":[\"x\"]}}", "Unrecognized collection type class java.lang.String"},
        {"{\"a\":{\"S\":{}}}", "Start of structure or map found where not expected"},
        {"{\"a\":{\"B\":[]}}", "Unrecognized collection type class java.nio.ByteBuffer"},
        {"{\"a\":{\"SS\":[\"a\",1]}}", "NUMBER_VALUE cannot be converted to String"},
        {"{\"a\":{\"NS\":[1]}}", "NUMBER_VALUE cannot be converted to String"},
        {"{\"a\":{\"SS\":[{\"S\":\"a\"}]}}", "Start of structure or map found where not expected"},
        {"{\"a\":{\"SS\":\"a\"}}", "Unexpected field type"},
        {"{\"a\":{\"L\":true}}", "Unexpected field type"},
        {"{\"a\":{\"NS\":{}}}", "Start of structure or map found where not expected"},
        {"{\"a\":{\"BOOL\":\"x\"}}", "Unexpected token received from parser"},
        {"{\"a\":{\"NULL\":\"\"}}", "Unexpected token received from parser"},
        {"{\"a\":{\"NULL\":1}}", "NUMBER_VALUE cannot be converted to Boolean"},
        {"{\"a\":{\"BOOL\":0.5}}", "DECIMAL_VALUE cannot be converted to Boolean"},
        {"{\"a\":{\"BOOL\":[true]}}", "Unrecognized collection type class java.lang.Boolean"},
        {"{\"a\":{\"M\":[]}}", "Unrecognized collection type java.util.Map<java.lang.String, "
                               "com.amazonaws.dynamodb.v20120810.AttributeValue>"},
        {"{\"a\":{\"M\":\"x\"}}", "Unexpected field type"},
        {"{\"a\":{\"L\":{}}}", "Start of structure or map found where not expected"},
        {"{\"a\":\"x\"}", "Unexpected value type in payload"},
        {"{\"ok\":{\"S\":\"x\"},\"a\":{\"M\":{\"x\":5}}}", "Unexpected value type in payload"},
        {"{\"a\":{\"L\":[{\"S\":\"x\"},{\"N\":1.5}]}}",
         "DECIMAL_VALUE cannot be converted to String"},
        {"[]", "Unrecognized collection type java.util.Map<java.lang.String, "
               "com.amazonaws.dynamodb.v20120810.AttributeValue>"},
        {"\"item\"", "Unexpected field type"},
        /* binary that is not base64 by its length */
        {"{\"a\":{\"B\":\"abc\"}}",
         "Base64 encoded length is expected a multiple of 4 bytes but found: 3"},
        {"{\"a\":{\"BS\":[\"QQ==\",\"Q\"]}}",
         "Base64 encoded length is expected a multiple of 4 bytes but found: 1"},
        /* the deserializer reads everything before anything is validated: a misfit
         * anywhere wins over an invalid number, an empty value or a limit before it */
        {"{\"n\":{\"N\":\"abc\"},\"b\":{\"S\":5}}", "NUMBER_VALUE cannot be converted to String"},
        {"{\"e\":{},\"b\":{\"BOOL\":\"maybe\"}}", "Unexpected token received from parser"},
        /* one misfit beside a well-formed member: the misfit (several types come later) */
        {"{\"a\":{\"S\":\"x\",\"N\":5}}", "NUMBER_VALUE cannot be converted to String"},
        /* unknown members are dropped before they are looked at */
        {"{\"a\":{\"X\":5,\"S\":true}}", "TRUE_VALUE cannot be converted to String"},
    };
    struct arena *a = *state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_refused(a, cases[i].item, DDB_SerializationException, cases[i].message);
    struct attr_check c;
    struct attr_error e;
    assert_int_equal(attr_check_item(NULL, &c, &e), -1);
    assert_int_equal(e.code, DDB_SerializationException);
    assert_int_equal(attr_check_value(NULL, 0, &c, &e), -1);
    assert_int_equal(e.code, DDB_SerializationException);
    /* the first pass alone, as keys use it */
    assert_int_equal(attr_check_shape(json_lit(a, "{\"S\":1}"), &e), -1);
    assert_string_equal(e.message, "NUMBER_VALUE cannot be converted to String");
    assert_int_equal(attr_check_shape(json_lit(a, "{\"S\":\"1\"}"), &e), 0);
    assert_int_equal(attr_check_shape(json_lit(a, "{\"S\":1.0}"), &e), ATTR_RELAY);
}

/* Checks that item passes as one to relay: nothing cached, nothing answered. */
static void assert_relayed(struct arena *a, const char *item)
{
    struct attr_check c;
    struct attr_error e;
    int rc = check(a, item, &c, &e);
    if (rc != 0 || !c.relay)
        print_error("%.200s: rc %d relay %d (%s)\n", item, rc, c.relay, e.message);
    assert_int_equal(rc, 0);
    assert_true(c.relay);
    assert_false(c.canonical); /* a handler that writes it anyway does not cache it */
}

static void test_left_for_the_backend(void **state)
{
    /* malformed AttributeValues whose error DynamoDB words itself pass here */
    struct arena *a = *state;
    assert_int_equal(size_of(a, "{\"a\":{}}"), 1);
    assert_int_equal(size_of(a, "{\"a\":{\"S\":\"x\",\"N\":\"1\"}}"), 1);
    assert_int_equal(size_of(a, "{\"a\":{\"X\":\"y\"}}"), 1);
    const char *relayed[] = {
        "{\"a\":{}}",                        /* empty */
        "{\"a\":{\"S\":\"x\",\"N\":\"1\"}}", /* two types */
        "{\"a\":{\"X\":\"y\"}}",             /* an unknown type: empty to DynamoDB */
        "{\"a\":{\"s\":\"y\"}}",
        "{\"a\":{\"S\":\"x\",\"X\":1}}", /* DynamoDB drops the unknown member and stores S */
        "{\"a\":{\"S\":null}}",          /* a null member is dropped: empty */
        "{\"a\":{\"S\":\"x\",\"N\":null}}",
        "{\"a\":null}", /* nulls where a value belongs */
        "{\"a\":{\"L\":[null]}}",
        "{\"a\":{\"M\":{\"x\":null}}}",
        "{\"a\":{\"BS\":[null]}}",
        "{\"a\":{\"NULL\":false}}",  /* NULL must be true */
        "{\"a\":{\"NULL\":\"no\"}}", /* strings DynamoDB reads as booleans */
        "{\"a\":{\"NULL\":\"yes\"}}",
        "{\"a\":{\"BOOL\":\"true\"}}",
        "{\"a\":{\"BOOL\":\"0\"}}",
        "{\"a\":{\"SS\":[]}}", /* empty sets */
        "{\"a\":{\"NS\":[]}}",
        "{\"a\":{\"BS\":[]}}",
        "{\"a\":{\"SS\":[\"a\",\"b\",\"a\"]}}", /* duplicates: by text, by value for NS */
        "{\"a\":{\"NS\":[\"1\",\"2\",\"1.0\"]}}",
        "{\"a\":{\"BS\":[\"QQ==\",\"QQ==\"]}}",
        "{\"a\":{\"M\":{\"x\":{\"L\":[{}]}}}}", /* deep inside */
        /* where DynamoDB's words are not certain */
        "{\"a\":{\"S\":5.0}}", /* a decimal token with a whole value */
        "{\"a\":{\"N\":1e3}}",
        "{\"a\":{\"B\":\"a$c=\"}}", /* foreign characters, odd padding */
        "{\"a\":{\"B\":\"QQ=A\"}}",
        "{\"a\":{\"B\":\"QR==\"}}", /* unused bits set in the last symbol */
        "{\"a\":{\"B\":\"\xc3\xa9\xc3\xa9\"}}",
        "{\"a\":{\"S\":5,\"N\":true}}", /* two misfits in one value */
        /* what DynamoDB refuses in its words wins over ddbx's limits */
        "{\"n\":{\"N\":\"abc\"},\"z\":{\"NULL\":false}}",
        "{\"z\":{\"NULL\":false},\"n\":{\"N\":\"1E999\"}}",
    };
    for (size_t i = 0; i < sizeof(relayed) / sizeof(relayed[0]); i++)
        assert_relayed(a, relayed[i]);
    /* an unsure misfit stops the walk before a sure one after it */
    assert_relayed(a, "{\"a\":{\"S\":2.0},\"b\":{\"S\":5}}");
    /* well-formed values are not relayed */
    struct attr_check c;
    struct attr_error e;
    assert_int_equal(check(a,
                           "{\"a\":{\"SS\":[\"a\",\"b\"]},\"n\":{\"NS\":[\"1\",\"1.5\"]},"
                           "\"b\":{\"BOOL\":false},\"z\":{\"NULL\":true},\"e\":{\"S\":\"\"}}",
                           &c, &e),
                     0);
    assert_false(c.relay);
    assert_true(c.canonical);
}

static void test_invalid_numbers(void **state)
{
    struct arena *a = *state;
    INVALID(a, "{\"a\":{\"N\":\"\"}}", MSG_NAN);
    INVALID(a, "{\"a\":{\"N\":\"abc\"}}",
            "The parameter cannot be converted to a numeric value: abc");
    INVALID(a, "{\"a\":{\"N\":\"NaN\"}}",
            "The parameter cannot be converted to a numeric value: NaN");
    INVALID(a, "{\"a\":{\"N\":\" 1\"}}",
            "The parameter cannot be converted to a numeric value:  1");
    INVALID(a, "{\"a\":{\"N\":\"Infinity\"}}",
            "The parameter cannot be converted to a numeric value: Infinity");
    INVALID(a, "{\"a\":{\"N\":\"123456789012345678901234567890123456789\"}}", MSG_DIGITS);
    INVALID(a, "{\"a\":{\"N\":\"1E126\"}}", MSG_OVER);
    INVALID(a, "{\"a\":{\"N\":\"-1E-131\"}}", MSG_UNDER);
    INVALID(a, "{\"a\":{\"NS\":[\"1\",\"\"]}}", MSG_NAN);
    INVALID(a, "{\"a\":{\"NS\":[\"1\",\"x\"]}}",
            "The parameter cannot be converted to a numeric value: x");
    INVALID(a, "{\"a\":{\"M\":{\"b\":{\"N\":\"1E200\"}}}}", MSG_OVER);
    INVALID(a, "{\"a\":{\"L\":[{\"S\":\"ok\"},{\"N\":\"1E-131\"}]}}", MSG_UNDER);
    INVALID(a, "{\"ok\":{\"N\":\"1\"},\"a\":{\"L\":[{\"NS\":[\"1e\"]}]}}",
            "The parameter cannot be converted to a numeric value: 1e");
}

/* An item {"a": v} where v is `levels` M/L wraps (kinds[i % strlen(kinds)])
 * around `leaf`. */
static const char *nested(struct arena *a, int levels, const char *kinds, const char *leaf)
{
    struct buf b = BUF_INIT;
    size_t nk = strlen(kinds);
    buf_append_str(&b, "{\"a\":");
    for (int i = 0; i < levels; i++)
        buf_append_str(&b, kinds[i % nk] == 'M' ? "{\"M\":{\"n\":" : "{\"L\":[{\"S\":\"x\"},");
    buf_append_str(&b, leaf);
    for (int i = levels - 1; i >= 0; i--)
        buf_append_str(&b, kinds[i % nk] == 'M' ? "}}" : "]}");
    buf_append_str(&b, "}");
    char *s = arena_strndup(a, b.data, b.len);
    buf_free(&b);
    return s;
}

static void test_nesting_depth(void **state)
{
    /* DynamoDB counts the attribute's own value as level 1 and accepts 32
     * levels: a scalar inside 31 maps or lists is the deepest value allowed,
     * 32 wraps are refused. */
    struct arena *a = *state;
    const char *kinds[] = {"M", "L", "ML", "LLM"};
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        size_of(a, nested(a, ATTR_MAX_DEPTH - 1, kinds[k], "{\"S\":\"leaf\"}"));
        size_of(a, nested(a, ATTR_MAX_DEPTH - 1, kinds[k], "{\"NS\":[\"1\",\"2\"]}"));
        size_of(a, nested(a, ATTR_MAX_DEPTH - 1, kinds[k], "{\"M\":{}}")); /* level 32 is empty */
        size_of(a, nested(a, ATTR_MAX_DEPTH - 1, kinds[k], "{\"L\":[]}"));
        INVALID(a, nested(a, ATTR_MAX_DEPTH, kinds[k], "{\"S\":\"leaf\"}"), MSG_NESTING);
        INVALID(a, nested(a, ATTR_MAX_DEPTH, kinds[k], "{\"BOOL\":true}"), MSG_NESTING);
        INVALID(a, nested(a, ATTR_MAX_DEPTH, kinds[k], "{\"M\":{}}"), MSG_NESTING);
        INVALID(a, nested(a, ATTR_MAX_DEPTH + 5, kinds[k], "{\"S\":\"leaf\"}"), MSG_NESTING);
    }
    /* the size of a deep value adds up level by level: 31 maps of one member "n" */
    assert_int_equal(size_of(a, nested(a, 31, "M", "{\"S\":\"leaf\"}")), 1 + 31 * (3 + 1 + 1) + 4);
    /* through attr_check_value, depth is that of the value given */
    struct attr_check c = {0, true};
    struct attr_error e;
    assert_int_equal(attr_check_value(json_lit(a, "{\"S\":\"x\"}"), ATTR_MAX_DEPTH - 1, &c, &e), 0);
    assert_int_equal(attr_check_value(json_lit(a, "{\"S\":\"x\"}"), ATTR_MAX_DEPTH, &c, &e), -1);
    assert_int_equal(e.code, DDB_ValidationException);
    assert_string_equal(e.message, MSG_NESTING);
    assert_int_equal(
        attr_check_value(json_lit(a, "{\"L\":[{\"N\":\"1\"}]}"), ATTR_MAX_DEPTH - 2, &c, &e), 0);
    assert_int_equal(
        attr_check_value(json_lit(a, "{\"L\":[{\"N\":\"1\"}]}"), ATTR_MAX_DEPTH - 1, &c, &e), -1);
}

/* An item of one S attribute "a" of n bytes: 1 + n bytes. */
static const char *item_with_string(struct arena *a, size_t n)
{
    char *x = repeat_char('x', n);
    const char *s = arena_printf(a, "{\"a\":{\"S\":\"%s\"}}", x);
    free(x);
    return s;
}

static void test_item_size_limit(void **state)
{
    struct arena *a = *state;
    assert_int_equal(size_of(a, item_with_string(a, ITEM_MAX_BYTES - 1)), ITEM_MAX_BYTES);
    INVALID(a, item_with_string(a, ITEM_MAX_BYTES), MSG_SIZE);
    INVALID(a, item_with_string(a, ITEM_MAX_BYTES + 1000), MSG_SIZE);
    /* the limit is on the sum: two attributes of 200 KB each, plus a little */
    char *half = repeat_char('y', 200 * 1024);
    /* 1 + 204800 + 1 + 3 + 1 + 204800 + 1 + 2 = 409609 */
    INVALID(a,
            arena_printf(a,
                         "{\"a\":{\"S\":\"%s\"},\"b\":{\"L\":[{\"S\":\"%s\"}]},"
                         "\"c\":{\"N\":\"1\"}}",
                         half, half),
            MSG_SIZE);
    /* 10 bytes less in the first string: one byte under the limit */
    assert_int_equal(size_of(a, arena_printf(a,
                                             "{\"a\":{\"S\":\"%.204790s\"},"
                                             "\"b\":{\"L\":[{\"S\":\"%s\"}]},"
                                             "\"c\":{\"N\":\"1\"}}",
                                             half, half)),
                     ITEM_MAX_BYTES - 1);
    free(half);
}

static void test_base64(void **state)
{
    static const struct {
        const char *in;
        const char *out;
        long len;
    } ok[] = {
        {"", "", 0},
        {"QQ==", "A", 1},
        {"QUI=", "AB", 2},
        {"QUJD", "ABC", 3},
        {"QUJDRA==", "ABCD", 4},
        {"AAECAwQFBg==", "\x00\x01\x02\x03\x04\x05\x06", 7},
        {"/+8=", "\xff\xef", 2},
        {"aGVsbG8gd29ybGQ=", "hello world", 11},
    };
    unsigned char out[64];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        size_t n = strlen(ok[i].in);
        assert_int_equal(attr_base64_length(ok[i].in, n), ok[i].len);
        memset(out, 0xAA, sizeof(out));
        assert_int_equal(attr_base64_decode(ok[i].in, n, out), ok[i].len);
        assert_memory_equal(out, ok[i].out, (size_t)ok[i].len);
    }
    const char *bad[] = {
        "Q",    "QQ",   "QQ=",   "QUJDR", "QQ=A",   "Q===", "====",       "QQ==QQ==", "Q=Q=",
        "=QQQ", "QQ$=", "QQ\n=", "QQ =",  "QUJD\n", "-_==", "QU\xc3\xa9", "QUI=QUJD", "QUJD===="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = strlen(bad[i]);
        if (attr_base64_length(bad[i], n) != -1) print_error("\"%s\" accepted\n", bad[i]);
        assert_int_equal(attr_base64_length(bad[i], n), -1);
        assert_int_equal(attr_base64_decode(bad[i], n, out), -1);
    }
    assert_int_equal(attr_base64_length("QU\0=", 4), -1); /* a NUL inside */
    /* the length given is honoured */
    assert_int_equal(attr_base64_length("QUJDRA==", 4), 3);
}

static void test_base64_round_trip(void **state)
{
    unsigned char raw[300], text[420], back[420];
    uint32_t x = 12345;
    for (int len = 0; len <= 300; len++) {
        for (int i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            raw[i] = (unsigned char)(x >> 16);
        }
        int tl = EVP_EncodeBlock(text, raw, len);
        assert_int_equal(attr_base64_length((const char *)text, (size_t)tl), len);
        memset(back, 0, sizeof(back));
        assert_int_equal(attr_base64_decode((const char *)text, (size_t)tl, back), len);
        assert_memory_equal(back, raw, (size_t)len);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ARENA_TEST(test_sizes_per_type),       ARENA_TEST(test_check_value_and_type_member),
        ARENA_TEST(test_canonical_flag),       ARENA_TEST(test_serialization_errors),
        ARENA_TEST(test_left_for_the_backend), ARENA_TEST(test_invalid_numbers),
        ARENA_TEST(test_nesting_depth),        ARENA_TEST(test_item_size_limit),
        cmocka_unit_test(test_base64),         cmocka_unit_test(test_base64_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
