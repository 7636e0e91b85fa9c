/*
 * test_verify.c: SigV4 verification (auth/verify.h) against AWS's published
 * test vectors (sigv4_vectors.txt), requests botocore signed
 * (botocore_requests.txt, from gen_botocore.py), and each refusal DynamoDB
 * makes, with its exact message.
 */
#include "vectors.h"

#include "auth/credentials.h"
#include "auth/verify.h"

static const char aws_keys[] = "AKIDEXAMPLE wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n";
static const char boto_keys[] = "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n";

static struct auth_keys *keys_of(const char *text)
{
    struct auth_keys *k;
    struct buf err = BUF_INIT;
    if (credentials_parse(text, strlen(text), "test", &k, &err) != 0) fail_msg("%s", err.data);
    buf_free(&err);
    return k;
}

static enum auth_msg msg_id(const char *id)
{
    for (int i = 0; i < AUTH_MSG_COUNT; i++)
        if (!strcmp(auth_msg_desc((enum auth_msg)i)->id, id)) return (enum auth_msg)i;
    fail_msg("no message %s in proto/auth_messages.tsv", id);
    return AUTH_MSG_COUNT;
}

/* A fixture file, the keyring its requests are checked against, and the
 * outcome of the last verification. */
struct fixture {
    struct vectors vs;
    struct auth_keys *keys;
    const struct auth_principal *who;
    struct auth_failure f;
};

static void fixture_open(struct fixture *x, const char *file, const char *keys_text)
{
    vectors_load(&x->vs, file);
    x->keys = keys_of(keys_text);
    x->who = NULL;
    auth_failure_init(&x->f);
}

static void fixture_close(struct fixture *x)
{
    auth_failure_free(&x->f);
    auth_keys_release(x->keys);
    vectors_free(&x->vs);
}

static struct vector *fixture_case(struct fixture *x, const char *name)
{
    for (int i = 0; i < x->vs.n; i++)
        if (!strcmp(x->vs.v[i].name, name)) return &x->vs.v[i];
    fail_msg("no case %s", name);
    return NULL;
}

/* Verifies case v with the server's clock at `now` (its own when 0). */
static int fixture_verify(struct fixture *x, const struct vector *v, int64_t now)
{
    struct verify_params vp = {v->region, v->service, now ? now : when(v->now)};
    return verify_request(&v->req, &vp, x->keys, &x->who, &x->f);
}

/* Verifies every case of a fixture file as its options say; returns how
 * many were accepted. */
static int check_file(const char *path, const char *keys_text, int *refused)
{
    struct fixture x;
    fixture_open(&x, path, keys_text);
    assert_true(x.vs.n > 0);
    int accepted = 0;
    *refused = 0;
    for (int i = 0; i < x.vs.n; i++) {
        const struct vector *v = &x.vs.v[i];
        x.who = NULL;
        int rc = fixture_verify(&x, v, 0);
        if (!strcmp(v->expect, "OK")) {
            if (rc != 0) fail_msg("%s: refused: %s", v->name, x.f.message.data);
            assert_non_null(x.who);
            assert_int_equal(auth_principal_line(x.who), 1);
            accepted++;
            continue;
        }
        if (rc == 0) fail_msg("%s: accepted, expected %s", v->name, v->expect);
        enum auth_msg want = msg_id(v->expect);
        if (x.f.reason != want)
            fail_msg("%s: refused with %s (%s), expected %s", v->name,
                     auth_msg_desc(x.f.reason)->id, x.f.message.data, v->expect);
        assert_int_equal(x.f.error, auth_msg_desc(want)->error);
        if (v->message) assert_string_equal(x.f.message.data, v->message);
        (*refused)++;
    }
    fixture_close(&x);
    return accepted;
}

static void test_aws_vectors(void **state)
{
    int refused;
    int accepted = check_file(AUTH_TEST_DIR "/sigv4_vectors.txt", aws_keys, &refused);
    assert_int_equal(accepted, 28);
    assert_int_equal(refused, 1); /* post-sts-header-after: token added after signing */
}

