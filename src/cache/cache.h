/*
 * cache.h: the item cache: a sharded in-memory hash of ready-to-send values
 * with LRU eviction within a memory budget, TTLs, and leases that keep slow
 * fills from overwriting newer writes.
 *
 * Keys and values are opaque bytes here (proto/key.h builds keys; a value is
 * the exact body of an unprojected GetItem answer). Each shard has its own
 * mutex; a hit is one lock, one hash probe and one memcpy (cache_get), or a
 * reference count's increment (cache_get_ref: the answer is written from the
 * stored bytes themselves).
 *
 * Leases (after "Scaling Memcache at Facebook"): a miss takes a fill record
 * for its key. A write or invalidation of the key detaches the key's fill
 * records, so a fill that started before it never installs its (older)
 * value. Concurrent misses on one key wait on the first one's fill instead
 * of reading the backend themselves (no stampede).
 *
 * Epochs: every key carries its table's epoch (proto/key.h), which changes
 * whenever everything cached of the table must go (a schema change, a PartiQL
 * write, a write ddbx could not key). The epoch is not part of the key bytes,
 * so leases and writes cover a key across epochs; an entry installed under an
 * older epoch than the reader's is stale and never served.
 *
 * Holds: a write whose outcome is unknown (timeout, reset, 5xx) may still be
 * applied by the backend later. Its key is held for the hold-off given at
 * setup: nothing is cached for it, and reads go to the backend (BYPASS).
 *
 * Results: the Query/Scan cache (handler/query.c) keeps its results here
 * too, so --memory and the LRU cover them, under keys that begin with a NUL
 * byte (CACHE_RESULT_PREFIX), which no item key does (an item key begins
 * with its table's name). Their fills give their own TTL (cache_result's
 * ttl_ms), and the item_cache_* hit and miss metrics leave them out.
 *
 * The spill tier: when spill/spill.h's tier is set up, entries evicted for
 * space are written to it and a RAM miss reads it before answering MISS; a
 * spilled entry is answered as HIT or NEGATIVE like any other (cache.c says
 * how the lease rules hold across both tiers).
 *
 * Time is passed in by the caller (milliseconds, any monotonic origin), so
 * tests can drive TTLs and holds with a fake clock; spilled records keep
 * absolute wall-clock expiries (spill_wall_ms converts).
 */
#ifndef DDBX_CACHE_CACHE_H
#define DDBX_CACHE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum cache_kind {
    CACHE_HIT = 0,  /* the value was found */
    CACHE_NEGATIVE, /* a cached "not found" */
    CACHE_MISS,     /* the caller must read the backend and complete the fill */
    CACHE_WAIT,     /* another request is reading this key; the waiter will be woken */
    CACHE_FAILED,   /* (results only) the fill failed: nothing was cached */
    CACHE_BYPASS,   /* the key is held: read the backend, cache nothing (no lease) */
};

#define CACHE_RESULT_PREFIX '\0' /* the first byte of every result key */

struct cache_key {
    const void *data;
    size_t len;
    uint64_t hash;  /* of data[0..len) */
    uint32_t epoch; /* the table's epoch as the caller knows it (not hashed) */
};

/* What a fill produced, as handed to waiters (valid during the wake call). */
struct cache_result {
    enum cache_kind kind; /* CACHE_HIT, CACHE_NEGATIVE or CACHE_FAILED */
    const char *data;     /* HIT: the value; FAILED: the error body */
    size_t len;
    uint32_t crc;    /* HIT: CRC-32 of data (util/crc.h), computed once by the filler */
    int status;      /* FAILED: the HTTP status to answer with */
    uint64_t ttl_ms; /* HIT/NEGATIVE: how long the entry lives; 0: --item-ttl / --negative-ttl */
    bool transient;  /* HIT/NEGATIVE: handed to the waiters, never installed (a value this
                        node may pass on but not keep: cluster/, a near copy refused) */
};

