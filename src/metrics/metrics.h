/*
 * metrics.h: counters, gauges, labelled families and histograms, kept per
 * worker thread (no shared cache lines, no atomic read-modify-write) and
 * summed when /metrics is rendered in Prometheus text form.
 *
 * Every metric is a row of metrics/metrics.def; nothing is exported that is
 * not a row, and the docs' tables are printed from the same rows
 * (metrics_print_markdown, `ddbx --help-metrics`).
 *
 * Each thread that records calls metrics_thread_register() once; the block
 * lives until metrics_teardown(). Families and gauge functions are set up
 * before worker threads start.
 */
#ifndef DDBX_METRICS_METRICS_H
#define DDBX_METRICS_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "util/buf.h"

#define METRICS_FAMILY_SLOTS 1024
#define METRICS_HIST_BUCKETS 18

enum metric_kind { COUNTER, GAUGE };

/* HIST_REQUEST, HIST_BACKEND, ... from the HISTOGRAM rows. */
enum metrics_hist_id {
#define HISTOGRAM(id, name, help) HIST_##id,
#include "metrics/metrics.def"
    HIST_COUNT
};

/* FAMILY_REQUESTS, FAMILY_ERRORS, ... from the FAMILY rows. */
enum metrics_family_id {
#define FAMILY(id, name, label, help) FAMILY_##id,
#include "metrics/metrics.def"
    FAMILY_COUNT
};

/* GAUGE_ITEM_CACHE_ENTRIES, ... from the GAUGE_FN rows. */
enum metrics_gauge_id {
#define GAUGE_FN(id, name, fn, help) GAUGE_##id,
#include "metrics/metrics.def"
    GAUGE_FN_COUNT
};

/* GAUGES_STREAM_STATE, ... from the GAUGES_FN rows. */
enum metrics_gauges_id {
#define GAUGES_FN(id, name, labels, fn, help) GAUGES_##id,
#include "metrics/metrics.def"
    GAUGES_FN_COUNT
};

struct metrics_hist {
    uint64_t buckets[METRICS_HIST_BUCKETS]; /* non-cumulative; last is +Inf */
    uint64_t count;
    uint64_t sum_ns;
};

struct metrics {
#define METRIC(field, kind, name, help) int64_t field;
#include "metrics/metrics.def"
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
/* Frees every thread's block and forgets families and gauge functions. */
void metrics_teardown(void);
/* Gives the calling thread a zeroed block and makes it metrics_tls. */
struct metrics *metrics_thread_register(void);

/* Gives the family row `id` its n label values (they must outlive the
 * metrics module: string literals or static tables) and returns its first
 * slot, to pass to metrics_family_add with an index < n. Setting a family up
 * again with the same n returns the same slot; aborts if the slots run out or
 * n changes (a bug, found at startup). */
int metrics_family_setup(enum metrics_family_id id, const char *const *values, int n);
/* The same for the row named `name`, for callers that name their family
 * (handler_setup). `label` must be the row's; the row's help is the one
 * rendered (`help` is not used). Aborts if no FAMILY row has that name. */
int metrics_family_define(const char *name, const char *help, const char *label,
                          const char *const *values, int n);
void metrics_family_add(int family, int index, uint64_t n);
#define metrics_family_incr(family, index) metrics_family_add(family, index, 1)
/* Sum over threads of one counter slot of a family (for tests and logs). */
uint64_t metrics_family_total(int family, int index);

void metrics_hist_observe(enum metrics_hist_id id, uint64_t ns);

/* Provides a GAUGE_FN row's value: called on the admin thread at each render,
 * so it must be thread-safe. A row without a function renders no sample. */
typedef int64_t (*metrics_gauge_fn)(void);
void metrics_gauge_bind(enum metrics_gauge_id id, metrics_gauge_fn fn);

/* Provides a GAUGES_FN row's samples: appends lines `name{label="v",...} value`
 * to out; called on the admin thread at each render (thread-safe). */
typedef void (*metrics_gauges_fn)(struct buf *out, const char *name);
void metrics_gauges_bind(enum metrics_gauges_id id, metrics_gauges_fn fn);

/* Appends the Prometheus text of every row, in table order: each thread's
 * figures summed, gauge functions called. */
void metrics_render(struct buf *out);
/* Writes docs/metrics.md's tables: one per SECTION, a line per row. */
void metrics_print_markdown(FILE *out);

#endif
