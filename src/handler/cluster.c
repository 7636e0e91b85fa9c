/*
 * cluster.c: the handlers' side of a cluster (cluster.h): setup, fan-outs of
 * what writes changed, what peers' INVALIDATE/TAG/FORGET and membership
 * events do to the cache, degraded mode, and the stream readers' glue.
 * Forwarded reads, both sides, are cluster_get.c's.
 *
 *   worker: write answered -> cache changed -> cluster_fan_answer
 *             -> ops.invalidate / tag / forget (one per table) --node thread--> peers
 *             <- done (every live peer acknowledged, or ack timeout) -> mailbox -> answer
 *   node thread: INVALIDATE -> cache_invalidate / cache_hold per key
 *                TAG        -> tags_bump (hold: the table's pages held)
 *                FORGET     -> the table's epoch (its items and pages), schema described again
 *                events     -> peer down / degraded: drop the tables without a stream;
 *                              membership changed: stream readers move to their owners
 */
#include "handler/cluster_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cache/tags.h"
#include "handler/item.h"
#include "handler/schema.h"
#include "metrics/metrics.h"
#include "stream/stream.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/log.h"

struct cluster_state cluster__s;
static atomic_bool cluster_up;      /* cluster__s may be read */
static atomic_bool healthy_once;    /* every peer was live (or departed) at least once */
static _Atomic uint64_t started_ms; /* cluster_setup, on the handlers' clock */

bool cluster_on(void)
{
    return atomic_load_explicit(&cluster_up, memory_order_acquire);
}

/* ---- the real node ---- */

static int real_invalidate(void *n, const char *table, size_t tlen, const struct peer_bytes *keys,
                           size_t nkeys, uint64_t hold_ms, node_done_fn done, void *arg)
{
    return node_invalidate(n, table, tlen, keys, nkeys, hold_ms, done, arg);
}

static int real_tag(void *n, const char *table, size_t tlen, const struct peer_bytes *tags,
                    size_t ntags, uint64_t hold_ms, node_done_fn done, void *arg)
{
    return node_tag(n, table, tlen, tags, ntags, hold_ms, done, arg);
}

static int real_forget(void *n, const char *table, size_t tlen, uint64_t scope, uint64_t hold_ms,
                       node_done_fn done, void *arg)
{
    return node_forget(n, table, tlen, scope, hold_ms, done, arg);
}

static int real_get(void *n, const char *table, size_t tlen, const void *key, size_t klen,
                    const void *request, size_t rlen, uint64_t flags, node_get_fn cb, void *arg)
{
    return node_get(n, table, tlen, key, klen, request, rlen, flags, cb, arg);
}

static void real_get_reply(void *n, struct node_get_req *req, enum peer_get_status status,
                           uint64_t ttl_ms, const void *body, size_t len, uint32_t crc)
{
    node_get_reply(n, req, status, ttl_ms, body, len, crc);
}

static int real_publish(void *n, const char *table, const char *arn,
                        const struct peer_shard_pos *shards, size_t nshards)
{
    return node_publish_position(n, table, arn, shards, nshards);
}

static bool real_degraded(void *n)
{
    return node_degraded(n);
}

static int real_owner_of_key(void *n, const void *rk, size_t len)
{
    return node_owner_of_key(n, rk, len);
}

static int real_owner_of_table(void *n, const char *table, size_t len)
{
    return node_owner_of_table(n, table, len);
}

static int real_self(void *n)
{
    return node_self(n);
}

const struct cluster_ops cluster_node_ops = {
    real_invalidate,     real_tag,     real_forget,   real_get,
    real_get_reply,      real_publish, real_degraded, real_owner_of_key,
    real_owner_of_table, real_self,
};

/* ---- what peers send (on the node's thread) ---- */

/* The cache key of a peer's item key: table, NUL, item key; in `stack` when
 * it fits, else in a heap copy the caller frees. */
