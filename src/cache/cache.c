/*
 * cache.c: shards, entries, LRU, TTL, leases, epochs and holds.
 *
 * An entry is one allocation: header, key bytes, value bytes. Its cost is
 * what malloc really holds for it (malloc_usable_size plus the chunk header)
 * plus its share of the bucket array, so --memory bounds the process's heap
 * use by the cache, not an estimate. Each shard gets an equal share of the
 * budget and evicts from its own LRU tail (CLOCK: a hit marks its entry, and a
 * marked entry at the tail gets a second turn); with a good hash the shards stay
 * within a few percent of each other.
 *
 * Per shard, three lists beside the hash:
 *   fills  leases: reads filling a miss (joinable), consistent reads, writes
 *   holds  keys whose last write had an unknown outcome: nothing is cached for
 *          them until the write can no longer land (never evicted)
 *
 * Allocation, copying and freeing happen outside the shard lock where they
 * can; under the lock are only the probe, the mark and the memcpy of
 * a hit (cache_get_ref: the reference count's increment instead).
 *
 * References (cache_get_ref): an entry carries an atomic count, one for the
 * cache while the entry is linked, one per reference handed out. Whatever
 * unlinks an entry (eviction, replacement, invalidation, expiry, teardown)
 * drops the cache's count only; the last release frees. A referenced entry
 * that left the cache no longer counts in its shard's bytes: it is owned by
 * the writes sending it (at most one answer per connection at a time), as
 * memcached's items are by the connections still writing them. Nothing in an
 * entry that a holder reads (key, value, vlen, crc) changes after it is
 * made (cache_patch leaves a referenced entry alone); the flags and links
 * the cache still writes are other fields.
 *
 * The spill tier (spill/spill.h, when --spill-dir set it up) lies under the
 * shards, invisible to callers:
 *   eviction  a victim that has not expired is queued for the spill (spill_put),
 *             unless it came from the spill unchanged (ENTRY_SPILLED)
 *   miss      after the fill record is registered and the lock released,
 *             spill_get; a hit completes the fill as a backend read would
 *             (installed with the record's expiry, waiters woken), so
 *             concurrent misses of a key make one disk read; held keys never
 *             reach it (BYPASS comes first)
 *   supersede every lease superseded (write, invalidation, consistent read,
 *             hold) deletes the spilled copy
 * Spill puts and deletes are queued under the shard lock, unlike the rest of
 * the I/O here: the spill then sees each key's puts and deletes in the order
 * the shard applied them. Queued after unlocking, an eviction's put of an old
 * value could land after the delete of a write that replaced it, and a miss
 * registered between a write's unlock and its delete could read the old value
 * back from the spill and install it; either would serve a value older than
 * an acknowledged write. Queueing is a copy and a short critical section
 * (spill_put never waits on the disk), paid on evictions and writes only;
 * table epochs are checked by spill_get (another epoch's record is a miss).
 */
#include "cache/cache.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "metrics/metrics.h"
#include "spill/spill.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/crc.h"
#include "util/log.h"

#define ENTRY_NEGATIVE 1u
#define ENTRY_SPILLED 2u              /* came back from the spill unchanged: not spilled again */
#define ENTRY_REFERENCED 4u           /* hit since it last reached the LRU tail: a second chance */
#define CHUNK_OVERHEAD sizeof(size_t) /* glibc's per-chunk header */
#define MAX_TTL_MS (100ull * 365 * 24 * 3600 * 1000) /* keeps now + ttl far from overflow */

struct centry {
    struct centry *hnext; /* bucket chain */
    struct centry *lprev,
        *lnext; /* LRU: head is the most recently installed or given a second turn */
    uint64_t hash;
    uint64_t expires; /* ms on the caller's clock; 64 bits, so no comparison wraps */
    uint32_t epoch;   /* the table's epoch it was installed under */
    uint32_t vlen;
    uint32_t crc; /* of the value */
    uint16_t klen;
    uint8_t flags;
    atomic_uint refs; /* the cache's (while linked) and cache_get_ref's */
    char data[];      /* key, then value */
};

struct cache_fill {
    struct cache_fill *next; /* in the shard's list while attached */
    struct shard *shard;
    uint64_t hash;
    uint32_t epoch;  /* of the reader or writer that took it */
    bool attached;   /* false once a write or invalidation superseded it */
    bool joinable;   /* reads may wait on it (fills, consistent reads) */
    bool write;      /* a write's lease (cache_write_begin) */
    bool overlapped; /* write: another write of the key was in flight meanwhile */
    struct cache_waiter *waiters;
    size_t klen;
    char key[];
};

struct hold {
    struct hold *next;
    uint64_t hash;
    uint64_t until; /* ms: the key may be cached again from then on */
    size_t klen;
    char key[];
};

