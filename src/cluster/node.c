/*
 * node.c: a cluster node's life (see node.h): start and stop, the node's
 * thread and loop, the queue other threads talk to it through, the
 * heartbeat tick (PINGs, liveness, the node's own lag) and degraded mode.
 * Options are node_options.c's, connections node_link.c's, received frames
 * node_recv.c's, fan-outs and outboxes node_outbox.c's.
 */
#include "cluster/node_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/metrics.h"
#include "util/addr.h"
#include "util/clock.h"
#include "util/log.h"

/* ---- counters, events, state ---- */

static int family_in = -1, family_out = -1, family_refused = -1;
static const char *const type_labels[PEER_MSG_TYPE_MAX + 1] = {"none",
#define X(NAME, lower, num) #lower,
                                                               PEER_MSG_TYPES(X)
#undef X
};
static const char *const refusal_labels[REF_COUNT] = {
    "bad_mac", "invalid", "bad_version", "oversize", "misrouted",
    "stale",   "replay",  "incarnation", "no_hello", "hello_mismatch"};

void node_metrics_setup(void)
{
    family_in = metrics_family_setup(FAMILY_PEER_IN, type_labels, PEER_MSG_TYPE_MAX + 1);
    family_out = metrics_family_setup(FAMILY_PEER_OUT, type_labels, PEER_MSG_TYPE_MAX + 1);
    family_refused = metrics_family_setup(FAMILY_PEER_REFUSED, refusal_labels, REF_COUNT);
}

void node__count(struct node *n, bool out, enum peer_msg_type type)
{
    if (out) {
        NODE_STAT_ADD(n, out[type], 1);
        if (family_out >= 0) metrics_family_incr(family_out, type);
    } else {
        NODE_STAT_ADD(n, in[type], 1);
        if (family_in >= 0) metrics_family_incr(family_in, type);
    }
}

void node__refused(struct node *n, enum node_refusal why)
{
    if (why <= REF_OVERSIZE)
        NODE_STAT_ADD(n, bad_frames, 1);
    else
        NODE_STAT_ADD(n, refused, 1);
    if (why == REF_REPLAY) NODE_STAT_ADD(n, replays, 1);
    if (family_refused >= 0) metrics_family_incr(family_refused, why);
}

void node__event(struct node *n, enum node_event_type t, int peer, uint64_t inc, bool new_life)
{
    if (peer >= 0)
        log_info("peer %s (%d): %s%s", n->peers.addr[peer], peer, node_event_name(t),
                 new_life ? ", a new incarnation" : "");
    else
        log_info("cluster: %s", node_event_name(t));
    if (!n->h.event) return;
    struct node_event ev = {t, peer, inc, new_life};
    n->h.event(n->h.arg, &ev);
}

static void set_peer_stats(struct node *n, const struct node_peer *p)
{
    struct node_peer_stats *s = &n->stats.peer[p->id];
    __atomic_store_n(&s->live, p->live, __ATOMIC_RELAXED);
    __atomic_store_n(&s->departed, p->departed, __ATOMIC_RELAXED);
    __atomic_store_n(&s->connected, p->state == OUT_OPEN, __ATOMIC_RELAXED);
    __atomic_store_n(&s->incarnation, p->inc, __ATOMIC_RELAXED);
    __atomic_store_n(&s->rtt_us, p->rtt_us, __ATOMIC_RELAXED);
    __atomic_store_n(&s->outbox_keys, (uint64_t)p->outbox_keys, __ATOMIC_RELAXED);
}

/* Publishes the live mask and the degraded flag (and their gauges) for
 * other threads; returns the degraded-mode event now due, or -1. */
static int publish_state(struct node *n)
{
    uint64_t live = UINT64_C(1) << n->self;
    bool missing = false;
    int up = 0;
    for (size_t i = 0; i < n->peers.n; i++) {
        struct node_peer *p = &n->peer[i];
        if ((int)i == n->self) continue;
        set_peer_stats(n, p);
        if (p->live)
            live |= UINT64_C(1) << i, up++;
        else if (!p->departed)
            missing = true;
    }
    int up_before = __builtin_popcountll(__atomic_load_n(&n->live_mask, __ATOMIC_RELAXED)) - 1;
    METRIC_ADD(peers_up, up - up_before);
    __atomic_store_n(&n->live_mask, live, __ATOMIC_RELEASE);
    bool degraded = missing || n->lagging;
    if (degraded == __atomic_load_n(&n->degraded, __ATOMIC_RELAXED)) return -1;
    __atomic_store_n(&n->degraded, degraded, __ATOMIC_RELEASE);
    METRIC_ADD(peer_degraded, degraded ? 1 : -1);
    if (degraded) METRIC_INCR(peer_degraded_episodes);
    return degraded ? NODE_DEGRADED : NODE_HEALTHY;
}

