/*
 * node_recv.c: what a node does with each frame a peer sends it (spec
 * sections 4.3 step 7 and 5), and the liveness transitions frames drive:
 * HELLO checks and new incarnations, PING/PONG, GET and GET_REPLY (both the
 * owner's side and the asker's), INVALIDATE/TAG/FORGET handed to the user's
 * handlers before the next frame is read, ACKs, STREAM_POSITION and BYE.
 */
#include "cluster/node_internal.h"

#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "util/clock.h"
#include "util/crc.h"
#include "util/log.h"

/* ---- liveness ---- */

void node__peer_up(struct node_peer *p)
{
    p->live = true;
    p->departed = false;
    bool new_life = p->fresh_life;
    p->fresh_life = false;
    node__peer_changed(p, NODE_PEER_UP, new_life);
}

/* Silence for dead_after, or a life ended: nothing waits on p any more, its
 * GETs fail over, and the link is made again (a partition that heals then
 * starts with a HELLO and the outbox, spec 12.3). */
void node__peer_down(struct node_peer *p)
{
    struct node *n = p->node;
    p->live = false;
    NODE_STAT_ADD(n, downs, 1);
    METRIC_INCR(peer_downs);
    node__release_waits(p);
    node__fail_gets(p);
    node__reconnect_now(p);
    node__peer_changed(p, NODE_PEER_DOWN, false);
}

static void peer_departed(struct node_peer *p)
{
    p->live = false;
    p->departed = true;
    node__outbox_discard(p); /* it comes back as a new incarnation, which holds nothing older */
    node__fail_gets(p);
    node__peer_changed(p, NODE_PEER_DEPARTED, false);
}

void node__link_became_ready(struct node_peer *p)
{
    node__send_ack(p);
    node__outbox_send_pending(p);
}

/* ---- HELLO ---- */

static bool hello_matches(struct node *n, const struct peer_msg *m)
{
    const struct peer_hello *h = &m->u.hello;
    const char *entry = m->hdr.from < n->peers.n ? n->peers.addr[m->hdr.from] : NULL;
    if (h->peers_digest != n->peers.digest) {
        log_warn("peer link: HELLO from a node with another --peers list (digest %016llx, ours "
                 "%016llx); refused",
                 (unsigned long long)h->peers_digest, (unsigned long long)n->peers.digest);
        return false;
    }
    if (!entry || h->addr.len != strlen(entry) || memcmp(h->addr.data, entry, h->addr.len) != 0) {
        log_warn("peer link: HELLO claiming id %u with another address; refused", m->hdr.from);
        return false;
    }
    return true;
}

static void new_life(struct node_peer *p, uint64_t inc)
{
    struct node *n = p->node;
    if (p->live) node__peer_down(p); /* restarted faster than dead_after: its old life is gone */
    uint64_t old = p->inc;
    node__fail_gets(p);
    node__outbox_discard(p);
    p->inc = inc;
    p->departed = false;
    p->rx_seq = 0;
    p->ack_due = false;
    p->fresh_life = true;
    NODE_STAT_ADD(n, new_lives, 1);
    METRIC_INCR(peer_new_lives);
    /* our link was opened to its previous process (or before we knew it) */
    if (old) node__reconnect_now(p);
}

static void on_hello(struct node_conn *c, struct node_peer *p, bool fresh)
{
    if (fresh) new_life(p, p->node->guard.link[p->id].inc);
    if (p->in && p->in != c) node__close_conn(p->in); /* a newer HELLO replaces it */
    c->peer = p;
    p->in = c;
}

/* ---- GET, both sides ---- */

static void send_get_reply(struct node_peer *p, uint64_t req_seq, enum peer_get_status status,
                           uint64_t ttl_ms, struct peer_bytes body, uint32_t crc)
{
    struct peer_msg m = {.hdr.type = PEER_GET_REPLY};
    m.u.get_reply = (struct peer_get_reply){req_seq, status, ttl_ms, crc, body};
    if (status != PEER_GET_VALUE) m.u.get_reply.body = (struct peer_bytes){NULL, 0};
    if (node__send(p, &m) || status != PEER_GET_VALUE) return;
    /* an answer too large for a frame is sent as FAILED (spec 4.1) */
    m.u.get_reply = (struct peer_get_reply){req_seq, PEER_GET_FAILED, 0, 0, {NULL, 0}};
    node__send(p, &m);
}

