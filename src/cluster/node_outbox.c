/*
 * node_outbox.c: fan-outs (INVALIDATE, TAG, FORGET to every peer), each
 * peer's outbox and the ACKs that empty it (spec section 10).
 *
 * Every fan-out becomes an entry in the outbox of every peer that may come
 * back with the same incarnation (departed peers and peers never heard from
 * return as new incarnations, which hold nothing older: they get none). An
 * entry stays until the peer acknowledges it, is sent on every connection
 * the link has until then, and is dropped when the peer starts a new life.
 * Entries carry a per-peer serial number; a caller's fan-out waits for the
 * peers live when it began, each until its acked serial reaches the entry's.
 *
 * Past outbox_keys keys, a peer's whole outbox collapses into one FORGET per
 * table (one FORGET of every table past 100 tables). A fan-out waiting on a
 * collapsed entry then waits for the last of those FORGETs, which covers it:
 * entries are sent and acknowledged in serial order.
 */
#include "cluster/node_internal.h"

#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "util/clock.h"
#include "util/log.h"

/* ---- messages ---- */

struct fan_msg *node__fan_msg_new(enum peer_msg_type type, const char *table, size_t tlen,
                                  const struct peer_bytes *keys, size_t nkeys, uint64_t scope,
                                  uint64_t hold_ms)
{
    size_t bytes = tlen;
    for (size_t i = 0; i < nkeys; i++)
        bytes += keys[i].len;
    /* msgpack adds at most 5 bytes per key; the header and MAC stay under 128 */
    if (bytes + 5 * nkeys + 128 > PEER_MSG_MAX_FRAME) return NULL;
    struct fan_msg *m = xcalloc(1, sizeof(*m) + nkeys * sizeof(struct peer_bytes) + bytes);
    struct peer_bytes *k = (struct peer_bytes *)(m + 1);
    uint8_t *p = (uint8_t *)(k + nkeys);
    *m = (struct fan_msg){.refs = 1, .type = type, .scope = scope, .nkeys = nkeys, .keys = k};
    if (hold_ms) m->hold_until = clock_mono_ms() + hold_ms;
    m->table = (struct peer_bytes){tlen ? p : NULL, tlen};
    if (tlen) memcpy(p, table, tlen);
    p += tlen;
    for (size_t i = 0; i < nkeys; i++) {
        k[i] = (struct peer_bytes){keys[i].len ? p : NULL, keys[i].len};
        if (keys[i].len) memcpy(p, keys[i].data, keys[i].len);
        p += keys[i].len;
    }
    return m;
}

void node__fan_msg_unref(struct fan_msg *m)
{
    if (--m->refs == 0) free(m);
}

static size_t weight(const struct fan_msg *m)
{
    return m->type == PEER_FORGET || m->nkeys == 0 ? 1 : m->nkeys;
}

/* ---- fan-outs ---- */

static void complete_op(struct node *n, struct fan_op *op)
{
    dlist_del(&op->link);
    op->r.elapsed_us = (clock_mono_ns() - op->start_ns) / 1000;
    if (op->done) op->done(op->arg, &op->r);
    free(op);
    node__maybe_finish_stop(n);
}

/* The serial a wait really needs: a collapsed entry's is the last FORGET's. */
static uint64_t effective(const struct node_peer *p, uint64_t serial)
{
    return serial <= p->collapse_upto ? MAX(serial, p->collapse_to) : serial;
}

/* Ends p's part in w's fan-out: `as` is where p's bit goes (acked, unacked
 * or skipped). */
static void end_wait(struct node *n, struct fan_wait *w, uint64_t *as)
{
    struct fan_op *op = w->op;
    uint64_t bit = UINT64_C(1) << w->peer;
    dlist_del(&w->link);
    *as |= bit;
    op->waiting &= ~bit;
    if (!op->waiting) complete_op(n, op);
}

void node__release_waits(struct node_peer *p)
{
    while (!dlist_empty(&p->waits)) {
        struct fan_wait *w = container_of(p->waits.next, struct fan_wait, link);
        end_wait(p->node, w, &w->op->r.skipped);
    }
}

static void expire(struct node *n, struct fan_op *op)
{
    for (size_t i = 0; i < op->nwaits; i++) {
        struct fan_wait *w = &op->waits[i];
        uint64_t bit = UINT64_C(1) << w->peer;
        if (!(op->waiting & bit)) continue;
        bool last = op->waiting == bit;
        NODE_STAT_ADD(n, ack_timeouts, 1);
        METRIC_INCR(peer_ack_timeouts);
        log_debug("peer %s: no ACK within %llums", n->peers.addr[w->peer],
                  (unsigned long long)n->o.ack_timeout_ms);
        end_wait(n, w, &op->r.unacked);
        if (last) return; /* it completed the op, which is freed */
    }
}

