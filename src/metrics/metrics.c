/*
 * metrics.c: per-thread metric blocks, the Prometheus text renderer and the
 * docs printer, both walking the rows of metrics.def in order.
 * Blocks are registered in a fixed array under a mutex; rendering reads them
 * with relaxed loads while their threads keep counting.
 */
#include "metrics/metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"
#include "util/log.h"

#define MAX_THREADS 256

_Thread_local struct metrics *metrics_tls;

enum row_type { ROW_SECTION, ROW_METRIC, ROW_FAMILY, ROW_HIST, ROW_GAUGE_FN, ROW_GAUGES_FN };

/* One line of metrics.def. */
struct row {
    enum row_type type;
    const char *name; /* the section's title for ROW_SECTION */
    const char *help;
    const char *label;     /* ROW_FAMILY; ROW_GAUGES_FN: its labels, for the docs */
    const char *type_name; /* Prometheus TYPE */
    size_t offset;         /* ROW_METRIC: of the field in struct metrics */
    int id;                /* ROW_FAMILY, ROW_HIST, ROW_GAUGE(S)_FN: the enum value */
};

static const struct row rows[] = {
#define SECTION(title) {ROW_SECTION, title, NULL, NULL, NULL, 0, 0},
#define METRIC(field, kind, name, help)                                                            \
    {ROW_METRIC,                                                                                   \
     name,                                                                                         \
     help,                                                                                         \
     NULL,                                                                                         \
     kind == COUNTER ? "counter" : "gauge",                                                        \
     offsetof(struct metrics, field),                                                              \
     0},
#define FAMILY(id, name, label, help) {ROW_FAMILY, name, help, label, "counter", 0, FAMILY_##id},
#define HISTOGRAM(id, name, help) {ROW_HIST, name, help, NULL, "histogram", 0, HIST_##id},
#define GAUGE_FN(id, name, fn, help) {ROW_GAUGE_FN, name, help, NULL, "gauge", 0, GAUGE_##id},
#define GAUGES_FN(id, name, labels, fn, help)                                                      \
    {ROW_GAUGES_FN, name, help, labels, "gauge", 0, GAUGES_##id},
#include "metrics/metrics.def"
};

/* A family's label values and slots, once set up. */
struct family {
    const char *const *values;
    int first, n;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics *threads[MAX_THREADS];
static int nthreads;
static struct family families[FAMILY_COUNT];
static int slots_used;
static metrics_gauge_fn gauge_fns[GAUGE_FN_COUNT + 1]; /* +1: no zero-length array */
static metrics_gauges_fn gauges_fns[GAUGES_FN_COUNT + 1];

/* Upper bounds of the histogram buckets, in nanoseconds; the last is +Inf. */
static const uint64_t bounds_ns[METRICS_HIST_BUCKETS - 1] = {
    50000,     100000,     250000,     500000,     1000000,    2500000,
    5000000,   10000000,   25000000,   50000000,   100000000,  250000000,
    500000000, 1000000000, 2500000000, 5000000000, 10000000000};

void metrics_setup(void) {}

void metrics_teardown(void)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < nthreads; i++)
        free(threads[i]);
    nthreads = slots_used = 0;
    memset(families, 0, sizeof(families));
    memset(gauge_fns, 0, sizeof(gauge_fns));
    memset(gauges_fns, 0, sizeof(gauges_fns));
    pthread_mutex_unlock(&lock);
    metrics_tls = NULL;
}

struct metrics *metrics_thread_register(void)
{
    struct metrics *m = xcalloc(1, sizeof(*m));
    pthread_mutex_lock(&lock);
    if (nthreads == MAX_THREADS) abort();
    threads[nthreads++] = m;
    pthread_mutex_unlock(&lock);
    metrics_tls = m;
    return m;
}

int metrics_family_setup(enum metrics_family_id id, const char *const *values, int n)
{
    struct family *f = &families[id];
    if (f->values) {
        if (f->n != n) abort(); /* the same family with other values: a bug */
        f->values = values;
        return f->first;
    }
    if (n < 1 || slots_used + n > METRICS_FAMILY_SLOTS) abort();
    *f = (struct family){values, slots_used, n};
    slots_used += n;
    return f->first;
}

int metrics_family_define(const char *name, const char *help, const char *label,
                          const char *const *values, int n)
{
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        const struct row *r = &rows[i];
        if (r->type != ROW_FAMILY || strcmp(r->name, name) != 0) continue;
        if (strcmp(r->label, label) != 0) {
            log_error("metric family %s has the label \"%s\" in metrics.def, not \"%s\"", name,
                      r->label, label);
            abort();
        }
        return metrics_family_setup((enum metrics_family_id)r->id, values, n);
    }
    log_error("metric family %s is not a row of metrics.def", name);
    abort();
}

void metrics_family_add(int family, int index, uint64_t n)
{
    struct metrics *m = metrics_tls;
    if (!m) return;
    uint64_t *slot = &m->family[family + index];
    __atomic_store_n(slot, *slot + n, __ATOMIC_RELAXED);
}