void node__send_reply(struct node *n, struct node_get_req *req, enum peer_get_status status,
                      uint64_t ttl_ms, struct peer_bytes body, uint32_t crc)
{
    struct node_peer *p = &n->peer[req->from];
    if (!n->closing && p->inc == req->from_inc && node__link_ready(p))
        send_get_reply(p, req->req_seq, status, ttl_ms, body, crc);
    free(req);
}

/* The routing key (spec 6): table, NUL, item key. Returns its length; *out
 * is `stack` or a heap copy the caller frees when it is not. */
static size_t routing_key(struct peer_bytes table, struct peer_bytes key, uint8_t *stack,
                          size_t cap, uint8_t **out)
{
    size_t len = table.len + 1 + key.len;
    *out = len <= cap ? stack : xmalloc(len);
    if (table.len) memcpy(*out, table.data, table.len);
    (*out)[table.len] = 0;
    if (key.len) memcpy(*out + table.len + 1, key.data, key.len);
    return len;
}

static void on_get(struct node *n, struct node_peer *p, const struct peer_msg *m)
{
    const struct peer_get *g = &m->u.get;
    if (!node__link_ready(p)) return; /* no way to answer: it times out and reads itself */
    uint8_t stack[512], *rk;
    size_t len = routing_key(g->table, g->key, stack, sizeof(stack), &rk);
    int owner = owner_of_key(&n->peers, node_live(n), rk, len);
    if (rk != stack) free(rk);
    if (owner != n->self || !n->h.get) { /* no forwarding chains */
        send_get_reply(p, m->hdr.seq, owner != n->self ? PEER_GET_NOT_OWNER : PEER_GET_MISS, 0,
                       (struct peer_bytes){NULL, 0}, 0);
        return;
    }
    size_t bytes = g->table.len + g->key.len + g->request.len;
    struct node_get_req *req = xcalloc(1, sizeof(*req) + bytes);
    uint8_t *q = (uint8_t *)(req + 1);
    const struct peer_bytes *src[] = {&g->table, &g->key, &g->request};
    struct peer_bytes *dst[] = {&req->table, &req->key, &req->request};
    for (size_t i = 0; i < ARRAY_SIZE(src); i++) {
        *dst[i] = (struct peer_bytes){src[i]->len ? q : NULL, src[i]->len};
        if (src[i]->len) memcpy(q, src[i]->data, src[i]->len);
        q += src[i]->len;
    }
    req->from = p->id;
    req->node = n;
    req->flags = g->flags;
    req->from_inc = p->inc;
    req->req_seq = m->hdr.seq;
    n->h.get(n->h.arg, req);
}

static void complete_get(struct node *n, struct pending_get *g, enum node_get_result result,
                         const struct peer_get_reply *r)
{
    dlist_del(&g->by_peer);
    dlist_del(&g->by_deadline);
    struct node_get_answer a = {.result = result, .owner = g->peer};
    if (r && result == NODE_GET_VALUE) a.ttl_ms = r->ttl_ms, a.crc = r->crc, a.body = r->body;
    a.elapsed_us = (clock_mono_ns() - g->start_ns) / 1000;
    g->cb(g->arg, &a);
    free(g);
}