struct shard {
    pthread_mutex_t lock;
    /* The bucket array and its slots are written with atomic stores (under
     * the lock like every other access) so that cache_prefetch may read them
     * without it; arrays outgrown stay allocated until teardown (retired),
     * so such a read never touches freed memory. */
    struct centry **buckets;
    struct retired *retired;
    uint32_t nbuckets; /* power of two */
    uint32_t count;
    uint32_t nholds;
    struct centry *lru_head, *lru_tail;
    uint64_t bytes;
    uint64_t budget;
    struct cache_fill *fills;
    struct hold *holds;
} __attribute__((aligned(64)));

/* A bucket array a shard outgrew (its slots are read by cache_prefetch
 * without the lock, so it is freed at teardown). */
struct retired {
    struct retired *next;
    struct centry **buckets;
};

static struct {
    struct shard *shards;
    unsigned nshards;
    uint64_t limit;
    uint64_t item_ttl, negative_ttl, holdoff;
} c;

static size_t alloc_cost(const void *p)
{
    return malloc_usable_size((void *)p) + CHUNK_OVERHEAD;
}

/* Drops one count of e (NULL: nothing); the last frees it. */
static void entry_release(struct centry *e)
{
    if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) free(e);
}

/* Shards take bits 40 and up of the hash; buckets take the low bits. */
static struct shard *shard_of(uint64_t hash)
{
    return &c.shards[(hash >> 40) & (c.nshards - 1)];
}

int cache_setup(uint64_t memory, uint64_t item_ttl_ms, uint64_t negative_ttl_ms,
                uint64_t holdoff_ms, unsigned shards)
{
    if (!shards) {
        /* one shard per 4 MiB of budget, up to 64: enough to keep lock hold
         * times apart on every core, few enough that a shard's share of a small
         * budget still holds a 400 KB item */
        shards = 1;
        while (shards < 64 && (uint64_t)shards * 2 * (4u << 20) <= memory)
            shards *= 2;
    }
    if (shards & (shards - 1)) return DDBX_ERR;
    memset(&c, 0, sizeof(c));
    c.nshards = shards;
    c.limit = memory;
    c.item_ttl = MIN(item_ttl_ms, MAX_TTL_MS);
    c.negative_ttl = MIN(negative_ttl_ms, MAX_TTL_MS);
    c.holdoff = MIN(holdoff_ms, MAX_TTL_MS);
    if (posix_memalign((void **)&c.shards, 64, sizeof(struct shard) * shards) != 0) return DDBX_ERR;
    memset(c.shards, 0, sizeof(struct shard) * shards);
    for (unsigned i = 0; i < shards; i++) {
        struct shard *sh = &c.shards[i];
        pthread_mutex_init(&sh->lock, NULL);
        sh->nbuckets = 64;
        sh->buckets = xcalloc(sh->nbuckets, sizeof(*sh->buckets));
        sh->bytes = sh->nbuckets * sizeof(*sh->buckets);
        sh->budget = memory / shards;
    }
    return DDBX_OK;
}

void cache_teardown(void)
{
    for (unsigned i = 0; i < c.nshards; i++) {
        struct shard *sh = &c.shards[i];
        for (struct centry *e = sh->lru_head, *next; e; e = next) {
            next = e->lnext;
            entry_release(e);
        }
        for (struct cache_fill *f = sh->fills; f; f = f->next)
            f->attached = false;
        for (struct hold *h = sh->holds, *next; h; h = next) {
            next = h->next;
            free(h);
        }
        free(sh->buckets);
        for (struct retired *r = sh->retired, *next; r; r = next) {
            next = r->next;
            free(r->buckets);
            free(r);
        }
        pthread_mutex_destroy(&sh->lock);
    }
    free(c.shards);
    memset(&c, 0, sizeof(c));
}

void cache_key_init(struct cache_key *k, const void *data, size_t len)
{
    k->data = data;
    k->len = len;
    k->hash = XXH3_64bits(data, len);
    k->epoch = 0;
}

/* ---- under the shard lock ---- */

/* Query/Scan results are counted by their handler, not as item lookups. */
static bool is_item(const struct cache_key *k)
{
    return k->len == 0 || *(const char *)k->data != CACHE_RESULT_PREFIX;
}

static bool same(const void *key, size_t klen, uint64_t hash, const struct cache_key *k)
{
    return hash == k->hash && klen == k->len && memcmp(key, k->data, k->len) == 0;
}

/* A store to a link of a linked chain: a bucket slot, or an hnext that
 * remove_at and install cannot tell from one (cache_prefetch reads slots
 * without the lock: see struct shard). */
