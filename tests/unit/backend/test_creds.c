/*
 * test_creds.c: the credential and region chain (backend/creds.h): the INI
 * reader, environment over file, AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE,
 * AWS_CONFIG_FILE and the ~/.aws fallbacks. Each test starts from an
 * environment with no AWS_* variables and HOME in a fresh temporary directory.
 */
#include "testutil.h"

#include "backend/creds.h"
#include "util/buf.h"

static const char *aws_vars[] = {
    "AWS_ACCESS_KEY_ID",   "AWS_SECRET_ACCESS_KEY",       "AWS_SESSION_TOKEN", "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",   "AWS_REGION",
    "AWS_DEFAULT_REGION"};

static const char credentials[] = "# written by aws configure\n"
                                  "[default]\n"
                                  "aws_access_key_id = AKIDDEFAULT\n"
                                  "aws_secret_access_key=secret/default+key\n"
                                  "\n"
                                  "  [ dev ]  \n"
                                  "; a comment = not a key\n"
                                  "\taws_access_key_id\t=\tAKIDDEV  \n"
                                  "aws_secret_access_key = dev=secret==\n"
                                  "aws_session_token = FwoGZXIvYXdzEDEV\n"
                                  "empty =\n"
                                  "# aws_session_token = commented out\n"
                                  "[half]\n"
                                  "aws_access_key_id = AKIDHALF\n"
                                  "[other]\n"
                                  "aws_secret_access_key = other-secret\n";

static const char config[] = "[default]\n"
                             "region = eu-west-1\n"
                             "output = json\n"
                             "[profile dev]\n"
                             "region = ap-south-1\n"
                             "[other]\n"
                             "region = wrong-because-config-profiles-say-profile\n"
                             "[profile other]\n"
                             "output = text\n";

static struct tmpdir dir;
static const char *cred_path, *config_path;

static int setup(void **state)
{
    for (size_t i = 0; i < ARRAY_LEN(aws_vars); i++)
        unsetenv(aws_vars[i]);
    tmpdir_create(&dir);
    setenv("HOME", dir.path, 1); /* no real ~/.aws can leak in */
    cred_path = tmpdir_write(&dir, "credentials", credentials);
    config_path = tmpdir_write(&dir, "config", config);
    return 0;
}

static int teardown(void **state)
{
    tmpdir_remove(&dir);
    return 0;
}

static void assert_ini(const char *section, const char *key, const char *want)
{
    char *v = creds_ini_get(cred_path, section, key);
    if (!want) {
        if (v) fail_msg("[%s] %s should be absent, got \"%s\"", section, key, v);
        return;
    }
    if (!v) fail_msg("[%s] %s not found", section, key);
    assert_string_equal(v, want);
    free(v);
}

static void test_ini_get(void **state)
{
    assert_ini("default", "aws_access_key_id", "AKIDDEFAULT");
    assert_ini("default", "aws_secret_access_key", "secret/default+key");
    /* whitespace around section names, keys and values is trimmed */
    assert_ini("dev", "aws_access_key_id", "AKIDDEV");
    /* only the first '=' separates */
    assert_ini("dev", "aws_secret_access_key", "dev=secret==");
    assert_ini("dev", "aws_session_token", "FwoGZXIvYXdzEDEV");
    assert_ini("dev", "empty", "");
    /* comments are not keys */
    assert_ini("dev", "; a comment", NULL);
    assert_ini("dev", "# aws_session_token", NULL);
    /* missing keys and sections; keys stay in their section */
    assert_ini("default", "aws_session_token", NULL);
    assert_ini("half", "aws_secret_access_key", NULL);
    assert_ini("nosuch", "aws_access_key_id", NULL);
    assert_ini("", "aws_access_key_id", NULL);
    assert_ini("Dev", "aws_access_key_id", NULL); /* names are case-sensitive */
    assert_ini("default", "AWS_ACCESS_KEY_ID", NULL);
    assert_null(creds_ini_get("/nonexistent/ddbx/credentials", "default", "aws_access_key_id"));
}

static void test_ini_long_and_odd_lines(void **state)
{
    struct buf b = BUF_INIT;
    buf_append_str(&b, "[s]\nnoequals\n=novalue\n[unterminated\nk = in unterminated\n[s]\n");
    buf_append_str(&b, "long = ");
    for (int i = 0; i < 3000; i++)
        buf_append_char(&b, 'x');
    buf_append_str(&b, "\nk = v\n");
    const char *path = tmpdir_write(&dir, "odd", b.data);
    buf_free(&b);
    char *v = creds_ini_get(path, "s", "k");
    assert_string_equal(v, "v");
    free(v);
    v = creds_ini_get(path, "unterminated", "k");
    assert_string_equal(v, "in unterminated"); /* a missing ']' still names the section */
    free(v);
    v = creds_ini_get(path, "s", "long");
    assert_int_equal(strlen(v), 3000);
    free(v);
    assert_null(creds_ini_get(path, "s", "noequals"));
}

