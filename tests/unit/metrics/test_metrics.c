/*
 * test_metrics.c: per-thread metrics and their Prometheus rendering
 * (metrics/metrics.h): counters, gauges, families, histograms, gauge
 * functions, the sum over several registered threads, and the docs' tables,
 * all checked against the rows of metrics/metrics.def.
 */
#include "testutil.h"

#include <ctype.h>
#include <pthread.h>

#include "metrics/metrics.h"

static const struct {
    const char *name;
    enum metric_kind kind;
    const char *help;
} fixed[] = {
#define METRIC(field, kind, name, help) {name, kind, help},
#include "metrics/metrics.def"
};

/* Every row but the sections: name, Prometheus type, help, family label. */
static const struct {
    const char *name, *type, *help, *label;
} rows[] = {
#define METRIC(field, kind, name, help) {name, kind == COUNTER ? "counter" : "gauge", help, NULL},
#define FAMILY(id, name, label, help) {name, "counter", help, label},
#define HISTOGRAM(id, name, help) {name, "histogram", help, NULL},
#define GAUGE_FN(id, name, fn, help) {name, "gauge", help, NULL},
#define GAUGES_FN(id, name, labels, fn, help) {name, "gauge", help, labels},
#include "metrics/metrics.def"
};

static const char *const sections[] = {
#define SECTION(title) title,
#include "metrics/metrics.def"
};

/* "# HELP <name> <help>\n# TYPE <name> <type>\n" of the row named `name`. */
static const char *head_of(const char *name)
{
    static char head[1024];
    for (size_t i = 0; i < ARRAY_LEN(rows); i++)
        if (strcmp(rows[i].name, name) == 0) {
            snprintf(head, sizeof(head), "# HELP %s %s\n# TYPE %s %s\n", name, rows[i].help, name,
                     rows[i].type);
            return head;
        }
    fail_msg("no row named %s", name);
    return NULL;
}

/* head_of(name) followed by `samples`. */
static const char *with_head(const char *name, const char *samples)
{
    static char text[2048];
    snprintf(text, sizeof(text), "%s%s", head_of(name), samples);
    return text;
}

static const char *const ops[] = {"GetItem", "PutItem", "Query"};

static int setup(void **state)
{
    metrics_setup();
    return 0;
}

static int teardown(void **state)
{
    metrics_teardown();
    return 0;
}

/* The rendered text (owned by the caller). */
static char *render(void)
{
    struct buf b = BUF_INIT;
    metrics_render(&b);
    assert_non_null(b.data);
    return b.data;
}

/* The value of the sample whose name and labels are exactly `series`, or
 * -1 when there is no such line. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ') return strtod(p + n + 1, NULL);
    return -1;
}

static bool is_name(const char *s, size_t n)
{
    if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':')) return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':')) return false;
    return true;
}

/* Checks the Prometheus text exposition format line by line: HELP and TYPE
 * once per family and before its samples; samples `name[{l="v",...}] number`
 * whose name belongs to the declared family (histograms: _bucket, _sum,
 * _count). */
static void assert_prometheus_syntax(const char *text)
{
    char family[128] = "", type[32] = "";
    assert_int_equal(text[strlen(text) - 1], '\n');
    char *copy = strdup(text), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[128], kind[32];
        if (strncmp(line, "# HELP ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%127s", name), 1);
            assert_true(is_name(name, strlen(name)));
            assert_int_equal(count_occurrences(text, line), 1); /* one HELP per family */
            snprintf(family, sizeof(family), "%s", name);
            type[0] = '\0';
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%127s %31s", name, kind), 2);
            assert_string_equal(name, family);
            assert_true(strcmp(kind, "counter") == 0 || strcmp(kind, "gauge") == 0 ||
                        strcmp(kind, "histogram") == 0);
            snprintf(type, sizeof(type), "%s", kind);
            continue;
        }
        assert_int_not_equal(line[0], '#');
        assert_true(type[0] != '\0'); /* a sample after its HELP and TYPE */
        size_t n = strcspn(line, "{ ");
        assert_true(is_name(line, n));
        snprintf(name, sizeof(name), "%.*s", (int)n, line);
        if (strcmp(type, "histogram") == 0) {
            size_t f = strlen(family);
            assert_true(strncmp(name, family, f) == 0);
            assert_true(strcmp(name + f, "_bucket") == 0 || strcmp(name + f, "_sum") == 0 ||
                        strcmp(name + f, "_count") == 0);
        } else {
            assert_string_equal(name, family);
        }
        const char *rest = line + n;
        if (*rest == '{') { /* label="value"[,label="value"]} */
            rest++;
            while (*rest != '}') {
                size_t l = strcspn(rest, "=");
                assert_true(is_name(rest, l));
                assert_int_equal(rest[l + 1], '"');
                const char *end = strchr(rest + l + 2, '"');
                assert_non_null(end);
                rest = end + 1;
                if (*rest == ',')
                    rest++;
                else
                    assert_int_equal(*rest, '}');
            }
            rest++;
        }
        assert_int_equal(*rest, ' ');
        char *end;
        strtod(rest + 1, &end);
        assert_true(end > rest + 1 && *end == '\0');
    }
    free(copy);
}