static void set_link(struct centry **link, struct centry *e)
{
    __atomic_store_n(link, e, __ATOMIC_RELAXED);
}

static struct centry **find_link(struct shard *sh, const struct cache_key *k)
{
    struct centry **link = &sh->buckets[k->hash & (sh->nbuckets - 1)];
    while (*link && !same((*link)->data, (*link)->klen, (*link)->hash, k))
        link = &(*link)->hnext;
    return link;
}

static void lru_unlink(struct shard *sh, struct centry *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        sh->lru_head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        sh->lru_tail = e->lprev;
}

static void lru_push(struct shard *sh, struct centry *e)
{
    e->lprev = NULL;
    e->lnext = sh->lru_head;
    if (sh->lru_head) sh->lru_head->lprev = e;
    sh->lru_head = e;
    if (!sh->lru_tail) sh->lru_tail = e;
}

/* Unlinks the entry at *link and chains it into *garbage (freed after unlocking). */
static void remove_at(struct shard *sh, struct centry **link, struct centry **garbage)
{
    struct centry *e = *link;
    set_link(link, e->hnext);
    lru_unlink(sh, e);
    sh->count--;
    sh->bytes -= alloc_cost(e);
    e->lnext = *garbage;
    *garbage = e;
}

static void remove_key(struct shard *sh, const struct cache_key *k, struct centry **garbage)
{
    struct centry **link = find_link(sh, k);
    if (*link) remove_at(sh, link, garbage);
}

static void grow(struct shard *sh)
{
    uint32_t n = sh->nbuckets * 2;
    struct centry **b = calloc(n, sizeof(*b));
    struct retired *old = malloc(sizeof(*old));
    if (!b || !old) { /* keep the longer chains rather than fail */
        free(b);
        free(old);
        return;
    }
    for (uint32_t i = 0; i < sh->nbuckets; i++)
        for (struct centry *e = sh->buckets[i], *next; e; e = next) {
            next = e->hnext;
            e->hnext = b[e->hash & (n - 1)]; /* b is not published yet */
            b[e->hash & (n - 1)] = e;
        }
    /* retired, not freed: cache_prefetch may be reading it (the retired
     * arrays add up to less than the live one; counted in the budget) */
    *old = (struct retired){sh->retired, sh->buckets};
    sh->retired = old;
    sh->bytes += (uint64_t)n * sizeof(*b) + sizeof(*old);
    /* the array before its size: whoever reads the new size (acquire) reads
     * the new array; an old size with either array stays inside it */
    __atomic_store_n(&sh->buckets, b, __ATOMIC_RELEASE);
    __atomic_store_n(&sh->nbuckets, n, __ATOMIC_RELEASE);
}

/* Detaches every lease of the key (fills, consistent reads, writes): fills
 * will not install, writes will invalidate instead of storing. The key's
 * spilled copy goes too (queued under the lock: see the top of the file). */
static void supersede_fills(struct shard *sh, const struct cache_key *k)
{
    spill_delete(k->data, k->len);
    for (struct cache_fill **link = &sh->fills; *link;) {
        struct cache_fill *f = *link;
        if (same(f->key, f->klen, f->hash, k)) {
            *link = f->next;
            f->attached = false;
            f->next = NULL;
        } else {
            link = &f->next;
        }
    }
}

static void unlink_fill(struct shard *sh, struct cache_fill *f)
{
    for (struct cache_fill **link = &sh->fills; *link; link = &(*link)->next)
        if (*link == f) {
            *link = f->next;
            return;
        }
}

/* True while the key is held. Expired holds met on the way are unlinked into
 * *done (freed after unlocking). */
static bool held(struct shard *sh, const struct cache_key *k, uint64_t now, struct hold **done)
{
    bool found = false;
    for (struct hold **link = &sh->holds; *link;) {
        struct hold *h = *link;
        if (h->until <= now) {
            *link = h->next;
            sh->nholds--;
            sh->bytes -= alloc_cost(h);
            h->next = *done;
            *done = h;
            continue;
        }
        if (same(h->key, h->klen, h->hash, k)) found = true;
        link = &h->next;
    }
    return found;
}

/* Holds the key until `until` (extending a hold it already has). h is a
 * fresh hold record, linked here or chained into *done if one exists. */
static void add_hold(struct shard *sh, struct hold *h, const struct cache_key *k,
                     struct hold **done)
{
    for (struct hold *o = sh->holds; o; o = o->next)
        if (same(o->key, o->klen, o->hash, k)) {
            o->until = MAX(o->until, h->until);
            h->next = *done;
            *done = h;
            return;
        }
    h->next = sh->holds;
    sh->holds = h;
    sh->nholds++;
    sh->bytes += alloc_cost(h);
}