static void on_get_reply(struct node *n, struct node_peer *p, const struct peer_get_reply *r)
{
    for (struct dlist *e = p->gets.next; e != &p->gets; e = e->next) {
        struct pending_get *g = container_of(e, struct pending_get, by_peer);
        if (g->seq != r->req_seq) continue;
        static const enum node_get_result results[] = {[PEER_GET_VALUE] = NODE_GET_VALUE,
                                                       [PEER_GET_MISS] = NODE_GET_MISS,
                                                       [PEER_GET_FAILED] = NODE_GET_FAILED,
                                                       [PEER_GET_NOT_OWNER] = NODE_GET_NOT_OWNER};
        enum node_get_result res = results[r->status];
        if (res == NODE_GET_VALUE && crc32_of(r->body.data, r->body.len) != r->crc) {
            log_warn("peer %s: GET_REPLY with a wrong CRC; reading the backend instead",
                     n->peers.addr[p->id]);
            res = NODE_GET_FAILED;
        }
        complete_get(n, g, res, r);
        return;
    }
    /* the asker gave up on it (timeout): dropped */
}

void node__fail_gets(struct node_peer *p)
{
    while (!dlist_empty(&p->gets)) {
        NODE_STAT_ADD(p->node, get_timeouts, 1);
        METRIC_INCR(peer_get_timeouts);
        complete_get(p->node, container_of(p->gets.next, struct pending_get, by_peer),
                     NODE_GET_TIMEOUT, NULL);
    }
}

void node__expire_gets(struct node *n, uint64_t now_ms)
{
    while (!dlist_empty(&n->gets)) {
        struct pending_get *g = container_of(n->gets.next, struct pending_get, by_deadline);
        if (g->deadline_ms > now_ms) break;
        NODE_STAT_ADD(n, get_timeouts, 1);
        METRIC_INCR(peer_get_timeouts);
        complete_get(n, g, NODE_GET_TIMEOUT, NULL);
    }
}

void node__run_get(struct node *n, struct node_cmd *cmd)
{
    uint8_t stack[512], *rk, cand[OWNER_MAX_PEERS];
    size_t len = routing_key(cmd->u.get.table, cmd->u.get.key, stack, sizeof(stack), &rk);
    size_t k = owner_candidates_key(&n->peers, node_live(n), rk, len, cand);
    if (rk != stack) free(rk);
    struct node_get_answer a = {.result = NODE_GET_LOCAL, .owner = n->self};
    if (k && cand[0] != n->self) {
        struct node_peer *p = &n->peer[cand[0]];
        a.owner = p->id;
        a.result = NODE_GET_TIMEOUT; /* unreachable now: the caller reads the backend */
        struct peer_msg m = {.hdr.type = PEER_GET};
        m.u.get = (struct peer_get){cmd->u.get.flags, cmd->u.get.table, cmd->u.get.key,
                                    cmd->u.get.request};
        uint64_t seq = !n->closing && node__link_ready(p) ? node__send(p, &m) : 0;
        if (seq) {
            struct pending_get *g = xcalloc(1, sizeof(*g));
            *g = (struct pending_get){.peer = p->id,
                                      .seq = seq,
                                      .start_ns = cmd->start_ns,
                                      .cb = cmd->u.get.cb,
                                      .arg = cmd->u.get.arg};
            g->deadline_ms = uv_now(&n->loop) + n->o.get_timeout_ms;
            dlist_push(&p->gets, &g->by_peer);
            dlist_push(&n->gets, &g->by_deadline);
            return;
        }
    }
    a.elapsed_us = (clock_mono_ns() - cmd->start_ns) / 1000;
    cmd->u.get.cb(cmd->u.get.arg, &a);
}

/* ---- dispatch ---- */

static enum node_refusal guard_refusal(int g)
{
    switch (g) {
    case PEER_GUARD_EMISROUTED: return REF_MISROUTED;
    case PEER_GUARD_ESTALE: return REF_STALE;
    case PEER_GUARD_EREPLAY: return REF_REPLAY;
    case PEER_GUARD_EINCARNATION: return REF_INCARNATION;
    default: return REF_NO_HELLO;
    }
}

/* Checks that may close the connection; false: the frame is not to be
 * acted on. */