void metrics_hist_observe(enum metrics_hist_id id, uint64_t ns)
{
    struct metrics *m = metrics_tls;
    if (!m) return;
    struct metrics_hist *h = &m->hist[id];
    int b = 0;
    while (b < METRICS_HIST_BUCKETS - 1 && ns > bounds_ns[b])
        b++;
    __atomic_store_n(&h->buckets[b], h->buckets[b] + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&h->count, h->count + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&h->sum_ns, h->sum_ns + ns, __ATOMIC_RELAXED);
}

void metrics_gauge_bind(enum metrics_gauge_id id, metrics_gauge_fn fn)
{
    gauge_fns[id] = fn;
}

void metrics_gauges_bind(enum metrics_gauges_id id, metrics_gauges_fn fn)
{
    gauges_fns[id] = fn;
}

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

/* Sum over threads of one family slot (lock held). */
static uint64_t family_sum(int slot)
{
    uint64_t sum = 0;
    for (int t = 0; t < nthreads; t++)
        sum += LOAD(&threads[t]->family[slot]);
    return sum;
}

uint64_t metrics_family_total(int family, int index)
{
    pthread_mutex_lock(&lock);
    uint64_t sum = family_sum(family + index);
    pthread_mutex_unlock(&lock);
    return sum;
}

static void render_fixed(struct buf *out, const struct row *r)
{
    int64_t sum = 0;
    for (int t = 0; t < nthreads; t++)
        sum += LOAD((int64_t *)((char *)threads[t] + r->offset));
    buf_printf(out, "%s %lld\n", r->name, (long long)sum);
}

static void render_family(struct buf *out, const struct row *r)
{
    const struct family *f = &families[r->id];
    for (int i = 0; f->values && i < f->n; i++) {
        uint64_t sum = family_sum(f->first + i);
        if (sum)
            buf_printf(out, "%s{%s=\"%s\"} %llu\n", r->name, r->label, f->values[i],
                       (unsigned long long)sum);
    }
}

static void render_hist(struct buf *out, const struct row *r)
{
    uint64_t buckets[METRICS_HIST_BUCKETS] = {0}, count = 0, sum = 0;
    for (int t = 0; t < nthreads; t++) {
        struct metrics_hist *h = &threads[t]->hist[r->id];
        for (int b = 0; b < METRICS_HIST_BUCKETS; b++)
            buckets[b] += LOAD(&h->buckets[b]);
        count += LOAD(&h->count);
        sum += LOAD(&h->sum_ns);
    }
    uint64_t cum = 0;
    for (int b = 0; b < METRICS_HIST_BUCKETS - 1; b++) {
        cum += buckets[b];
        buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", r->name, bounds_ns[b] / 1e9,
                   (unsigned long long)cum);
    }
    cum += buckets[METRICS_HIST_BUCKETS - 1];
    buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n", r->name,
               (unsigned long long)cum, r->name, sum / 1e9, r->name, (unsigned long long)count);
}

void metrics_render(struct buf *out)
{
    metrics_gauge_fn fns[ARRAY_SIZE(gauge_fns)];
    metrics_gauges_fn sets[ARRAY_SIZE(gauges_fns)];
    pthread_mutex_lock(&lock);
    memcpy(fns, gauge_fns, sizeof(fns));
    memcpy(sets, gauges_fns, sizeof(sets));
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        const struct row *r = &rows[i];
        if (r->type == ROW_SECTION) continue;
        buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", r->name, r->help, r->name, r->type_name);
        switch (r->type) {
        case ROW_METRIC: render_fixed(out, r); break;
        case ROW_FAMILY: render_family(out, r); break;
        case ROW_HIST: render_hist(out, r); break;
        case ROW_GAUGE_FN: /* called under the lock: providers take only their own locks */
            if (fns[r->id]) buf_printf(out, "%s %lld\n", r->name, (long long)fns[r->id]());
            break;
        case ROW_GAUGES_FN:
            if (sets[r->id]) sets[r->id](out, r->name);
            break;
        case ROW_SECTION: break;
        }
    }
    pthread_mutex_unlock(&lock);
}

/* Text for the docs (a help, a section's title): each --flag in a code span. */
static void print_doc_help(FILE *out, const char *help)
{
    for (const char *p = help; *p;) {
        if (p[0] == '-' && p[1] == '-' && (p == help || p[-1] == ' ' || p[-1] == '(')) {
            size_t n = 2 + strspn(p + 2, "abcdefghijklmnopqrstuvwxyz0123456789-");
            fprintf(out, "`%.*s`", (int)n, p);
            p += n;
        } else {
            fputc(*p++, out);
        }
    }
}

void metrics_print_markdown(FILE *out)
{
    bool first = true;
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        const struct row *r = &rows[i];
        if (r->type == ROW_SECTION) {
            fprintf(out, "%s## ", first ? "" : "\n");
            print_doc_help(out, r->name);
            fprintf(out, "\n| metric | type | meaning |\n|---|---|---|\n");
            first = false;
            continue;
        }
        fprintf(out, "| `%s", r->name);
        if (r->type == ROW_FAMILY || r->type == ROW_GAUGES_FN) fprintf(out, "{%s}", r->label);
        fprintf(out, "` | %s | ", r->type_name);
        print_doc_help(out, r->help);
        fprintf(out, " |\n");
    }
}