/* A request waiting for another's fill. wake() runs on the filling thread,
 * outside any lock, exactly once; it must copy what it needs. */
struct cache_waiter {
    void (*wake)(struct cache_waiter *w, const struct cache_result *r);
    struct cache_waiter *next;
};

struct cache_fill;

struct cache_stats {
    uint64_t entries;
    uint64_t bytes; /* everything the cache holds: entries, keys, values, buckets */
    uint64_t limit;
    uint64_t holds; /* keys held after writes of unknown outcome */
    unsigned shards;
};

/* memory: the budget for everything the cache holds; ttls and holdoff in
 * milliseconds (holdoff: how long a key stays uncached after a write of
 * unknown outcome; 0: not at all); shards: a power of two (0: chosen from
 * memory). Returns DDBX_OK or DDBX_ERR. */
int cache_setup(uint64_t memory, uint64_t item_ttl_ms, uint64_t negative_ttl_ms,
                uint64_t holdoff_ms, unsigned shards);
void cache_teardown(void);

/* Sets data, len and hash; epoch 0 (set k->epoch after). */
void cache_key_init(struct cache_key *k, const void *data, size_t len);

/* Looks k up. HIT: appends the value to out and sets *crc. NEGATIVE:
 * appends nothing. MISS: *fill is a lease the caller must end with
 * cache_fill_done(). WAIT: w (if not NULL) was queued on the running fill;
 * with w NULL a running fill gives MISS and a lease of the caller's own.
 * BYPASS: the key is held; no lease; read the backend and cache nothing. */
enum cache_kind cache_get(const struct cache_key *k, uint64_t now_ms, struct buf *out,
                          uint32_t *crc, struct cache_fill **fill, struct cache_waiter *w);

/* A hint for a batch of lookups: stage 0 brings k's bucket into the CPU's
 * cache, stage 1 (some time after stage 0) the entry it leads to. Calling
 * stage 0 for every key of a batch, then stage 1, then looking them up
 * overlaps the memory latencies instead of paying them one after another.
 * Reads without the lock: what it fetches may be stale, which costs only the
 * fetch. */
void cache_prefetch(const struct cache_key *k, int stage);

/* A value a hit sends without copying it: the cache's stored bytes, kept
 * alive by the reference until cache_ref_release. Eviction, replacement,
 * invalidation, expiry and cache_teardown only drop the cache's own hold, so
 * the bytes stay valid (and unchanged) until the last reference goes. */
struct cache_ref;
/* As cache_get, but a HIT sets *ref (a new reference the caller must
 * release, from any thread) instead of appending to a buffer; NEGATIVE,
 * MISS, WAIT and BYPASS as cache_get. A spill-tier hit gives a reference to
 * a copy of the record. A referenced value that left the cache no longer
 * counts against --memory: it is held only until its answer is written. */
enum cache_kind cache_get_ref(const struct cache_key *k, uint64_t now_ms, struct cache_ref **ref,
                              struct cache_fill **fill, struct cache_waiter *w);
/* The referenced value (borrowed, valid until the reference is released),
 * its length and (crc not NULL) its stored CRC-32. */
const char *cache_ref_value(const struct cache_ref *ref, size_t *len, uint32_t *crc);
/* Drops the reference; frees the value if the cache no longer holds it. */
void cache_ref_release(struct cache_ref *ref);
/* A lease that supersedes the key's running fills (they will not install),
 * for reads that see the newest value (ConsistentRead, transactions). */
struct cache_fill *cache_lease(const struct cache_key *k);
/* Ends a lease: installs a HIT or NEGATIVE result if the key was not written
 * or invalidated since the lease was taken, then wakes the waiters with r.
 * FAILED installs nothing. Frees f. */
void cache_fill_done(struct cache_fill *f, const struct cache_result *r, uint64_t now_ms);
/* True if nothing has written or invalidated the lease's key since. */
bool cache_fill_valid(const struct cache_fill *f);

