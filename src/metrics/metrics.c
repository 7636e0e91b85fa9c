/*
 * metrics.c: per-thread metric blocks and the Prometheus text renderer.
 * Blocks are registered in a fixed array under a mutex; rendering reads them
 * with relaxed loads while their threads keep counting.
 */
#include "metrics/metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"

#define MAX_THREADS 256
#define MAX_FAMILIES 32
#define MAX_HOOKS 8

_Thread_local struct metrics *metrics_tls;

struct family {
    const char *name, *help, *label;
    const char *const *values;
    int first, n;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics *threads[MAX_THREADS];
static int nthreads;
static struct family families[MAX_FAMILIES];
static int nfamilies, slots_used;
static metrics_render_fn hooks[MAX_HOOKS];
static int nhooks;

/* Upper bounds of the histogram buckets, in nanoseconds; the last is +Inf. */
static const uint64_t bounds_ns[METRICS_HIST_BUCKETS - 1] = {
    50000,     100000,     250000,     500000,     1000000,    2500000,
    5000000,   10000000,   25000000,   50000000,   100000000,  250000000,
    500000000, 1000000000, 2500000000, 5000000000, 10000000000};
static const char *hist_names[HIST_COUNT] = {"ddbx_request_duration_seconds",
                                             "ddbx_backend_request_duration_seconds"};
static const char *hist_help[HIST_COUNT] = {
    "time from a request's last byte to its response being queued",
    "time from sending a backend request to its answer"};

void metrics_setup(void) {}

void metrics_teardown(void)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < nthreads; i++)
        free(threads[i]);
    nthreads = nfamilies = slots_used = nhooks = 0;
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

int metrics_family_define(const char *name, const char *help, const char *label,
                          const char *const *values, int n)
{
    if (nfamilies == MAX_FAMILIES || slots_used + n > METRICS_FAMILY_SLOTS) abort();
    struct family *f = &families[nfamilies++];
    *f = (struct family){name, help, label, values, slots_used, n};
    slots_used += n;
    return f->first;
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

void metrics_add_render_hook(metrics_render_fn fn)
{
    if (nhooks == MAX_HOOKS) abort();
    hooks[nhooks++] = fn;
}

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

uint64_t metrics_family_total(int family, int index)
{
    uint64_t sum = 0;
    pthread_mutex_lock(&lock);
    for (int t = 0; t < nthreads; t++)
        sum += LOAD(&threads[t]->family[family + index]);
    pthread_mutex_unlock(&lock);
    return sum;
}

static void render_hist(struct buf *out, int id)
{
    uint64_t buckets[METRICS_HIST_BUCKETS] = {0}, count = 0, sum = 0;
    for (int t = 0; t < nthreads; t++) {
        struct metrics_hist *h = &threads[t]->hist[id];
        for (int b = 0; b < METRICS_HIST_BUCKETS; b++)
            buckets[b] += LOAD(&h->buckets[b]);
        count += LOAD(&h->count);
        sum += LOAD(&h->sum_ns);
    }
    buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", hist_names[id], hist_help[id],
               hist_names[id]);
    uint64_t cum = 0;
    for (int b = 0; b < METRICS_HIST_BUCKETS - 1; b++) {
        cum += buckets[b];
        buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", hist_names[id], bounds_ns[b] / 1e9,
                   (unsigned long long)cum);
    }
    cum += buckets[METRICS_HIST_BUCKETS - 1];
    buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n", hist_names[id],
               (unsigned long long)cum, hist_names[id], sum / 1e9, hist_names[id],
               (unsigned long long)count);
}

void metrics_render(struct buf *out)
{
    pthread_mutex_lock(&lock);
#define METRIC(field, kind, name, help)                                                            \
    do {                                                                                           \
        int64_t sum = 0;                                                                           \
        for (int t = 0; t < nthreads; t++)                                                         \
            sum += LOAD(&threads[t]->field);                                                       \
        buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", name, help, name,                 \
                   kind == COUNTER ? "counter" : "gauge", name, (long long)sum);                   \
    } while (0);
#include "metrics/metrics.def"
#undef METRIC
    for (int f = 0; f < nfamilies; f++) {
        struct family *fam = &families[f];
        buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", fam->name, fam->help, fam->name);
        for (int i = 0; i < fam->n; i++) {
            uint64_t sum = 0;
            for (int t = 0; t < nthreads; t++)
                sum += LOAD(&threads[t]->family[fam->first + i]);
            if (sum)
                buf_printf(out, "%s{%s=\"%s\"} %llu\n", fam->name, fam->label, fam->values[i],
                           (unsigned long long)sum);
        }
    }
    for (int h = 0; h < HIST_COUNT; h++)
        render_hist(out, h);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < nhooks; i++)
        hooks[i](out);
}