/* The documentation's intermediate values: signing key, canonical request. */
static void test_aws_documented_steps(void **state)
{
    struct vectors vs;
    vectors_load(&vs, AUTH_TEST_DIR "/sigv4_vectors.txt");
    int checked = 0;
    for (int i = 0; i < vs.n; i++) {
        const struct vector *v = &vs.v[i];
        if (!v->signing_key) continue;
        uint8_t key[SIGV4_KEY_LEN];
        char hex[2 * SIGV4_KEY_LEN + 1];
        sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 40, v->now, v->region,
                          strlen(v->region), v->service, strlen(v->service), key);
        sigv4_hex(key, sizeof(key), hex);
        assert_string_equal(hex, v->signing_key);
        const char *auth = vec_header_value(v, "authorization");
        const char *sh = strstr(auth, "SignedHeaders=") + 14;
        char hash[SIGV4_HEX_LEN + 1];
        sigv4_sha256_hex("", 0, hash);
        struct sigv4_canonical c = {sh, strcspn(sh, ","), hash, false};
        struct buf creq = BUF_INIT;
        sigv4_canonical_request(&creq, &v->req, &c);
        sigv4_sha256_hex(creq.data, creq.len, hash);
        assert_string_equal(hash, v->creq_sha256);
        buf_free(&creq);
        checked++;
    }
    assert_int_equal(checked, 1);
    vectors_free(&vs);
}

static void test_botocore_requests(void **state)
{
    int refused;
    int accepted = check_file(AUTH_TEST_DIR "/botocore_requests.txt", boto_keys, &refused);
    assert_int_equal(accepted, 11);
    assert_int_equal(refused, 18);
}

/* --- refusals built by hand --- */

static struct http_header hdr(const char *name, const char *value)
{
    return (struct http_header){name, value, (uint32_t)strlen(name), (uint32_t)strlen(value)};
}

struct hand {
    struct http_header h[8];
    struct sigv4_request req;
};

/* A POST / with the given Authorization (NULL: none) and X-Amz-Date (NULL:
 * none), host 127.0.0.1:8111. */
static void hand_init(struct hand *t, const char *authorization, const char *date,
                      const char *query)
{
    int n = 0;
    t->h[n++] = hdr("host", "127.0.0.1:8111");
    if (date) t->h[n++] = hdr("x-amz-date", date);
    if (authorization) t->h[n++] = hdr("authorization", authorization);
    t->req =
        (struct sigv4_request){"POST", "/", 1, query, query ? strlen(query) : 0, t->h, n, "{}", 2};
}

/* Runs the precheck (and the full verification, which must agree) and
 * returns the message; `reason` must be the refusal found. */
static const char *refusal(struct hand *t, enum auth_msg reason, struct auth_failure *f)
{
    assert_int_equal(verify_precheck(&t->req, f), -1);
    assert_int_equal(f->reason, reason);
    struct auth_failure g;
    auth_failure_init(&g);
    struct auth_keys *keys = keys_of(boto_keys);
    struct verify_params vp = {"us-east-1", "dynamodb", when("20240101T000000Z")};
    const struct auth_principal *who;
    assert_int_equal(verify_request(&t->req, &vp, keys, &who, &g), -1);
    assert_int_equal(g.reason, reason);
    assert_string_equal(g.message.data, f->message.data);
    auth_failure_free(&g);
    auth_keys_release(keys);
    return f->message.data;
}

static void test_precheck_missing_and_both(void **state)
{
    struct hand t;
    struct auth_failure f;
    auth_failure_init(&f);
    hand_init(&t, NULL, "20240101T000000Z", NULL);
    assert_string_equal(refusal(&t, AUTH_MSG_MISSING_TOKEN, &f),
                        "Request is missing Authentication Token");
    assert_int_equal(f.error, DDB_MissingAuthenticationTokenException);
    hand_init(&t, "", "20240101T000000Z", NULL); /* empty counts as absent */
    refusal(&t, AUTH_MSG_MISSING_TOKEN, &f);
    hand_init(&t, "Basic dXNlcjpwYXNz", "20240101T000000Z", NULL);
    refusal(&t, AUTH_MSG_MISSING_TOKEN, &f);
    hand_init(&t, "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=00",
              "20240101T000000Z", "X-Amz-Algorithm=AWS4-HMAC-SHA256");
    assert_string_equal(refusal(&t, AUTH_MSG_BOTH_FORMS, &f),
                        "Found both 'X-Amz-Algorithm' as a query-string param and "
                        "'Authorization' as HTTP header.");
    assert_int_equal(f.error, DDB_InvalidSignatureException);
    auth_failure_free(&f);
}

