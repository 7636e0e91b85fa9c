/*
 * test_config.c: the options parser (config/config.h): defaults, environment
 * twins, flag forms and precedence, value parsing, errors, and the --help,
 * --version and --help-markdown outputs.
 *
 * The table below is options.def read a second time, so every option is
 * checked generically and a new option is covered without touching this file.
 * options.def has no OPT_BOOL option yet; the bool forms (--x, --no-x) are
 * checked to be refused for non-bool options, and the value forms are
 * exercised through string, count, size and duration options.
 */
#include "testutil.h"

#include "config/config.h"
#include "util/units.h"
#include "version.h"

static const struct opt {
    const char *flag, *env, *dflt;
    enum opt_type type;
    size_t offset;
} opts[] = {
#define OPTION(field, flag, env, type, dflt, help)                                                 \
    {flag, env, dflt, type, offsetof(struct config, field)},
#include "config/options.def"
#undef OPTION
};

#define NOPTS ((int)ARRAY_LEN(opts))

static const struct opt *opt_named(const char *flag)
{
    for (int i = 0; i < NOPTS; i++)
        if (strcmp(opts[i].flag, flag) == 0) return &opts[i];
    fail_msg("no option --%s in options.def", flag);
    return NULL;
}

/* Checks that the option's field in c holds what `text` means for its type. */
static void assert_value(const struct config *c, const struct opt *o, const char *text)
{
    const void *field = (const char *)c + o->offset;
    uint64_t want = 0;
    switch (o->type) {
    case OPT_STR:
        assert_non_null(*(char *const *)field);
        assert_string_equal(*(char *const *)field, text);
        return;
    case OPT_UINT: want = strtoull(text, NULL, 10); break;
    case OPT_SIZE: assert_int_equal(units_parse_size(text, &want), 0); break;
    case OPT_DURATION: assert_int_equal(units_parse_duration(text, &want), 0); break;
    case OPT_BOOL: assert_int_equal(*(const bool *)field, strcmp(text, "true") == 0); return;
    }
    if (*(const uint64_t *)field != want)
        fail_msg("--%s is %llu, expected %llu (\"%s\")", o->flag,
                 (unsigned long long)*(const uint64_t *)field, (unsigned long long)want, text);
}

/* A value of the option's type that differs from its default; `which`
 * picks one of two such values. Written to out. */
static const char *other_value(const struct opt *o, int which, char *out, size_t outlen)
{
    static const char *uints[] = {"7", "12"}, *sizes[] = {"3KiB", "5MiB"},
                      *durs[] = {"250ms", "3m"}, *bools[] = {"true", "false"};
    switch (o->type) {
    case OPT_STR: snprintf(out, outlen, "%s-value-%s", which ? "flag" : "env", o->flag); break;
    case OPT_UINT: snprintf(out, outlen, "%s", uints[which]); break;
    case OPT_SIZE: snprintf(out, outlen, "%s", sizes[which]); break;
    case OPT_DURATION: snprintf(out, outlen, "%s", durs[which]); break;
    case OPT_BOOL: snprintf(out, outlen, "%s", bools[which]); break;
    }
    return out;
}

/* config_parse with argv = {"ddbx", args...}; args end with NULL. */
static enum config_result vparse(struct config *c, char **envp, char *err, size_t errlen,
                                 va_list ap)
{
    char *argv[64] = {"ddbx"};
    int argc = 1;
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    err[0] = '\0';
    return config_parse(c, argc, argv, envp, stdout, err, errlen);
}

static enum config_result parse(struct config *c, char **envp, char *err, size_t errlen, ...)
{
    va_list ap;
    va_start(ap, errlen);
    enum config_result r = vparse(c, envp, err, errlen, ap);
    va_end(ap);
    return r;
}

static void test_defaults_match_table(void **state)
{
    struct config c;
    config_defaults(&c);
    for (int i = 0; i < NOPTS; i++)
        assert_value(&c, &opts[i], opts[i].dflt);
    /* and a few spelled out, as the issue and README promise them */
    assert_string_equal(c.listen, "0.0.0.0:8111");
    assert_string_equal(c.backend, "");
    assert_string_equal(c.log_level, "info");
    assert_int_equal(c.threads, 0);
    assert_int_equal(c.max_header_size, 64 * 1024);
    assert_int_equal(c.idle_timeout, 120000);
    assert_int_equal(c.backend_connect_timeout, 2000);
    config_free(&c);
    assert_null(c.listen);

    /* config_parse with no arguments and no environment gives the same */
    char err[256];
    assert_int_equal(parse(&c, NULL, err, sizeof(err), NULL), CONFIG_OK);
    for (int i = 0; i < NOPTS; i++)
        assert_value(&c, &opts[i], opts[i].dflt);
    config_free(&c);
}

