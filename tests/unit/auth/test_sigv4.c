/*
 * test_sigv4.c: the shared SigV4 pieces (auth/sigv4.h): path, query and
 * header-value canonical forms as the SigV4 documentation and botocore give
 * them, X-Amz-Date parsing, and the documentation's worked example of the
 * string to sign, signing key and signature.
 */
#include "testutil.h"

#include "auth/sigv4.h"

static void uri_is(const char *path, const char *want)
{
    struct buf b = BUF_INIT;
    sigv4_canonical_uri(&b, path, strlen(path));
    if (strcmp(b.data, want)) fail_msg("uri \"%s\": got \"%s\", want \"%s\"", path, b.data, want);
    buf_free(&b);
}

static void test_canonical_uri(void **state)
{
    uri_is("", "/");
    uri_is("/", "/");
    uri_is("//", "/");
    uri_is("/./", "/");
    uri_is("/..", "/"); /* ".." at the root stays at the root */
    uri_is("/../x", "/x");
    uri_is("/a/./b/../c", "/a/c");
    uri_is("/a//b/", "/a/b/"); /* trailing slash kept */
    uri_is("/a/b/..", "/a");   /* ... but not one that ".." left behind */
    uri_is("/a b", "/a%20b");
    uri_is("/%2F", "/%252F"); /* non-S3 services encode the path twice */
    uri_is("/-._~AZaz09", "/-._~AZaz09");
    uri_is("/\xe1\x88\xb4", "/%E1%88%B4");
    uri_is("/a:b@c+d", "/a%3Ab%40c%2Bd");
    uri_is("relative/x", "relative/x");
    uri_is("relative/..", "/"); /* found by fuzz_sigv4: never empty */
    /* more segments than the stack array holds */
    char deep[400] = "";
    for (int i = 0; i < 100; i++)
        strcat(deep, "/ab");
    uri_is(deep, deep);
}

static void query_is(const char *q, bool presigned, const char *want)
{
    struct buf b = BUF_INIT;
    buf_append_str(&b, ""); /* an empty result is "" (not NULL) */
    sigv4_canonical_query(&b, q, q ? strlen(q) : 0, presigned);
    if (strcmp(b.data, want)) fail_msg("query \"%s\": got \"%s\", want \"%s\"", q, b.data, want);
    buf_free(&b);
}

static void test_canonical_query(void **state)
{
    query_is(NULL, false, "");
    query_is("", false, "");
    query_is("b=2&a=1", false, "a=1&b=2");
    query_is("a=2&a=1", false, "a=1&a=2"); /* same name: by value */
    query_is("Param1=value1&Param10=x&Param2=y", false, "Param1=value1&Param10=x&Param2=y");
    query_is("B=1&a=1", false, "B=1&a=1"); /* byte order: upper case first */
    query_is("k", false, "k=");
    query_is("k=", false, "k=");
    query_is("&&a=1&", false, "a=1");
    query_is("%7e=%41", false, "~=A");         /* decoded, then encoded strictly */
    query_is("a%2f=%2F", false, "a%2F=%2F");   /* hex in upper case */
    query_is("a+b=c d", false, "a%2Bb=c%20d"); /* '+' is not a space */
    query_is("x=%zz&y=%4", false, "x=%25zz&y=%254");
    query_is("a=b=c", false, "a=b%3Dc");
    query_is("X-Amz-Signature=abc&z=1", true, "z=1");
    query_is("X-Amz-Signature=abc&z=1", false, "X-Amz-Signature=abc&z=1");
    /* more parameters than the stack array holds, sorted */
    char many[400] = "";
    for (int i = 39; i >= 0; i--)
        sprintf(many + strlen(many), "%sp%02d=%d", i == 39 ? "" : "&", i, i);
    struct buf b = BUF_INIT;
    sigv4_canonical_query(&b, many, strlen(many), false);
    assert_true(strncmp(b.data, "p00=0&p01=1&p02=2", 17) == 0);
    assert_non_null(strstr(b.data, "&p39=39"));
    buf_free(&b);
}

static void test_query_get(void **state)
{
    const char *q = "a=1&X-Amz-Credential=AKID%2F20150830&empty=&bare&a=2";
    struct buf v = BUF_INIT;
    assert_int_equal(sigv4_query_get(q, strlen(q), "X-Amz-Credential", &v), 0);
    assert_string_equal(v.data, "AKID/20150830");
    buf_reset(&v);
    assert_int_equal(sigv4_query_get(q, strlen(q), "a", &v), 0);
    assert_string_equal(v.data, "1"); /* the first */
    buf_reset(&v);
    assert_int_equal(sigv4_query_get(q, strlen(q), "empty", &v), 0);
    assert_string_equal(v.data, "");
    assert_int_equal(sigv4_query_get(q, strlen(q), "bare", &v), 0);
    assert_int_equal(sigv4_query_get(q, strlen(q), "missing", &v), -1);
    assert_int_equal(sigv4_query_get(q, strlen(q), "A", &v), -1); /* names are case-sensitive */
    assert_int_equal(sigv4_query_get(NULL, 0, "a", &v), -1);
    buf_free(&v);
}

