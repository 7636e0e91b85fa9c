/*
 * node_link.c: a node's TCP connections (spec section 3). The listener
 * accepts peers' connections and reads frames from them; one outbound
 * connection per peer carries everything this node sends that peer, HELLO
 * first. Outbound connections resolve the peer's host name at every attempt
 * (compose service names move), try each address, give up an attempt after
 * connect_timeout_ms, and retry after 50 ms doubling to 1 s; the backoff
 * restarts once the peer answers a PING sent on the new connection (proof
 * that it accepted the HELLO, since an acceptor never writes).
 *
 * Frames made during one loop iteration are appended to the peer's write
 * buffer and go out in one uv_write from the check handle (node__flush).
 */
#include "cluster/node_internal.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "util/addr.h"
#include "util/clock.h"
#include "util/log.h"

bool node__link_ready(const struct node_peer *p)
{
    return p->state == OUT_OPEN && p->inc != 0 && !p->departed;
}

/* ---- connections ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct node_conn *c = h->data;
    CHECK_MAGIC(c, NODE_CONN_MAGIC);
    *b = uv_buf_init((char *)c->node->rbuf, sizeof(c->node->rbuf));
}

static struct node_conn *conn_new(struct node *n, struct node_peer *p, bool outbound)
{
    struct node_conn *c = xcalloc(1, sizeof(*c));
    c->magic = NODE_CONN_MAGIC;
    c->node = n;
    c->peer = p;
    c->outbound = outbound;
    c->opened_ms = clock_mono_ms();
    uv_tcp_init(&n->loop, &c->tcp);
    c->tcp.data = c;
    if (!outbound) peer_msg_decoder_init(&c->dec, &n->key, PEER_MSG_MAX_FRAME);
    dlist_push(&n->conns, &c->link);
    return c;
}

static void on_conn_closed(uv_handle_t *h)
{
    struct node_conn *c = h->data;
    CHECK_MAGIC(c, NODE_CONN_MAGIC);
    struct node *n = c->node;
    dlist_del(&c->link);
    /* the last BYE is out: the stop need not wait for its timer */
    if (n->closing && dlist_empty(&n->conns) && !uv_is_closing((uv_handle_t *)&n->stop_timer))
        uv_close((uv_handle_t *)&n->stop_timer, NULL);
    if (!c->outbound) peer_msg_decoder_free(&c->dec);
    c->magic = 0;
    free(c);
}

static void on_retry(uv_timer_t *t)
{
    node__connect(t->data);
}

static void schedule_retry(struct node_peer *p)
{
    if (p->node->closing) return;
    uint64_t delay = p->backoff_ms;
    p->backoff_ms = MIN(MAX(delay * 2, NODE_BACKOFF_MIN_MS), NODE_BACKOFF_MAX_MS);
    uv_timer_start(&p->retry, on_retry, delay, 0);
}

static void try_next_addr(struct node_peer *p);

/* The outbound connection of p ended (failed attempt, or an open link
 * closed): try the next address of this resolution, or again later. */
static void out_ended(struct node_peer *p, bool was_open)
{
    struct node *n = p->node;
    p->out = NULL;
    p->state = OUT_IDLE;
    uv_timer_stop(&p->connect_timer);
    buf_reset(&p->wbuf); /* frames for a closed link: the outbox keeps what matters */
    if (was_open) log_debug("peer %s: link closed", n->peers.addr[p->id]);
    if (n->closing) return;
    if (!was_open && p->ai_next)
        try_next_addr(p);
    else
        schedule_retry(p);
}

void node__close_conn(struct node_conn *c)
{
    if (c->closing) return;
    c->closing = true;
    struct node_peer *p = c->peer;
    if (p && c->outbound && p->out == c) out_ended(p, p->state == OUT_OPEN);
    if (p && !c->outbound && p->in == c) p->in = NULL;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

void node__reconnect_now(struct node_peer *p)
{
    p->backoff_ms = 0;
    if (p->out) node__close_conn(p->out);
}

/* ---- writing ---- */

struct write_req {
    uv_write_t req;
    struct buf data;
};

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = container_of(req, struct write_req, req);
    struct node_conn *c = req->handle->data;
    CHECK_MAGIC(c, NODE_CONN_MAGIC);
    if (status < 0 && status != UV_ECANCELED) {
        log_debug("peer link: write failed: %s", uv_strerror(status));
        node__close_conn(c);
    }
    buf_free(&w->data);
    free(w);
}