void node__update_state(struct node *n)
{
    int ev = publish_state(n);
    if (ev >= 0) node__event(n, ev, -1, 0, false);
}

/* The state is published before the events are delivered, so a handler
 * (or another thread it wakes) sees node_live() and node_degraded() agree
 * with what it is told. */
void node__peer_changed(struct node_peer *p, enum node_event_type t, bool new_life)
{
    struct node *n = p->node;
    int ev = publish_state(n);
    node__event(n, t, p->id, p->inc, new_life);
    if (ev >= 0) node__event(n, ev, -1, 0, false);
}

/* ---- the heartbeat tick ---- */

/* Returns the lag event now due, or -1. */
static int check_lag(struct node *n, bool stalled, uint64_t gap_ms)
{
    uint64_t age = n->max_age_ms;
    bool lag = stalled || age > n->o.dead_after_ms;
    n->max_age_ms = 0;
    if (lag == n->lagging) return -1;
    n->lagging = lag;
    if (!lag) return NODE_SELF_CAUGHT_UP;
    NODE_STAT_ADD(n, lagging_episodes, 1);
    if (stalled)
        log_warn("cluster: the peer loop did not run for %llu ms", (unsigned long long)gap_ms);
    else
        log_warn("cluster: read peer frames %llu ms old (a backlog, or hosts' clocks apart)",
                 (unsigned long long)age);
    return NODE_SELF_LAGGING;
}

static void close_silent_conns(struct node *n, uint64_t now)
{
    for (struct dlist *e = n->conns.next, *next; e != &n->conns; e = next) {
        next = e->next;
        struct node_conn *c = container_of(e, struct node_conn, link);
        if (!c->outbound && !c->peer && !c->closing && now - c->opened_ms > NODE_HELLO_WAIT_MS)
            node__close_conn(c);
    }
}

static void on_tick(uv_timer_t *t)
{
    struct node *n = t->data;
    CHECK_MAGIC(n, NODE_MAGIC);
    uint64_t now = clock_mono_ms();
    /* a loop that did not run for dead_after could not read what its peers
     * sent meanwhile: it lags, and judges nobody dead on this tick */
    bool stalled = n->last_tick_ms && now - n->last_tick_ms > n->o.dead_after_ms;
    int lag = check_lag(n, stalled, now - n->last_tick_ms);
    n->last_tick_ms = now;
    for (size_t i = 0; i < n->peers.n; i++) {
        struct node_peer *p = &n->peer[i];
        if ((int)i == n->self) continue;
        if (!stalled && p->live && now - p->last_rx_ms > n->o.dead_after_ms) node__peer_down(p);
        if (!node__link_ready(p)) continue;
        struct peer_msg m = {.hdr.type = PEER_PING};
        m.u.ping.live = __atomic_load_n(&n->live_mask, __ATOMIC_RELAXED);
        uint64_t seq = node__send(p, &m);
        if (seq) p->ping_seq[seq % 4] = seq, p->ping_ns[seq % 4] = clock_mono_ns();
    }
    close_silent_conns(n, now);
    int degraded = publish_state(n);
    if (lag >= 0) node__event(n, lag, -1, 0, false);
    if (degraded >= 0) node__event(n, degraded, -1, 0, false);
}

/* ---- deadlines: fan-outs and GETs ---- */

static void on_deadline(uv_timer_t *t)
{
    struct node *n = t->data;
    CHECK_MAGIC(n, NODE_MAGIC);
    n->deadline_at = 0;
    uint64_t now = uv_now(&n->loop);
    node__expire_ops(n, now);
    node__expire_gets(n, now);
    node__arm_deadline(n);
}

