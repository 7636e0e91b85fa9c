/*
 * test_key.c: cache keys (proto/key.h): one key per value whatever the
 * number's text, binary by its decoded bytes, the table in
 * the key, mismatches left to the backend, and the key size limits.
 */
#include "proto_test.h"

#include <openssl/evp.h>

#include "proto/key.h"

static struct key_schema schema(const char *table, uint32_t epoch, const char *hash, char htype,
                                const char *range, char rtype)
{
    struct key_schema ks;
    memset(&ks, 0, sizeof(ks));
    ks.table = table;
    ks.table_len = strlen(table);
    ks.epoch = epoch;
    ks.nattrs = range ? 2 : 1;
    ks.attr[0] = (struct key_attr){hash, strlen(hash), htype};
    if (range) ks.attr[1] = (struct key_attr){range, strlen(range), rtype};
    return ks;
}

enum source { FROM_KEY, FROM_ITEM };

static int make(struct arena *a, const struct key_schema *ks, enum source src, const char *json,
                struct buf *out, struct attr_error *e)
{
    buf_reset(out);
    memset(e, 0, sizeof(*e));
    const struct json *v = json_lit(a, json);
    return src == FROM_KEY ? key_from_key(ks, v, out, e) : key_from_item(ks, v, out, e);
}

/* The key of json (which must be accepted) in out. */
static void key_ok(struct arena *a, const struct key_schema *ks, enum source src, const char *json,
                   struct buf *out)
{
    struct attr_error e;
    int rc = make(a, ks, src, json, out, &e);
    if (rc != KEY_OK) print_error("%.200s: %d (%s)\n", json, rc, e.message);
    assert_int_equal(rc, KEY_OK);
    assert_true(out->len > 0);
}

static bool same_bytes(const struct buf *x, const struct buf *y)
{
    return x->len == y->len && memcmp(x->data, y->data, x->len) == 0;
}

/* Asserts that two Key parameters make the same (or different) keys. */
static void assert_keys(struct arena *a, const struct key_schema *ks1, const char *k1,
                        const struct key_schema *ks2, const char *k2, bool same)
{
    struct buf b1 = BUF_INIT, b2 = BUF_INIT;
    key_ok(a, ks1, FROM_KEY, k1, &b1);
    key_ok(a, ks2, FROM_KEY, k2, &b2);
    if (same_bytes(&b1, &b2) != same) print_error("%s ~ %s: same %d\n", k1, k2, !same);
    assert_int_equal(same_bytes(&b1, &b2), same);
    buf_free(&b1);
    buf_free(&b2);
}

static void assert_status(struct arena *a, const struct key_schema *ks, enum source src,
                          const char *json, int status)
{
    struct buf out = BUF_INIT;
    struct attr_error e;
    int rc = make(a, ks, src, json, &out, &e);
    if (rc != status) print_error("%.200s: %d, want %d (%s)\n", json, rc, status, e.message);
    assert_int_equal(rc, status);
    buf_free(&out);
}

/* Asserts KEY_EINVALID with this error code and message. */
static void assert_einvalid(struct arena *a, const struct key_schema *ks, enum source src,
                            const char *json, enum ddb_error code, const char *message)
{
    struct buf out = BUF_INIT;
    struct attr_error e;
    assert_int_equal(make(a, ks, src, json, &out, &e), KEY_EINVALID);
    assert_int_equal(e.code, code);
    if (message)
        assert_string_equal(e.message, message);
    else
        assert_true(e.message[0] != '\0');
    buf_free(&out);
}

/* DynamoDB's text, without the space before 2048 (dynalite copies it so) */
static const char MSG_HASH[] = "One or more parameter values were invalid: Size of hashkey has "
                               "exceeded the maximum size limit of2048 bytes";
static const char MSG_RANGE[] = "One or more parameter values were invalid: Aggregated size of all "
                                "range keys has exceeded the size limit of 1024 bytes";