static bool admit(struct node_conn *c, const struct peer_msg *m)
{
    struct node *n = c->node;
    const struct peer_hdr *h = &m->hdr;
    enum node_refusal why = REF_COUNT;
    if (!c->peer && h->type != PEER_HELLO)
        why = REF_NO_HELLO; /* the first frame of a connection is a HELLO */
    else if (c->peer && h->from != c->peer->id)
        why = REF_MISROUTED;
    else if (h->type == PEER_HELLO && !hello_matches(n, m))
        why = REF_HELLO_MISMATCH;
    if (why == REF_COUNT) {
        int g = peer_guard_check(&n->guard, h, clock_wall_ms());
        if (g >= 0) return true;
        why = guard_refusal(g);
        log_debug("peer frame %s from id %u refused: %s", peer_msg_type_name(h->type), h->from,
                  peer_guard_status_name(g));
        if (h->type != PEER_HELLO) { /* dropped, counted; the connection stays */
            node__refused(n, why);
            return false;
        }
        log_warn("peer link: HELLO from id %u refused (%s)", h->from, peer_guard_status_name(g));
    }
    node__refused(n, why);
    node__close_conn(c);
    return false;
}

static void note_rx(struct node *n, struct node_peer *p, const struct peer_hdr *h)
{
    p->last_rx_ms = clock_mono_ms();
    p->rx_seq = h->seq;
    uint64_t wall = clock_wall_ms();
    if (wall > h->ts_ms) n->max_age_ms = MAX(n->max_age_ms, wall - h->ts_ms);
    if (!p->live) node__peer_up(p);
}

static void on_keyset(struct node *n, struct node_peer *p, const struct peer_msg *m)
{
    switch (m->hdr.type) {
    case PEER_INVALIDATE:
        if (n->h.invalidate) n->h.invalidate(n->h.arg, p->id, &m->u.invalidate);
        break;
    case PEER_TAG:
        if (n->h.tag) n->h.tag(n->h.arg, p->id, &m->u.tag);
        break;
    default:
        if (n->h.forget) n->h.forget(n->h.arg, p->id, &m->u.forget);
        break;
    }
    p->ack_due = true; /* applied: the ACK after this batch says so */
}

static void on_pong(struct node_peer *p, const struct peer_pong *pong)
{
    size_t i = pong->ping_seq % 4;
    if (pong->ping_seq == p->ping_seq[i] && p->ping_ns[i])
        p->rtt_us = (clock_mono_ns() - p->ping_ns[i]) / 1000;
    if (pong->ping_seq > p->hello_seq) p->backoff_ms = NODE_BACKOFF_MIN_MS; /* it took our HELLO */
}

void node__on_frame(struct node_conn *c, struct peer_msg *m)
{
    struct node *n = c->node;
    if (!admit(c, m)) return;
    struct node_peer *p = &n->peer[m->hdr.from];
    node__count(n, false, m->hdr.type);
    bool was_ready = node__link_ready(p);
    if (m->hdr.type == PEER_HELLO) on_hello(c, p, n->guard.link[p->id].inc != p->inc);
    if (m->hdr.type == PEER_BYE) {
        peer_departed(p);
        return;
    }
    note_rx(n, p, &m->hdr);
    if (!was_ready && node__link_ready(p)) node__link_became_ready(p);
    switch (m->hdr.type) {
    case PEER_PING: {
        struct peer_msg r = {.hdr.type = PEER_PONG};
        r.u.pong = (struct peer_pong){m->hdr.seq, m->hdr.ts_ms, node_live(n)};
        if (node__link_ready(p)) node__send(p, &r);
        break;
    }
    case PEER_PONG: on_pong(p, &m->u.pong); break;
    case PEER_GET: on_get(n, p, m); break;
    case PEER_GET_REPLY: on_get_reply(n, p, &m->u.get_reply); break;
    case PEER_INVALIDATE:
    case PEER_TAG:
    case PEER_FORGET: on_keyset(n, p, m); break;
    case PEER_ACK: node__outbox_acked(p, m->u.ack.upto); break;
    case PEER_STREAM_POSITION:
        if (n->h.stream_position) n->h.stream_position(n->h.arg, p->id, &m->u.stream_position);
        break;
    default: break;
    }
}