static void test_environment_twins(void **state)
{
    char vals[NOPTS][96], envs[NOPTS + 4][160];
    char *envp[NOPTS + 5];
    int n = 0;
    for (int i = 0; i < NOPTS; i++) {
        other_value(&opts[i], 0, vals[i], sizeof(vals[i]));
        snprintf(envs[n], sizeof(envs[n]), "%s=%.90s", opts[i].env, vals[i]);
        envp[n] = envs[n];
        n++;
    }
    /* look-alikes that must be ignored */
    snprintf(envs[n], sizeof(envs[n]), "DDBX_LISTENX=bad");
    envp[n] = envs[n], n++;
    snprintf(envs[n], sizeof(envs[n]), "XDDBX_THREADS=bad");
    envp[n] = envs[n], n++;
    snprintf(envs[n], sizeof(envs[n]), "DDBX_NOT_AN_OPTION=1");
    envp[n] = envs[n], n++;
    snprintf(envs[n], sizeof(envs[n]), "DDBX_THREADS");
    envp[n] = envs[n], n++;
    envp[n] = NULL;

    struct config c;
    char err[256];
    assert_int_equal(parse(&c, envp, err, sizeof(err), NULL), CONFIG_OK);
    for (int i = 0; i < NOPTS; i++)
        assert_value(&c, &opts[i], vals[i]);
    config_free(&c);
}

static void test_flags_override_environment(void **state)
{
    char env_vals[NOPTS][96], flag_vals[NOPTS][96], envs[NOPTS][160], flags[NOPTS][160];
    char *envp[NOPTS + 1], *argv[NOPTS + 1];
    argv[0] = "ddbx";
    for (int i = 0; i < NOPTS; i++) {
        other_value(&opts[i], 0, env_vals[i], sizeof(env_vals[i]));
        other_value(&opts[i], 1, flag_vals[i], sizeof(flag_vals[i]));
        snprintf(envs[i], sizeof(envs[i]), "%s=%.90s", opts[i].env, env_vals[i]);
        snprintf(flags[i], sizeof(flags[i]), "--%s=%.90s", opts[i].flag, flag_vals[i]);
        envp[i] = envs[i];
        argv[i + 1] = flags[i];
    }
    envp[NOPTS] = NULL;
    struct config c;
    char err[256];
    /* every flag given: all flag values win */
    assert_int_equal(config_parse(&c, NOPTS + 1, argv, envp, stdout, err, sizeof(err)), CONFIG_OK);
    for (int i = 0; i < NOPTS; i++)
        assert_value(&c, &opts[i], flag_vals[i]);
    config_free(&c);
    /* only one flag given: it wins, the others keep their environment value */
    assert_int_equal(parse(&c, envp, err, sizeof(err), "--listen", "127.0.0.1:1", NULL), CONFIG_OK);
    for (int i = 0; i < NOPTS; i++)
        assert_value(&c, &opts[i], opts + i == opt_named("listen") ? "127.0.0.1:1" : env_vals[i]);
    config_free(&c);
}

static void test_flag_forms(void **state)
{
    struct config c;
    char err[256];
    assert_int_equal(parse(&c, NULL, err, sizeof(err), "--listen", "10.0.0.1:80", "--admin=:9",
                           "--threads", "3", "--backend=http://h:1/a=b", "--region=", NULL),
                     CONFIG_OK);
    assert_string_equal(c.listen, "10.0.0.1:80");
    assert_string_equal(c.admin, ":9");
    assert_int_equal(c.threads, 3);
    assert_string_equal(c.backend, "http://h:1/a=b"); /* only the first '=' splits */
    assert_string_equal(c.region, "");                /* an empty value is a value */
    config_free(&c);

    /* a value that looks like a flag is still the value of `--name value` */
    assert_int_equal(parse(&c, NULL, err, sizeof(err), "--region", "--threads", NULL), CONFIG_OK);
    assert_string_equal(c.region, "--threads");
    assert_int_equal(c.threads, 0);
    config_free(&c);

    /* repeated flags: the last wins (and the first string is not leaked) */
    assert_int_equal(parse(&c, NULL, err, sizeof(err), "--listen", "a:1", "--listen=b:2",
                           "--threads=1", "--threads", "2", NULL),
                     CONFIG_OK);
    assert_string_equal(c.listen, "b:2");
    assert_int_equal(c.threads, 2);
    config_free(&c);
}