static void test_numbers_one_key_per_value(void **state)
{
    struct arena *a = *state;
    struct key_schema n = schema("T", 1, "id", 'N', NULL, 0);
    const char *ones[] = {"1.0", "01", "1E0", "1e0", "+1", "10E-1", "0.1E1", "1.", "100e-2"};
    char k[64];
    for (size_t i = 0; i < sizeof(ones) / sizeof(ones[0]); i++) {
        snprintf(k, sizeof(k), "{\"id\":{\"N\":\"%s\"}}", ones[i]);
        assert_keys(a, &n, "{\"id\":{\"N\":\"1\"}}", &n, k, true);
    }
    assert_keys(a, &n, "{\"id\":{\"N\":\"0\"}}", &n, "{\"id\":{\"N\":\"-0.000\"}}", true);
    assert_keys(a, &n, "{\"id\":{\"N\":\"-12.5\"}}", &n, "{\"id\":{\"N\":\"-125E-1\"}}", true);
    const char *others[] = {"2", "10", "-1", "0.1", "11", "0", "1E-130", "1.00000001"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        snprintf(k, sizeof(k), "{\"id\":{\"N\":\"%s\"}}", others[i]);
        assert_keys(a, &n, "{\"id\":{\"N\":\"1\"}}", &n, k, false);
    }
    /* a numeric sort key too */
    struct key_schema sn = schema("T", 1, "pk", 'S', "sk", 'N');
    assert_keys(a, &sn, "{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1500\"}}", &sn,
                "{\"sk\":{\"N\":\"1.5E3\"},\"pk\":{\"S\":\"a\"}}", true);
    assert_keys(a, &sn, "{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1500\"}}", &sn,
                "{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"150\"}}", false);
    /* the string "1" and the number 1 are different keys */
    struct key_schema s = schema("T", 1, "id", 'S', NULL, 0);
    assert_keys(a, &s, "{\"id\":{\"S\":\"1\"}}", &n, "{\"id\":{\"N\":\"1\"}}", false);
    /* strings are compared as they are */
    assert_keys(a, &s, "{\"id\":{\"S\":\"1\"}}", &s, "{\"id\":{\"S\":\"1.0\"}}", false);
    assert_keys(a, &s, "{\"id\":{\"S\":\"a\"}}", &s, "{\"id\":{\"S\":\"A\"}}", false);
}

static void test_binary_is_decoded(void **state)
{
    struct arena *a = *state;
    struct key_schema b = schema("tb", 0x01020304, "k", 'B', NULL, 0);
    struct buf out = BUF_INIT;
    key_ok(a, &b, FROM_KEY, "{\"k\":{\"B\":\"AAEC/w==\"}}", &out);
    /* table, NUL, then the attribute: type, length, decoded bytes (the
     * epoch travels beside the key, not in it) */
    static const unsigned char want[] = {'t', 'b', 0, 'B', 0, 4, 0x00, 0x01, 0x02, 0xff};
    assert_int_equal(out.len, sizeof(want));
    assert_memory_equal(out.data, want, sizeof(want));
    /* base64 text made here from random bytes: the key holds those bytes */
    unsigned char raw[100], text[140];
    for (int i = 0; i < 100; i++)
        raw[i] = (unsigned char)(i * 37 + 11);
    for (int len = 1; len <= 100; len += 7) {
        EVP_EncodeBlock(text, raw, len);
        char json[256];
        snprintf(json, sizeof(json), "{\"k\":{\"B\":\"%s\"}}", (const char *)text);
        key_ok(a, &b, FROM_KEY, json, &out);
        assert_int_equal(out.len, 2 + 1 + 1 + 2 + (size_t)len);
        assert_int_equal((unsigned char)out.data[4], len >> 8);
        assert_int_equal((unsigned char)out.data[5], len & 0xff);
        assert_memory_equal(out.data + 6, raw, (size_t)len);
    }
    /* different bytes, different keys; B and S of the same bytes differ */
    assert_keys(a, &b, "{\"k\":{\"B\":\"QUJD\"}}", &b, "{\"k\":{\"B\":\"QUJE\"}}", false);
    struct key_schema s = schema("tb", 0x01020304, "k", 'S', NULL, 0);
    assert_keys(a, &b, "{\"k\":{\"B\":\"QUJD\"}}", &s, "{\"k\":{\"S\":\"ABC\"}}", false);
    /* binary sort key */
    struct key_schema nb = schema("T", 7, "h", 'N', "r", 'B');
    key_ok(a, &nb, FROM_ITEM, "{\"x\":{\"S\":\"y\"},\"r\":{\"B\":\"QQ==\"},\"h\":{\"N\":\"5\"}}",
           &out);
    assert_int_equal(out.data[out.len - 4], 'B');
    assert_int_equal(out.data[out.len - 3], 0);
    assert_int_equal(out.data[out.len - 2], 1);
    assert_int_equal(out.data[out.len - 1], 'A');
    buf_free(&out);
}

