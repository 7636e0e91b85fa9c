/* hist.c: see hist.h. */
#include "hist.h"

#include <string.h>

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

static unsigned bucket_of(uint64_t v)
{
    if (v < HIST_LINEAR) return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);   /* >= 7 */
    unsigned m = (unsigned)(v >> (e - HIST_SUB_BITS)); /* 64..127 */
    return HIST_LINEAR + (e - 7u) * HIST_SUB + (m - HIST_SUB);
}

uint64_t hist_bucket_low(unsigned i)
{
    if (i < HIST_LINEAR) return i;
    unsigned k = i - HIST_LINEAR;
    unsigned e = 7u + k / HIST_SUB;
    uint64_t m = HIST_SUB + k % HIST_SUB;
    return m << (e - HIST_SUB_BITS);
}

uint64_t hist_bucket_high(unsigned i)
{
    if (i < HIST_LINEAR) return i;
    unsigned k = i - HIST_LINEAR;
    unsigned e = 7u + k / HIST_SUB;
    uint64_t m = HIST_SUB + k % HIST_SUB;
    return ((m + 1) << (e - HIST_SUB_BITS)) - 1;
}

void hist_record(struct hist *h, uint64_t v)
{
    h->b[bucket_of(v)]++;
    h->count++;
    h->sum += v;
    if (v > h->max) h->max = v;
    if (v < h->min) h->min = v;
}

void hist_merge(struct hist *into, const struct hist *from)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->max > into->max) into->max = from->max;
    if (from->min < into->min) into->min = from->min;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0) return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count) rank = h->count - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen > rank) {
            uint64_t lo = hist_bucket_low(i), hi = hist_bucket_high(i);
            uint64_t mid = lo + (hi - lo) / 2;
            if (mid > h->max) mid = h->max;
            if (mid < h->min) mid = h->min;
            return mid;
        }
    }
    return h->max;
}