static void flush_peer(struct node_peer *p)
{
    struct node_conn *c = p->out;
    if (!c || p->state != OUT_OPEN || c->closing) {
        buf_reset(&p->wbuf);
        return;
    }
    struct write_req *w = xcalloc(1, sizeof(*w));
    buf_move(&w->data, &p->wbuf);
    uv_buf_t b = uv_buf_init(w->data.data, (unsigned)w->data.len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        buf_free(&w->data);
        free(w);
        node__close_conn(c);
    } else if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > NODE_WRITE_QUEUE_MAX) {
        log_warn("peer %s: %u bytes unsent; closing the link", p->node->peers.addr[p->id],
                 NODE_WRITE_QUEUE_MAX);
        node__close_conn(c);
    }
}

void node__flush(struct node *n)
{
    for (size_t i = 0; i < n->peers.n; i++)
        if (n->peer[i].wbuf.len) flush_peer(&n->peer[i]);
}

uint64_t node__send(struct node_peer *p, struct peer_msg *m)
{
    struct node *n = p->node;
    if (p->state != OUT_OPEN) return 0;
    m->hdr.from = (uint8_t)n->self;
    m->hdr.to = p->id;
    m->hdr.from_inc = n->inc;
    m->hdr.to_inc = p->inc;
    m->hdr.seq = p->seq + 1;
    m->hdr.ts_ms = clock_wall_ms();
    int rc = peer_msg_encode(m, &n->key, &p->wbuf);
    if (rc != PEER_MSG_OK) {
        log_error("peer %s: cannot encode a %s: %s", n->peers.addr[p->id],
                  peer_msg_type_name(m->hdr.type), peer_msg_status_name(rc));
        return 0;
    }
    node__count(n, true, m->hdr.type);
    return ++p->seq;
}

void node__send_hello(struct node_peer *p)
{
    struct node *n = p->node;
    struct peer_msg m = {.hdr.type = PEER_HELLO};
    m.u.hello.peers_digest = n->peers.digest;
    m.u.hello.addr.data = (const uint8_t *)n->peers.addr[n->self];
    m.u.hello.addr.len = strlen(n->peers.addr[n->self]);
    p->hello_seq = node__send(p, &m);
    p->conn_gen++;
}

void node__send_ack(struct node_peer *p)
{
    if (!p->ack_due || !node__link_ready(p)) return;
    struct peer_msg m = {.hdr.type = PEER_ACK};
    m.u.ack.upto = p->rx_seq;
    if (node__send(p, &m)) p->ack_due = false;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct node_conn *c = req->handle->data;
    CHECK_MAGIC(c, NODE_CONN_MAGIC);
    free(req);
    node__close_conn(c);
}

void node__shutdown_links(struct node *n)
{
    for (size_t i = 0; i < n->peers.n; i++) {
        struct node_conn *c = n->peer[i].out;
        if (!c || c->closing || n->peer[i].state != OUT_OPEN) continue;
        uv_shutdown_t *req = xcalloc(1, sizeof(*req));
        if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
            free(req);
            continue;
        }
        c->shutting = true;
    }
}

/* ---- reading ---- */

