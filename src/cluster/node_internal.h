/*
 * node_internal.h: what the node's files share (node.c: lifecycle, the
 * command queue, liveness and degraded mode; node_options.c: options and
 * which entry is this node; node_link.c: connections and
 * framing; node_recv.c: what each received frame does; node_outbox.c:
 * fan-outs, outboxes and acknowledgements). Not for users of node.h.
 *
 * Everything here belongs to the node's thread, except what node.h says may
 * be read from any thread (the atomics marked so) and the command queue,
 * which is under q_lock.
 */
#ifndef DDBX_CLUSTER_NODE_INTERNAL_H
#define DDBX_CLUSTER_NODE_INTERNAL_H

#include <pthread.h>
#include <uv.h>

#include "cluster/node.h"
#include "cluster/peer_guard.h"
#include "util/buf.h"
#include "util/common.h"

#define NODE_MAGIC 0x6e6f6465u      /* "node" */
#define NODE_CONN_MAGIC 0x636f6e6eu /* "conn" */
#define NODE_BACKOFF_MIN_MS 50      /* spec section 3 */
#define NODE_BACKOFF_MAX_MS 1000
#define NODE_HELLO_WAIT_MS 5000 /* an inbound connection must say HELLO within this */
#define NODE_WRITE_QUEUE_MAX (32u * 1024 * 1024) /* bytes queued on one link: past it, close */
#define NODE_FORGET_ALL_TABLES 100 /* spec section 10: past this, one FORGET of every table */

/* ---- an intrusive doubly-linked list ---- */

struct dlist {
    struct dlist *prev, *next;
};

static inline void dlist_init(struct dlist *h)
{
    h->prev = h->next = h;
}
static inline bool dlist_empty(const struct dlist *h)
{
    return h->next == h;
}
static inline void dlist_push(struct dlist *h, struct dlist *e)
{
    e->prev = h->prev;
    e->next = h;
    h->prev->next = e;
    h->prev = e;
}
static inline void dlist_del(struct dlist *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->prev = e->next = e;
}

/* ---- fan-outs and outboxes (node_outbox.c) ---- */

/* One INVALIDATE, TAG or FORGET, shared by the outbox entries of every peer
 * it goes to; one allocation, its bytes after the struct. */
struct fan_msg {
    int refs;
    enum peer_msg_type type;
    uint64_t scope;      /* FORGET */
    uint64_t hold_until; /* monotonic ms the receivers hold what it names until; 0: no hold */
    struct peer_bytes table;
    size_t nkeys;
    struct peer_bytes *keys;
};

struct outbox_entry {
    struct dlist link; /* peer->outbox, in serial order */
    struct fan_msg *msg;
    uint64_t serial;   /* per peer, never reused */
    uint64_t sent_seq; /* the frame's seq when last sent; 0: not sent */
    uint64_t sent_gen; /* the connection it was last sent on */
};

struct fan_op;
struct fan_wait {
    struct dlist link; /* peer->waits, in serial order */
    struct fan_op *op;
    uint8_t peer;
    uint64_t serial; /* done once the peer's acked_serial reaches it */
};

/* A caller's fan-out, waiting for the ACKs of the peers live when it began. */
struct fan_op {
    struct dlist link; /* node->ops, in deadline order */
    node_done_fn done;
    void *arg;
    uint64_t start_ns, deadline_ms;
    uint64_t waiting; /* peers whose ACK is still awaited */
    struct node_fanout_result r;
    size_t nwaits;
    struct fan_wait waits[];
};

/* One of our GETs, waiting for its GET_REPLY. */
struct pending_get {
    struct dlist by_peer, by_deadline;
    uint8_t peer;
    uint64_t seq, deadline_ms, start_ns;
    node_get_fn cb;
    void *arg;
};

/* ---- connections (node_link.c) ---- */

enum out_state { OUT_IDLE, OUT_RESOLVING, OUT_CONNECTING, OUT_OPEN };

struct node_conn {
    uint32_t magic;
    uv_tcp_t tcp;
    struct node *node;
    struct node_peer *peer; /* outbound: its peer; inbound: set by an accepted HELLO */
    bool outbound, closing;
    bool shutting; /* a BYE is being flushed before the close */
    uint64_t opened_ms;
    struct peer_msg_decoder dec; /* inbound */
    struct dlist link;           /* node->conns */
};

struct node_peer {
    struct node *node;
    uint8_t id;
    char host[OWNER_ADDR_MAX + 1], port[8];

    /* our link to it: frames go only this way (spec section 3) */
    enum out_state state;
    struct node_conn *out;
    uv_getaddrinfo_t gai;
    uv_connect_t connect;
    uv_timer_t retry, connect_timer;
    struct addrinfo *ai, *ai_next;
    uint64_t backoff_ms;
    bool attempted;     /* a connection was tried before: the next one is a reconnect */
    uint64_t seq;       /* the last seq sent on the link, across connections */
    uint64_t hello_seq; /* the current connection's HELLO */
    uint64_t conn_gen;  /* counts connections whose HELLO was sent */
    struct buf wbuf;    /* frames made this loop iteration, written by the check handle */
    uint64_t ping_seq[4], ping_ns[4]; /* the last PINGs sent, by seq % 4, for round trips */

    /* what we know of it */
    uint64_t inc;        /* its incarnation from an accepted HELLO; 0: none */
    bool fresh_life;     /* its next PEER_UP reports a new incarnation */
    uint64_t last_rx_ms; /* monotonic ms of its last accepted frame */
    bool live, departed;
    struct node_conn *in; /* its current connection to us */
    uint64_t rx_seq;      /* its last frame handled: what our ACK says */
    bool ack_due;