/* Expiry ms on the caller's clock (now) to the spill's wall clock, and back. */
static uint64_t to_wall(uint64_t expires, uint64_t now)
{
    return spill_wall_ms() + (expires - now);
}

static uint64_t from_wall(uint64_t expires_wall, uint64_t now)
{
    uint64_t wall = spill_wall_ms();
    return now + (expires_wall > wall ? expires_wall - wall : 0);
}

/* Queues an evicted entry for the spill tier, if it is worth keeping: not
 * expired, and not already there (ENTRY_SPILLED). */
static bool spill_worthy(const struct centry *e, uint64_t now)
{
    return !(e->flags & ENTRY_SPILLED) && e->expires > now;
}

/* spill_put (wait: spill_put_wait) of the entry; true if queued. */
static bool spill_entry_put(const struct centry *e, uint64_t now, bool wait)
{
    struct spill_entry se = {e->crc, to_wall(e->expires, now), e->epoch,
                             e->flags & ENTRY_NEGATIVE ? SPILL_NEGATIVE : 0, 0};
    return (wait ? spill_put_wait : spill_put)(e->data, e->klen, e->data + e->klen, e->vlen, &se) ==
           SPILL_OK;
}

static void spill_victim(const struct centry *e, uint64_t now)
{
    if (spill_enabled() && spill_worthy(e, now)) spill_entry_put(e, now, false);
}

/* Links e (replacing the key's old entry) and evicts down to the budget,
 * spilling the victims. */
static void install(struct shard *sh, struct centry *e, const struct cache_key *k, uint64_t now,
                    struct centry **garbage)
{
    struct centry **link = find_link(sh, k);
    if (*link) remove_at(sh, link, garbage);
    link = find_link(sh, k);
    e->hnext = *link;
    set_link(link, e);
    lru_push(sh, e);
    sh->count++;
    sh->bytes += alloc_cost(e);
    /* grow first: the larger bucket array is paid for by the evictions below */
    if (sh->count > sh->nbuckets) grow(sh);
    /* CLOCK (second chance): a hit only marks its entry; an entry marked when
     * it reaches the tail goes back to the head, unmarked, instead of out.
     * Every pass unmarks what it moves, so this ends within two turns. */
    for (size_t turns = 2 * (size_t)sh->count; sh->bytes > sh->budget && sh->count > 1 && turns;
         turns--) {
        struct centry *victim = sh->lru_tail;
        if (victim == e || (victim->flags & ENTRY_REFERENCED)) {
            victim->flags &= (uint8_t)~ENTRY_REFERENCED;
            lru_unlink(sh, victim);
            lru_push(sh, victim);
            continue;
        }
        size_t cost = alloc_cost(victim);
        spill_victim(victim, now);
        remove_at(sh,
                  find_link(sh, &(struct cache_key){victim->data, victim->klen, victim->hash, 0}),
                  garbage);
        METRIC_INCR(item_cache_evictions);
        METRIC_ADD(item_cache_evicted_bytes, (int64_t)cost);
    }
}

/* ---- outside the lock ---- */

void cache_prefetch(const struct cache_key *k, int stage)
{
    struct shard *sh = shard_of(k->hash);
    uint32_t n = __atomic_load_n(&sh->nbuckets, __ATOMIC_ACQUIRE);
    struct centry **slot = &__atomic_load_n(&sh->buckets, __ATOMIC_ACQUIRE)[k->hash & (n - 1)];
    if (stage == 0) {
        __builtin_prefetch(slot);
        return;
    }
    /* may be stale or freed by now: a prefetch never faults */
    const char *e = (const char *)__atomic_load_n(slot, __ATOMIC_RELAXED);
    if (e) {
        __builtin_prefetch(e, 1);   /* a hit writes its count and mark */
        __builtin_prefetch(e + 64); /* the key starts near the end of the first line */
    }
}

/* Drops the cache's count of every unlinked entry chained by remove_at. */
static void free_chain(struct centry *e)
{
    while (e) {
        struct centry *next = e->lnext;
        entry_release(e);
        e = next;
    }
}

static void free_holds(struct hold *h)
{
    while (h) {
        struct hold *next = h->next;
        free(h);
        h = next;
    }
}

/* ttl_ms 0: the default of the entry's kind */
static struct centry *entry_new(const struct cache_key *k, uint32_t epoch, const char *value,
                                size_t vlen, uint32_t crc, uint64_t ttl_ms, uint64_t now_ms)
{
    struct centry *e = xmalloc(sizeof(*e) + k->len + vlen);
    e->hash = k->hash;
    e->klen = (uint16_t)k->len;
    e->vlen = (uint32_t)vlen;
    e->epoch = epoch;
    e->flags = value ? 0 : ENTRY_NEGATIVE;
    e->crc = value ? crc : 0;
    e->expires = now_ms + (ttl_ms ? MIN(ttl_ms, MAX_TTL_MS) : value ? c.item_ttl : c.negative_ttl);
    atomic_init(&e->refs, 1);
    memcpy(e->data, k->data, k->len);
    if (vlen) memcpy(e->data + k->len, value, vlen);
    return e;
}

