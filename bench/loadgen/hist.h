/*
 * hist.h: a log-linear latency histogram in the manner of HdrHistogram.
 *
 * Values are nanoseconds. Below 128 ns every value has its own bucket; above,
 * each power of two is split into 64 buckets, so any recorded value is known
 * to within 1/64 (1.6 %). Fixed size, no allocation, mergeable by addition.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS) /* buckets per power of two */
#define HIST_LINEAR (2u * HIST_SUB)    /* values below this are exact */
#define HIST_BUCKETS (HIST_LINEAR + (64u - 7u) * HIST_SUB)

struct hist {
    uint64_t count;
    uint64_t sum;
    uint64_t max;
    uint64_t min;
    uint64_t b[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t v);
void hist_merge(struct hist *into, const struct hist *from);
/* The value below which the fraction q (0..1) of recorded values lie: the
 * middle of the bucket holding that rank (0 when empty). */
uint64_t hist_quantile(const struct hist *h, double q);
/* Lowest and highest value of bucket i. */
uint64_t hist_bucket_low(unsigned i);
uint64_t hist_bucket_high(unsigned i);

#endif