void node__arm_deadline(struct node *n)
{
    if (n->closing) return;
    uint64_t at = UINT64_MAX;
    if (!dlist_empty(&n->ops)) at = container_of(n->ops.next, struct fan_op, link)->deadline_ms;
    if (!dlist_empty(&n->gets))
        at = MIN(at, container_of(n->gets.next, struct pending_get, by_deadline)->deadline_ms);
    if (at == UINT64_MAX || at == n->deadline_at) return;
    n->deadline_at = at;
    uint64_t now = uv_now(&n->loop);
    uv_timer_start(&n->deadline, on_deadline, at > now ? at - now : 0, 0);
}

/* ---- the command queue ---- */

static int enqueue(struct node *n, struct node_cmd *cmd)
{
    CHECK_MAGIC(n, NODE_MAGIC);
    cmd->next = NULL;
    pthread_mutex_lock(&n->q_lock);
    /* after STOP nothing new is taken, but answers to GETs still are until
     * the queue closes with the loop */
    bool stopping =
        n->q_closed || (n->stopping && cmd->kind != CMD_STOP && cmd->kind != CMD_GET_REPLY);
    if (!stopping) {
        *n->q_tail = cmd;
        n->q_tail = &cmd->next;
        if (cmd->kind == CMD_STOP) __atomic_store_n(&n->stopping, true, __ATOMIC_RELEASE);
        /* under the lock: the loop closes the handle only after q_closed */
        uv_async_send(&n->async);
    }
    pthread_mutex_unlock(&n->q_lock);
    return stopping ? NODE_ESTOPPED : NODE_OK;
}

static void send_position(struct node *n, struct node_cmd *cmd)
{
    for (size_t i = 0; i < n->peers.n; i++) {
        struct node_peer *p = &n->peer[i];
        if ((int)i == n->self || !p->live || !node__link_ready(p)) continue;
        struct peer_msg m = {.hdr.type = PEER_STREAM_POSITION};
        m.u.stream_position = cmd->u.position;
        node__send(p, &m);
    }
}

static void begin_stop(struct node *n, enum node_stop_mode mode);

static void on_async(uv_async_t *a)
{
    struct node *n = a->data;
    CHECK_MAGIC(n, NODE_MAGIC);
    pthread_mutex_lock(&n->q_lock);
    struct node_cmd *cmd = n->q_head;
    n->q_head = NULL;
    n->q_tail = &n->q_head;
    pthread_mutex_unlock(&n->q_lock);
    while (cmd) {
        struct node_cmd *next = cmd->next;
        switch (cmd->kind) {
        case CMD_FANOUT: node__run_fanout(n, cmd); break;
        case CMD_GET: node__run_get(n, cmd); break;
        case CMD_GET_REPLY:
            node__send_reply(n, cmd->u.reply.req, cmd->u.reply.status, cmd->u.reply.ttl_ms,
                             cmd->u.reply.body, cmd->u.reply.crc);
            break;
        case CMD_POSITION: send_position(n, cmd); break;
        case CMD_STOP: begin_stop(n, cmd->u.stop); break;
        }
        free(cmd);
        cmd = next;
    }
    node__arm_deadline(n);
}

/* The frames of this loop iteration go out in one write per link. */
static void on_check(uv_check_t *c)
{
    node__flush(c->data);
}

/* ---- stop ---- */

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* Closes every handle of the loop, so that uv_run returns; conns draining a
 * BYE are left to their shutdown unless `force`. */
static void close_everything(struct node *n, bool force)
{
    n->closing = true;
    pthread_mutex_lock(&n->q_lock);
    n->q_closed = true;
    pthread_mutex_unlock(&n->q_lock);
    on_async(&n->async); /* answers queued before the queue closed */
    close_handle((uv_handle_t *)&n->listener);
    close_handle((uv_handle_t *)&n->async);
    close_handle((uv_handle_t *)&n->tick);
    close_handle((uv_handle_t *)&n->deadline);
    close_handle((uv_handle_t *)&n->flush);
    for (size_t i = 0; i < n->peers.n; i++) {
        struct node_peer *p = &n->peer[i];
        if ((int)i == n->self) continue;
        close_handle((uv_handle_t *)&p->retry);
        close_handle((uv_handle_t *)&p->connect_timer);
        if (p->state == OUT_RESOLVING) uv_cancel((uv_req_t *)&p->gai);
    }
    for (struct dlist *e = n->conns.next, *next; e != &n->conns; e = next) {
        next = e->next;
        struct node_conn *c = container_of(e, struct node_conn, link);
        if (force || !c->shutting) node__close_conn(c);
    }
}