    /* outbox and waits */
    struct dlist outbox;
    size_t outbox_keys;
    uint64_t serial, acked_serial, collapse_upto, collapse_to;
    struct dlist waits; /* struct fan_wait */
    struct dlist gets;  /* struct pending_get, by seq */
    uint64_t rtt_us;
};

/* ---- the command queue (node.c) ---- */

enum cmd_kind { CMD_FANOUT, CMD_GET, CMD_GET_REPLY, CMD_POSITION, CMD_STOP };

struct node_cmd {
    struct node_cmd *next;
    enum cmd_kind kind;
    uint64_t start_ns;
    union {
        struct {
            struct fan_msg *msg;
            node_done_fn done;
            void *arg;
        } fan;
        struct {
            node_get_fn cb;
            void *arg;
            uint64_t flags;
            struct peer_bytes table, key, request;
        } get;
        struct {
            struct node_get_req *req;
            enum peer_get_status status;
            uint64_t ttl_ms;
            uint32_t crc;
            struct peer_bytes body;
        } reply;
        struct peer_stream_position position;
        enum node_stop_mode stop;
    } u;
};

struct node {
    uint32_t magic;
    struct owner_peers peers;
    int self;
    uint64_t inc;
    struct node_options o; /* strings owned (copied) */
    struct node_handlers h;
    struct peer_key key;
    struct peer_guard guard;
    struct sockaddr_storage listen_addr;

    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t async;
    uv_tcp_t listener;
    uv_timer_t tick, deadline, stop_timer;
    uv_check_t flush;

    pthread_mutex_t q_lock;
    struct node_cmd *q_head, **q_tail;

    /* read from any thread (atomics) */
    uint64_t live_mask;
    bool degraded;
    bool stopping;
    bool q_closed; /* under q_lock: the loop is closing, nothing more is queued */

    bool closing; /* every handle is being closed: schedule nothing new */
    bool bye_pending;
    enum node_stop_mode stop_mode;
    bool lagging;
    uint64_t last_tick_ms, max_age_ms;
    uint64_t deadline_at; /* when the deadline timer is due; 0: not armed */

    struct node_peer peer[OWNER_MAX_PEERS];
    struct dlist conns, ops, gets;
    struct node_stats stats; /* written by the node's thread, read with relaxed loads */
    uint8_t rbuf[64 * 1024];
};

/* Why a frame was refused (the ddbx_peer_frames_refused_total family). */
enum node_refusal {
    REF_BAD_MAC,
    REF_INVALID,
    REF_BAD_VERSION,
    REF_OVERSIZE,
    REF_MISROUTED,
    REF_STALE,
    REF_REPLAY,
    REF_INCARNATION,
    REF_NO_HELLO,
    REF_HELLO_MISMATCH,
    REF_COUNT
};

/* Counters: one writer (the node's thread), readers anywhere. */
#define NODE_STAT_ADD(n, field, v)                                                                 \
    __atomic_store_n(&(n)->stats.field, (n)->stats.field + (v), __ATOMIC_RELAXED)

/* node.c */
void node__event(struct node *n, enum node_event_type t, int peer, uint64_t inc, bool new_life);
void node__update_state(struct node *n); /* live mask, degraded, gauges */
void node__peer_changed(struct node_peer *p, enum node_event_type t, bool new_life);
void node__arm_deadline(struct node *n);
void node__refused(struct node *n, enum node_refusal why);
void node__count(struct node *n, bool out, enum peer_msg_type type);
void node__maybe_finish_stop(struct node *n);

/* node_link.c */
int node__listen(struct node *n, char *err, size_t errlen);
void node__connect(struct node_peer *p);
void node__reconnect_now(struct node_peer *p);
void node__close_conn(struct node_conn *c);
void node__flush(struct node *n);
void node__shutdown_links(struct node *n);
bool node__link_ready(const struct node_peer *p);
/* Stamps and encodes m for p onto p's write buffer; returns its seq, or 0
 * when it could not be encoded. */
uint64_t node__send(struct node_peer *p, struct peer_msg *m);
void node__send_hello(struct node_peer *p);
void node__send_ack(struct node_peer *p);

/* node_recv.c */
void node__on_frame(struct node_conn *c, struct peer_msg *m);
void node__link_became_ready(struct node_peer *p);
void node__peer_up(struct node_peer *p);
void node__peer_down(struct node_peer *p);
void node__fail_gets(struct node_peer *p);
void node__run_get(struct node *n, struct node_cmd *cmd);
void node__expire_gets(struct node *n, uint64_t now_ms);
void node__send_reply(struct node *n, struct node_get_req *req, enum peer_get_status status,
                      uint64_t ttl_ms, struct peer_bytes body, uint32_t crc);

/* node_outbox.c */
struct fan_msg *node__fan_msg_new(enum peer_msg_type type, const char *table, size_t tlen,
                                  const struct peer_bytes *keys, size_t nkeys, uint64_t scope,
                                  uint64_t hold_ms);
void node__fan_msg_unref(struct fan_msg *m);
void node__run_fanout(struct node *n, struct node_cmd *cmd);
void node__outbox_send_pending(struct node_peer *p);
void node__outbox_acked(struct node_peer *p, uint64_t upto);
void node__outbox_discard(struct node_peer *p);
void node__release_waits(struct node_peer *p);
void node__expire_ops(struct node *n, uint64_t now_ms);
void node__complete_all_ops(struct node *n);

#endif