/* Writes through ddbx take a lease when they are sent and end it when the
 * backend answers. Two writes of one key in flight at once may be applied by
 * the backend in either order, whatever order their answers come in, so a
 * write that overlapped another (or was superseded by an invalidation or a
 * consistent read) never stores its value: the key is invalidated instead and
 * the next read fetches what the backend holds. */
enum cache_write_outcome {
    CACHE_WRITE_STORE,      /* the write succeeded: store value (NULL: a negative entry) */
    CACHE_WRITE_INVALIDATE, /* unknown or suspect outcome: forget the key */
    CACHE_WRITE_UNCHANGED,  /* refused by the backend: nothing changed */
    CACHE_WRITE_AMBIGUOUS,  /* no answer or a 5xx: the write may still land; forget
                             * the key and hold it (nothing cached) for the hold-off */
};
struct cache_fill *cache_write_begin(const struct cache_key *k);
/* Ends a write lease (frees f). Any outcome but UNCHANGED supersedes the
 * key's running fills; STORE installs under the epoch the lease was taken
 * with, replacing whatever entry the key had. */
void cache_write_end(struct cache_fill *f, enum cache_write_outcome outcome, const char *value,
                     size_t len, uint64_t now_ms);

/* Installs value (NULL: a negative entry) and supersedes running fills of
 * the key (for tests and tools; handlers use write leases). */
void cache_put(const struct cache_key *k, const char *value, size_t len, uint64_t now_ms);
/* Forgets the key and supersedes its running fills. */
void cache_invalidate(const struct cache_key *k);
/* Overwrites bytes [offset, offset + n) of k's value when the entry holds
 * exactly expect[0..len) (the value the caller read and judged; any other
 * value, a negative entry, an older epoch or no entry: nothing is done),
 * keeping its expiry and its place. Query pages re-stamp their snapshot
 * this way (handler/query.c). Returns true when it was patched; false also
 * while a reference to the value is held (cache_get_ref: it must not change
 * under a write in progress). */
bool cache_patch(const struct cache_key *k, const char *expect, size_t len, size_t offset,
                 const void *bytes, size_t n);

/* Forgets the key, supersedes its running fills, and holds it until
 * until_ms (nothing cached for it, reads BYPASS), extending a hold it has:
 * a write of unknown outcome made through another node (cluster/, the
 * peer's hold_ms). until_ms <= now_ms: as cache_invalidate. */
void cache_hold(const struct cache_key *k, uint64_t until_ms, uint64_t now_ms);
/* Looks k up without taking a lease, joining a fill or touching the LRU:
 * HIT (the value appended to out, *crc set), NEGATIVE, or MISS (also for an
 * expired entry or one of an older epoch). On HIT and NEGATIVE, *ttl_left_ms
 * gets how long the entry still lives. For a cluster node answering a peer
 * that may keep a copy only as long as the entry here lives. */
enum cache_kind cache_peek(const struct cache_key *k, uint64_t now_ms, struct buf *out,
                           uint32_t *crc, uint64_t *ttl_left_ms);
/* For a clean stop (warm restart): queues every entry worth keeping for the
 * spill tier (spill/spill.h), least recently used first, waiting for room in
 * its queue rather than dropping; spill_teardown then commits them. Entries
 * that expired or came from the spill unchanged are skipped. Other threads
 * must not use the cache meanwhile. Returns the entries queued (0 without a
 * spill tier, or once spilling paused). */
size_t cache_spill_all(uint64_t now_ms);

/* The cache's figures; holds still in force at now_ms are counted. */
void cache_get_stats(struct cache_stats *s, uint64_t now_ms);
/* The cache's gauges for /metrics (GAUGE_FN rows of metrics/metrics.def):
 * entries, bytes held, the budget, keys held now. Thread-safe. */
int64_t cache_gauge_entries(void);
int64_t cache_gauge_bytes(void);
int64_t cache_gauge_limit_bytes(void);
int64_t cache_gauge_held_keys(void);

#endif
