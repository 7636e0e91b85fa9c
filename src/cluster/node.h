/*
 * node.h: a cluster node. The peer protocol of proto/peer-protocol.md made a
 * running membership: a listener for the peers' connections, one outbound
 * connection per peer (HELLO first, reconnection with backoff, host names
 * resolved again at each attempt), heartbeats, liveness per peer and the live
 * mask ownership is computed over, incarnations, the replay guard, the outbox
 * of unacknowledged invalidations, and degraded mode.
 *
 * Threads. A node runs on its own thread with its own libuv loop. Every
 * function below may be called from any thread, except node_start and
 * node_stop (the thread that owns the node, never the node's own thread).
 * Requests travel to the node's thread through a locked queue and a
 * uv_async; everything the node tells its user comes back through callbacks
 * that RUN ON THE NODE'S THREAD: they must be quick, must not block, and
 * post anything slow to the caller's own thread.
 *
 *   worker threads                       node thread (its own uv loop)
 *   node_invalidate/tag/forget --queue--> outbox per peer -> frames -> peers
 *   node_get ---------------------queue--> GET to the key's owner
 *   done / answer callbacks <------------- ACKs, GET_REPLY, timeouts
 *   handlers.invalidate/tag/forget <------ frames from peers (applied before
 *   handlers.get -> node_get_reply --->    the next frame of that peer)
 *   handlers.event <---------------------- peer up / down / departed,
 *                                          self lagging, degraded / healthy
 *
 * Ownership: every byte a caller passes in is copied before the call
 * returns. Bytes a callback receives are borrowed and valid only during the
 * callback.
 */
#ifndef DDBX_CLUSTER_NODE_H
#define DDBX_CLUSTER_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/owner.h"
#include "cluster/peer_msg.h"
#include "config/config.h"

enum node_status {
    NODE_OK = 0,
    NODE_EINVALID = -1, /* bad options, or a message that cannot fit a frame */
    NODE_EBIND = -2,    /* the peer listener could not be opened */
    NODE_ESTOPPED = -3, /* the node is stopping: nothing more is sent */
    NODE_ESELF = -4,    /* this node's own entry in the list cannot be told */
};

/* The spec's timers (section 11) and bounds; node_options_default fills them. */
struct node_options {
    const char *listen; /* HOST:PORT (or [v6]:PORT) to listen on; port 0 is refused */
    const char *peers;  /* "host:port,host:port,...": every node, this one included */
    const char *self;   /* this node's entry; NULL or "": see node_find_self */
    const void *secret; /* at least PEER_MSG_SECRET_MIN bytes; copied */
    size_t secret_len;
    uint64_t incarnation; /* 0: the wall clock in microseconds now (the spec's rule) */
    uint64_t ping_interval_ms, dead_after_ms, ack_timeout_ms, get_timeout_ms;
    uint64_t window_ms; /* replay window (peer_guard.h) */
    size_t outbox_keys; /* keys kept per peer before they collapse into FORGETs */
    uint64_t connect_timeout_ms;
    const char *name; /* the node thread's name in log lines */
};

void node_options_default(struct node_options *o);

/* Fills o from the --peer-* options of c (o's strings point into c, which
 * must outlive o; the secret, from --peer-secret or --peer-secret-file, is
 * put in *secret, which o->secret points into). Returns NODE_OK, or
 * NODE_EINVALID with a message in err: --peers without --peer-listen or a
 * secret, both secret options, a secret file that group or others may read
 * or write, or that cannot be read. c->peers empty is not an error: the
 * caller runs no node then. */
int node_options_from_config(struct node_options *o, const struct config *c, struct buf *secret,
                             char *err, size_t errlen);

/* Which entry of p is this node: `self` when given (it must be an entry),
 * else the entry equal to `listen`, else the single entry whose port is
 * listen's and whose host resolves (getaddrinfo, blocking) to an address of
 * one of this machine's interfaces. Returns the id, NODE_EINVALID when
 * `self` is not an entry, NODE_ESELF when none or several entries match. */
int node_find_self(const struct owner_peers *p, const char *listen, const char *self);

/* ---- what the node tells its user (on the node's thread) ---- */

enum node_event_type {
    NODE_PEER_UP,       /* a peer became live; new_life: a new incarnation (restarted,
                           or first heard of): everything about its old life is gone */
    NODE_PEER_DOWN,     /* a live peer was silent for dead_after (crash or partition: the
                           spec's 12.2 says drop entries of tables without stream coverage) */
    NODE_PEER_DEPARTED, /* a peer said BYE: no degraded mode for it */
    NODE_SELF_LAGGING,  /* this node's loop stalled or reads old frames: serve as degraded */
    NODE_SELF_CAUGHT_UP,
    NODE_DEGRADED, /* a peer is neither live nor departed, or this node lags (12.1) */
    NODE_HEALTHY,  /* every peer live or departed, and this node not lagging */
};