static void test_unregistered_thread_records_nothing(void **state)
{
    assert_null(metrics_tls);
    METRIC_INCR(backend_requests);
    metrics_hist_observe(HIST_BACKEND, 1000);
    char *out = render();
    assert_prometheus_syntax(out);
    assert_true(sample(out, "ddbx_backend_requests_total") == 0);
    assert_true(sample(out, "ddbx_backend_request_duration_seconds_count") == 0);
    free(out);
}

static void test_counters_and_gauges(void **state)
{
    struct metrics *m = metrics_thread_register();
    assert_ptr_equal(m, metrics_tls);
    METRIC_INCR(client_connections_accepted);
    METRIC_INCR(client_connections_accepted);
    METRIC_ADD(backend_requests, 40);
    METRIC_ADD(client_connections, 5);
    METRIC_DECR(client_connections);
    char *out = render();
    assert_prometheus_syntax(out);
    assert_contains(out, with_head("ddbx_client_connections", "ddbx_client_connections 4\n"));
    assert_contains(out, "# TYPE ddbx_client_connections_accepted_total counter\n"
                         "ddbx_client_connections_accepted_total 2\n");
    assert_true(sample(out, "ddbx_backend_requests_total") == 40);
    assert_true(sample(out, "ddbx_backend_failures_total") == 0);
    /* every metric of the table is rendered with its type */
    for (size_t i = 0; i < ARRAY_LEN(fixed); i++) {
        char type[160];
        snprintf(type, sizeof(type), "# TYPE %s %s\n", fixed[i].name,
                 fixed[i].kind == COUNTER ? "counter" : "gauge");
        assert_contains(out, type);
        assert_true(sample(out, fixed[i].name) >= 0);
    }
    free(out);
    /* a gauge summed over threads may go below zero on one thread */
    METRIC_ADD(client_connections, -10);
    out = render();
    assert_true(sample(out, "ddbx_client_connections") == -6);
    assert_prometheus_syntax(out);
    free(out);
}

static void test_families(void **state)
{
    int reqs =
        metrics_family_define("ddbx_requests_total", "requests by operation", "operation", ops, 3);
    int errs =
        metrics_family_define("ddbx_errors_total", "errors by operation", "operation", ops, 3);
    assert_int_equal(reqs, 0);
    assert_int_equal(errs, 3); /* slots follow each other */
    metrics_thread_register();
    metrics_family_incr(reqs, 0);
    metrics_family_incr(reqs, 0);
    metrics_family_add(reqs, 2, 5);
    metrics_family_incr(errs, 2);
    assert_int_equal(metrics_family_total(reqs, 0), 2);
    assert_int_equal(metrics_family_total(reqs, 1), 0);
    assert_int_equal(metrics_family_total(reqs, 2), 5);
    assert_int_equal(metrics_family_total(errs, 0), 0);
    assert_int_equal(metrics_family_total(errs, 2), 1);
    char *out = render();
    assert_prometheus_syntax(out);
    /* the help is the row's, whatever the caller passed */
    assert_contains(out, with_head("ddbx_requests_total",
                                   "ddbx_requests_total{operation=\"GetItem\"} 2\n"
                                   "ddbx_requests_total{operation=\"Query\"} 5\n"));
    /* zero series are left out */
    assert_not_contains(out, "operation=\"PutItem\"");
    assert_contains(out, "# TYPE ddbx_errors_total counter\n"
                         "ddbx_errors_total{operation=\"Query\"} 1\n");
    free(out);
}

/* The _bucket lines of a histogram in order: le values and cumulative counts. */
static int buckets_of(const char *text, const char *name, double *le, double *count)
{
    char prefix[160];
    int n = snprintf(prefix, sizeof(prefix), "%s_bucket{le=\"", name);
    int k = 0;
    for (const char *p = strstr(text, prefix); p; p = strstr(p + 1, prefix)) {
        const char *v = p + n;
        le[k] = strncmp(v, "+Inf\"", 5) == 0 ? 1.0 / 0.0 : strtod(v, NULL);
        count[k++] = strtod(strchr(v, ' ') + 1, NULL);
    }
    return k;
}