static void on_stop_timer(uv_timer_t *t)
{
    struct node *n = t->data;
    CHECK_MAGIC(n, NODE_MAGIC);
    close_everything(n, true); /* links that did not drain their BYE in time */
    close_handle((uv_handle_t *)t);
}

static void finish_stop(struct node *n)
{
    n->bye_pending = false;
    n->closing = true;
    for (struct dlist *e = n->gets.next; e != &n->gets; e = n->gets.next) {
        struct pending_get *g = container_of(e, struct pending_get, by_deadline);
        node__fail_gets(&n->peer[g->peer]);
    }
    node__complete_all_ops(n);
    if (n->stop_mode == NODE_STOP_BYE) {
        for (size_t i = 0; i < n->peers.n; i++) {
            struct node_peer *p = &n->peer[i];
            if ((int)i == n->self || !node__link_ready(p)) continue;
            struct peer_msg m = {.hdr.type = PEER_BYE};
            node__send(p, &m);
        }
        node__flush(n);
        node__shutdown_links(n); /* outbound links close once their writes are out */
        uv_timer_start(&n->stop_timer, on_stop_timer, 1000, 0);
    }
    close_everything(n, false);
    /* the last connection's close callback closes it otherwise */
    if (n->stop_mode != NODE_STOP_BYE || dlist_empty(&n->conns))
        close_handle((uv_handle_t *)&n->stop_timer);
}

void node__maybe_finish_stop(struct node *n)
{
    if (n->bye_pending && dlist_empty(&n->ops)) finish_stop(n);
}

static void begin_stop(struct node *n, enum node_stop_mode mode)
{
    n->stop_mode = mode;
    if (mode == NODE_STOP_BYE) {
        n->bye_pending = true; /* pending fan-outs finish first (ack_timeout at most) */
        node__maybe_finish_stop(n);
    } else {
        finish_stop(n);
    }
}

/* ---- start ---- */

/* The spec's incarnation: the wall clock in microseconds at start. */
static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void node_thread(void *arg)
{
    struct node *n = arg;
    log_set_thread_name(n->o.name);
    metrics_thread_register();
    n->last_tick_ms = clock_mono_ms(); /* a stall before the first tick is a stall too */
    METRIC_ADD(peer_degraded, 1);      /* a node starts degraded: nobody heard yet */
    METRIC_INCR(peer_degraded_episodes);
    node__update_state(n);
    for (size_t i = 0; i < n->peers.n; i++)
        if ((int)i != n->self) node__connect(&n->peer[i]);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    METRIC_ADD(peers_up, -(int64_t)(__builtin_popcountll(n->live_mask) - 1));
    if (n->degraded) METRIC_DECR(peer_degraded);
}

static void init_peer(struct node *n, size_t i)
{
    struct node_peer *p = &n->peer[i];
    p->node = n;
    p->id = (uint8_t)i;
    p->backoff_ms = NODE_BACKOFF_MIN_MS;
    buf_init(&p->wbuf);
    dlist_init(&p->outbox);
    dlist_init(&p->waits);
    dlist_init(&p->gets);
    uint16_t port = 0;
    addr_split(n->peers.addr[i], p->host, sizeof(p->host), &port); /* checked by node_start */
    snprintf(p->port, sizeof(p->port), "%u", (unsigned)port);
    if ((int)i == n->self) return;
    uv_timer_init(&n->loop, &p->retry);
    uv_timer_init(&n->loop, &p->connect_timer);
    p->retry.data = p->connect_timer.data = p;
}

static bool check_options(const struct node_options *o, char *err, size_t errlen)
{
    const char *why = NULL;
    if (!o->listen || !*o->listen)
        why = "no peer listen address";
    else if (!o->peers || !*o->peers)
        why = "no peer list";
    else if (!o->secret || o->secret_len < PEER_MSG_SECRET_MIN)
        why = "peer secret too short";
    else if (!o->ping_interval_ms || o->dead_after_ms <= o->ping_interval_ms)
        why = "the dead-after time must be longer than the ping interval";
    else if (!o->ack_timeout_ms || !o->get_timeout_ms || !o->window_ms || !o->outbox_keys)
        why = "a zero timer or bound";
    if (why) snprintf(err, errlen, "cluster: %s", why);
    return !why;
}