static struct cache_key peer_cache_key(struct peer_bytes table, struct peer_bytes key, char *stack,
                                       size_t cap, char **heap)
{
    size_t len = table.len + 1 + key.len;
    char *p = len <= cap ? stack : (*heap = xmalloc(len));
    if (table.len) memcpy(p, table.data, table.len);
    p[table.len] = '\0';
    if (key.len) memcpy(p + table.len + 1, key.data, key.len);
    struct cache_key k;
    cache_key_init(&k, p, len);
    return k; /* epoch 0: an invalidation covers the key in every epoch */
}

static void on_invalidate(void *arg, int from, const struct peer_keyset *m)
{
    uint64_t now = item_now();
    for (size_t i = 0; i < m->keys.n; i++) {
        char stack[512], *heap = NULL;
        struct cache_key k =
            peer_cache_key(m->table, m->keys.items[i], stack, sizeof(stack), &heap);
        if (m->hold_ms)
            cache_hold(&k, now + m->hold_ms, now);
        else
            cache_invalidate(&k);
        cluster__recent_key(k.data, k.len, now);
        free(heap);
    }
    METRIC_ADD(cluster_peer_invalidations, (int64_t)m->keys.n);
}

/* A table's pages stay uncached until `until`: held where the table is
 * known, else the whole table (a placeholder's hold covers a table learnt
 * later; schema.h). */
static void hold_pages(const char *table, size_t len, uint64_t until)
{
    struct schema_state st = {.epoch = 0};
    bool known = false;
    const struct query_table *t = schema_indexes_get(table, len, &st);
    known = t || st.epoch;
    schema_indexes_put(t);
    if (known)
        schema_hold_queries(table, len, until);
    else
        schema_invalidate(table, len, until);
}

static void on_tag(void *arg, int from, const struct peer_keyset *m)
{
    uint64_t now = item_now(), hashes[64];
    for (size_t i = 0; i < m->keys.n;) {
        unsigned n = 0;
        for (; i < m->keys.n && n < ARRAY_SIZE(hashes); i++)
            hashes[n++] = tags_hash(m->keys.items[i].data, m->keys.items[i].len);
        tags_bump(hashes, n, now);
    }
    METRIC_ADD(query_cache_tag_bumps, (int64_t)m->keys.n);
    if (m->hold_ms) hold_pages((const char *)m->table.data, m->table.len, now + m->hold_ms);
}

/* The table tag of a known table: every cached page of it goes stale. */
static void bump_table_tag(const char *table, size_t len, uint64_t now)
{
    const struct query_table *t = schema_indexes_get(table, len, NULL);
    if (!t) return; /* no index list: no page of it is cached */
    struct arena a;
    struct invalidation_tags tags;
    arena_init(&a);
    invalidation_table_tags(&a, t, &tags);
    uint64_t h = tags_hash(tags.tag[0].data, tags.tag[0].len);
    arena_free(&a);
    schema_indexes_put(t);
    tags_bump(&h, 1, now);
}

static void on_forget(void *arg, int from, const struct peer_forget *m)
{
    uint64_t now = item_now(), hold = m->hold_ms ? now + m->hold_ms : 0;
    const char *table = (const char *)m->table.data;
    METRIC_INCR(cluster_peer_forgets);
    if (m->table.len == 0) {
        schema_invalidate_all(hold);
        cluster__recent_all(now);
        return;
    }
    if (!(m->scope & PEER_FORGET_ITEMS)) { /* pages only (a TAG outbox collapsed) */
        bump_table_tag(table, m->table.len, now);
        if (hold) hold_pages(table, m->table.len, hold);
        return;
    }
    /* a new epoch drops items and pages alike; the table is described again,
     * since the FORGET may come from a change of its schema (re-created) */
    schema_invalidate(table, m->table.len, hold);
    schema_forget(table, m->table.len);
    cluster__recent_all(now);
}