static void test_table_in_key_epoch_beside_it(void **state)
{
    struct arena *a = *state;
    struct key_schema t1 = schema("t1", 1, "id", 'S', NULL, 0);
    struct key_schema t2 = schema("t2", 1, "id", 'S', NULL, 0);
    struct key_schema t1e2 = schema("t1", 2, "id", 'S', NULL, 0);
    struct key_schema t1b = schema("t1", 1, "id", 'S', NULL, 0);
    const char *k = "{\"id\":{\"S\":\"x\"}}";
    assert_keys(a, &t1, k, &t1b, k, true);
    assert_keys(a, &t1, k, &t2, k, false);
    /* one key across epochs, so leases and writes cover it whatever the
     * epoch (the cache compares epochs itself) */
    assert_keys(a, &t1, k, &t1e2, k, true);
    /* no two (table, value) pairs run together */
    struct key_schema ta = schema("a", 1, "id", 'S', NULL, 0);
    struct key_schema tab = schema("ab", 1, "id", 'S', NULL, 0);
    assert_keys(a, &ta, "{\"id\":{\"S\":\"bc\"}}", &tab, "{\"id\":{\"S\":\"c\"}}", false);
    struct key_schema hr = schema("t", 1, "h", 'S', "r", 'S');
    assert_keys(a, &hr, "{\"h\":{\"S\":\"a\"},\"r\":{\"S\":\"bc\"}}", &hr,
                "{\"h\":{\"S\":\"ab\"},\"r\":{\"S\":\"c\"}}", false);
    /* an attribute's name is not part of its key: the schema says which is which */
    struct key_schema other_name = schema("t1", 1, "other", 'S', NULL, 0);
    assert_keys(a, &t1, k, &other_name, "{\"other\":{\"S\":\"x\"}}", true);
}

static void test_appends_to_out(void **state)
{
    struct arena *a = *state;
    struct key_schema ks = schema("t", 1, "id", 'S', NULL, 0);
    struct buf alone = BUF_INIT, out = BUF_INIT;
    struct attr_error e;
    key_ok(a, &ks, FROM_KEY, "{\"id\":{\"S\":\"x\"}}", &alone);
    buf_append_str(&out, "prefix");
    assert_int_equal(key_from_key(&ks, json_lit(a, "{\"id\":{\"S\":\"x\"}}"), &out, &e), KEY_OK);
    assert_int_equal(out.len, 6 + alone.len);
    assert_memory_equal(out.data, "prefix", 6);
    assert_memory_equal(out.data + 6, alone.data, alone.len);
    buf_free(&alone);
    buf_free(&out);
}