void node__expire_ops(struct node *n, uint64_t now_ms)
{
    while (!dlist_empty(&n->ops)) {
        struct fan_op *op = container_of(n->ops.next, struct fan_op, link);
        if (op->deadline_ms > now_ms) break;
        expire(n, op);
    }
}

void node__complete_all_ops(struct node *n)
{
    while (!dlist_empty(&n->ops))
        expire(n, container_of(n->ops.next, struct fan_op, link));
}

/* ---- outboxes ---- */

static void set_keys(struct node_peer *p, size_t keys)
{
    p->outbox_keys = keys;
    __atomic_store_n(&p->node->stats.peer[p->id].outbox_keys, (uint64_t)keys, __ATOMIC_RELAXED);
}

static void entry_free(struct node_peer *p, struct outbox_entry *e)
{
    dlist_del(&e->link);
    set_keys(p, p->outbox_keys - weight(e->msg));
    node__fan_msg_unref(e->msg);
    free(e);
}

static void append(struct node_peer *p, struct fan_msg *m)
{
    struct outbox_entry *e = xcalloc(1, sizeof(*e));
    m->refs++;
    e->msg = m;
    e->serial = ++p->serial;
    dlist_push(&p->outbox, &e->link);
    set_keys(p, p->outbox_keys + weight(m));
}

struct table_scope {
    struct peer_bytes table;
    uint64_t scope;
    uint64_t hold_until; /* the longest hold of what it replaces */
};

/* Adds m's table and scope to the set; false past NODE_FORGET_ALL_TABLES or
 * for a FORGET of every table. */
static bool add_table(struct table_scope *set, size_t *n, const struct fan_msg *m)
{
    uint64_t scope = m->type == PEER_INVALIDATE ? PEER_FORGET_ITEMS
                     : m->type == PEER_TAG      ? PEER_FORGET_QUERIES
                                                : m->scope;
    if (m->type == PEER_FORGET && m->table.len == 0) return false;
    for (size_t i = 0; i < *n; i++)
        if (set[i].table.len == m->table.len &&
            memcmp(set[i].table.data, m->table.data, m->table.len) == 0) {
            set[i].scope |= scope;
            set[i].hold_until = MAX(set[i].hold_until, m->hold_until);
            return true;
        }
    if (*n == NODE_FORGET_ALL_TABLES) return false;
    set[(*n)++] = (struct table_scope){m->table, scope, m->hold_until};
    return true;
}

/* Replaces p's outbox and m by FORGETs; returns the serial m's waiters use. */
static uint64_t collapse(struct node_peer *p, struct fan_msg *m)
{
    struct table_scope set[NODE_FORGET_ALL_TABLES];
    size_t ntables = 0;
    bool per_table = add_table(set, &ntables, m);
    for (struct dlist *e = p->outbox.next; per_table && e != &p->outbox; e = e->next)
        per_table = add_table(set, &ntables, container_of(e, struct outbox_entry, link)->msg);
    /* the FORGETs point into the old entries' tables: make them first; each
     * keeps the longest hold of what it replaces (held keys or pages become a
     * held table: more misses, never a stale entry) */
    struct fan_msg *forgets[NODE_FORGET_ALL_TABLES];
    size_t nforgets = per_table ? ntables : 1;
    uint64_t longest = m->hold_until;
    for (struct dlist *e = p->outbox.next; e != &p->outbox; e = e->next)
        longest = MAX(longest, container_of(e, struct outbox_entry, link)->msg->hold_until);
    for (size_t i = 0; i < nforgets; i++) {
        forgets[i] = per_table ? node__fan_msg_new(PEER_FORGET, (const char *)set[i].table.data,
                                                   set[i].table.len, NULL, 0, set[i].scope, 0)
                               : node__fan_msg_new(PEER_FORGET, NULL, 0, NULL, 0,
                                                   PEER_FORGET_ITEMS | PEER_FORGET_QUERIES, 0);
        forgets[i]->hold_until = per_table ? set[i].hold_until : longest;
    }
    while (!dlist_empty(&p->outbox))
        entry_free(p, container_of(p->outbox.next, struct outbox_entry, link));
    uint64_t serial = ++p->serial; /* m's, covered by the FORGETs */
    p->collapse_upto = serial;
    for (size_t i = 0; i < nforgets; i++) {
        append(p, forgets[i]);
        node__fan_msg_unref(forgets[i]);
    }
    p->collapse_to = p->serial;
    p->acked_serial = MIN(p->acked_serial, serial - 1);
    NODE_STAT_ADD(p->node, collapses, 1);
    METRIC_INCR(peer_outbox_collapses);
    log_info("peer %s: outbox past %zu keys; collapsed into %zu FORGET%s",
             p->node->peers.addr[p->id], p->node->o.outbox_keys, nforgets,
             nforgets == 1 ? "" : "s");
    return serial;
}