static void on_event(void *arg, const struct node_event *ev)
{
    switch (ev->type) {
    case NODE_PEER_DOWN:
    case NODE_DEGRADED:
    case NODE_SELF_LAGGING:
        /* it may have missed writes made through the peer in its last
         * dead_after: what no stream covers goes (spec 12.2) */
        schema_invalidate_unstreamed(cluster_on() ? cluster__s.o.streams : true);
        METRIC_INCR(cluster_degraded_drops);
        break;
    default: break;
    }
    if (ev->type == NODE_HEALTHY) atomic_store(&healthy_once, true);
    if (ev->type == NODE_PEER_DOWN || ev->type == NODE_PEER_UP || ev->type == NODE_PEER_DEPARTED ||
        ev->type == NODE_HEALTHY)
        stream_reown(); /* the live set changed: so may the tables' owners */
}

static void on_position(void *arg, int from, const struct peer_stream_position *m)
{
    for (size_t i = 0; i < m->shards.n; i++)
        stream_position_note(
            (const char *)m->stream_arn.data, m->stream_arn.len,
            (const char *)m->shards.items[i].shard.data, m->shards.items[i].shard.len,
            (const char *)m->shards.items[i].sequence.data, m->shards.items[i].sequence.len);
}

static const struct node_handlers handlers = {
    NULL, on_invalidate, on_tag, on_forget, cluster__on_get, on_position, on_event};

const struct node_handlers *cluster_node_handlers(void)
{
    return &handlers;
}

/* ---- setup ---- */

int cluster_setup(const struct cluster_ops *ops, void *node, const struct cluster_options *o)
{
    cluster__s = (struct cluster_state){ops, node, *o, true};
    atomic_store(&started_ms, item_now());
    if (cluster__serve_start() < 0) return DDBX_ERR;
    atomic_store_explicit(&cluster_up, true, memory_order_release);
    return DDBX_OK;
}

void cluster_stop(void)
{
    if (cluster_on()) cluster__serve_stop();
}

void cluster_teardown(void)
{
    atomic_store_explicit(&cluster_up, false, memory_order_release);
    atomic_store(&healthy_once, false);
    memset(&cluster__s, 0, sizeof(cluster__s));
}

/* ---- degraded mode ---- */

bool cluster__capped(const char *table, size_t len)
{
    if (!cluster_on() || !cluster__s.ops->degraded(cluster__s.node)) return false;
    return !cluster__s.o.streams || !schema_has_stream(table, len);
}

uint64_t cluster_fill_ttl(const char *table, size_t len, uint64_t ttl_ms)
{
    if (!cluster__capped(table, len)) return ttl_ms;
    uint64_t cap = cluster__s.o.degraded_ttl_ms;
    return ttl_ms && ttl_ms < cap ? ttl_ms : cap;
}

bool cluster_may_store(const char *table, size_t len)
{
    return !cluster__capped(table, len);
}

/* ---- fan-outs ---- */

struct fan_list {
    struct fan_list *next;
    struct peer_bytes b;
};

struct fan_table {
    struct fan_table *next;
    const char *table;
    size_t tlen;
    struct fan_list *keys, *tags;
    size_t nkeys, ntags;
    uint64_t key_hold, tag_hold;
    bool forget;
    uint64_t scope, forget_hold;
};

struct cluster_fanout {
    struct request *r;
    struct fan_table *tables;
    bool forget_all;
    uint64_t all_hold;
    atomic_int pending; /* calls not done yet, plus one while sending */
    atomic_bool unacked;
    int status;
    uint64_t start_ns;
};

struct cluster_fanout *cluster_fanout_new(struct request *r)
{
    if (!cluster_on()) return NULL;
    struct cluster_fanout *fo = arena_alloc(r->arena, sizeof(*fo));
    memset(fo, 0, sizeof(*fo));
    fo->r = r;
    return fo;
}

static struct fan_table *fan_table(struct cluster_fanout *fo, const char *table, size_t tlen)
{
    for (struct fan_table *t = fo->tables; t; t = t->next)
        if (t->tlen == tlen && memcmp(t->table, table, tlen) == 0) return t;
    struct fan_table *t = arena_alloc(fo->r->arena, sizeof(*t));
    memset(t, 0, sizeof(*t));
    t->table = table;
    t->tlen = tlen;
    t->next = fo->tables;
    fo->tables = t;
    return t;
}