static struct cache_fill *fill_new(const struct cache_key *k, struct shard *sh, bool joinable,
                                   bool write)
{
    struct cache_fill *f = xmalloc(sizeof(*f) + k->len);
    *f = (struct cache_fill){.shard = sh,
                             .hash = k->hash,
                             .epoch = k->epoch,
                             .attached = true,
                             .joinable = joinable,
                             .write = write,
                             .klen = k->len};
    memcpy(f->key, k->data, k->len);
    return f;
}

static bool fits(const struct cache_key *k, size_t vlen)
{
    /* a key over 64 KiB cannot be stored; an entry above a shard's budget
     * would evict the whole shard and then itself */
    return k->len <= UINT16_MAX && sizeof(struct centry) + k->len + vlen < c.shards[0].budget / 2;
}

/* A RAM miss holding the lease *fill looks in the spill. On a hit the fill
 * is completed with the record (installed unless a write came meanwhile,
 * waiters woken) and *fill cleared; else the miss stands. */
static void fill_end(struct cache_fill *f, const struct cache_result *r, uint64_t now_ms,
                     const struct spill_entry *from);

static enum cache_kind from_spill(struct cache_fill **fill, const struct cache_key *k,
                                  uint64_t now_ms, struct buf *out, uint32_t *crc)
{
    struct spill_entry se;
    size_t mark = out->len;
    if (spill_get(k->data, k->len, k->epoch, out, &se) != SPILL_OK) return CACHE_MISS;
    struct cache_result r = {CACHE_NEGATIVE, NULL, 0, 0, 200};
    if (!(se.flags & SPILL_NEGATIVE)) {
        r = (struct cache_result){CACHE_HIT, out->len > mark ? out->data + mark : "",
                                  out->len - mark, se.crc, 200};
        *crc = se.crc;
    }
    struct cache_fill *f = *fill;
    *fill = NULL;
    fill_end(f, &r, now_ms, &se);
    return r.kind;
}

/* A spill hit for cache_get_ref: the record read is made an entry of its own
 * (never linked: the installed copy is another), the caller's reference its
 * only count. Spill hits copy anyway; this keeps one kind of reference. */
static enum cache_kind from_spill_ref(struct cache_fill **fill, const struct cache_key *k,
                                      uint64_t now_ms, struct cache_ref **ref)
{
    struct buf out = BUF_INIT;
    uint32_t crc = 0;
    enum cache_kind kind = from_spill(fill, k, now_ms, &out, &crc);
    if (kind == CACHE_HIT)
        *ref = (struct cache_ref *)entry_new(k, k->epoch, out.data ? out.data : "", out.len, crc, 0,
                                             now_ms);
    buf_free(&out);
    return kind;
}

/* cache_get, and cache_get_ref when ref is not NULL: a HIT then takes a
 * count of the entry instead of copying its value into out. */
static enum cache_kind lookup(const struct cache_key *k, uint64_t now_ms, struct buf *out,
                              uint32_t *crc, struct cache_ref **ref, struct cache_fill **fill,
                              struct cache_waiter *w)
{
    struct shard *sh = shard_of(k->hash);
    struct centry *garbage = NULL;
    struct hold *done = NULL;
    enum cache_kind kind;
    bool expired = false;
    pthread_mutex_lock(&sh->lock);
    struct centry **link = find_link(sh, k);
    struct centry *e = *link;
    /* an entry of an older epoch predates a change of its table (schema
     * change, PartiQL write, a write ddbx could not key): never served */
    if (e && (e->expires <= now_ms || e->epoch < k->epoch)) {
        expired = e->expires <= now_ms;
        remove_at(sh, link, &garbage);
        e = NULL;
    }
    if (e) {
        /* no relinking on a hit (its neighbours' cache lines stay untouched):
         * eviction gives marked entries a second chance instead */
        if (!(e->flags & ENTRY_REFERENCED)) e->flags |= ENTRY_REFERENCED;
        if (e->flags & ENTRY_NEGATIVE) {
            kind = CACHE_NEGATIVE;
        } else if (ref) { /* released outside any lock: the count is atomic */
            atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
            *ref = (struct cache_ref *)e;
            kind = CACHE_HIT;
        } else {
            buf_append(out, e->data + e->klen, e->vlen);
            *crc = e->crc;
            kind = CACHE_HIT;
        }
        pthread_mutex_unlock(&sh->lock);
        if (is_item(k)) METRIC_INCR(item_cache_hits);
        if (kind == CACHE_NEGATIVE) METRIC_INCR(item_cache_negative_hits);
        return kind;
    }
    struct cache_fill *f = NULL;
    if (held(sh, k, now_ms, &done)) {
        kind = CACHE_BYPASS;
    } else {
        /* a fill of an older epoch may read from before its table changed */
        for (f = w ? sh->fills : NULL; f; f = f->next)
            if (f->joinable && f->epoch >= k->epoch && same(f->key, f->klen, f->hash, k)) break;
        if (f) {
            w->next = f->waiters;
            f->waiters = w;
            kind = CACHE_WAIT;
        } else {
            f = fill_new(k, sh, true, false);
            f->next = sh->fills;
            sh->fills = f;
            *fill = f;
            kind = CACHE_MISS;
        }
    }
    pthread_mutex_unlock(&sh->lock);
    free_chain(garbage);
    free_holds(done);
    if (expired) METRIC_INCR(item_cache_expired);
    if (!is_item(k)) return kind;
    METRIC_INCR(item_cache_misses);
    if (kind == CACHE_WAIT) METRIC_INCR(item_cache_coalesced);
    if (kind == CACHE_BYPASS) METRIC_INCR(item_cache_held_misses);
    if (kind == CACHE_MISS && spill_enabled())
        kind = ref ? from_spill_ref(fill, k, now_ms, ref) : from_spill(fill, k, now_ms, out, crc);
    return kind;
}