static uint64_t outbox_add(struct node_peer *p, struct fan_msg *m)
{
    if (p->outbox_keys + weight(m) > p->node->o.outbox_keys) return collapse(p, m);
    append(p, m);
    return p->serial;
}

/* What is left of a message's hold; 0 once it is over (or it had none). */
static uint64_t hold_left(const struct fan_msg *f)
{
    uint64_t now = clock_mono_ms();
    return f->hold_until > now ? f->hold_until - now : 0;
}

static void send_entry(struct node_peer *p, struct outbox_entry *e)
{
    const struct fan_msg *f = e->msg;
    struct peer_msg m = {.hdr.type = f->type};
    if (f->type == PEER_FORGET)
        m.u.forget = (struct peer_forget){f->table, f->scope, hold_left(f)};
    else /* INVALIDATE and TAG share a shape */
        m.u.invalidate = (struct peer_keyset){f->table, {f->nkeys, f->keys}, hold_left(f)};
    e->sent_seq = node__send(p, &m);
    e->sent_gen = p->conn_gen;
}

void node__outbox_send_pending(struct node_peer *p)
{
    if (!node__link_ready(p)) return;
    /* the entries sent on this connection are a prefix: find where it ends */
    struct dlist *e = p->outbox.prev;
    while (e != &p->outbox && container_of(e, struct outbox_entry, link)->sent_gen != p->conn_gen)
        e = e->prev;
    for (e = e->next; e != &p->outbox; e = e->next)
        send_entry(p, container_of(e, struct outbox_entry, link));
}

void node__outbox_acked(struct node_peer *p, uint64_t upto)
{
    if (upto > p->seq) return; /* beyond what was sent: ignored (spec, ACK) */
    while (!dlist_empty(&p->outbox)) {
        struct outbox_entry *e = container_of(p->outbox.next, struct outbox_entry, link);
        if (!e->sent_seq || e->sent_seq > upto) break;
        entry_free(p, e);
    }
    p->acked_serial = dlist_empty(&p->outbox)
                          ? p->serial
                          : container_of(p->outbox.next, struct outbox_entry, link)->serial - 1;
    while (!dlist_empty(&p->waits)) {
        struct fan_wait *w = container_of(p->waits.next, struct fan_wait, link);
        if (effective(p, w->serial) > p->acked_serial) break;
        end_wait(p->node, w, &w->op->r.acked);
    }
}

void node__outbox_discard(struct node_peer *p)
{
    while (!dlist_empty(&p->outbox))
        entry_free(p, container_of(p->outbox.next, struct outbox_entry, link));
    p->acked_serial = p->serial;
    p->collapse_upto = p->collapse_to = 0;
    node__release_waits(p);
}

void node__run_fanout(struct node *n, struct node_cmd *cmd)
{
    struct fan_msg *m = cmd->u.fan.msg;
    uint64_t live = node_live(n) & ~(UINT64_C(1) << n->self);
    size_t nlive = (size_t)__builtin_popcountll(live);
    struct fan_op *op = xcalloc(1, sizeof(*op) + nlive * sizeof(struct fan_wait));
    op->done = cmd->u.fan.done;
    op->arg = cmd->u.fan.arg;
    op->start_ns = cmd->start_ns;
    op->deadline_ms = uv_now(&n->loop) + n->o.ack_timeout_ms;
    dlist_init(&op->link);
    for (size_t i = 0; i < n->peers.n; i++) {
        struct node_peer *p = &n->peer[i];
        uint64_t bit = UINT64_C(1) << i;
        if ((int)i == n->self) continue;
        if (p->departed || !p->inc || n->closing) { /* it returns as a new life: nothing to keep */
            op->r.skipped |= bit;
            continue;
        }
        uint64_t serial = outbox_add(p, m);
        if (live & bit) {
            struct fan_wait *w = &op->waits[op->nwaits++];
            *w = (struct fan_wait){.op = op, .peer = (uint8_t)i, .serial = serial};
            dlist_push(&p->waits, &w->link);
            op->waiting |= bit;
        } else {
            op->r.skipped |= bit;
        }
        node__outbox_send_pending(p);
    }
    node__fan_msg_unref(m);
    if (op->waiting)
        dlist_push(&n->ops, &op->link);
    else
        complete_op(n, op);
}