struct node_event {
    enum node_event_type type;
    int peer;             /* the peer's id for PEER_*, -1 otherwise */
    uint64_t incarnation; /* the peer's, for PEER_UP */
    bool new_life;        /* PEER_UP: a new incarnation */
};

/* A GET a peer asked of this node as the key's owner. The public fields are
 * valid until the request is answered. */
struct node_get_req {
    int from;                  /* the asking peer's id */
    uint64_t flags;            /* PEER_GET_NO_FILL */
    struct peer_bytes table;   /* the table name */
    struct peer_bytes key;     /* the item key (cache key without epoch and table) */
    struct peer_bytes request; /* the GetItem body to fill with on a miss */
    struct node *node;         /* the node it came to: what node_get_reply answers through */
    /* private */
    uint64_t from_inc, req_seq;
};

struct node_handlers {
    void *arg; /* passed to every callback */
    /* Apply, then return: the ACK that follows promises the peer it is
     * applied. Any of these may be NULL (the frame is still acknowledged). */
    void (*invalidate)(void *arg, int from, const struct peer_keyset *m);
    void (*tag)(void *arg, int from, const struct peer_keyset *m);
    void (*forget)(void *arg, int from, const struct peer_forget *m);
    /* This node owns the key (checked before the call). Answer exactly once,
     * now or later, from any thread, with node_get_reply. NULL: MISS. */
    void (*get)(void *arg, struct node_get_req *req);
    void (*stream_position)(void *arg, int from, const struct peer_stream_position *m);
    void (*event)(void *arg, const struct node_event *ev);
};

/* ---- lifecycle ---- */

struct node;

/* Parses the list, finds this node's entry, opens the listener (so a busy
 * port fails here, not later) and starts the node's thread, which connects
 * to every peer. h is copied. Returns NULL with a message in err. A node
 * starts degraded: no peer is live yet. */
struct node *node_start(const struct node_options *o, const struct node_handlers *h, char *err,
                        size_t errlen);

enum node_stop_mode {
    NODE_STOP_BYE,    /* let pending fan-outs finish (ack_timeout at most), send BYE on every
                         link, flush, close: peers mark this node departed at once */
    NODE_STOP_SILENT, /* close every connection now, no BYE: peers see it as a crash */
};

/* Stops the node and frees it. Pending fan-outs complete (timed out if
 * their peers did not answer), pending GETs complete with NODE_GET_TIMEOUT;
 * the callbacks run before this returns. Every node_get_req handed out must
 * have been answered first. Never call from the node's own thread. */
void node_stop(struct node *n, enum node_stop_mode mode);

/* ---- fan-out: INVALIDATE, TAG, FORGET to every peer ---- */

struct node_fanout_result {
    uint64_t acked;   /* peers that acknowledged */
    uint64_t unacked; /* live peers that did not within ack_timeout (kept in their outbox) */
    uint64_t skipped; /* peers not live when sent, or gone while waiting (outbox, or nothing
                         to do: a new incarnation holds nothing older) */
    uint64_t elapsed_us;
};

/* Called once on the node's thread when every peer live at the time has
 * acknowledged, or ack_timeout passed (then the caller proceeds, spec 10). */
typedef void (*node_done_fn)(void *arg, const struct node_fanout_result *r);

/* Sends INVALIDATE (item keys of one table: the cache key after its table
 * and NUL) or TAG (query-cache tags) to every peer: live peers at once,
 * the others through their outbox. hold_ms (0: none): the write may still
 * land this long (an unknown outcome), so receivers hold the keys (TAG: the
 * table's Query/Scan pages) uncached that long; an entry resent later from
 * the outbox carries what is left of it. done may be NULL. Returns NODE_OK,
 * NODE_ESTOPPED, or NODE_EINVALID when the message would not fit a frame. */
int node_invalidate(struct node *n, const char *table, size_t tlen, const struct peer_bytes *keys,
                    size_t nkeys, uint64_t hold_ms, node_done_fn done, void *arg);
int node_tag(struct node *n, const char *table, size_t tlen, const struct peer_bytes *tags,
             size_t ntags, uint64_t hold_ms, node_done_fn done, void *arg);
/* FORGET of a table (tlen 0: every table); scope PEER_FORGET_ITEMS | PEER_FORGET_QUERIES;
 * hold_ms as above (the table held uncached). */