static void test_mismatch(void **state)
{
    struct arena *a = *state;
    struct key_schema s = schema("t", 1, "id", 'S', NULL, 0);
    struct key_schema hr = schema("t", 1, "h", 'N', "r", 'B');
    const char *bad_s[] = {
        "{}",                        /* missing */
        "{\"other\":{\"S\":\"x\"}}", /* missing, another attribute instead */
        "{\"id\":{\"N\":\"1\"}}",    /* wrong type */
        "{\"id\":{\"B\":\"QQ==\"}}",
        "{\"id\":{\"SS\":[\"x\"]}}",
        "{\"id\":{\"M\":{}}}",
        "{\"id\":{}}",                        /* no type */
        "{\"id\":{\"S\":\"x\",\"N\":\"1\"}}", /* two types */
        "{\"id\":{\"S\":null}}",              /* a null: DynamoDB drops the member */
        "{\"id\":{\"B\":null}}",
        "{\"id\":{\"S\":\"\"}}",    /* empty string */
        "[{\"id\":{\"S\":\"x\"}}]", /* not an object */
    };
    for (size_t i = 0; i < sizeof(bad_s) / sizeof(bad_s[0]); i++) {
        assert_status(a, &s, FROM_KEY, bad_s[i], KEY_EMISMATCH);
        assert_status(a, &s, FROM_ITEM, bad_s[i], KEY_EMISMATCH);
    }
    /* not an AttributeValue: DynamoDB's SerializationException, whichever the schema */
    assert_einvalid(a, &s, FROM_KEY, "{\"id\":\"x\"}", DDB_SerializationException,
                    "Unexpected value type in payload");
    assert_einvalid(a, &s, FROM_ITEM, "{\"id\":\"x\"}", DDB_SerializationException,
                    "Unexpected value type in payload");
    /* in a Key, the first misfit in document order, even outside the schema */
    assert_einvalid(a, &s, FROM_KEY, "{\"x\":{\"N\":true},\"id\":{\"S\":1}}",
                    DDB_SerializationException, "TRUE_VALUE cannot be converted to String");
    /* invalid numbers too, before the schema is looked at (a Key only: an item's
     * values are attr_check_item's) */
    assert_einvalid(a, &s, FROM_KEY, "{\"id\":{\"N\":\"abc\"}}", DDB_ValidationException,
                    "The parameter cannot be converted to a numeric value: abc");
    assert_einvalid(a, &s, FROM_KEY, "{\"id\":{\"S\":\"a\"},\"x\":{\"N\":\"1E200\"}}",
                    DDB_ValidationException,
                    "Number overflow. Attempting to store a number with magnitude larger than "
                    "supported range");
    assert_status(a, &s, FROM_ITEM, "{\"id\":{\"S\":\"a\"},\"x\":{\"N\":\"1E200\"}}", KEY_OK);
    /* a Key holds exactly the key attributes; an item may hold more */
    assert_status(a, &s, FROM_KEY, "{\"id\":{\"S\":\"x\"},\"more\":{\"S\":\"y\"}}", KEY_EMISMATCH);
    assert_status(a, &s, FROM_ITEM, "{\"id\":{\"S\":\"x\"},\"more\":{\"S\":\"y\"}}", KEY_OK);
    const char *bad_hr[] = {
        "{\"h\":{\"N\":\"1\"}}",                        /* no sort key */
        "{\"r\":{\"B\":\"QQ==\"}}",                     /* no partition key */
        "{\"h\":{\"N\":\"1\"},\"x\":{\"B\":\"QQ==\"}}", /* the wrong second one */
        "{\"h\":{\"N\":\"1\"},\"r\":{\"S\":\"QQ==\"}}", /* wrong type */
        "{\"h\":{\"S\":\"1\"},\"r\":{\"B\":\"QQ==\"}}",
        "{\"h\":{\"N\":\"1\"},\"r\":{\"B\":\"\"}}",     /* empty binary */
        "{\"h\":{\"N\":\"1\"},\"r\":{\"B\":\"QR==\"}}", /* base64 not in its canonical text */
        "{\"h\":{\"N\":\"1\"},\"r\":{\"B\":\"QUF=\"}}",
    };
    for (size_t i = 0; i < sizeof(bad_hr) / sizeof(bad_hr[0]); i++) {
        assert_status(a, &hr, FROM_KEY, bad_hr[i], KEY_EMISMATCH);
        assert_status(a, &hr, FROM_ITEM, bad_hr[i], KEY_EMISMATCH);
    }
    assert_status(a, &hr, FROM_KEY,
                  "{\"h\":{\"N\":\"1\"},\"r\":{\"B\":\"QQ==\"},\"x\":{\"N\":\"1\"}}",
                  KEY_EMISMATCH);
    struct buf out = BUF_INIT;
    struct attr_error e;
    assert_int_equal(key_from_key(&s, NULL, &out, &e), KEY_EMISMATCH);
    assert_int_equal(key_from_item(&s, NULL, &out, &e), KEY_EMISMATCH);
    buf_free(&out);
}

