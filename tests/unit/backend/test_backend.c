/*
 * test_backend.c: the backend client's front (backend/backend.c): the
 * endpoint URL and what it becomes on the wire (Host, path), the choice of
 * HTTP client, and the SigV4 signature on every request, checked by ddbx's
 * own verifier (auth/verify.h) as DynamoDB would check it.
 */
#include "testutil.h"

#include <time.h>

#include "auth/credentials.h"
#include "auth/verify.h"
#include "backend/backend.h"
#include "fixture.h"
#include "util/common.h"

#define GET_BODY "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"k\"}}}"

/* backend_setup for url and client; on success *name gets the client chosen
 * (may be NULL). Returns backend_setup's result; tears down again. */
static int setup_with(const char *url, const char *client, char name[16])
{
    struct config cfg;
    config_defaults(&cfg);
    free(cfg.backend);
    cfg.backend = xstrdup(url);
    free(cfg.backend_client);
    cfg.backend_client = xstrdup(client);
    int rc = backend_setup(&cfg);
    if (rc == 0) {
        if (name) snprintf(name, 16, "%s", backend_client_name());
        backend_teardown();
    }
    config_free(&cfg);
    return rc;
}

static void bad_endpoints_are_refused(void **state)
{
    const char *bad[] = {"ftp://host/",
                         "http://",
                         "http://:8000",
                         "http://h:0",
                         "http://h:65536",
                         "http://h:12x",
                         "http://user@h:8000",
                         "http://h:8000/?q=1",
                         "http://[::1:8000",
                         "http://[::1]x:8000",
                         "h:8000",
                         "http://h:8000/#frag"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        if (setup_with(bad[i], "auto", NULL) != -1) fail_msg("accepted %s", bad[i]);
    assert_int_equal(setup_with("http://127.0.0.1:8000", "libcurl", NULL), -1);
}

static const char *client_for(const char *url, const char *client)
{
    static char name[16];
    assert_int_equal(setup_with(url, client, name), 0);
    return name;
}

static void the_client_follows_the_scheme_proxies_and_the_option(void **state)
{
    assert_string_equal(client_for("http://127.0.0.1:8000", "auto"), "http1");
    assert_string_equal(client_for("http://[::1]:8000/", "auto"), "http1");
    assert_string_equal(client_for("https://dynamodb.us-east-1.amazonaws.com/", "auto"), "curl");
    assert_string_equal(client_for("http://127.0.0.1:8000", "curl"), "curl");
    setenv("http_proxy", "http://127.0.0.1:3128", 1);
    assert_string_equal(client_for("http://127.0.0.1:8000", "auto"), "curl");
    unsetenv("http_proxy");
    setenv("ALL_PROXY", "socks5://127.0.0.1:1080", 1);
    assert_string_equal(client_for("http://127.0.0.1:8000", "auto"), "curl");
    unsetenv("ALL_PROXY");
}

/* Verifies the recorded request's signature as DynamoDB would, against the
 * principals in keys_text; returns verify_request's result. */
static int verify_with(const struct ts_request *r, const char *keys_text)
{
    struct auth_keys *keys;
    struct buf err = BUF_INIT;
    if (credentials_parse(keys_text, strlen(keys_text), "test", &keys, &err) != 0)
        fail_msg("%s", err.data);
    buf_free(&err);
    struct sigv4_request sr = {r->method,  r->path.data, r->path.len,  NULL,       0,
                               r->headers, r->nheaders,  r->body.data, r->body.len};
    struct verify_params vp = {"us-east-1", "dynamodb", (int64_t)time(NULL)};
    const struct auth_principal *who = NULL;
    struct auth_failure f;
    auth_failure_init(&f);
    int rc = verify_request(&sr, &vp, keys, &who, &f);
    if (rc == 0) assert_string_equal(auth_principal_key_id(who), FX_KEY_ID);
    auth_failure_free(&f);
    auth_keys_release(keys);
    return rc;
}

static void assert_verifies(const struct ts_request *r)
{
    if (verify_with(r, FX_KEY_ID " " FX_SECRET "\n") != 0)
        fail_msg("signature refused: %s", ts_header(r, "authorization"));
}

static void requests_are_signed_as_dynamodb_checks(void **state)
{
    struct fx f;
    struct got g = {0};
    fx_start(&f, NULL, 5000);
    fx_roundtrip(&f, GET_BODY, &g);
    got_free(&g);
    fx_call(&f, "DynamoDB_20120810.ListTables", "{}", 2, &g);
    fx_wait(&f, &g);
    got_free(&g);
    for (int i = 0; i < 2; i++) {
        const struct ts_request *r = ts_request(f.srv, i);
        assert_verifies(r);
        const char *auth = ts_header(r, "authorization");
        assert_contains(auth, "SignedHeaders=content-type;host;x-amz-date;x-amz-target,");
        assert_contains(auth, "/us-east-1/dynamodb/aws4_request");
        assert_null(ts_header(r, "x-amz-security-token"));
    }
    /* a wrong secret does not verify: the check above means something */
    assert_int_equal(verify_with(ts_request(f.srv, 0), FX_KEY_ID " not-the-secret\n"), -1);
    fx_stop(&f);
}

static void session_token_is_sent_and_signed(void **state)
{
    struct fx f;
    struct got g = {0};
    setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEDEVtoken", 1);
    fx_start(&f, NULL, 5000);
    fx_roundtrip(&f, GET_BODY, &g);
    got_free(&g);
    const struct ts_request *r = ts_request(f.srv, 0);
    assert_string_equal(ts_header(r, "x-amz-security-token"), "FwoGZXIvYXdzEDEVtoken");
    assert_contains(
        ts_header(r, "authorization"),
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,");
    assert_verifies(r);
    fx_stop(&f);
    unsetenv("AWS_SESSION_TOKEN");
}

static void host_and_path_come_from_the_url(void **state)
{
    struct fx f;
    struct got g = {0};
    /* a name to resolve (the client's asynchronous resolver path) and a path */
    fx_start(&f, "http://localhost:%d/prefix/path", 5000);
    fx_roundtrip(&f, GET_BODY, &g);
    assert_int_equal(g.outcome, BACKEND_ANSWERED);
    got_free(&g);
    const struct ts_request *r = ts_request(f.srv, 0);
    char host[32];
    snprintf(host, sizeof(host), "localhost:%d", ts_port(f.srv));
    assert_string_equal(ts_header(r, "host"), host);
    assert_string_equal(r->path.data, "/prefix/path");
    assert_verifies(r);
    fx_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_endpoints_are_refused),
        cmocka_unit_test(the_client_follows_the_scheme_proxies_and_the_option),
        cmocka_unit_test(requests_are_signed_as_dynamodb_checks),
        cmocka_unit_test(session_token_is_sent_and_signed),
        cmocka_unit_test(host_and_path_come_from_the_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