static void fan_push(struct cluster_fanout *fo, struct fan_list **list, const void *data,
                     size_t len)
{
    struct fan_list *e = arena_alloc(fo->r->arena, sizeof(*e));
    e->b = (struct peer_bytes){data, len};
    e->next = *list;
    *list = e;
}

void cluster_fan_key(struct cluster_fanout *fo, const struct cache_key *k, uint64_t hold_ms)
{
    if (!fo) return;
    const char *key = k->data, *nul = memchr(key, '\0', k->len);
    if (!nul) return; /* not an item key */
    struct fan_table *t = fan_table(fo, key, (size_t)(nul - key));
    fan_push(fo, &t->keys, nul + 1, k->len - (size_t)(nul - key) - 1);
    t->nkeys++;
    t->key_hold = MAX(t->key_hold, hold_ms);
}

void cluster_fan_tags(struct cluster_fanout *fo, const char *table, size_t tlen,
                      const struct invalidation_tags *tags, uint64_t hold_ms)
{
    if (!fo) return;
    struct fan_table *t = fan_table(fo, table, tlen);
    for (int i = 0; i < tags->n; i++) {
        fan_push(fo, &t->tags, tags->tag[i].data, tags->tag[i].len);
        t->ntags++;
    }
    t->tag_hold = MAX(t->tag_hold, hold_ms);
}

void cluster_fan_forget(struct cluster_fanout *fo, const char *table, size_t tlen, uint64_t scope,
                        uint64_t hold_ms)
{
    if (!fo) return;
    if (tlen == 0) {
        fo->forget_all = true;
        fo->all_hold = MAX(fo->all_hold, hold_ms);
        return;
    }
    struct fan_table *t = fan_table(fo, table, tlen);
    t->forget = true;
    t->scope |= scope;
    t->forget_hold = MAX(t->forget_hold, hold_ms);
}

static void fan_finish(void *arg)
{
    struct cluster_fanout *fo = arg;
    CHECK_MAGIC(fo->r, REQUEST_MAGIC);
    metrics_hist_observe(HIST_CLUSTER_FANOUT, clock_mono_ns() - fo->start_ns);
    if (atomic_load(&fo->unacked)) METRIC_INCR(cluster_fanouts_unacked);
    request_send(fo->r, fo->status);
}

/* One call done (any thread); the last posts the answer to the request's thread. */
static void fan_release(struct cluster_fanout *fo)
{
    if (atomic_fetch_sub(&fo->pending, 1) != 1) return;
    if (fo->r->thread)
        handler_thread_post(fo->r->thread, fan_finish, fo);
    else
        fan_finish(fo);
}

static void fan_done(void *arg, const struct node_fanout_result *res)
{
    struct cluster_fanout *fo = arg;
    if (res->unacked) atomic_store(&fo->unacked, true);
    fan_release(fo);
}

/* The list as an array in the request's arena (sent in the order gathered). */
static struct peer_bytes *fan_array(struct cluster_fanout *fo, const struct fan_list *l, size_t n)
{
    struct peer_bytes *a = arena_alloc(fo->r->arena, (n ? n : 1) * sizeof(*a));
    for (size_t i = n; l; l = l->next)
        a[--i] = l->b;
    return a;
}

/* Issues one call; a refusal (the node stopping) counts as done. */
static void fan_call(struct cluster_fanout *fo, int rc)
{
    if (rc < 0) fan_release(fo);
}