static void test_precheck_incomplete_header(void **state)
{
    struct hand t;
    struct auth_failure f;
    auth_failure_init(&f);
    hand_init(&t, "AWS4-HMAC-SHA256 Credential=a/b", NULL, NULL);
    assert_string_equal(refusal(&t, AUTH_MSG_REQUIRES_SIGNATURE, &f),
                        "Authorization header requires 'Signature' parameter. "
                        "Authorization header requires 'SignedHeaders' parameter. "
                        "Authorization header requires existence of either a 'X-Amz-Date' or "
                        "a 'Date' header. Authorization=AWS4-HMAC-SHA256 Credential=a/b");
    assert_int_equal(f.error, DDB_IncompleteSignatureException);
    hand_init(&t, "AWS4-HMAC-SHA256", "20240101T000000Z", NULL);
    assert_string_equal(refusal(&t, AUTH_MSG_REQUIRES_CREDENTIAL, &f),
                        "Authorization header requires 'Credential' parameter. "
                        "Authorization header requires 'Signature' parameter. "
                        "Authorization header requires 'SignedHeaders' parameter. "
                        "Authorization=AWS4-HMAC-SHA256");
    hand_init(&t, "AWS4-HMAC-SHA256 Signature=b,    Credential,    SignedHeaders",
              "20240101T000000Z", NULL);
    assert_string_equal(refusal(&t, AUTH_MSG_NOT_KEY_VALUE, &f),
                        "'Credential' not a valid key=value pair (missing equal-sign) in "
                        "Authorization header: 'AWS4-HMAC-SHA256 Signature=b,    Credential,  "
                        "  SignedHeaders'");
    /* tabs and bare commas separate too; trailing white space ends the last token */
    hand_init(&t, "AWS4-HMAC-SHA256\tCredential=x,Signature=y,\tSignedHeaders=host  \t",
              "20240101T000000Z", NULL);
    assert_int_equal(verify_precheck(&t.req, &f), 0);
    hand_init(&t, "AWS4-HMAC-SHA256 Credential=x, Signature=y, SignedHeaders=host, Junk \t ",
              "20240101T000000Z", NULL);
    assert_string_equal(refusal(&t, AUTH_MSG_NOT_KEY_VALUE, &f),
                        "'Junk' not a valid key=value pair (missing equal-sign) in "
                        "Authorization header: 'AWS4-HMAC-SHA256 Credential=x, Signature=y, "
                        "SignedHeaders=host, Junk \t '");
    /* an empty SignedHeaders passes the parse, and fails on host later */
    hand_init(&t, "AWS4-HMAC-SHA256 Credential=x, Signature=y, SignedHeaders=", "20240101T000000Z",
              NULL);
    assert_int_equal(verify_precheck(&t.req, &f), 0);
    hand_init(&t, "AWS4-HMAC-SHA256 Credential=x, Signature=y, SignedHeaders=host",
              "2024-01-01T00:00:00Z", NULL);
    assert_string_equal(refusal(&t, AUTH_MSG_DATE_FORMAT, &f),
                        "Date must be in ISO-8601 'basic format'. Got '2024-01-01T00:00:00Z'. "
                        "See http://en.wikipedia.org/wiki/ISO_8601");
    hand_init(&t, "AWS4-HMAC-SHA256 Credential=x, Signature=y, SignedHeaders=host",
              "20240231T000000Z", NULL); /* no 31st of February */
    refusal(&t, AUTH_MSG_DATE_FORMAT, &f);
    auth_failure_free(&f);
}

static void test_precheck_date_header_fallback(void **state)
{
    struct hand t;
    struct auth_failure f;
    auth_failure_init(&f);
    hand_init(&t, "AWS4-HMAC-SHA256 Credential=x, Signature=y, SignedHeaders=host;date", NULL,
              NULL);
    t.h[t.req.nheaders] = hdr("date", "Mon, 01 Jan 2024 00:00:00 GMT");
    t.req.nheaders++;
    /* a Date header counts as present, but must be in the basic format too */
    assert_string_equal(refusal(&t, AUTH_MSG_DATE_FORMAT, &f),
                        "Date must be in ISO-8601 'basic format'. Got 'Mon, 01 Jan 2024 "
                        "00:00:00 GMT'. See http://en.wikipedia.org/wiki/ISO_8601");
    t.h[t.req.nheaders - 1] = hdr("date", "20240101T000000Z");
    assert_int_equal(verify_precheck(&t.req, &f), 0);
    auth_failure_free(&f);
}