enum cache_kind cache_get(const struct cache_key *k, uint64_t now_ms, struct buf *out,
                          uint32_t *crc, struct cache_fill **fill, struct cache_waiter *w)
{
    return lookup(k, now_ms, out, crc, NULL, fill, w);
}

enum cache_kind cache_get_ref(const struct cache_key *k, uint64_t now_ms, struct cache_ref **ref,
                              struct cache_fill **fill, struct cache_waiter *w)
{
    return lookup(k, now_ms, NULL, NULL, ref, fill, w);
}

const char *cache_ref_value(const struct cache_ref *ref, size_t *len, uint32_t *crc)
{
    const struct centry *e = (const struct centry *)(const void *)ref;
    *len = e->vlen;
    if (crc) *crc = e->crc;
    return e->data + e->klen;
}

void cache_ref_release(struct cache_ref *ref)
{
    entry_release((struct centry *)(void *)ref);
}

struct cache_fill *cache_lease(const struct cache_key *k)
{
    struct shard *sh = shard_of(k->hash);
    struct cache_fill *f = fill_new(k, sh, true, false);
    pthread_mutex_lock(&sh->lock);
    supersede_fills(sh, k);
    f->next = sh->fills;
    sh->fills = f;
    pthread_mutex_unlock(&sh->lock);
    return f;
}

bool cache_fill_valid(const struct cache_fill *f)
{
    pthread_mutex_lock(&f->shard->lock);
    bool valid = f->attached;
    pthread_mutex_unlock(&f->shard->lock);
    return valid;
}

/* cache_fill_done; from: the spill record the result came from (NULL: the
 * backend), whose expiry the entry keeps (within the TTL). */
static void fill_end(struct cache_fill *f, const struct cache_result *r, uint64_t now_ms,
                     const struct spill_entry *from)
{
    struct shard *sh = f->shard;
    struct cache_key k = {f->key, f->klen, f->hash, f->epoch};
    bool store = (r->kind == CACHE_HIT || r->kind == CACHE_NEGATIVE) && !r->transient;
    struct centry *e = NULL, *garbage = NULL;
    struct hold *done = NULL;
    if (store && fits(&k, r->len))
        e = entry_new(&k, f->epoch, r->kind == CACHE_HIT ? r->data : NULL,
                      r->kind == CACHE_HIT ? r->len : 0, r->crc, r->ttl_ms, now_ms);
    if (e && from) {
        e->expires = MIN(e->expires, from_wall(from->expires_ms, now_ms));
        e->flags |= ENTRY_SPILLED;
    }
    pthread_mutex_lock(&sh->lock);
    bool attached = f->attached;
    if (attached) unlink_fill(sh, f);
    bool installed = false;
    if (attached && e && !held(sh, &k, now_ms, &done)) {
        /* a newer epoch's entry (a fill that began after a table change) stays */
        struct centry *old = *find_link(sh, &k);
        if (!old || old->epoch <= f->epoch) {
            install(sh, e, &k, now_ms, &garbage);
            installed = true;
        }
    }
    struct cache_waiter *w = f->waiters;
    f->waiters = NULL;
    pthread_mutex_unlock(&sh->lock);
    if (installed)
        METRIC_INCR(item_cache_fills);
    else if (store)
        METRIC_INCR(item_cache_fills_refused);
    if (!installed) entry_release(e);
    free_chain(garbage);
    free_holds(done);
    free(f);
    while (w) {
        struct cache_waiter *next = w->next;
        w->wake(w, r);
        w = next;
    }
}