static void test_from_item(void **state)
{
    struct arena *a = *state;
    struct key_schema hr = schema("t", 3, "h", 'S', "r", 'N');
    struct buf k = BUF_INIT, i1 = BUF_INIT, i2 = BUF_INIT;
    key_ok(a, &hr, FROM_KEY, "{\"h\":{\"S\":\"user#1\"},\"r\":{\"N\":\"20\"}}", &k);
    key_ok(a, &hr, FROM_ITEM,
           "{\"name\":{\"S\":\"x\"},\"r\":{\"N\":\"2E1\"},\"l\":{\"L\":[{\"N\":\"1\"}]},"
           "\"h\":{\"S\":\"user#1\"},\"m\":{\"M\":{\"h\":{\"S\":\"other\"}}}}",
           &i1);
    /* non-key attributes do not change the key, whatever they hold */
    key_ok(a, &hr, FROM_ITEM,
           "{\"h\":{\"S\":\"user#1\"},\"r\":{\"N\":\"20.0\"},\"bad\":{\"N\":\"not a number\"},"
           "\"odd\":{\"X\":5}}",
           &i2);
    assert_true(same_bytes(&k, &i1));
    assert_true(same_bytes(&k, &i2));
    assert_status(a, &hr, FROM_ITEM, "{\"h\":{\"S\":\"user#1\"},\"x\":{\"N\":\"20\"}}",
                  KEY_EMISMATCH);
    buf_free(&k);
    buf_free(&i1);
    buf_free(&i2);
}

/* A Key {"h": {type: value}, "r": {"S": "r"}} with a value of n bytes, or
 * {"h": {"S": "h"}, "r": {type: value}} for the sort key. */
static const char *sized_key(struct arena *a, bool range, char type, size_t n)
{
    char *value;
    if (type == 'B') {
        unsigned char *raw = malloc(n + 1), *text = malloc(4 * (n / 3 + 1) + 1);
        memset(raw, 0x5a, n);
        EVP_EncodeBlock(text, raw, (int)n);
        value = (char *)text;
        free(raw);
    } else {
        value = repeat_char('k', n);
    }
    const char *s =
        range ? arena_printf(a, "{\"h\":{\"S\":\"h\"},\"r\":{\"%c\":\"%s\"}}", type, value)
              : arena_printf(a, "{\"h\":{\"%c\":\"%s\"},\"r\":{\"S\":\"r\"}}", type, value);
    free(value);
    return s;
}

