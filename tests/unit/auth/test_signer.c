/*
 * test_signer.c: the backend signer (auth/signer.h) reproduces the
 * Authorization headers of AWS's published test vectors, caches its signing
 * key per (date, region), signs concurrently, and what it signs the
 * verifier accepts.
 */
#include <pthread.h>

#include "vectors.h"

#include "auth/credentials.h"
#include "auth/signer.h"
#include "auth/verify.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

/* Signs vector v as the signer would have, from its parts. */
static void sign_vector(const struct vector *v, struct buf *auth, char date[SIGV4_DATE_LEN + 1])
{
    struct http_header extra[VEC_HEADERS];
    int n = 0;
    const char *token = NULL;
    for (int i = 0; i < v->nheaders; i++) {
        const char *name = v->headers[i].name;
        if (!strcmp(name, "x-amz-security-token")) token = v->headers[i].value;
        if (strcmp(name, "host") && strcmp(name, "authorization") && strcmp(name, "x-amz-date") &&
            strcmp(name, "x-amz-security-token"))
            extra[n++] = v->headers[i];
    }
    struct signer *s = signer_create(AKID, SECRET, token, v->service);
    char path[256];
    snprintf(path, sizeof(path), "%.*s", (int)v->req.path_len, v->req.path);
    struct signer_request r = {v->method, vec_header_value(v, "host"),
                               path,      v->req.query,
                               extra,     n,
                               v->body,   v->body_len,
                               v->region, when(v->now)};
    assert_int_equal(signer_sign(s, &r, auth, date), 0);
    signer_destroy(s);
}

static void test_aws_vectors(void **state)
{
    struct vectors vs;
    vectors_load(&vs, AUTH_TEST_DIR "/sigv4_vectors.txt");
    int signed_ok = 0;
    for (int i = 0; i < vs.n; i++) {
        const struct vector *v = &vs.v[i];
        const char *want = vec_header_value(v, "authorization");
        if (strcmp(v->expect, "OK") || !want) continue; /* refused or pre-signed */
        struct buf auth = BUF_INIT;
        char date[SIGV4_DATE_LEN + 1];
        sign_vector(v, &auth, date);
        if (strcmp(auth.data, want)) fail_msg("%s:\n got  %s\n want %s", v->name, auth.data, want);
        assert_string_equal(date, vec_header_value(v, "x-amz-date"));
        buf_free(&auth);
        signed_ok++;
    }
    assert_int_equal(signed_ok, 27);
    vectors_free(&vs);
}

static const struct http_header ddb_headers[] = {
    {"content-type", "application/x-amz-json-1.0", 12, 26},
    {"x-amz-target", "DynamoDB_20120810.GetItem", 12, 25},
};
static const char ddb_body[] = "{\"TableName\":\"Music\",\"Key\":{\"Artist\":{\"S\":\"A\"}}}";

static struct signer_request ddb_request(const char *region, const char *now)
{
    return (struct signer_request){"POST",      "dynamodb.us-east-1.amazonaws.com",
                                   "/",         NULL,
                                   ddb_headers, 2,
                                   ddb_body,    strlen(ddb_body),
                                   region,      when(now)};
}

static void test_key_cache(void **state)
{
    struct signer *s = signer_create(AKID, SECRET, NULL, "dynamodb");
    struct buf a = BUF_INIT, b = BUF_INIT;
    char date[SIGV4_DATE_LEN + 1];
    struct signer_request r = ddb_request("us-east-1", "20240101T000000Z");
    assert_int_equal(signer_sign(s, &r, &a, date), 0);
    r.now += 3600;
    assert_int_equal(signer_sign(s, &r, &b, date), 0);
    assert_int_equal(signer_derivations(s), 1); /* same day, same region */
    assert_string_not_equal(a.data, b.data);    /* but a different signature */
    r.now += 86400;
    assert_int_equal(signer_sign(s, &r, &b, date), 0);
    assert_int_equal(signer_derivations(s), 2); /* a new day */
    r.region = "eu-west-1";
    buf_reset(&b);
    assert_int_equal(signer_sign(s, &r, &b, date), 0);
    assert_int_equal(signer_derivations(s), 3); /* a new region */
    assert_contains(b.data, "/20240102/eu-west-1/dynamodb/aws4_request, ");
    assert_contains(b.data, "SignedHeaders=content-type;host;x-amz-date;x-amz-target, ");
    char long_region[120];
    memset(long_region, 'r', sizeof(long_region) - 1);
    long_region[sizeof(long_region) - 1] = '\0';
    r.region = long_region;
    buf_reset(&b);
    assert_int_equal(signer_sign(s, &r, &b, date), -1);
    assert_int_equal(b.len, 0);
    buf_free(&a);
    buf_free(&b);
    signer_destroy(s);
}

