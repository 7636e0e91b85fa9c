/*
 * cluster.h: the handlers' side of a ddbx cluster (docs/CLUSTER.md): what
 * the handler files call so that several nodes behave as one cache, and the
 * node_handlers (cluster/node.h) that apply what peers send.
 *
 *   writes    after the backend answers and the local cache changed, the
 *             keys, query tags and tables the write may have changed go to
 *             every peer (INVALIDATE, TAG, FORGET, with a hold when its
 *             outcome is unknown); the client is answered once every live
 *             peer acknowledged (applied) them, or --peer-ack-timeout passed
 *   reads     a GetItem/BatchGetItem miss on a key another node owns takes
 *             the local lease and asks the owner (GET); its VALUE answers the
 *             client and stays as a near copy while the lease is intact; any
 *             other answer reads the backend, as a single node does
 *   degraded  while a peer is down (or this node lags), entries of tables
 *             without a stream live at most --peer-degraded-ttl, and every
 *             such entry cached before is dropped when it begins
 *   peers     INVALIDATE/TAG/FORGET applied to the cache (holds included),
 *             GETs for keys this node owns answered from the cache or filled
 *             through the ordinary GetItem path (leases, coalescing), events,
 *             stream positions handed to the stream readers
 *
 * Everything here is a no-op (or answers "local") when no cluster was set
 * up, so the handlers call it unconditionally.
 *
 * The node is reached through struct cluster_ops, like the backend through
 * backend_ops: the real node (cluster_node_ops) in ddbx, a fake in the
 * handler unit tests.
 *
 * Threads: the fan-out and read functions run on a request's thread; their
 * completions come back to it through its mailbox. The node_handlers run on
 * the node's thread. Setup and teardown run on the main thread.
 */
#ifndef DDBX_HANDLER_CLUSTER_H
#define DDBX_HANDLER_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/cache.h"
#include "cluster/node.h"
#include "handler/request.h"
#include "proto/invalidation.h"
#include "proto/json.h"

/* What the handlers need of a node; `node` is the cluster_setup argument.
 * The calls and their contracts are cluster/node.h's. */
struct cluster_ops {
    int (*invalidate)(void *node, const char *table, size_t tlen, const struct peer_bytes *keys,
                      size_t nkeys, uint64_t hold_ms, node_done_fn done, void *arg);
    int (*tag)(void *node, const char *table, size_t tlen, const struct peer_bytes *tags,
               size_t ntags, uint64_t hold_ms, node_done_fn done, void *arg);
    int (*forget)(void *node, const char *table, size_t tlen, uint64_t scope, uint64_t hold_ms,
                  node_done_fn done, void *arg);
    int (*get)(void *node, const char *table, size_t tlen, const void *key, size_t klen,
               const void *request, size_t rlen, uint64_t flags, node_get_fn cb, void *arg);
    void (*get_reply)(void *node, struct node_get_req *req, enum peer_get_status status,
                      uint64_t ttl_ms, const void *body, size_t len, uint32_t crc);
    int (*publish_position)(void *node, const char *table, const char *stream_arn,
                            const struct peer_shard_pos *shards, size_t nshards);
    bool (*degraded)(void *node);
    int (*owner_of_key)(void *node, const void *routing_key, size_t len);
    int (*owner_of_table)(void *node, const char *table, size_t len);
    int (*self)(void *node);
};

/* The real node (cluster/node.h). */
extern const struct cluster_ops cluster_node_ops;

struct cluster_options {
    uint64_t near_ttl_ms;     /* the longest a near copy is kept (spec: near_ttl) */
    uint64_t degraded_ttl_ms; /* the longest an entry of a table without a stream lives while
                                 degraded (spec: degraded_ttl, the freshness bound F) */
    uint64_t recent_ms; /* after a peer's invalidation of a key, how long no near copy of it is
                           kept: --peer-dead-after plus --peer-ping-interval (cluster.c says why) */
    bool streams;       /* --streams: tables with a stream are covered by it */
    /* The thread whose backend client fills the GETs of peers that miss here
     * (NULL: cluster_setup starts one of its own, stopped by cluster_stop). */
    struct handler_thread *serve;
};

/* The callbacks to give node_start (arg: NULL). They may run before
 * cluster_setup; until then a peer's GET is answered MISS, and what peers
 * send is applied to the cache all the same. */
const struct node_handlers *cluster_node_handlers(void);
/* Starts serving: node is passed to every ops call. Returns DDBX_OK, or
 * DDBX_ERR when the serving thread cannot start. */