static void test_size_limits(void **state)
{
    struct arena *a = *state;
    for (int t = 0; t < 2; t++) {
        char type = t ? 'B' : 'S';
        struct key_schema ks_h = schema("t", 1, "h", type, "r", 'S');
        struct key_schema ks_r = schema("t", 1, "h", 'S', "r", type);
        for (int src = FROM_KEY; src <= FROM_ITEM; src++) {
            assert_status(a, &ks_h, src, sized_key(a, false, type, KEY_HASH_MAX), KEY_OK);
            assert_einvalid(a, &ks_h, src, sized_key(a, false, type, KEY_HASH_MAX + 1),
                            DDB_ValidationException, MSG_HASH);
            assert_status(a, &ks_r, src, sized_key(a, true, type, KEY_RANGE_MAX), KEY_OK);
            assert_einvalid(a, &ks_r, src, sized_key(a, true, type, KEY_RANGE_MAX + 1),
                            DDB_ValidationException, MSG_RANGE);
            /* the sort key's limit is its own, not the partition key's */
            assert_einvalid(a, &ks_r, src, sized_key(a, true, type, KEY_HASH_MAX),
                            DDB_ValidationException, MSG_RANGE);
        }
    }
    /* bytes, not characters: 682 and 683 three-byte characters */
    struct key_schema s = schema("t", 1, "h", 'S', NULL, 0);
    struct buf b = BUF_INIT;
    buf_append_str(&b, "{\"h\":{\"S\":\"");
    for (int i = 0; i < 682; i++)
        buf_append_str(&b, "\xe6\x97\xa5");
    buf_append_str(&b, "\"}}");
    assert_status(a, &s, FROM_KEY, b.data, KEY_OK);
    buf_reset(&b);
    buf_append_str(&b, "{\"h\":{\"S\":\"");
    for (int i = 0; i < 683; i++)
        buf_append_str(&b, "\\u65e5");
    buf_append_str(&b, "\"}}");
    assert_einvalid(a, &s, FROM_KEY, b.data, DDB_ValidationException, MSG_HASH);
    buf_free(&b);
}

static void test_invalid_values(void **state)
{
    struct arena *a = *state;
    struct key_schema n = schema("t", 1, "id", 'N', NULL, 0);
    struct key_schema s = schema("t", 1, "id", 'S', NULL, 0);
    struct key_schema b = schema("t", 1, "id", 'B', NULL, 0);
    struct key_schema sn = schema("t", 1, "h", 'S', "r", 'N');
    for (int src = FROM_KEY; src <= FROM_ITEM; src++) {
        assert_einvalid(a, &n, src, "{\"id\":{\"N\":\"abc\"}}", DDB_ValidationException,
                        "The parameter cannot be converted to a numeric value: abc");
        assert_einvalid(a, &n, src, "{\"id\":{\"N\":\"\"}}", DDB_ValidationException,
                        "The parameter cannot be converted to a numeric value");
        assert_einvalid(a, &n, src, "{\"id\":{\"N\":\"1E126\"}}", DDB_ValidationException,
                        "Number overflow. Attempting to store a number with magnitude larger "
                        "than supported range");
        assert_einvalid(a, &n, src, "{\"id\":{\"N\":\"1234567890123456789012345678901234567890\"}}",
                        DDB_ValidationException,
                        "Attempting to store more than 38 significant digits in a Number");
        assert_einvalid(a, &sn, src, "{\"h\":{\"S\":\"x\"},\"r\":{\"N\":\"1E-131\"}}",
                        DDB_ValidationException,
                        "Number underflow. Attempting to store a number with magnitude smaller "
                        "than supported range");
        /* a JSON number or other non-string where the string belongs */
        assert_einvalid(a, &n, src, "{\"id\":{\"N\":1}}", DDB_SerializationException, NULL);
        assert_einvalid(a, &s, src, "{\"id\":{\"S\":1}}", DDB_SerializationException, NULL);
        assert_einvalid(a, &s, src, "{\"id\":{\"S\":true}}", DDB_SerializationException, NULL);
        assert_einvalid(a, &b, src, "{\"id\":{\"B\":[\"QQ==\"]}}", DDB_SerializationException,
                        "Unrecognized collection type class java.nio.ByteBuffer");
        assert_einvalid(a, &sn, src, "{\"h\":{\"S\":\"x\"},\"r\":{\"N\":1.5}}",
                        DDB_SerializationException, NULL);
        /* binary that is not base64: a length DynamoDB refuses in its own words; other
         * flaws, where its words are not known, are the backend's to answer */
        assert_einvalid(a, &b, src, "{\"id\":{\"B\":\"abc\"}}", DDB_SerializationException,
                        "Base64 encoded length is expected a multiple of 4 bytes but found: 3");
        assert_status(a, &b, src, "{\"id\":{\"B\":\"QQ=A\"}}", KEY_EMISMATCH);
    }
}