void cache_fill_done(struct cache_fill *f, const struct cache_result *r, uint64_t now_ms)
{
    fill_end(f, r, now_ms, NULL);
}

struct cache_fill *cache_write_begin(const struct cache_key *k)
{
    struct shard *sh = shard_of(k->hash);
    struct cache_fill *f = fill_new(k, sh, false, true);
    pthread_mutex_lock(&sh->lock);
    for (struct cache_fill *o = sh->fills; o; o = o->next)
        if (o->write && same(o->key, o->klen, o->hash, k))
            o->overlapped = f->overlapped = true; /* their order at the backend is unknown */
    f->next = sh->fills;
    sh->fills = f;
    pthread_mutex_unlock(&sh->lock);
    return f;
}

void cache_write_end(struct cache_fill *f, enum cache_write_outcome outcome, const char *value,
                     size_t len, uint64_t now_ms)
{
    struct shard *sh = f->shard;
    struct cache_key k = {f->key, f->klen, f->hash, f->epoch};
    if (outcome == CACHE_WRITE_STORE && !fits(&k, value ? len : 0))
        outcome = CACHE_WRITE_INVALIDATE;
    struct centry *e = outcome == CACHE_WRITE_STORE
                           ? entry_new(&k, f->epoch, value, value ? len : 0,
                                       value ? crc32_of(value, len) : 0, 0, now_ms)
                           : NULL;
    struct hold *h = NULL;
    if (outcome == CACHE_WRITE_AMBIGUOUS && c.holdoff) {
        h = xmalloc(sizeof(*h) + k.len);
        *h = (struct hold){NULL, k.hash, now_ms + c.holdoff, k.len};
        memcpy(h->key, k.data, k.len);
    }
    struct centry *garbage = NULL;
    struct hold *done = NULL;
    pthread_mutex_lock(&sh->lock);
    bool attached = f->attached;
    if (attached) unlink_fill(sh, f);
    /* store only what is known to be newest: no other write of the key in
     * flight meanwhile, no invalidation since, no earlier write of unknown
     * outcome that may still land; otherwise forget the key */
    if (outcome == CACHE_WRITE_STORE && (!attached || f->overlapped || held(sh, &k, now_ms, &done)))
        outcome = CACHE_WRITE_INVALIDATE;
    if (outcome != CACHE_WRITE_UNCHANGED) supersede_fills(sh, &k);
    if (outcome == CACHE_WRITE_STORE) {
        /* whatever epoch the entry there had: this is newer */
        install(sh, e, &k, now_ms, &garbage);
        e = NULL;
    } else if (outcome != CACHE_WRITE_UNCHANGED) {
        remove_key(sh, &k, &garbage);
    }
    if (h) add_hold(sh, h, &k, &done);
    pthread_mutex_unlock(&sh->lock);
    if (outcome == CACHE_WRITE_STORE)
        METRIC_INCR(item_cache_writes);
    else if (outcome != CACHE_WRITE_UNCHANGED)
        METRIC_INCR(item_cache_invalidations);
    if (outcome == CACHE_WRITE_AMBIGUOUS) METRIC_INCR(item_cache_holds);
    entry_release(e);
    free_chain(garbage);
    free_holds(done);
    free(f);
}

void cache_put(const struct cache_key *k, const char *value, size_t len, uint64_t now_ms)
{
    if (!fits(k, len)) {
        cache_invalidate(k);
        return;
    }
    struct shard *sh = shard_of(k->hash);
    struct centry *e =
        entry_new(k, k->epoch, value, len, value ? crc32_of(value, len) : 0, 0, now_ms);
    struct centry *garbage = NULL;
    struct hold *done = NULL;
    pthread_mutex_lock(&sh->lock);
    supersede_fills(sh, k);
    bool is_held = held(sh, k, now_ms, &done);
    if (is_held)
        remove_key(sh, k, &garbage);
    else
        install(sh, e, k, now_ms, &garbage);
    pthread_mutex_unlock(&sh->lock);
    METRIC_INCR(item_cache_writes);
    if (is_held) entry_release(e);
    free_chain(garbage);
    free_holds(done);
}

void cache_invalidate(const struct cache_key *k)
{
    struct shard *sh = shard_of(k->hash);
    struct centry *garbage = NULL;
    pthread_mutex_lock(&sh->lock);
    supersede_fills(sh, k);
    remove_key(sh, k, &garbage);
    pthread_mutex_unlock(&sh->lock);
    METRIC_INCR(item_cache_invalidations);
    free_chain(garbage);
}