static void test_sizes_and_durations(void **state)
{
    struct config c;
    char err[256];
    assert_int_equal(parse(&c, NULL, err, sizeof(err), "--max-header-size", "4MiB",
                           "--idle-timeout=500ms", "--header-timeout", "2s", "--backend-timeout=5m",
                           "--shutdown-timeout", "1.5s", "--max-connections", "123456", NULL),
                     CONFIG_OK);
    assert_int_equal(c.max_header_size, 4u << 20);
    assert_int_equal(c.idle_timeout, 500);
    assert_int_equal(c.header_timeout, 2000);
    assert_int_equal(c.backend_timeout, 300000);
    assert_int_equal(c.shutdown_timeout, 1500);
    assert_int_equal(c.max_connections, 123456);
    config_free(&c);
    assert_int_equal(parse(&c, NULL, err, sizeof(err), "--max-header-size=1GiB", "--threads",
                           "18446744073709551615", NULL),
                     CONFIG_OK);
    assert_int_equal(c.max_header_size, 1u << 30);
    assert_true(c.threads == UINT64_MAX);
    config_free(&c);
}

static void test_bool_forms_refused_for_other_types(void **state)
{
    /* no OPT_BOOL option exists yet: --no-<x> is unknown and a bare --<x>
     * needs a value, for every option in the table */
    for (int i = 0; i < NOPTS; i++) {
        if (opts[i].type == OPT_BOOL) continue;
        struct config c;
        char err[256], no[96];
        snprintf(no, sizeof(no), "--no-%s", opts[i].flag);
        assert_int_equal(parse(&c, NULL, err, sizeof(err), no, NULL), CONFIG_ERROR);
        assert_contains(err, no);
        assert_contains(err, "unknown option");
        config_free(&c);
    }
}

/* Parses the arguments (NULL-terminated) and expects CONFIG_ERROR with
 * `needle` in the message. */
static void expect_error(const char *needle, ...)
{
    struct config c;
    char err[256];
    va_list ap;
    va_start(ap, needle);
    assert_int_equal(vparse(&c, NULL, err, sizeof(err), ap), CONFIG_ERROR);
    va_end(ap);
    assert_contains(err, needle);
    config_free(&c);
}

static void test_errors_name_the_flag(void **state)
{
    expect_error("--bogus", "--bogus", "1", NULL);
    expect_error("unknown option --bogus", "--bogus=1", NULL);
    expect_error("unknown option --listenx", "--listenx", "x", NULL);
    expect_error("unknown option --", "--", NULL);
    expect_error("--threads: \"abc\" is not a valid N", "--threads", "abc", NULL);
    expect_error("--threads: \"-1\" is not a valid N", "--threads=-1", NULL);
    expect_error("--threads: \"\" is not a valid N", "--threads=", NULL);
    expect_error("--threads: \"3x\"", "--threads", "3x", NULL);
    expect_error("--idle-timeout: \"5x\" is not a valid DURATION", "--idle-timeout", "5x", NULL);
    expect_error("--max-header-size: \"4 MiB\" is not a valid SIZE", "--max-header-size=4 MiB",
                 NULL);
    expect_error("--listen needs a value", "--listen", NULL);
    expect_error("--threads needs a value", "--listen", "a:1", "--threads", NULL);
    expect_error("unexpected argument \"extra\"", "extra", NULL);
    expect_error("unexpected argument \"-v\"", "-v", NULL);
    /* an error stops the parse even when --help follows */
    expect_error("--bogus", "--bogus", "--help", NULL);
}

static void test_bad_environment_names_flag(void **state)
{
    char *envp[] = {"DDBX_LISTEN=ok:1", "DDBX_IDLE_TIMEOUT=soon", NULL};
    struct config c;
    char err[256];
    assert_int_equal(parse(&c, envp, err, sizeof(err), NULL), CONFIG_ERROR);
    assert_contains(err, "--idle-timeout");
    assert_contains(err, "soon");
    assert_contains(err, "environment");
    config_free(&c);
    /* a valid flag does not rescue a bad environment value */
    assert_int_equal(parse(&c, envp, err, sizeof(err), "--idle-timeout", "1s", NULL), CONFIG_ERROR);
    config_free(&c);
}