/* A Key as ddb_scan_batch_get reads it: one or two members of type S or N. */
static struct key_text text_of(const char *json, const char *n1, char t1, const char *v1,
                               const char *n2, char t2, const char *v2)
{
    struct key_text k = {.json = json, .len = (uint32_t)strlen(json), .nattrs = n2 ? 2 : 1};
    k.attr[0].name = n1, k.attr[0].name_len = (uint32_t)strlen(n1), k.attr[0].type = t1;
    k.attr[0].value = v1, k.attr[0].value_len = (uint32_t)strlen(v1);
    if (n2) {
        k.attr[1].name = n2, k.attr[1].name_len = (uint32_t)strlen(n2), k.attr[1].type = t2;
        k.attr[1].value = v2, k.attr[1].value_len = (uint32_t)strlen(v2);
    }
    return k;
}

/* key_from_text gives key_from_key's bytes, or KEY_EMISMATCH (nothing
 * appended) wherever key_from_key would not say KEY_OK. */
static void test_from_text(void **state)
{
    struct arena *a = *state;
    struct key_schema s = schema("t", 1, "pk", 'S', NULL, 0);
    struct key_schema sn = schema("t", 1, "pk", 'S', "sk", 'N');
    struct buf want = BUF_INIT, got = BUF_INIT;
    struct key_text k = text_of("", "pk", 'S', "abc", NULL, 0, NULL);
    key_ok(a, &s, FROM_KEY, "{\"pk\":{\"S\":\"abc\"}}", &want);
    assert_int_equal(key_from_text(&s, &k, &got), KEY_OK);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.data, want.data, want.len);
    /* a number by its value, the members in either order */
    key_ok(a, &sn, FROM_KEY, "{\"pk\":{\"S\":\"a\"},\"sk\":{\"N\":\"1.5\"}}", &want);
    k = text_of("", "sk", 'N', "15E-1", "pk", 'S', "a");
    buf_reset(&got);
    assert_int_equal(key_from_text(&sn, &k, &got), KEY_OK);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.data, want.data, want.len);
    /* refusals leave out as it was */
    char long_value[KEY_HASH_MAX + 2];
    memset(long_value, 'x', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    struct {
        const struct key_schema *ks;
        struct key_text k;
    } refused[] = {
        {&s, text_of("", "id", 'S', "a", NULL, 0, NULL)},        /* another name */
        {&s, text_of("", "pk", 'N', "1", NULL, 0, NULL)},        /* another type */
        {&s, text_of("", "pk", 'S', "", NULL, 0, NULL)},         /* empty */
        {&s, text_of("", "pk", 'S', long_value, NULL, 0, NULL)}, /* over the limit */
        {&s, text_of("", "pk", 'S', "a", "x", 'S', "b")},        /* more members */
        {&sn, text_of("", "pk", 'S', "a", NULL, 0, NULL)},       /* fewer */
        {&sn, text_of("", "pk", 'S', "a", "sk", 'N', "abc")},    /* not a number */
        {&sn, text_of("", "pk", 'S', "a", "sk", 'N', "1e200")},  /* out of range */
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        buf_reset(&got);
        buf_append_str(&got, "before");
        assert_int_equal(key_from_text(refused[i].ks, &refused[i].k, &got), KEY_EMISMATCH);
        assert_string_equal(got.data, "before");
    }
    buf_free(&want);
    buf_free(&got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ARENA_TEST(test_numbers_one_key_per_value),
        ARENA_TEST(test_binary_is_decoded),
        ARENA_TEST(test_table_in_key_epoch_beside_it),
        ARENA_TEST(test_appends_to_out),
        ARENA_TEST(test_mismatch),
        ARENA_TEST(test_from_item),
        ARENA_TEST(test_size_limits),
        ARENA_TEST(test_invalid_values),
        ARENA_TEST(test_from_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