int node_forget(struct node *n, const char *table, size_t tlen, uint64_t scope, uint64_t hold_ms,
                node_done_fn done, void *arg);

/* ---- forwarded reads ---- */

enum node_get_result {
    NODE_GET_VALUE,     /* body: the owner's stored GetItem answer, its CRC checked */
    NODE_GET_MISS,      /* the owner did not fill (NO_FILL, or no handler) */
    NODE_GET_FAILED,    /* the owner's read failed, or its answer was corrupt */
    NODE_GET_NOT_OWNER, /* the owner's view of the live set differs */
    NODE_GET_TIMEOUT,   /* no answer within get_timeout, or the owner went away or is
                           unreachable: read the backend yourself */
    NODE_GET_LOCAL,     /* this node is the key's owner in its current view */
};

struct node_get_answer {
    enum node_get_result result;
    int owner;              /* the peer asked (this node's id for LOCAL) */
    uint64_t ttl_ms;        /* VALUE: how long a near copy may be kept */
    uint32_t crc;           /* VALUE: CRC-32 of body */
    struct peer_bytes body; /* VALUE: borrowed for the callback */
    uint64_t elapsed_us;
};

typedef void (*node_get_fn)(void *arg, const struct node_get_answer *a);

/* Asks the first live candidate for (table, key) for the item, or answers
 * NODE_GET_LOCAL at once (on the node's thread) when that is this node.
 * request: the unprojected, eventually consistent GetItem body. Returns
 * NODE_OK (cb will be called exactly once), NODE_ESTOPPED or NODE_EINVALID. */
int node_get(struct node *n, const char *table, size_t tlen, const void *key, size_t klen,
             const void *request, size_t rlen, uint64_t flags, node_get_fn cb, void *arg);

/* Answers a node_get_req (any thread; the request is freed). status
 * PEER_GET_VALUE with the stored answer (body, len) and its CRC-32; ttl_ms
 * per the spec (0: the asker must not keep a copy). Other statuses send no
 * body. Dropped if the asker restarted or its link is down meanwhile. */
void node_get_reply(struct node *n, struct node_get_req *req, enum peer_get_status status,
                    uint64_t ttl_ms, const void *body, size_t len, uint32_t crc);

/* ---- stream positions ---- */

/* Sends STREAM_POSITION to every live peer (not acknowledged, not kept). */
int node_publish_position(struct node *n, const char *table, const char *stream_arn,
                          const struct peer_shard_pos *shards, size_t nshards);

/* ---- state, from any thread ---- */

int node_self(const struct node *n);
uint64_t node_incarnation(const struct node *n);
const struct owner_peers *node_peers(const struct node *n); /* read-only, for n's life */
/* Live peers, this node's bit always set: what ownership is computed over. */
uint64_t node_live(const struct node *n);
/* Degraded in the spec's sense (12.1): entries of tables without stream
 * coverage may be served only while younger than degraded_ttl. */
bool node_degraded(const struct node *n);
/* The owner of an item (routing key: table, NUL, item key) or a table, over
 * the current live mask. */
int node_owner_of_key(const struct node *n, const void *routing_key, size_t len);
int node_owner_of_table(const struct node *n, const char *table, size_t len);

/* Counters, for tests, tools and logs (the metrics carry the same figures). */
struct node_peer_stats {
    bool live, departed, connected;
    uint64_t incarnation; /* 0: never heard from */
    uint64_t rtt_us;      /* last PING round trip */
    uint64_t outbox_keys;
};
struct node_stats {
    uint64_t in[PEER_MSG_TYPE_MAX + 1], out[PEER_MSG_TYPE_MAX + 1]; /* frames by type */
    uint64_t bad_frames; /* undecodable: bad MAC, invalid, bad version, oversize */
    uint64_t refused;    /* refused by the replay guard or the HELLO checks */
    uint64_t replays;    /* of those, a sequence number already seen */
    uint64_t reconnects, ack_timeouts, get_timeouts, downs, new_lives, collapses;
    uint64_t lagging_episodes;
    struct node_peer_stats peer[OWNER_MAX_PEERS];
};
void node_get_stats(const struct node *n, struct node_stats *out);

/* Defines the ddbx_peer_messages_{in,out}_total{type} and
 * ddbx_peer_frames_refused_total{reason} families; call once during setup,
 * before threads start (main.c). Without it those families are not counted. */
void node_metrics_setup(void);

const char *node_event_name(enum node_event_type t);
const char *node_get_result_name(enum node_get_result r);

#endif