static void copy_options(struct node *n, const struct node_options *o)
{
    n->o = *o;
    n->o.listen = xstrdup(o->listen);
    n->o.peers = xstrdup(o->peers);
    n->o.self = xstrdup(o->self ? o->self : "");
    n->o.name = xstrdup(o->name ? o->name : "cluster");
    n->o.secret = NULL; /* only the prepared key is kept */
    if (!n->o.connect_timeout_ms) n->o.connect_timeout_ms = 1000;
}

static void free_node(struct node *n)
{
    for (struct node_cmd *cmd = n->q_head, *next; cmd; cmd = next) {
        next = cmd->next; /* only GET answers can be left: nothing else is taken after STOP */
        if (cmd->kind == CMD_GET_REPLY) free(cmd->u.reply.req);
        free(cmd);
    }
    for (size_t i = 0; i < n->peers.n; i++) {
        struct node_peer *p = &n->peer[i];
        if (!p->node) continue; /* start failed before it was set up */
        node__outbox_discard(p);
        buf_free(&p->wbuf);
        if (p->ai) uv_freeaddrinfo(p->ai);
    }
    peer_key_free(&n->key);
    owner_peers_free(&n->peers);
    free((char *)n->o.listen);
    free((char *)n->o.peers);
    free((char *)n->o.self);
    free((char *)n->o.name);
    pthread_mutex_destroy(&n->q_lock);
    n->magic = 0;
    free(n);
}

static void drain_loop(struct node *n)
{
    close_everything(n, true);
    close_handle((uv_handle_t *)&n->stop_timer);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    uv_loop_close(&n->loop);
}

struct node *node_start(const struct node_options *o, const struct node_handlers *h, char *err,
                        size_t errlen)
{
    if (!check_options(o, err, errlen)) return NULL;
    struct node *n = xcalloc(1, sizeof(*n));
    n->magic = NODE_MAGIC;
    pthread_mutex_init(&n->q_lock, NULL);
    n->q_tail = &n->q_head;
    if (h) n->h = *h;
    copy_options(n, o);
    dlist_init(&n->conns);
    dlist_init(&n->ops);
    dlist_init(&n->gets);
    if (owner_peers_parse(&n->peers, o->peers) < 0) {
        snprintf(err, errlen, "cluster: --peers \"%s\" is not a list of HOST:PORT", o->peers);
        goto error;
    }
    for (size_t i = 0; i < n->peers.n; i++) {
        char host[OWNER_ADDR_MAX + 1];
        uint16_t port = 0;
        if (addr_split(n->peers.addr[i], host, sizeof(host), &port) < 0 || port == 0) {
            snprintf(err, errlen, "cluster: --peers entry \"%s\" is not HOST:PORT",
                     n->peers.addr[i]);
            goto error;
        }
    }
    n->self = node_find_self(&n->peers, o->listen, o->self);
    if (n->self < 0) {
        snprintf(err, errlen,
                 n->self == NODE_EINVALID ? "cluster: --peer-self is not an entry of --peers"
                                          : "cluster: cannot tell which entry of --peers is this "
                                            "node; give --peer-self");
        goto error;
    }
    n->inc = o->incarnation ? o->incarnation : wall_us();
    peer_key_init(&n->key, o->secret, o->secret_len);
    peer_guard_init(&n->guard, n->peers.n, (uint8_t)n->self, n->inc, o->window_ms);
    n->degraded = true;
    n->live_mask = UINT64_C(1) << n->self;
    uv_loop_init(&n->loop);
    uv_async_init(&n->loop, &n->async, on_async);
    uv_timer_init(&n->loop, &n->tick);
    uv_timer_init(&n->loop, &n->deadline);
    uv_timer_init(&n->loop, &n->stop_timer);
    uv_check_init(&n->loop, &n->flush);
    uv_tcp_init(&n->loop, &n->listener);
    n->async.data = n->tick.data = n->deadline.data = n->stop_timer.data = n->flush.data = n;
    n->listener.data = n;
    for (size_t i = 0; i < n->peers.n; i++)
        init_peer(n, i);
    if (node__listen(n, err, errlen) < 0) {
        drain_loop(n);
        goto error;
    }
    uv_check_start(&n->flush, on_check);
    uv_timer_start(&n->tick, on_tick, o->ping_interval_ms, o->ping_interval_ms);
    log_info("cluster: this node is %s (id %d of %zu), incarnation %llu", n->peers.addr[n->self],
             n->self, n->peers.n, (unsigned long long)n->inc);
    if (uv_thread_create(&n->thread, node_thread, n) != 0) {
        snprintf(err, errlen, "cluster: cannot start the node's thread");
        drain_loop(n);
        goto error;
    }
    return n;
error:
    free_node(n);
    return NULL;
}