static void test_precheck_query_form(void **state)
{
    struct hand t;
    struct auth_failure f;
    auth_failure_init(&f);
    hand_init(&t, NULL, NULL, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20240101T000000Z");
    assert_string_equal(refusal(&t, AUTH_MSG_QUERY_REQUIRES, &f),
                        "AWS query-string parameters must include 'X-Amz-Credential'. "
                        "AWS query-string parameters must include 'X-Amz-Signature'. "
                        "AWS query-string parameters must include 'X-Amz-SignedHeaders'. "
                        "Re-examine the query-string parameters.");
    assert_int_equal(f.error, DDB_IncompleteSignatureException);
    hand_init(&t, NULL, NULL, "X-Amz-Algorithm=");
    assert_contains(refusal(&t, AUTH_MSG_QUERY_REQUIRES, &f),
                    "must include 'X-Amz-Algorithm'. AWS query");
    auth_failure_free(&f);
}

/* A header-form request signed by hand with verify's own building blocks is
 * not an independent check; these cases only need the refusal to come
 * before the signature is looked at. */
static const char *after_parse(const char *authorization, const char *date, const char *now,
                               enum auth_msg reason, struct auth_failure *f)
{
    struct hand t;
    hand_init(&t, authorization, date, NULL);
    struct auth_keys *keys = keys_of(boto_keys);
    struct verify_params vp = {"us-east-1", "dynamodb", when(now)};
    const struct auth_principal *who;
    assert_int_equal(verify_precheck(&t.req, f), 0);
    assert_int_equal(verify_request(&t.req, &vp, keys, &who, f), -1);
    if (f->reason != reason)
        fail_msg("refused with %s (%s)", auth_msg_desc(f->reason)->id, f->message.data);
    auth_keys_release(keys);
    return f->message.data;
}

#define GOOD_CRED "Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/dynamodb/aws4_request"
#define SIG                                                                                        \
    "Signature="                                                                                   \
    "0000000000000000000000000000000000000000000000000000000000000000"

static void test_order_and_messages(void **state)
{
    struct auth_failure f;
    auth_failure_init(&f);
    const char *d = "20240101T000000Z";
    /* expiry is judged before anything else in the header (Alternator's test) */
    assert_string_equal(
        after_parse(
            "AWS4-HMAC-SHA256 Credential=x/2/3/4/aws4_request SignedHeaders=x-amz-date;host "
            "Signature=123",
            "20170101T010101Z", "20240101T000000Z", AUTH_MSG_EXPIRED, &f),
        "Signature expired: 20170101T010101Z is now earlier than 20231231T234500Z "
        "(20240101T000000Z - 15 min.)");
    after_parse("AWS4-HMAC-SHA256 Credential=x/2/3/4/aws4_request SignedHeaders=x-amz-date;host "
                "Signature=123",
                "30200101T010101Z", "20240101T000000Z", AUTH_MSG_NOT_YET_CURRENT, &f);
    assert_string_equal(after_parse("AWS4-HMAC-SHA256 " GOOD_CRED
                                    ", SignedHeaders=x-amz-date, " SIG,
                                    d, d, AUTH_MSG_HOST_NOT_SIGNED, &f),
                        "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
                        "Authorization.");
    assert_string_equal(after_parse("AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=HOST, " SIG, d,
                                    d, AUTH_MSG_DATE_NOT_SIGNED, &f),
                        "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
    assert_string_equal(after_parse("AWS4-HMAC-SHA25 " GOOD_CRED
                                    ", SignedHeaders=host;x-amz-date, " SIG,
                                    d, d, AUTH_MSG_UNSUPPORTED_ALGORITHM, &f),
                        "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA25' (only AWS4-HMAC-SHA256 "
                        "for now).");
    assert_string_equal(after_parse("AWS4-HMAC-SHA256 Credential=a/b/c/d, "
                                    "SignedHeaders=host;x-amz-date, " SIG,
                                    d, d, AUTH_MSG_CREDENTIAL_PARTS, &f),
                        "Credential must have exactly 5 slash-delimited elements, e.g. "
                        "keyid/date/region/service/term, got 'a/b/c/d'");
    after_parse("AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f, SignedHeaders=host;x-amz-date, " SIG, d,
                d, AUTH_MSG_CREDENTIAL_PARTS, &f);
    /* every wrong part of the scope, in one message */
    assert_string_equal(
        after_parse("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/b/c/d/e///, "
                    "SignedHeaders=host;x-amz-date, " SIG,
                    d, d, AUTH_MSG_SCOPE_REGION, &f),
        "Credential should be scoped to a valid region, not 'c'. Credential should be scoped to "
        "correct service: 'dynamodb'. Credential should be scoped with a valid terminator: "
        "'aws4_request', not 'e'. Date in Credential scope does not match YYYYMMDD from "
        "ISO-8601 version of date from HTTP: 'b' != '20240101', from '20240101T000000Z'.");
    assert_int_equal(f.error, DDB_InvalidSignatureException);
    after_parse(
        "AWS4-HMAC-SHA256 Credential=AKIDNOTKNOWN/20240101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host;x-amz-date, " SIG,
        d, d, AUTH_MSG_UNKNOWN_KEY, &f);
    assert_int_equal(f.error, DDB_UnrecognizedClientException);
    assert_string_equal(after_parse("AWS4-HMAC-SHA256 " GOOD_CRED
                                    ", SignedHeaders=host;x-amz-date, " SIG,
                                    d, d, AUTH_MSG_SIGNATURE_MISMATCH, &f),
                        "The request signature we calculated does not match the signature you "
                        "provided. Check your AWS Secret Access Key and signing method. Consult "
                        "the service documentation for details.");
    /* a signature of the wrong length is a mismatch too, not a crash */
    after_parse("AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=host;x-amz-date, Signature=ab", d, d,
                AUTH_MSG_SIGNATURE_MISMATCH, &f);
    auth_failure_free(&f);
}

/* Every single-character change to a good signature is refused. */
static void test_signature_bit_flips(void **state)
{
    struct fixture x;
    fixture_open(&x, AUTH_TEST_DIR "/botocore_requests.txt", boto_keys);
    struct vector *v = fixture_case(&x, "good-getitem");
    char *sig = strstr((char *)vec_header_value(v, "authorization"), "Signature=") + 10;
    for (int i = 0; i < SIGV4_HEX_LEN; i++) {
        char was = sig[i];
        sig[i] = was == '0' ? '1' : '0';
        assert_int_equal(fixture_verify(&x, v, 0), -1);
        assert_int_equal(x.f.reason, AUTH_MSG_SIGNATURE_MISMATCH);
        sig[i] = was;
    }
    assert_int_equal(fixture_verify(&x, v, 0), 0);
    fixture_close(&x);
}

/* The signing key is derived once per (key, date), then served from cache. */
static void test_signing_key_cache(void **state)
{
    struct fixture x;
    fixture_open(&x, AUTH_TEST_DIR "/botocore_requests.txt", boto_keys);
    assert_int_equal(auth_keys_derivations(x.keys), 0);
    int good = 0;
    for (int i = 0; i < x.vs.n; i++)
        if (!strcmp(x.vs.v[i].expect, "OK")) good += fixture_verify(&x, &x.vs.v[i], 0) == 0;
    assert_int_equal(good, 11);
    assert_int_equal(auth_keys_derivations(x.keys), 1); /* all signed on 20240101 */
    auth_keys_forget_signing_keys(x.keys);
    assert_int_equal(fixture_verify(&x, fixture_case(&x, "good-getitem"), 0), 0);
    assert_int_equal(auth_keys_derivations(x.keys), 2);
    /* an unknown key derives nothing */
    assert_int_equal(fixture_verify(&x, fixture_case(&x, "unknown-key"), 0), -1);
    assert_int_equal(auth_keys_derivations(x.keys), 2);
    fixture_close(&x);
}

static void test_presigned_expiry(void **state)
{
    struct fixture x;
    fixture_open(&x, AUTH_TEST_DIR "/sigv4_vectors.txt", aws_keys);
    const struct vector *v = fixture_case(&x, "docs/iam-listusers-presigned");
    int64_t signed_at = when(v->now);
    assert_int_equal(fixture_verify(&x, v, signed_at + 60), 0); /* X-Amz-Expires=60 */
    assert_int_equal(fixture_verify(&x, v, signed_at + 61), -1);
    assert_int_equal(x.f.reason, AUTH_MSG_PRESIGN_EXPIRED);
    fixture_close(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_vectors),
        cmocka_unit_test(test_aws_documented_steps),
        cmocka_unit_test(test_botocore_requests),
        cmocka_unit_test(test_precheck_missing_and_both),
        cmocka_unit_test(test_precheck_incomplete_header),
        cmocka_unit_test(test_precheck_date_header_fallback),
        cmocka_unit_test(test_precheck_query_form),
        cmocka_unit_test(test_order_and_messages),
        cmocka_unit_test(test_signature_bit_flips),
        cmocka_unit_test(test_signing_key_cache),
        cmocka_unit_test(test_presigned_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