static enum node_refusal refusal_of(int rc)
{
    switch (rc) {
    case PEER_MSG_EMAC: return REF_BAD_MAC;
    case PEER_MSG_EVERSION: return REF_BAD_VERSION;
    case PEER_MSG_EOVERSIZE: return REF_OVERSIZE;
    default: return REF_INVALID;
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct node_conn *c = s->data;
    CHECK_MAGIC(c, NODE_CONN_MAGIC);
    if (nread < 0) {
        node__close_conn(c);
        return;
    }
    if (c->outbound) { /* an acceptor never writes (spec section 3) */
        if (nread > 0) {
            log_warn("peer %s: wrote to a link it accepted; closing",
                     c->node->peers.addr[c->peer->id]);
            node__close_conn(c);
        }
        return;
    }
    const uint8_t *data = (const uint8_t *)b->base;
    size_t off = 0, len = (size_t)nread;
    while (off < len && !c->closing) {
        size_t used = 0;
        struct peer_msg m;
        int rc = peer_msg_decode(&c->dec, data + off, len - off, &used, &m);
        off += used;
        if (rc == PEER_MSG_NEED_MORE) break;
        if (rc == PEER_MSG_OK) {
            node__on_frame(c, &m);
            continue;
        }
        node__refused(c->node, refusal_of(rc));
        log_warn("peer link from %s: %s frame; closing",
                 c->peer ? c->node->peers.addr[c->peer->id] : "an unknown peer",
                 peer_msg_status_name(rc));
        node__close_conn(c);
    }
    /* one ACK per batch read (spec: ACK), covering every frame handled */
    if (c->peer) node__send_ack(c->peer);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct node *n = server->data;
    CHECK_MAGIC(n, NODE_MAGIC);
    if (status < 0 || n->closing) return;
    struct node_conn *c = conn_new(n, NULL, false);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        node__close_conn(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 10);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int node__listen(struct node *n, char *err, size_t errlen)
{
    char host[OWNER_ADDR_MAX + 1], why[256];
    uint16_t port = 0;
    struct sockaddr_storage ss;
    socklen_t len;
    if (addr_split(n->o.listen, host, sizeof(host), &port) < 0 || port == 0) {
        snprintf(err, errlen, "cluster: --peer-listen \"%s\" is not HOST:PORT", n->o.listen);
        return NODE_EINVALID;
    }
    if (addr_resolve_host(host, port, &ss, &len, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "cluster: --peer-listen: %s", why);
        return NODE_EBIND;
    }
    int rc = uv_tcp_bind(&n->listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&n->listener, 128, on_connection);
    if (rc < 0) {
        snprintf(err, errlen, "cluster: cannot listen on %s: %s", n->o.listen, uv_strerror(rc));
        return NODE_EBIND;
    }
    return NODE_OK;
}

/* ---- connecting ---- */

static void on_connect_timeout(uv_timer_t *t)
{
    struct node_peer *p = t->data;
    CHECK_MAGIC(p->node, NODE_MAGIC);
    log_debug("peer %s: connection attempt timed out", p->node->peers.addr[p->id]);
    if (p->out) node__close_conn(p->out);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct node_conn *c = req->handle->data;
    CHECK_MAGIC(c, NODE_CONN_MAGIC);
    struct node_peer *p = c->peer;
    if (c->closing) return; /* timed out or stopping: already handled */
    if (status < 0) {
        log_debug("peer %s: cannot connect: %s", p->node->peers.addr[p->id], uv_strerror(status));
        node__close_conn(c);
        return;
    }
    uv_timer_stop(&p->connect_timer);
    p->state = OUT_OPEN;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 10);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    node__send_hello(p);
    log_debug("peer %s: connected", p->node->peers.addr[p->id]);
    if (node__link_ready(p)) node__link_became_ready(p);
}

static void try_next_addr(struct node_peer *p)
{
    struct node *n = p->node;
    struct addrinfo *ai = p->ai_next;
    while (ai && ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
        ai = ai->ai_next;
    if (!ai) {
        p->ai_next = NULL;
        schedule_retry(p);
        return;
    }
    p->ai_next = ai->ai_next;
    struct node_conn *c = conn_new(n, p, true);
    p->out = c;
    p->state = OUT_CONNECTING;
    int rc = uv_tcp_connect(&p->connect, &c->tcp, ai->ai_addr, on_connect);
    if (rc < 0) {
        node__close_conn(c); /* tries the next address */
        return;
    }
    uv_timer_start(&p->connect_timer, on_connect_timeout, n->o.connect_timeout_ms, 0);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct node_peer *p = req->data;
    struct node *n = p->node;
    CHECK_MAGIC(n, NODE_MAGIC);
    p->state = OUT_IDLE;
    if (status < 0 || n->closing) {
        if (res) uv_freeaddrinfo(res);
        if (status < 0 && status != UV_ECANCELED)
            log_debug("peer %s: cannot resolve: %s", n->peers.addr[p->id], uv_strerror(status));
        schedule_retry(p);
        return;
    }
    if (p->ai) uv_freeaddrinfo(p->ai);
    p->ai = p->ai_next = res;
    try_next_addr(p);
}

void node__connect(struct node_peer *p)
{
    struct node *n = p->node;
    if (n->closing || p->state != OUT_IDLE) return;
    if (p->attempted) {
        NODE_STAT_ADD(n, reconnects, 1);
        METRIC_INCR(peer_reconnects);
    }
    p->attempted = true;
    p->gai.data = p;
    p->connect_timer.data = p;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    p->state = OUT_RESOLVING;
    int rc = uv_getaddrinfo(&n->loop, &p->gai, on_resolved, p->host, p->port, &hints);
    if (rc < 0) {
        p->state = OUT_IDLE;
        schedule_retry(p);
    }
}