void node_stop(struct node *n, enum node_stop_mode mode)
{
    struct node_cmd *cmd = xcalloc(1, sizeof(*cmd));
    cmd->kind = CMD_STOP;
    cmd->u.stop = mode;
    if (enqueue(n, cmd) < 0) free(cmd); /* already stopping: cannot happen twice */
    uv_thread_join(&n->thread);
    uv_loop_close(&n->loop);
    free_node(n);
}

/* ---- the API other threads call ---- */

static int fanout(struct node *n, struct fan_msg *m, node_done_fn done, void *arg)
{
    if (!m) return NODE_EINVALID;
    struct node_cmd *cmd = xcalloc(1, sizeof(*cmd));
    *cmd = (struct node_cmd){.kind = CMD_FANOUT, .start_ns = clock_mono_ns()};
    cmd->u.fan.msg = m, cmd->u.fan.done = done, cmd->u.fan.arg = arg;
    int rc = enqueue(n, cmd);
    if (rc < 0) node__fan_msg_unref(m), free(cmd);
    return rc;
}

int node_invalidate(struct node *n, const char *table, size_t tlen, const struct peer_bytes *keys,
                    size_t nkeys, uint64_t hold_ms, node_done_fn done, void *arg)
{
    return fanout(n, node__fan_msg_new(PEER_INVALIDATE, table, tlen, keys, nkeys, 0, hold_ms), done,
                  arg);
}

int node_tag(struct node *n, const char *table, size_t tlen, const struct peer_bytes *tags,
             size_t ntags, uint64_t hold_ms, node_done_fn done, void *arg)
{
    return fanout(n, node__fan_msg_new(PEER_TAG, table, tlen, tags, ntags, 0, hold_ms), done, arg);
}

int node_forget(struct node *n, const char *table, size_t tlen, uint64_t scope, uint64_t hold_ms,
                node_done_fn done, void *arg)
{
    return fanout(n, node__fan_msg_new(PEER_FORGET, table, tlen, NULL, 0, scope, hold_ms), done,
                  arg);
}

/* Copies bytes into the space after a command. */
static struct peer_bytes copy_in(uint8_t **p, const void *data, size_t len)
{
    struct peer_bytes b = {len ? *p : NULL, len};
    if (len) memcpy(*p, data, len);
    *p += len;
    return b;
}

int node_get(struct node *n, const char *table, size_t tlen, const void *key, size_t klen,
             const void *request, size_t rlen, uint64_t flags, node_get_fn cb, void *arg)
{
    if (tlen + klen + rlen > PEER_MSG_MAX_FRAME / 2) return NODE_EINVALID;
    struct node_cmd *cmd = xcalloc(1, sizeof(*cmd) + tlen + klen + rlen);
    uint8_t *p = (uint8_t *)(cmd + 1);
    *cmd = (struct node_cmd){.kind = CMD_GET, .start_ns = clock_mono_ns()};
    cmd->u.get.cb = cb, cmd->u.get.arg = arg, cmd->u.get.flags = flags;
    cmd->u.get.table = copy_in(&p, table, tlen);
    cmd->u.get.key = copy_in(&p, key, klen);
    cmd->u.get.request = copy_in(&p, request, rlen);
    int rc = enqueue(n, cmd);
    if (rc < 0) free(cmd);
    return rc;
}