/* What the signer signs (token included), the verifier accepts; with
 * another secret it refuses. */
static void test_round_trip(void **state)
{
    const char *token = "FwoGZXIvYXdzEXAMPLETOKEN";
    struct signer *s = signer_create(AKID, SECRET, token, "dynamodb");
    assert_string_equal(signer_token(s), token);
    struct buf auth = BUF_INIT;
    char date[SIGV4_DATE_LEN + 1];
    struct signer_request r = ddb_request("us-east-1", "20240101T120000Z");
    assert_int_equal(signer_sign(s, &r, &auth, date), 0);
    struct http_header h[] = {
        ddb_headers[0],
        {"host", r.host, 4, (uint32_t)strlen(r.host)},
        ddb_headers[1],
        {"x-amz-date", date, 10, SIGV4_DATE_LEN},
        {"x-amz-security-token", token, 20, (uint32_t)strlen(token)},
        {"authorization", auth.data, 13, (uint32_t)auth.len},
    };
    struct sigv4_request req = {"POST", "/", 1, NULL, 0, h, 6, ddb_body, strlen(ddb_body)};
    struct auth_keys *keys;
    struct buf err = BUF_INIT;
    const char *text = AKID " " SECRET "\n";
    assert_int_equal(credentials_parse(text, strlen(text), "t", &keys, &err), 0);
    struct verify_params vp = {"us-east-1", "dynamodb", r.now + 60};
    const struct auth_principal *who;
    struct auth_failure f;
    auth_failure_init(&f);
    if (verify_request(&req, &vp, keys, &who, &f) != 0) fail_msg("%s", f.message.data);
    assert_string_equal(auth_principal_key_id(who), AKID);
    auth_keys_release(keys);
    text = AKID " another-secret\n";
    assert_int_equal(credentials_parse(text, strlen(text), "t", &keys, &err), 0);
    assert_int_equal(verify_request(&req, &vp, keys, &who, &f), -1);
    assert_int_equal(f.reason, AUTH_MSG_SIGNATURE_MISMATCH);
    auth_keys_release(keys);
    auth_failure_free(&f);
    buf_free(&err);
    buf_free(&auth);
    signer_destroy(s);
}

struct signing_thread {
    struct signer *s;
    const char *region;
    int64_t base;
    int bad;
};

static void *sign_loop(void *arg)
{
    struct signing_thread *t = arg;
    struct buf first = BUF_INIT, a = BUF_INIT;
    char date[SIGV4_DATE_LEN + 1];
    struct signer_request r = ddb_request(t->region, "20240101T000000Z");
    r.now = t->base;
    signer_sign(t->s, &r, &first, date);
    for (int i = 0; i < 2000; i++) {
        buf_reset(&a);
        signer_sign(t->s, &r, &a, date);
        t->bad += strcmp(a.data, first.data) != 0;
    }
    buf_free(&a);
    buf_free(&first);
    return NULL;
}

/* Two threads sharing one signer with two regions: the cache flips between
 * them, and every signature stays right. */
static void test_concurrent(void **state)
{
    struct signer *s = signer_create(AKID, SECRET, NULL, "dynamodb");
    struct signing_thread t[2] = {{s, "us-east-1", when("20240101T000000Z"), 0},
                                  {s, "eu-west-1", when("20240101T000000Z"), 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, sign_loop, &t[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(t[0].bad + t[1].bad, 0);
    assert_true(signer_derivations(s) >= 2);
    signer_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_vectors),
        cmocka_unit_test(test_key_cache),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
