/*
 * test_trust.c: net/trust.h, who may use the API port. Without
 * --credentials: DynamoDB's refusals before any signature (no header, a
 * malformed one) and nothing else. With it: a request signed by the signer
 * ddbx uses for its backend (auth/signer.h) is verified and its principal
 * found; a tampered one is refused; the failures are counted by type. The
 * credentials file refused at start when others may read it, or when it is
 * missing or empty; SIGHUP's reload, a bad edit keeping the principals in
 * use, and a reload while another thread checks requests (for TSan).
 */
#include "nettest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "auth/credentials.h"
#include "auth/signer.h"
#include "config/config.h"
#include "handler/request.h"
#include "metrics/metrics.h"
#include "net/trust.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/log.h"

static struct config cfg;
static struct tmpdir dir;

static int setup(void **state)
{
    log_set_level(LOG_ERROR);
    metrics_setup();
    metrics_thread_register();
    config_defaults(&cfg);
    free(cfg.region);
    cfg.region = xstrdup("us-east-1");
    handler_setup(&cfg);
    tmpdir_create(&dir);
    return 0;
}

static int teardown(void **state)
{
    trust_teardown();
    handler_teardown();
    tmpdir_remove(&dir);
    config_free(&cfg);
    metrics_teardown();
    return 0;
}

/* Writes the credentials file with `mode` and names it in --credentials. */
static void credentials_file(const char *text, mode_t mode)
{
    dir.nfiles = 0;
    const char *path = tmpdir_write(&dir, "credentials", text);
    assert_int_equal(chmod(path, mode), 0);
    free(cfg.credentials);
    cfg.credentials = xstrdup(path);
}

/* A GetItem request as received, signed by key_id/secret (NULL: unsigned). */
struct signed_request {
    struct http_header h[6];
    int n;
    struct buf auth;
    char date[SIGV4_DATE_LEN + 1];
    const char *body;
    struct sigv4_request r;
};

static void request_make(struct signed_request *q, const char *key_id, const char *secret)
{
    memset(q, 0, sizeof(*q));
    q->body = "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}}}";
    q->h[q->n++] = (struct http_header){"host", "localhost:8111", 4, 14};
    q->h[q->n++] = (struct http_header){"content-type", "application/x-amz-json-1.0", 12, 26};
    q->h[q->n++] = (struct http_header){"x-amz-target", "DynamoDB_20120810.GetItem", 12, 25};
    if (key_id) {
        struct signer *s = signer_create(key_id, secret, NULL, "dynamodb");
        struct signer_request sr = {"POST",      "localhost:8111",
                                    "/",         NULL,
                                    q->h + 1,    2,
                                    q->body,     strlen(q->body),
                                    "us-east-1", (int64_t)(clock_wall_ms() / 1000)};
        assert_int_equal(signer_sign(s, &sr, &q->auth, q->date), 0);
        signer_destroy(s);
        q->h[q->n++] = (struct http_header){"x-amz-date", q->date, 10, SIGV4_DATE_LEN};
        q->h[q->n++] =
            (struct http_header){"authorization", q->auth.data, 13, (uint32_t)q->auth.len};
    }
    q->r = (struct sigv4_request){"POST", "/", 1, NULL, 0, q->h, q->n, q->body, strlen(q->body)};
}

/* trust_check on q: DDBX_OK, or the __type of the refusal. */
static const char *check(struct signed_request *q, const char **key_id)
{
    struct auth_failure f;
    auth_failure_init(&f);
    const struct auth_principal *who = NULL;
    int rc = trust_check(&q->r, &who, &f);
    static char type[96];
    snprintf(type, sizeof(type), "%s", rc == DDBX_OK ? "OK" : ddb_error_desc(f.error)->name);
    if (key_id) *key_id = who ? auth_principal_key_id(who) : NULL;
    auth_failure_free(&f);
    return type;
}

/* ddbx_auth_failures_total{type} of the label at `index` (trust.c's order). */
static uint64_t failures(int index)
{
    static const char *const types[] = {"MissingAuthenticationTokenException",
                                        "UnrecognizedClientException", "InvalidSignatureException",
                                        "IncompleteSignatureException"};
    return metrics_family_total(metrics_family_setup(FAMILY_AUTH_FAILURES, types, 4), index);
}

static void test_without_credentials(void **state)
{
    assert_int_equal(trust_setup(&cfg), DDBX_OK);
    assert_false(trust_enforced());
    struct signed_request q;
    request_make(&q, NULL, NULL);
    assert_string_equal(check(&q, NULL), "MissingAuthenticationTokenException");
    /* a malformed header: DynamoDB's IncompleteSignatureException */
    q.h[q.n++] = (struct http_header){"authorization", "AWS4-HMAC-SHA256 Credential=x", 13, 29};
    q.r.nheaders = q.n;
    assert_string_equal(check(&q, NULL), "IncompleteSignatureException");
    /* a length that counts the terminator: the parse stops there (ASan) */
    q.h[q.n - 1].value_len = 30;
    assert_string_equal(check(&q, NULL), "IncompleteSignatureException");
    q.h[q.n - 1].value_len = 29;
    /* signed with any key: no signature is checked, nobody is named */
    request_make(&q, "AKIDANYONE", "whatever");
    const char *who = "unset";
    assert_string_equal(check(&q, &who), "OK");
    assert_null(who);
    assert_int_equal(metrics_tls->auth_verified, 0);
    buf_free(&q.auth);
}