static void test_histogram(void **state)
{
    metrics_thread_register();
    /* 40µs and exactly 50µs fall in the first bucket (le is inclusive),
     * 75µs in the second, 3s in le=5, 20s only in +Inf */
    static const uint64_t obs[] = {40000, 50000, 75000, 3000000000ull, 20000000000ull};
    for (size_t i = 0; i < ARRAY_LEN(obs); i++)
        metrics_hist_observe(HIST_BACKEND, obs[i]);
    metrics_hist_observe(HIST_REQUEST, 1000000); /* 1ms, the other histogram */
    char *out = render();
    assert_prometheus_syntax(out);
    const char *name = "ddbx_backend_request_duration_seconds";
    assert_contains(out, "# TYPE ddbx_backend_request_duration_seconds histogram\n");
    double le[64], cum[64];
    int n = buckets_of(out, name, le, cum);
    assert_int_equal(n, METRICS_HIST_BUCKETS);
    for (int i = 1; i < n; i++) {
        assert_true(le[i] > le[i - 1]);    /* bounds increase */
        assert_true(cum[i] >= cum[i - 1]); /* counts are cumulative */
    }
    assert_true(le[0] == 0.00005 && cum[0] == 2);
    assert_true(le[1] == 0.0001 && cum[1] == 3);
    for (int i = 2; i < n; i++) {
        double want = le[i] >= 5 ? 4 : 3;
        if (i == n - 1) want = 5;
        if (cum[i] != want) fail_msg("bucket le=%g has %g, expected %g", le[i], cum[i], want);
    }
    assert_true(le[n - 1] > 1e308); /* the last is +Inf */
    assert_contains(out, "ddbx_backend_request_duration_seconds_bucket{le=\"+Inf\"} 5\n"
                         "ddbx_backend_request_duration_seconds_sum 23.000165000\n"
                         "ddbx_backend_request_duration_seconds_count 5\n");
    assert_contains(out, "ddbx_request_duration_seconds_bucket{le=\"0.001\"} 1\n");
    assert_contains(out, "ddbx_request_duration_seconds_bucket{le=\"0.0005\"} 0\n");
    assert_true(sample(out, "ddbx_request_duration_seconds_count") == 1);
    assert_true(sample(out, "ddbx_request_duration_seconds_sum") == 0.001);
    free(out);
}

static int64_t gauge_seven(void)
{
    return 7;
}

static int64_t gauge_negative(void)
{
    return -12;
}

static void test_gauge_functions(void **state)
{
    /* unbound: the row is declared, with no sample */
    char *out = render();
    assert_prometheus_syntax(out);
    assert_contains(out, head_of("ddbx_item_cache_entries"));
    assert_true(sample(out, "ddbx_item_cache_entries") == -1);
    free(out);
    metrics_gauge_bind(GAUGE_ITEM_CACHE_ENTRIES, gauge_seven);
    metrics_gauge_bind(GAUGE_ITEM_CACHE_HELD_KEYS, gauge_negative);
    out = render();
    assert_prometheus_syntax(out);
    assert_contains(out, with_head("ddbx_item_cache_entries", "ddbx_item_cache_entries 7\n"));
    assert_true(sample(out, "ddbx_item_cache_held_keys") == -12);
    assert_true(sample(out, "ddbx_item_cache_bytes") == -1);
    free(out);
    /* teardown forgets the functions */
    metrics_teardown();
    out = render();
    assert_true(sample(out, "ddbx_item_cache_entries") == -1);
    free(out);
}

struct worker_arg {
    int family, index, times;
    uint64_t ns;
};

static void *worker(void *p)
{
    struct worker_arg *a = p;
    metrics_thread_register();
    for (int i = 0; i < a->times; i++) {
        METRIC_INCR(backend_requests);
        METRIC_INCR(client_connections);
        metrics_family_incr(a->family, a->index);
        metrics_hist_observe(HIST_BACKEND, a->ns);
    }
    return NULL;
}