int cluster_setup(const struct cluster_ops *ops, void *node, const struct cluster_options *o);
/* Stops answering peers' GETs (later ones get MISS), waits for the ones
 * being filled and stops the serving thread it started (with a serving
 * thread of the caller's, the caller runs it until they are answered). Call
 * after the workers stopped and before node_stop (node.h: every GET must be
 * answered first). */
void cluster_stop(void);
/* Forgets the node; handlers see no cluster again. After node_stop. */
void cluster_teardown(void);
/* True between cluster_setup and cluster_teardown. */
bool cluster_on(void);

/* ---- writes: what a write changed, sent before its answer ---- */

struct cluster_fanout;

/* A fan-out for r (in r's arena), or NULL when there is no cluster (every
 * cluster_fan_* function takes NULL and does nothing). */
struct cluster_fanout *cluster_fanout_new(struct request *r);
/* An item key written (the cache key: table, NUL, item key). hold_ms: the
 * write's outcome is unknown (the peers hold the key that long). */
void cluster_fan_key(struct cluster_fanout *fo, const struct cache_key *k, uint64_t hold_ms);
/* The query tags a write bumped, for its table; hold_ms holds the table's
 * pages uncached on the peers. */
void cluster_fan_tags(struct cluster_fanout *fo, const char *table, size_t tlen,
                      const struct invalidation_tags *tags, uint64_t hold_ms);
/* Everything cached of a table (tlen 0: of every table) must go; scope
 * PEER_FORGET_ITEMS | PEER_FORGET_QUERIES. */
void cluster_fan_forget(struct cluster_fanout *fo, const char *table, size_t tlen, uint64_t scope,
                        uint64_t hold_ms);
/* Sends what fo gathered and answers r with status (r->reply is ready) once
 * every live peer acknowledged it, or the node's ack timeout passed; at once
 * when fo is NULL or empty. */
void cluster_fan_answer(struct cluster_fanout *fo, struct request *r, int status);

/* ---- reads ---- */

/* What a key's owner answered a forwarded read with: its stored GetItem
 * answer ({"Item":...}, or {} for an item that does not exist). */
struct cluster_value {
    const char *body;
    size_t len;
    uint32_t crc;
};

/* Called on r's thread: v is the owner's value (the near copy, if allowed,
 * was installed through `lease` already), or NULL: read the backend. */
typedef void (*cluster_got_fn)(struct request *r, void *arg, const struct cluster_value *v);

/* A miss on k, whose lease (from cache_get) r holds: if another node owns
 * the key, asks it and returns true (cb follows; the lease is ended there
 * when the owner answered with a value: installed as a near copy, or only
 * handed to the requests waiting on it); false when this node owns it, or
 * there is no cluster, or r is itself a peer's GET: read the backend as
 * ever. table, key: the request's TableName and Key (the GetItem sent to
 * the owner is built from them, unprojected, eventually consistent). */
bool cluster_forward_get(struct request *r, const struct cache_key *k, struct cache_fill *lease,
                         const struct json *table, const struct json *key, cluster_got_fn cb,
                         void *arg);

/* ---- degraded mode ---- */

/* The TTL a fill of `table` installs with: 0 (the kind's default) unless
 * this node is degraded and the table has no stream coverage, then
 * --peer-degraded-ttl. `ttl_ms` (0: default) is the fill's own. */
uint64_t cluster_fill_ttl(const char *table, size_t len, uint64_t ttl_ms);
/* False when a write's value must not be stored (invalidated instead):
 * degraded, and the table has no stream coverage (a stored entry has the
 * full TTL). */
bool cluster_may_store(const char *table, size_t len);

/* ---- the stream readers (stream/stream.h's options; main.c wires them) ---- */

/* True when this node reads the table's stream: it owns the table among the
 * live nodes (always without a cluster). */
bool cluster_owns_table(const char *table, size_t len);
/* Sends what stream records changed (item keys as INVALIDATE keys, query
 * tags) to every peer; done(arg, acked) runs once every live peer applied
 * them (acked) or the ack timeout passed (not acked), on the node's thread,
 * or at once without a cluster. Bytes are copied. */
void cluster_stream_fanout(const char *table, size_t tlen, const struct peer_bytes *keys,
                           size_t nkeys, const struct peer_bytes *tags, size_t ntags,
                           void (*done)(void *arg, bool acked), void *arg);
/* A reader may have missed records: every node drops the table (FORGET). */
void cluster_stream_gap(const char *table, size_t len);
/* STREAM_POSITION to every live peer (a no-op without a cluster). */
int cluster_stream_publish(const char *table, const char *arn, const struct peer_shard_pos *shards,
                           size_t nshards);

#endif