static void test_with_credentials(void **state)
{
    credentials_file("AKIDGOOD secret-good\nAKIDTWO secret-two Music\n", 0600);
    assert_int_equal(trust_setup(&cfg), DDBX_OK);
    assert_true(trust_enforced());
    struct signed_request q;
    request_make(&q, "AKIDTWO", "secret-two");
    const char *who = NULL;
    assert_string_equal(check(&q, &who), "OK");
    assert_string_equal(who, "AKIDTWO");
    assert_int_equal(metrics_tls->auth_verified, 1);
    q.r.body = "{\"TableName\":\"other\",\"Key\":{\"pk\":{\"S\":\"a\"}}}"; /* tampered */
    q.r.body_len = strlen(q.r.body);
    assert_string_equal(check(&q, NULL), "InvalidSignatureException");
    buf_free(&q.auth);
    request_make(&q, "AKIDGOOD", "wrong-secret");
    assert_string_equal(check(&q, NULL), "InvalidSignatureException");
    buf_free(&q.auth);
    request_make(&q, "AKIDUNKNOWN", "x");
    assert_string_equal(check(&q, NULL), "UnrecognizedClientException");
    buf_free(&q.auth);
    request_make(&q, NULL, NULL);
    assert_string_equal(check(&q, NULL), "MissingAuthenticationTokenException");
    assert_int_equal(failures(0), 1);
    assert_int_equal(failures(1), 1);
    assert_int_equal(failures(2), 2);
    assert_int_equal(failures(3), 0);
}

static void test_refused_files(void **state)
{
    credentials_file("AKIDGOOD secret-good\n", 0644);
    assert_int_equal(trust_setup(&cfg), DDBX_ERR);
    assert_false(trust_enforced());
    credentials_file("# nobody\n", 0600);
    assert_int_equal(trust_setup(&cfg), DDBX_ERR);
    free(cfg.credentials);
    cfg.credentials = xstrdup("/nonexistent/credentials");
    assert_int_equal(trust_setup(&cfg), DDBX_ERR);
}

static void test_reload(void **state)
{
    credentials_file("AKIDGOOD secret-one\n", 0600);
    assert_int_equal(trust_setup(&cfg), DDBX_OK);
    struct signed_request one, two;
    request_make(&one, "AKIDGOOD", "secret-one");
    request_make(&two, "AKIDGOOD", "secret-two");
    assert_string_equal(check(&one, NULL), "OK");
    credentials_file("AKIDGOOD secret-two\n", 0600);
    assert_int_equal(trust_reload(), DDBX_OK);
    assert_string_equal(check(&one, NULL), "InvalidSignatureException");
    assert_string_equal(check(&two, NULL), "OK");
    /* a bad edit: refused, the principals in use stay */
    credentials_file("AKIDGOOD\n", 0600);
    assert_int_equal(trust_reload(), DDBX_ERR);
    credentials_file("AKIDGOOD secret-three\n", 0644);
    assert_int_equal(trust_reload(), DDBX_ERR);
    assert_string_equal(check(&two, NULL), "OK");
    buf_free(&one.auth);
    buf_free(&two.auth);
}

static atomic_bool stop_checking;

static void *checker(void *arg)
{
    metrics_thread_register();
    struct signed_request q;
    request_make(&q, "AKIDGOOD", "secret-one");
    int ok = 0;
    while (!atomic_load(&stop_checking))
        ok += strcmp(check(&q, NULL), "OK") == 0;
    trust_thread_done();
    buf_free(&q.auth);
    return (void *)(intptr_t)ok;
}

/* Reloads while another thread verifies: every check sees a whole keyring,
 * and the snapshots it let go are freed (ASan, TSan). */
static void test_reload_while_checking(void **state)
{
    credentials_file("AKIDGOOD secret-one\n", 0600);
    assert_int_equal(trust_setup(&cfg), DDBX_OK);
    atomic_store(&stop_checking, false);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, checker, NULL), 0);
    for (int i = 0; i < 50; i++) {
        credentials_file(i % 2 ? "AKIDGOOD secret-one\n" : "AKIDGOOD secret-one\nAKIDX y\n", 0600);
        assert_int_equal(trust_reload(), DDBX_OK);
        usleep(200);
    }
    atomic_store(&stop_checking, true);
    void *ok;
    pthread_join(t, &ok);
    assert_true((intptr_t)ok > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_without_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_with_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_while_checking, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
