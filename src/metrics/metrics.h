/*
 * metrics.h: counters, gauges, labelled families and histograms, kept per
 * worker thread (no shared cache lines, no atomic read-modify-write) and
 * summed when /metrics is rendered in Prometheus text form.
 *
 * Each thread that records calls metrics_thread_register() once; the block
 * lives until metrics_teardown(). Families and render hooks are declared
 * during setup, before worker threads start.
 */
#ifndef DDBX_METRICS_METRICS_H
#define DDBX_METRICS_METRICS_H

#include <stdint.h>

#include "util/buf.h"

#define METRICS_FAMILY_SLOTS 1024
#define METRICS_HIST_BUCKETS 18

enum metric_kind { COUNTER, GAUGE };

struct metrics_hist {
    uint64_t buckets[METRICS_HIST_BUCKETS]; /* non-cumulative; last is +Inf */
    uint64_t count;
    uint64_t sum_ns;
};

enum metrics_hist_id { HIST_REQUEST, HIST_BACKEND, HIST_COUNT };

struct metrics {
#define METRIC(field, kind, name, help) int64_t field;
#include "metrics/metrics.def"
#undef METRIC
    uint64_t family[METRICS_FAMILY_SLOTS];
    struct metrics_hist hist[HIST_COUNT];
};

/* The calling thread's block (NULL before metrics_thread_register()). */
extern _Thread_local struct metrics *metrics_tls;

/* Single-writer updates: a relaxed store, so readers on the admin thread see
 * whole values without the cost of a locked add. */
#define METRIC_ADD(field, n)                                                                       \
    do {                                                                                           \
        struct metrics *m__ = metrics_tls;                                                         \
        if (m__) __atomic_store_n(&m__->field, m__->field + (n), __ATOMIC_RELAXED);                \
    } while (0)
#define METRIC_INCR(field) METRIC_ADD(field, 1)
#define METRIC_DECR(field) METRIC_ADD(field, -1)

void metrics_setup(void);
void metrics_teardown(void);
/* Gives the calling thread a zeroed block and makes it metrics_tls. */
struct metrics *metrics_thread_register(void);

/* Declares a family `name{label="value"}` with n label values; returns the
 * first slot (pass it to metrics_family_incr with an index < n). The strings
 * must outlive the metrics module (string literals or static tables). */
int metrics_family_define(const char *name, const char *help, const char *label,
                          const char *const *values, int n);
void metrics_family_add(int family, int index, uint64_t n);
#define metrics_family_incr(family, index) metrics_family_add(family, index, 1)

void metrics_hist_observe(enum metrics_hist_id id, uint64_t ns);

/* A function that appends extra metrics (e.g. the cache's figures) to /metrics. */
typedef void (*metrics_render_fn)(struct buf *out);
void metrics_add_render_hook(metrics_render_fn fn);

/* Appends the Prometheus text for every thread's figures, summed. */
void metrics_render(struct buf *out);
/* Sum over threads of one counter slot of a family (for tests and logs). */
uint64_t metrics_family_total(int family, int index);

#endif