static void value_is(const char *v, const char *want)
{
    struct buf b = BUF_INIT;
    buf_append_str(&b, "");
    sigv4_canonical_value(&b, v, strlen(v));
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void test_canonical_value(void **state)
{
    value_is("value1", "value1");
    value_is("  value1  ", "value1");
    value_is("\"a   b   c\"", "\"a b c\"");
    value_is("\ta\t\t b\r\n", "a b");
    value_is("   ", "");
    value_is("", "");
}

static void date_is(const char *s, int64_t want)
{
    int64_t t;
    assert_int_equal(sigv4_date_parse(s, strlen(s), &t), 0);
    assert_int_equal(t, want);
    char back[SIGV4_DATE_LEN + 1];
    sigv4_date_format(t, back);
    assert_string_equal(back, s);
}

static void test_dates(void **state)
{
    date_is("19700101T000000Z", 0);
    date_is("20150830T123600Z", 1440938160);
    date_is("20240229T235959Z", 1709251199);
    date_is("20000229T000000Z", 951782400);
    date_is("99991231T235959Z", 253402300799);
    const char *bad[] = {"20230229T000000Z",
                         "21000229T000000Z",
                         "20150830T123600",
                         "20150830T123600ZZ",
                         "20150830 123600Z",
                         "2015-08-30T12:36:00Z",
                         "20151330T123600Z",
                         "20150800T123600Z",
                         "20150830T243600Z",
                         "20150830T126000Z",
                         "20150830T123660Z",
                         "2015083aT123600Z",
                         ""};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        int64_t t;
        if (sigv4_date_parse(bad[i], strlen(bad[i]), &t) == 0) fail_msg("accepted %s", bad[i]);
    }
    /* every 7919 s over 60 years formats and parses back */
    char s[SIGV4_DATE_LEN + 1];
    for (int64_t t = 0; t < 60LL * 366 * 86400; t += 7919) {
        int64_t back;
        sigv4_date_format(t, s);
        assert_int_equal(sigv4_date_parse(s, SIGV4_DATE_LEN, &back), 0);
        assert_int_equal(back, t);
    }
}

/* The SigV4 documentation's example (IAM ListUsers, 20150830T123600Z). */
static const char docs_creq[] = "GET\n"
                                "/\n"
                                "Action=ListUsers&Version=2010-05-08\n"
                                "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
                                "host:iam.amazonaws.com\n"
                                "x-amz-date:20150830T123600Z\n"
                                "\n"
                                "content-type;host;x-amz-date\n"
                                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static void test_documented_example(void **state)
{
    char hex[SIGV4_HEX_LEN + 1];
    sigv4_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    struct buf sts = BUF_INIT;
    const char *scope = "20150830/us-east-1/iam";
    sigv4_string_to_sign(&sts, "20150830T123600Z", scope, strlen(scope), docs_creq,
                         strlen(docs_creq));
    assert_string_equal(sts.data,
                        "AWS4-HMAC-SHA256\n"
                        "20150830T123600Z\n"
                        "20150830/us-east-1/iam/aws4_request\n"
                        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
    uint8_t key[SIGV4_KEY_LEN];
    sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 40, "20150830", "us-east-1", 9,
                      "iam", 3, key);
    char khex[2 * SIGV4_KEY_LEN + 1];
    sigv4_hex(key, sizeof(key), khex);
    assert_string_equal(khex, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
    sigv4_signature(key, sts.data, sts.len, hex);
    assert_string_equal(hex, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
    buf_free(&sts);
}

/* The same canonical request built from the request's parts. */
static void test_canonical_request(void **state)
{
    struct http_header h[] = {
        {"host", "iam.amazonaws.com", 4, 17},
        {"content-type", "application/x-www-form-urlencoded; charset=utf-8", 12, 48},
        {"x-amz-date", "20150830T123600Z", 10, 16},
        {"user-agent", "not signed", 10, 10},
    };
    struct sigv4_request r = {"GET", "/", 1, "Version=2010-05-08&Action=ListUsers", 35, h,
                              4,     "",  0};
    struct sigv4_canonical c = {"content-type;host;x-amz-date", 28,
                                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                                false};
    struct buf b = BUF_INIT;
    sigv4_canonical_request(&b, &r, &c);
    assert_string_equal(b.data, docs_creq);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_uri),
        cmocka_unit_test(test_canonical_query),
        cmocka_unit_test(test_query_get),
        cmocka_unit_test(test_canonical_value),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_documented_example),
        cmocka_unit_test(test_canonical_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