bool cache_patch(const struct cache_key *k, const char *expect, size_t len, size_t offset,
                 const void *bytes, size_t n)
{
    if (offset > len || n > len - offset) return false;
    struct shard *sh = shard_of(k->hash);
    pthread_mutex_lock(&sh->lock);
    struct centry *e = *find_link(sh, k);
    /* a referenced value is being written somewhere (cache_get_ref): it
     * must not change under the write; counts are only taken under this
     * lock, so a count of one (the cache's) cannot grow meanwhile */
    bool ok = e && !(e->flags & ENTRY_NEGATIVE) && e->epoch >= k->epoch && e->vlen == len &&
              atomic_load_explicit(&e->refs, memory_order_acquire) == 1 &&
              memcmp(e->data + e->klen, expect, len) == 0;
    if (ok) {
        memcpy(e->data + e->klen + offset, bytes, n);
        e->crc = crc32_of(e->data + e->klen, e->vlen);
    }
    pthread_mutex_unlock(&sh->lock);
    return ok;
}

void cache_hold(const struct cache_key *k, uint64_t until_ms, uint64_t now_ms)
{
    struct shard *sh = shard_of(k->hash);
    struct hold *h = NULL;
    if (until_ms > now_ms) {
        h = xmalloc(sizeof(*h) + k->len);
        *h = (struct hold){NULL, k->hash, MIN(until_ms, now_ms + MAX_TTL_MS), k->len};
        memcpy(h->key, k->data, k->len);
    }
    struct centry *garbage = NULL;
    struct hold *done = NULL;
    pthread_mutex_lock(&sh->lock);
    supersede_fills(sh, k);
    remove_key(sh, k, &garbage);
    if (h) add_hold(sh, h, k, &done);
    pthread_mutex_unlock(&sh->lock);
    METRIC_INCR(item_cache_invalidations);
    if (h) METRIC_INCR(item_cache_holds);
    free_chain(garbage);
    free_holds(done);
}

enum cache_kind cache_peek(const struct cache_key *k, uint64_t now_ms, struct buf *out,
                           uint32_t *crc, uint64_t *ttl_left_ms)
{
    struct shard *sh = shard_of(k->hash);
    enum cache_kind kind = CACHE_MISS;
    pthread_mutex_lock(&sh->lock);
    const struct centry *e = *find_link(sh, k);
    if (e && e->expires > now_ms && e->epoch >= k->epoch) {
        kind = e->flags & ENTRY_NEGATIVE ? CACHE_NEGATIVE : CACHE_HIT;
        if (kind == CACHE_HIT) {
            buf_append(out, e->data + e->klen, e->vlen);
            *crc = e->crc;
        }
        *ttl_left_ms = e->expires - now_ms;
    }
    pthread_mutex_unlock(&sh->lock);
    return kind;
}

size_t cache_spill_all(uint64_t now_ms)
{
    size_t n = 0;
    for (unsigned i = 0; i < c.nshards && spill_enabled(); i++) {
        struct shard *sh = &c.shards[i];
        pthread_mutex_lock(&sh->lock);
        /* least recently used first: the spill evicts its oldest records first */
        for (struct centry *e = sh->lru_tail; e; e = e->lprev)
            if (spill_worthy(e, now_ms)) n += spill_entry_put(e, now_ms, true);
        pthread_mutex_unlock(&sh->lock);
    }
    return n;
}

void cache_get_stats(struct cache_stats *s, uint64_t now_ms)
{
    memset(s, 0, sizeof(*s));
    s->limit = c.limit;
    s->shards = c.nshards;
    for (unsigned i = 0; i < c.nshards; i++) {
        struct shard *sh = &c.shards[i];
        pthread_mutex_lock(&sh->lock);
        s->entries += sh->count;
        s->bytes += sh->bytes;
        for (struct hold *h = sh->holds; h; h = h->next)
            s->holds += h->until > now_ms;
        pthread_mutex_unlock(&sh->lock);
    }
}

/* The figures as /metrics shows them (the GAUGE_FN rows of metrics.def), at
 * the clock handlers give the cache. */
static struct cache_stats stats_now(void)
{
    struct cache_stats s;
    cache_get_stats(&s, clock_mono_ms());
    return s;
}

int64_t cache_gauge_entries(void)
{
    return (int64_t)stats_now().entries;
}

int64_t cache_gauge_bytes(void)
{
    return (int64_t)stats_now().bytes;
}

int64_t cache_gauge_limit_bytes(void)
{
    return (int64_t)stats_now().limit;
}

int64_t cache_gauge_held_keys(void)
{
    return (int64_t)stats_now().holds;
}