void node_get_reply(struct node *n, struct node_get_req *req, enum peer_get_status status,
                    uint64_t ttl_ms, const void *body, size_t len, uint32_t crc)
{
    if (status != PEER_GET_VALUE) len = 0;
    struct peer_bytes b = {body, len};
    uv_thread_t me = uv_thread_self();
    if (uv_thread_equal(&me, &n->thread)) { /* from inside the handler: no queue */
        node__send_reply(n, req, status, ttl_ms, b, crc);
        return;
    }
    struct node_cmd *cmd = xcalloc(1, sizeof(*cmd) + len);
    uint8_t *p = (uint8_t *)(cmd + 1);
    *cmd = (struct node_cmd){.kind = CMD_GET_REPLY};
    cmd->u.reply.req = req, cmd->u.reply.status = status, cmd->u.reply.ttl_ms = ttl_ms;
    cmd->u.reply.crc = crc;
    cmd->u.reply.body = copy_in(&p, body, len);
    if (enqueue(n, cmd) < 0) free(req), free(cmd);
}

int node_publish_position(struct node *n, const char *table, const char *stream_arn,
                          const struct peer_shard_pos *shards, size_t nshards)
{
    size_t tlen = strlen(table), alen = strlen(stream_arn), bytes = tlen + alen;
    for (size_t i = 0; i < nshards; i++)
        bytes += shards[i].shard.len + shards[i].sequence.len;
    if (bytes + nshards * 8 > PEER_MSG_MAX_FRAME / 2) return NODE_EINVALID;
    size_t array = nshards * sizeof(struct peer_shard_pos);
    struct node_cmd *cmd = xcalloc(1, sizeof(*cmd) + array + bytes);
    struct peer_shard_pos *items = (struct peer_shard_pos *)(cmd + 1);
    uint8_t *p = (uint8_t *)items + array;
    cmd->kind = CMD_POSITION;
    cmd->u.position.table = copy_in(&p, table, tlen);
    cmd->u.position.stream_arn = copy_in(&p, stream_arn, alen);
    for (size_t i = 0; i < nshards; i++) {
        items[i].shard = copy_in(&p, shards[i].shard.data, shards[i].shard.len);
        items[i].sequence = copy_in(&p, shards[i].sequence.data, shards[i].sequence.len);
    }
    cmd->u.position.shards = (struct peer_shard_list){nshards, nshards ? items : NULL};
    int rc = enqueue(n, cmd);
    if (rc < 0) free(cmd);
    return rc;
}

/* ---- state ---- */

int node_self(const struct node *n)
{
    return n->self;
}
uint64_t node_incarnation(const struct node *n)
{
    return n->inc;
}
const struct owner_peers *node_peers(const struct node *n)
{
    return &n->peers;
}

uint64_t node_live(const struct node *n)
{
    return __atomic_load_n(&n->live_mask, __ATOMIC_ACQUIRE);
}

bool node_degraded(const struct node *n)
{
    return __atomic_load_n(&n->degraded, __ATOMIC_ACQUIRE);
}

int node_owner_of_key(const struct node *n, const void *routing_key, size_t len)
{
    return owner_of_key(&n->peers, node_live(n), routing_key, len);
}

int node_owner_of_table(const struct node *n, const char *table, size_t len)
{
    return owner_of_table(&n->peers, node_live(n), table, len);
}

void node_get_stats(const struct node *n, struct node_stats *out)
{
    const uint64_t *src = (const uint64_t *)&n->stats;
    uint64_t *dst = (uint64_t *)out;
    /* every field is a 64-bit word or a bool in a 64-bit-aligned struct: copy
     * word by word with relaxed loads, never a torn value */
    _Static_assert(sizeof(struct node_stats) % sizeof(uint64_t) == 0, "stats are words");
    for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

const char *node_event_name(enum node_event_type t)
{
    switch (t) {
    case NODE_PEER_UP: return "up";
    case NODE_PEER_DOWN: return "down";
    case NODE_PEER_DEPARTED: return "departed";
    case NODE_SELF_LAGGING: return "lagging";
    case NODE_SELF_CAUGHT_UP: return "caught up";
    case NODE_DEGRADED: return "degraded";
    case NODE_HEALTHY: return "healthy";
    }
    return "unknown";
}

const char *node_get_result_name(enum node_get_result r)
{
    switch (r) {
    case NODE_GET_VALUE: return "value";
    case NODE_GET_MISS: return "miss";
    case NODE_GET_FAILED: return "failed";
    case NODE_GET_NOT_OWNER: return "not owner";
    case NODE_GET_TIMEOUT: return "timeout";
    case NODE_GET_LOCAL: return "local";
    }
    return "unknown";
}