static void test_environment_first(void **state)
{
    setenv("AWS_SHARED_CREDENTIALS_FILE", cred_path, 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
    struct aws_credentials c;
    assert_int_equal(creds_load(&c), 0);
    assert_string_equal(c.access_key, "AKIDENV");
    assert_string_equal(c.secret_key, "env-secret");
    assert_null(c.session_token);
    assert_string_equal(c.source, "environment");
    creds_free(&c);
    assert_null(c.access_key);

    setenv("AWS_SESSION_TOKEN", "env-token", 1);
    setenv("AWS_PROFILE", "dev", 1); /* the profile does not beat the environment */
    assert_int_equal(creds_load(&c), 0);
    assert_string_equal(c.access_key, "AKIDENV");
    assert_string_equal(c.session_token, "env-token");
    creds_free(&c);
}

static void test_partial_environment_falls_back_to_file(void **state)
{
    setenv("AWS_SHARED_CREDENTIALS_FILE", cred_path, 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1); /* no secret: not a pair */
    setenv("AWS_SECRET_ACCESS_KEY", "", 1);    /* empty counts as unset */
    setenv("AWS_SESSION_TOKEN", "env-token", 1);
    struct aws_credentials c;
    assert_int_equal(creds_load(&c), 0);
    assert_string_equal(c.access_key, "AKIDDEFAULT");
    assert_string_equal(c.secret_key, "secret/default+key");
    assert_null(c.session_token); /* the file's profile has none */
    creds_free(&c);
}

static void test_file_profiles(void **state)
{
    setenv("AWS_SHARED_CREDENTIALS_FILE", cred_path, 1);
    struct aws_credentials c;
    assert_int_equal(creds_load(&c), 0);
    assert_string_equal(c.access_key, "AKIDDEFAULT");
    char want[256];
    snprintf(want, sizeof(want), "file %s [default]", cred_path);
    assert_string_equal(c.source, want);
    creds_free(&c);

    setenv("AWS_PROFILE", "dev", 1);
    assert_int_equal(creds_load(&c), 0);
    assert_string_equal(c.access_key, "AKIDDEV");
    assert_string_equal(c.secret_key, "dev=secret==");
    assert_string_equal(c.session_token, "FwoGZXIvYXdzEDEV");
    snprintf(want, sizeof(want), "file %s [dev]", cred_path);
    assert_string_equal(c.source, want);
    assert_not_contains(c.source, "secret"); /* the source names no secret */
    assert_not_contains(c.source, "FwoG");
    creds_free(&c);

    /* AWS_DEFAULT_PROFILE when AWS_PROFILE is unset or empty */
    setenv("AWS_PROFILE", "", 1);
    setenv("AWS_DEFAULT_PROFILE", "dev", 1);
    assert_int_equal(creds_load(&c), 0);
    assert_string_equal(c.access_key, "AKIDDEV");
    creds_free(&c);
    setenv("AWS_PROFILE", "default", 1); /* AWS_PROFILE wins */
    assert_int_equal(creds_load(&c), 0);
    assert_string_equal(c.access_key, "AKIDDEFAULT");
    creds_free(&c);
}

static void test_incomplete_or_missing(void **state)
{
    struct aws_credentials c;
    setenv("AWS_SHARED_CREDENTIALS_FILE", cred_path, 1);
    static const char *incomplete[] = {"half", "other", "nosuch"};
    for (size_t i = 0; i < ARRAY_LEN(incomplete); i++) {
        setenv("AWS_PROFILE", incomplete[i], 1);
        assert_int_equal(creds_load(&c), -1);
        assert_null(c.access_key);
        assert_null(c.secret_key);
        assert_null(c.session_token);
        assert_null(c.source);
    }
    unsetenv("AWS_PROFILE");
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    assert_int_equal(creds_load(&c), -1);
    assert_null(c.access_key);
    /* HOME has no .aws either */
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    assert_int_equal(creds_load(&c), -1);
}

static void expect_region(const char *want)
{
    char *r = creds_region();
    if (!want) {
        if (r) fail_msg("region should be absent, got %s", r);
        return;
    }
    if (!r) fail_msg("no region, expected %s", want);
    assert_string_equal(r, want);
    free(r);
}

static void test_home_fallback(void **state)
{
    tmpdir_mkdir(&dir, ".aws");
    tmpdir_write(&dir, ".aws/credentials",
                 "[default]\naws_access_key_id=AKIDHOME\n"
                 "aws_secret_access_key=home-secret\n");
    tmpdir_write(&dir, ".aws/config", "[default]\nregion=sa-east-1\n");
    struct aws_credentials c;
    assert_int_equal(creds_load(&c), 0);
    assert_string_equal(c.access_key, "AKIDHOME");
    assert_contains(c.source, "/.aws/credentials [default]");
    creds_free(&c);
    expect_region("sa-east-1");
    /* the explicit file wins over HOME */
    setenv("AWS_SHARED_CREDENTIALS_FILE", cred_path, 1);
    setenv("AWS_CONFIG_FILE", config_path, 1);
    assert_int_equal(creds_load(&c), 0);
    assert_string_equal(c.access_key, "AKIDDEFAULT");
    creds_free(&c);
    expect_region("eu-west-1");
}

static void test_region_chain(void **state)
{
    expect_region(NULL); /* nothing anywhere */
    setenv("AWS_CONFIG_FILE", config_path, 1);
    expect_region("eu-west-1"); /* [default] */
    setenv("AWS_PROFILE", "dev", 1);
    expect_region("ap-south-1"); /* [profile dev] */
    setenv("AWS_PROFILE", "other", 1);
    expect_region(NULL); /* [other] is not how config names a profile */
    setenv("AWS_PROFILE", "nosuch", 1);
    expect_region(NULL);
    setenv("AWS_PROFILE", "dev", 1);
    setenv("AWS_DEFAULT_REGION", "us-west-2", 1);
    expect_region("us-west-2"); /* the environment beats the file */
    setenv("AWS_REGION", "us-east-2", 1);
    expect_region("us-east-2"); /* AWS_REGION beats AWS_DEFAULT_REGION */
    setenv("AWS_REGION", "", 1);
    expect_region("us-west-2"); /* empty counts as unset */
    unsetenv("AWS_DEFAULT_REGION");
    expect_region("ap-south-1");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_ini_get),           T(test_ini_long_and_odd_lines),
        T(test_environment_first), T(test_partial_environment_falls_back_to_file),
        T(test_file_profiles),     T(test_incomplete_or_missing),
        T(test_home_fallback),     T(test_region_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