void cluster_fan_answer(struct cluster_fanout *fo, struct request *r, int status)
{
    if (!fo || (!fo->tables && !fo->forget_all)) {
        request_send(r, status);
        return;
    }
    const struct cluster_ops *ops = cluster__s.ops;
    void *n = cluster__s.node;
    fo->status = status;
    fo->start_ns = clock_mono_ns();
    atomic_store(&fo->pending, 1); /* held while sending */
    METRIC_INCR(cluster_fanouts);
    for (struct fan_table *t = fo->tables; t; t = t->next) {
        /* tags, then keys, then a FORGET, applied by every peer in this
         * order: a Query page filling the item cache takes its item leases
         * before it checks its tags (query.c), so with the tags bumped
         * first it either fails the check or loses its lease */
        if (t->ntags) {
            atomic_fetch_add(&fo->pending, 1);
            fan_call(fo, ops->tag(n, t->table, t->tlen, fan_array(fo, t->tags, t->ntags), t->ntags,
                                  t->tag_hold, fan_done, fo));
        }
        if (t->nkeys) {
            atomic_fetch_add(&fo->pending, 1);
            fan_call(fo, ops->invalidate(n, t->table, t->tlen, fan_array(fo, t->keys, t->nkeys),
                                         t->nkeys, t->key_hold, fan_done, fo));
        }
        if (t->forget) {
            atomic_fetch_add(&fo->pending, 1);
            fan_call(fo, ops->forget(n, t->table, t->tlen, t->scope, t->forget_hold, fan_done, fo));
        }
    }
    if (fo->forget_all) {
        atomic_fetch_add(&fo->pending, 1);
        fan_call(fo, ops->forget(n, NULL, 0, PEER_FORGET_ITEMS | PEER_FORGET_QUERIES, fo->all_hold,
                                 fan_done, fo));
    }
    fan_release(fo);
}

/* ---- streams (wired into stream/stream.h by main.c) ---- */

bool cluster_owns_table(const char *table, size_t len)
{
    if (!cluster_on()) return true;
    /* a node that just started sees no peer yet, so it would own every
     * table: it waits until it has seen them all, or for as long as a peer
     * takes to be found dead */
    if (!atomic_load(&healthy_once) &&
        item_now() < atomic_load(&started_ms) + cluster__s.o.recent_ms)
        return false;
    void *n = cluster__s.node;
    return cluster__s.ops->owner_of_table(n, table, len) == cluster__s.ops->self(n);
}

struct stream_fan {
    atomic_int pending;
    atomic_bool unacked;
    void (*done)(void *arg, bool acked);
    void *arg;
};

static void stream_fan_release(struct stream_fan *sf)
{
    if (atomic_fetch_sub(&sf->pending, 1) != 1) return;
    sf->done(sf->arg, !atomic_load(&sf->unacked));
    free(sf);
}

static void stream_fan_done(void *arg, const struct node_fanout_result *res)
{
    struct stream_fan *sf = arg;
    if (res->unacked) atomic_store(&sf->unacked, true);
    stream_fan_release(sf);
}

void cluster_stream_fanout(const char *table, size_t tlen, const struct peer_bytes *keys,
                           size_t nkeys, const struct peer_bytes *tags, size_t ntags,
                           void (*done)(void *arg, bool acked), void *arg)
{
    if (!cluster_on() || (!nkeys && !ntags)) {
        done(arg, true);
        return;
    }
    struct stream_fan *sf = xcalloc(1, sizeof(*sf));
    atomic_init(&sf->pending, 1);
    sf->done = done;
    sf->arg = arg;
    const struct cluster_ops *ops = cluster__s.ops;
    if (ntags) { /* tags first, as for writes (cluster_fan_answer) */
        atomic_fetch_add(&sf->pending, 1);
        if (ops->tag(cluster__s.node, table, tlen, tags, ntags, 0, stream_fan_done, sf) < 0)
            atomic_store(&sf->unacked, true), stream_fan_release(sf);
    }
    if (nkeys) {
        atomic_fetch_add(&sf->pending, 1);
        if (ops->invalidate(cluster__s.node, table, tlen, keys, nkeys, 0, stream_fan_done, sf) < 0)
            atomic_store(&sf->unacked, true), stream_fan_release(sf);
    }
    stream_fan_release(sf);
}

void cluster_stream_gap(const char *table, size_t len)
{
    if (!cluster_on()) return;
    cluster__s.ops->forget(cluster__s.node, table, len, PEER_FORGET_ITEMS | PEER_FORGET_QUERIES, 0,
                           NULL, NULL);
}

int cluster_stream_publish(const char *table, const char *arn, const struct peer_shard_pos *shards,
                           size_t nshards)
{
    if (!cluster_on()) return DDBX_OK;
    return cluster__s.ops->publish_position(cluster__s.node, table, arn, shards, nshards);
}