/* Runs config_parse with one argument, output captured; returns the text. */
static char *output_of(const char *arg, enum config_result expect)
{
    struct config c;
    struct capture cap;
    char err[64];
    char *argv[] = {"ddbx", (char *)arg, NULL};
    assert_int_equal(config_parse(&c, 2, argv, NULL, capture_begin(&cap), err, sizeof(err)),
                     expect);
    config_free(&c);
    capture_end(&cap);
    return cap.text;
}

static void test_help_lists_every_option(void **state)
{
    for (int form = 0; form < 2; form++) {
        char *out = output_of(form ? "-h" : "--help", CONFIG_HELP);
        assert_contains(out, "usage: ddbx");
        for (int i = 0; i < NOPTS; i++) {
            char flag[96], env[96];
            snprintf(flag, sizeof(flag), "  --%s ", opts[i].flag);
            snprintf(env, sizeof(env), "env %s, default \"%s\"", opts[i].env, opts[i].dflt);
            assert_contains(out, flag);
            assert_contains(out, env);
        }
        assert_contains(out, "--version");
        assert_contains(out, "--help-markdown");
        assert_contains(out, "--help-metrics");
        free(out);
    }
    /* config_print_help writes the same text */
    struct capture cap;
    config_print_help(capture_begin(&cap));
    capture_end(&cap);
    char *out = output_of("--help", CONFIG_HELP);
    assert_string_equal(cap.text, out);
    free(out);
    capture_free(&cap);
}

static void test_version(void **state)
{
    char *out = output_of("--version", CONFIG_VERSION);
    char want[64];
    snprintf(want, sizeof(want), "ddbx %s\n", DDBX_VERSION);
    assert_string_equal(out, want);
    assert_string_equal(DDBX_VERSION, "0.1.0");
    free(out);
}

/* --help-metrics is main's to print (config cannot see the metrics table):
 * config_parse only says so, and prints nothing. */
static void test_help_metrics_is_left_to_the_caller(void **state)
{
    char *out = output_of("--help-metrics", CONFIG_HELP_METRICS);
    assert_string_equal(out, "");
    free(out);
    /* every outcome but OK is negative (util/common.h's convention) */
    static const enum config_result others[] = {CONFIG_ERROR, CONFIG_HELP, CONFIG_VERSION,
                                                CONFIG_MARKDOWN, CONFIG_HELP_METRICS};
    for (size_t i = 0; i < ARRAY_LEN(others); i++)
        assert_true(others[i] < 0);
}

static void test_help_markdown_row_per_option(void **state)
{
    char *out = output_of("--help-markdown", CONFIG_MARKDOWN);
    assert_true(strncmp(out, "| flag | environment | type | default | meaning |\n|---|", 52) == 0);
    assert_int_equal(count_occurrences(out, "\n| `--"), NOPTS);
    for (int i = 0; i < NOPTS; i++) {
        char row[192];
        snprintf(row, sizeof(row), "\n| `--%s` | `%s` | ", opts[i].flag, opts[i].env);
        assert_contains(out, row);
        if (*opts[i].dflt)
            snprintf(row, sizeof(row), "| `%s` |", opts[i].dflt);
        else
            snprintf(row, sizeof(row), "| (none) |");
        assert_contains(out, row);
    }
    /* every line is a table row with five columns (a '|' in a help text
     * would break the table) */
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        assert_int_equal(line[0], '|');
        assert_int_equal(line[strlen(line) - 1], '|');
        assert_int_equal(count_occurrences(line, "|"), 6);
    }
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_match_table),
        cmocka_unit_test(test_environment_twins),
        cmocka_unit_test(test_flags_override_environment),
        cmocka_unit_test(test_flag_forms),
        cmocka_unit_test(test_sizes_and_durations),
        cmocka_unit_test(test_bool_forms_refused_for_other_types),
        cmocka_unit_test(test_errors_name_the_flag),
        cmocka_unit_test(test_bad_environment_names_flag),
        cmocka_unit_test(test_help_lists_every_option),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_help_metrics_is_left_to_the_caller),
        cmocka_unit_test(test_help_markdown_row_per_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