static void test_threads_are_summed(void **state)
{
    int fam = metrics_family_define("ddbx_requests_total", "requests", "operation", ops, 3);
    struct worker_arg args[2] = {{fam, 0, 1000, 200000}, {fam, 1, 250, 2000000}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, &args[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    /* and this thread too */
    metrics_thread_register();
    METRIC_ADD(backend_requests, 3);
    METRIC_ADD(client_connections, -50);
    metrics_family_incr(fam, 0);
    char *out = render();
    assert_prometheus_syntax(out);
    assert_true(sample(out, "ddbx_backend_requests_total") == 1253);
    assert_true(sample(out, "ddbx_client_connections") == 1200);
    assert_true(sample(out, "ddbx_requests_total{operation=\"GetItem\"}") == 1001);
    assert_true(sample(out, "ddbx_requests_total{operation=\"PutItem\"}") == 250);
    assert_int_equal(metrics_family_total(fam, 0), 1001);
    assert_true(sample(out, "ddbx_backend_request_duration_seconds_count") == 1250);
    assert_true(sample(out, "ddbx_backend_request_duration_seconds_bucket{le=\"0.00025\"}") ==
                1000);
    assert_true(sample(out, "ddbx_backend_request_duration_seconds_bucket{le=\"0.001\"}") == 1000);
    assert_true(sample(out, "ddbx_backend_request_duration_seconds_bucket{le=\"0.0025\"}") == 1250);
    assert_true(sample(out, "ddbx_backend_request_duration_seconds_sum") == 0.7);
    free(out);
}

static void test_teardown_forgets_everything(void **state)
{
    metrics_thread_register();
    METRIC_ADD(backend_requests, 9);
    int errs = metrics_family_setup(FAMILY_ERRORS, ops, 1);
    metrics_family_incr(errs, 0);
    metrics_teardown();
    assert_null(metrics_tls);
    metrics_setup();
    char *out = render();
    assert_true(sample(out, "ddbx_backend_requests_total") == 0);
    assert_not_contains(out, "ddbx_errors_total{");
    free(out);
    /* families start again from slot 0 */
    assert_int_equal(metrics_family_setup(FAMILY_REQUESTS, ops, 2), 0);
}

/* Every row is rendered, in table order, with its own HELP and TYPE. */
static void test_every_row_rendered_in_order(void **state)
{
    char *out = render();
    assert_prometheus_syntax(out);
    assert_int_equal(count_occurrences(out, "# TYPE "), ARRAY_LEN(rows));
    const char *prev = out;
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        const char *at = strstr(out, head_of(rows[i].name));
        if (!at) fail_msg("%s is not rendered as its row says", rows[i].name);
        assert_true(at >= prev);
        prev = at;
        /* a family row's help and label must be usable as they are */
        assert_null(strchr(rows[i].help, '\n'));
        assert_null(strchr(rows[i].help, '|'));
        assert_true(rows[i].label == NULL || strchr(rows[i].label, '"') == NULL);
    }
    free(out);
}

/* metrics_family_define finds the row by name and shares its slots. */
static void test_family_define_by_row(void **state)
{
    int a = metrics_family_setup(FAMILY_ERRORS, ops, 3);
    int b = metrics_family_define("ddbx_errors_total", "ignored", "operation", ops, 3);
    assert_int_equal(a, b);
    int c = metrics_family_define("ddbx_requests_total", "ignored", "operation", ops, 3);
    assert_int_equal(c, a + 3);
}

/* docs/metrics.md's tables: a table per section, a line per row with its
 * name, type and help (flags in code spans), nothing else. */
static void test_markdown_tables(void **state)
{
    struct capture cap;
    metrics_print_markdown(capture_begin(&cap));
    const char *md = capture_end(&cap);
    assert_true(strncmp(md, "## ", 3) == 0);
    assert_int_equal(count_occurrences(md, "| metric | type | meaning |\n|---|---|---|\n"),
                     ARRAY_LEN(sections));
    assert_int_equal(count_occurrences(md, "## "), ARRAY_LEN(sections));
    for (size_t i = 0; i < ARRAY_LEN(sections); i++) {
        char h[128];
        const char *flag = strstr(sections[i], "--"); /* in a code span up to its end */
        if (flag)
            snprintf(h, sizeof(h), "## %.*s`", (int)(flag - sections[i]), sections[i]);
        else
            snprintf(h, sizeof(h), "## %s\n", sections[i]);
        assert_int_equal(count_occurrences(md, h), 1);
    }
    assert_contains(md, "\n## Spill tier (`--spill-dir`)\n");
    int lines = 0;
    for (const char *p = md; *p; p = strchr(p, '\n') + 1)
        lines += strncmp(p, "| `", 3) == 0;
    assert_int_equal(lines, ARRAY_LEN(rows));
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        char cell[160];
        if (rows[i].label)
            snprintf(cell, sizeof(cell), "| `%s{%s}` | %s | ", rows[i].name, rows[i].label,
                     rows[i].type);
        else
            snprintf(cell, sizeof(cell), "| `%s` | %s | ", rows[i].name, rows[i].type);
        assert_int_equal(count_occurrences(md, cell), 1);
    }
    assert_contains(md, "answered ThrottlingException and closed because `--max-connections` were "
                        "open |\n");
    assert_contains(md, "closed by `--idle-timeout` or `--header-timeout` |\n");
    assert_contains(md, "(DAX: ItemCacheHits) |\n");
    capture_free(&cap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unregistered_thread_records_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters_and_gauges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_families, setup, teardown),
        cmocka_unit_test_setup_teardown(test_histogram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gauge_functions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_are_summed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_teardown_forgets_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_row_rendered_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_family_define_by_row, setup, teardown),
        cmocka_unit_test(test_markdown_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
