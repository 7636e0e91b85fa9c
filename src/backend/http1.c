/*
 * http1.c: ddbx's own HTTP/1.1 client for plain http:// backends, on libuv
 * and Debian's http_parser (the parser ddbx's server side already uses).
 *
 *   send -> an idle keep-alive connection (most recently used first), or a new
 *           one (resolved unless the host is numeric, then connected)
 *        -> head and body written (uv_try_write; uv_write for what is left)
 *        -> the answer parsed as it arrives (status, x-amzn-RequestId, body)
 *        -> the connection back to the idle list, then backend__finish
 *
 * Why not libcurl here: a relayed request through libcurl's multi interface
 * cost ddbx several times what nginx's proxy_pass costs for the same relay
 * (docs/ARCHITECTURE.md has the figures); this client does what nginx's
 * upstream module does: one write, reads parsed in place, no per-request
 * option setting, no poll handle churn. libcurl stays for TLS and proxies.
 *
 * Each connection carries one call at a time and keeps reading while idle,
 * so a backend closing an idle connection is seen at once and the
 * connection dropped. A call that meets a reset or a close on a reused
 * connection before any byte of its answer is sent once more on a new
 * connection (see backend.h).
 */
#include <http_parser.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/internal.h"
#include "metrics/metrics.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/log.h"

#define CONN_MAGIC 0x31707468u
#define H1_MAGIC 0x31316868u
#define IDLE_MAX 256                     /* idle connections kept per worker */
#define READ_SIZE (64 * 1024)            /* bytes read per call */
#define ANSWER_MAX (64ull * 1024 * 1024) /* a BatchGetItem answer is at most 16 MB */
#define RID_NAME "x-amzn-requestid"
#define CRC_NAME "x-amz-crc32" /* shorter than RID_NAME: fits the name buffer */

struct h1;

struct h1_conn {
    uint32_t magic;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect;
    uv_getaddrinfo_t gai;
    uv_write_t wr;
    struct h1 *h;
    struct h1_conn *next, *prev; /* in h->idle or h->busy */
    struct backend_call *call;   /* the call in flight, NULL when idle */
    struct addrinfo *addrs;      /* resolved addresses, owned, until connected */
    struct addrinfo *addr;       /* the one being tried */
    http_parser parser;
    char name[sizeof(RID_NAME)]; /* the header name being read, lower-cased */
    size_t name_len;             /* > sizeof(name) - 1: longer than any we look for */
    size_t rid_len;
    int refs;          /* tcp, timer, a pending getaddrinfo */
    int pending_error; /* a connect that failed at once, reported by the timer */
    bool name_done;    /* a value piece came after the name */
    bool in_rid;       /* the value being read is x-amzn-RequestId */
    bool in_crc;       /* ... is x-amz-crc32 */
    bool connected;
    bool in_idle;   /* in h->idle, else in h->busy (until closing) */
    bool counted;   /* in the backend_connections gauge */
    bool writing;   /* a uv_write is pending */
    bool reused;    /* it has answered before: a reset may be a stale keep-alive */
    bool got_bytes; /* some of the current answer arrived */
    bool complete;  /* the current answer is complete */
    bool too_big;
    bool closing;
};

struct h1 {
    uint32_t magic;
    struct backend *b;
    uv_loop_t *loop;
    struct h1_conn *idle, *busy;
    int nidle;
    int conns; /* allocated, not yet freed */
    bool closing;
    bool numeric; /* addr holds the endpoint's address: no resolving */
    struct sockaddr_storage addr;
    char port[8];
    char rbuf[READ_SIZE]; /* every read lands here and is parsed before the next */
};

static void conn_close(struct h1_conn *conn);
static void conn_start(struct h1 *h, struct backend_call *c);
static struct h1_conn *conn_new(struct h1 *h, struct backend_call *c);
static void connect_to(struct h1_conn *conn, const struct sockaddr *addr);

/* ---- lists ---- */

static void unlink_conn(struct h1_conn *conn)
{
    struct h1 *h = conn->h;
    struct h1_conn **list = conn->in_idle ? &h->idle : &h->busy;
    if (conn->prev)
        conn->prev->next = conn->next;
    else if (*list == conn)
        *list = conn->next;
    if (conn->next) conn->next->prev = conn->prev;
    if (conn->in_idle) h->nidle--;
    conn->in_idle = false;
    conn->next = conn->prev = NULL;
}

static void push(struct h1_conn *conn, bool idle)
{
    struct h1 *h = conn->h;
    struct h1_conn **list = idle ? &h->idle : &h->busy;
    conn->prev = NULL;
    conn->next = *list;
    if (*list) (*list)->prev = conn;
    *list = conn;
    conn->in_idle = idle;
    if (idle) h->nidle++;
}

/* ---- ending a call ---- */

static void conn_free(struct h1_conn *conn)
{
    struct h1 *h = conn->h;
    if (conn->addrs) uv_freeaddrinfo(conn->addrs);
    conn->magic = 0;
    free(conn);
    if (--h->conns == 0 && h->closing) {
        struct backend *b = h->b;
        h->magic = 0;
        free(h);
        backend__closed(b);
    }
}

static void unref(struct h1_conn *conn)
{
    if (--conn->refs == 0) conn_free(conn);
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct h1_conn *conn = handle->data;
    CHECK_MAGIC(conn, CONN_MAGIC);
    unref(conn);
}

/* Takes the call off conn (which must then be closed or made idle). */
static struct backend_call *detach(struct h1_conn *conn)
{
    struct backend_call *c = conn->call;
    conn->call = NULL;
    if (c) c->conn = NULL;
    return c;
}

static void fail(struct h1_conn *conn, enum backend_outcome outcome, const char *error)
{
    struct backend_call *c = detach(conn);
    conn_close(conn);
    if (!c) return;
    c->res.outcome = outcome;
    c->res.status = 0;
    c->res.error = error;
    buf_reset(&c->res.body);
    backend__finish(c);
}

/* The connection broke (err: a libuv error, UV_EOF included) with no answer
 * complete: resend on a new connection when that is safe (see backend.h). */
static void lost(struct h1_conn *conn, int err)
{
    struct backend_call *c = conn->call;
    if (c && conn->reused && !conn->got_bytes && !c->retried && !conn->h->closing &&
        (err == UV_EOF || err == UV_ECONNRESET || err == UV_EPIPE)) {
        struct h1 *h = conn->h;
        detach(conn);
        conn_close(conn);
        c->retried = true;
        c->res.request_id[0] = '\0';
        buf_reset(&c->res.body);
        conn_start(h, c);
        return;
    }
    fail(conn, BACKEND_IO_ERROR,
         err == UV_EOF ? "the backend closed the connection" : uv_strerror(err));
}

static void answered(struct h1_conn *conn, bool keep)
{
    struct h1 *h = conn->h;
    struct backend_call *c = detach(conn);
    struct backend_result *r = &c->res;
    r->outcome = BACKEND_ANSWERED;
    r->status = conn->parser.status_code;
    while (conn->rid_len &&
           (r->request_id[conn->rid_len - 1] == ' ' || r->request_id[conn->rid_len - 1] == '\t'))
        conn->rid_len--;
    r->request_id[conn->rid_len] = '\0';
    conn->reused = true;
    uv_timer_stop(&conn->timer);
    if (keep && !conn->writing && !h->closing && h->nidle < IDLE_MAX) {
        unlink_conn(conn);
        push(conn, true);
    } else {
        conn_close(conn);
    }
    backend__finish(c);
}

static void conn_close(struct h1_conn *conn)
{
    if (conn->closing) return;
    unlink_conn(conn);
    conn->closing = true;
    if (conn->counted) METRIC_DECR(backend_connections);
    conn->counted = false;
    uv_close((uv_handle_t *)&conn->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&conn->timer, on_handle_closed);
    if (conn->refs > 2) uv_cancel((uv_req_t *)&conn->gai); /* its callback still runs */
}

/* ---- the answer ---- */

static int on_message_begin(http_parser *p)
{
    struct h1_conn *conn = p->data;
    conn->name_len = 0;
    conn->name_done = false;
    conn->in_rid = conn->in_crc = false;
    conn->rid_len = 0;
    conn->call->crc = 0;
    conn->call->crc_given = conn->call->crc_bad = false;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct h1_conn *conn = p->data;
    if (conn->name_done) {
        conn->name_len = 0;
        conn->name_done = false;
        conn->in_rid = conn->in_crc = false;
    }
    for (size_t i = 0; i < len && conn->name_len < sizeof(conn->name); i++) {
        char ch = at[i];
        conn->name[conn->name_len++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct h1_conn *conn = p->data;
    if (!conn->name_done) {
        conn->name_done = true;
        conn->in_rid = conn->name_len == sizeof(RID_NAME) - 1 &&
                       memcmp(conn->name, RID_NAME, sizeof(RID_NAME) - 1) == 0;
        if (conn->in_rid) conn->rid_len = 0;
        conn->in_crc = conn->name_len == sizeof(CRC_NAME) - 1 &&
                       memcmp(conn->name, CRC_NAME, sizeof(CRC_NAME) - 1) == 0;
    }
    if (conn->in_crc) backend__crc_digits(conn->call, at, len);
    if (conn->in_rid) {
        struct backend_result *r = &conn->call->res;
        size_t n = MIN(len, sizeof(r->request_id) - 1 - conn->rid_len);
        memcpy(r->request_id + conn->rid_len, at, n);
        conn->rid_len += n;
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct h1_conn *conn = p->data;
    if (p->status_code / 100 == 1) return 0; /* an interim answer: the real one follows */
    if (p->content_length != ULLONG_MAX) {
        if (p->content_length > ANSWER_MAX) {
            conn->too_big = true;
            return -1;
        }
        buf_reserve(&conn->call->res.body, (size_t)p->content_length);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct h1_conn *conn = p->data;
    struct buf *body = &conn->call->res.body;
    if (body->len + len > ANSWER_MAX) {
        conn->too_big = true;
        return -1;
    }
    buf_append(body, at, len);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct h1_conn *conn = p->data;
    if (p->status_code / 100 == 1) return 0;
    conn->complete = true;
    http_parser_pause(p, 1); /* nothing may follow an answer we did not ask for */
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *out)
{
    struct h1_conn *conn = handle->data;
    CHECK_MAGIC(conn, CONN_MAGIC);
    *out = uv_buf_init(conn->h->rbuf, READ_SIZE);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct h1_conn *conn = s->data;
    CHECK_MAGIC(conn, CONN_MAGIC);
    if (n == 0 || conn->closing) return;
    if (!conn->call) { /* idle: the backend closed it, or sent what nobody asked for */
        conn_close(conn);
        return;
    }
    if (n < 0) {
        if (n == UV_EOF && conn->got_bytes) { /* an answer delimited by the close */
            http_parser_execute(&conn->parser, &parser_settings, NULL, 0);
            if (conn->complete) {
                answered(conn, false);
                return;
            }
            fail(conn, BACKEND_IO_ERROR, "the backend closed the connection mid-answer");
            return;
        }
        lost(conn, (int)n);
        return;
    }
    conn->got_bytes = true;
    size_t used = http_parser_execute(&conn->parser, &parser_settings, b->base, (size_t)n);
    if (conn->complete) {
        answered(conn, used == (size_t)n && http_should_keep_alive(&conn->parser));
        return;
    }
    if (HTTP_PARSER_ERRNO(&conn->parser) != HPE_OK)
        fail(conn, BACKEND_IO_ERROR,
             conn->too_big ? "the backend's answer is too large"
                           : "the backend's answer is not HTTP");
}

/* ---- the request ---- */

static void append_u64(struct buf *b, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof(tmp);
    do
        tmp[--i] = (char)('0' + v % 10);
    while ((v /= 10));
    buf_append(b, tmp + i, sizeof(tmp) - i);
}

/* The request line and headers: exactly the headers backend.c signed. */
static void compose_head(struct backend_call *c)
{
    const struct backend_endpoint *ep = backend__endpoint(c->b);
    struct buf *h = &c->head;
    buf_reset(h);
    buf_reserve(h, 256 + c->auth.len);
    buf_append_str(h, "POST ");
    buf_append_str(h, ep->path);
    buf_append_str(h, " HTTP/1.1\r\nHost: ");
    buf_append_str(h, ep->host_header);
    buf_append_str(h, "\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: ");
    buf_append_str(h, c->target);
    if (c->amz_date[0]) {
        buf_append_str(h, "\r\nX-Amz-Date: ");
        buf_append_str(h, c->amz_date);
        buf_append_str(h, "\r\nAuthorization: ");
        buf_append(h, c->auth.data, c->auth.len);
    }
    if (backend__token()) {
        buf_append_str(h, "\r\nX-Amz-Security-Token: ");
        buf_append_str(h, backend__token());
    }
    buf_append_str(h, "\r\nContent-Length: ");
    append_u64(h, c->body.len);
    buf_append_str(h, "\r\nUser-Agent: ddbx\r\n\r\n");
}

static void on_write(uv_write_t *w, int status)
{
    struct h1_conn *conn = w->data;
    CHECK_MAGIC(conn, CONN_MAGIC);
    conn->writing = false;
    if (status < 0 && status != UV_ECANCELED && !conn->closing && conn->call) lost(conn, status);
}

static void write_request(struct h1_conn *conn)
{
    struct backend_call *c = conn->call;
    uv_buf_t bufs[2] = {uv_buf_init(c->head.data, (unsigned)c->head.len),
                        uv_buf_init(c->body.data, (unsigned)c->body.len)};
    unsigned n = c->body.len ? 2 : 1, i = 0;
    int w = uv_try_write((uv_stream_t *)&conn->tcp, bufs, n);
    if (w < 0 && w != UV_EAGAIN) {
        lost(conn, w);
        return;
    }
    size_t done = w > 0 ? (size_t)w : 0;
    while (i < n && done >= bufs[i].len)
        done -= bufs[i++].len;
    if (i == n) return;
    bufs[i].base += done;
    bufs[i].len -= done;
    conn->writing = true;
    conn->wr.data = conn;
    int rc = uv_write(&conn->wr, (uv_stream_t *)&conn->tcp, bufs + i, n - i, on_write);
    if (rc < 0) {
        conn->writing = false;
        lost(conn, rc);
    }
}

/* ---- time ---- */

static uint64_t ms_left(const struct backend_call *c)
{
    uint64_t now = clock_mono_ns();
    return c->deadline_ns > now ? (c->deadline_ns - now + 999999) / 1000000 : 0;
}

static void on_timer(uv_timer_t *t)
{
    struct h1_conn *conn = t->data;
    CHECK_MAGIC(conn, CONN_MAGIC);
    if (conn->pending_error) {
        fail(conn, BACKEND_UNREACHABLE, uv_strerror(conn->pending_error));
        return;
    }
    if (!conn->call) {
        conn_close(conn);
        return;
    }
    fail(conn, BACKEND_TIMEOUT,
         conn->connected ? "the backend did not answer in time"
                         : "connecting to the backend timed out");
}

/* Gives an idle or just connected conn its call: timer, parser, request. */
static void begin(struct h1_conn *conn)
{
    conn->got_bytes = conn->complete = conn->too_big = false;
    http_parser_init(&conn->parser, HTTP_RESPONSE);
    conn->parser.data = conn;
    uv_timer_start(&conn->timer, on_timer, ms_left(conn->call), 0);
    write_request(conn);
}

/* ---- connecting ---- */

/* The next resolved address, on a new connection (a socket whose connect
 * failed is not reused), or false when there is none. */
static bool try_next_address(struct h1_conn *conn)
{
    if (!conn->call || !conn->addr || !conn->addr->ai_next || conn->h->closing) return false;
    struct backend_call *c = detach(conn);
    struct h1_conn *next = conn_new(conn->h, c);
    next->addrs = conn->addrs;
    next->addr = conn->addr->ai_next;
    conn->addrs = conn->addr = NULL;
    conn_close(conn);
    connect_to(next, next->addr->ai_addr);
    return true;
}

static void on_connect(uv_connect_t *req, int status)
{
    struct h1_conn *conn = req->data;
    CHECK_MAGIC(conn, CONN_MAGIC);
    if (status == UV_ECANCELED || conn->closing) return;
    if (status < 0 && status != UV_ETIMEDOUT && try_next_address(conn)) return;
    if (status < 0) {
        fail(conn, status == UV_ETIMEDOUT ? BACKEND_TIMEOUT : BACKEND_UNREACHABLE,
             uv_strerror(status));
        return;
    }
    conn->connected = true;
    conn->counted = true;
    if (conn->addrs) uv_freeaddrinfo(conn->addrs);
    conn->addrs = conn->addr = NULL;
    METRIC_INCR(backend_connections);
    METRIC_INCR(backend_connections_opened);
    uv_tcp_nodelay(&conn->tcp, 1);
    uv_tcp_keepalive(&conn->tcp, 1, 60);
    uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
    if (conn->call)
        begin(conn);
    else
        conn_close(conn);
}

static void connect_to(struct h1_conn *conn, const struct sockaddr *addr)
{
    conn->connect.data = conn;
    int rc = uv_tcp_connect(&conn->connect, &conn->tcp, addr, on_connect);
    if (rc < 0) { /* reported from the timer: never inside backend_call */
        conn->pending_error = rc;
        uv_timer_start(&conn->timer, on_timer, 0, 0);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct h1_conn *conn = req->data;
    CHECK_MAGIC(conn, CONN_MAGIC);
    if (conn->closing || status < 0) {
        if (!conn->closing) fail(conn, BACKEND_UNREACHABLE, "cannot resolve the backend's host");
        uv_freeaddrinfo(res);
        unref(conn);
        return;
    }
    conn->addrs = conn->addr = res;
    connect_to(conn, res->ai_addr);
    unref(conn);
}

/* A connection for c, not yet connecting. */
static struct h1_conn *conn_new(struct h1 *h, struct backend_call *c)
{
    struct h1_conn *conn = xcalloc(1, sizeof(*conn));
    conn->magic = CONN_MAGIC;
    conn->h = h;
    h->conns++;
    uv_tcp_init(h->loop, &conn->tcp);
    uv_timer_init(h->loop, &conn->timer);
    conn->tcp.data = conn->timer.data = conn;
    conn->refs = 2;
    conn->call = c;
    c->conn = conn;
    push(conn, false);
    uint64_t left = ms_left(c), limit = backend__connect_timeout_ms();
    uv_timer_start(&conn->timer, on_timer, limit && limit < left ? limit : left, 0);
    return conn;
}

/* A new connection for c: resolved (unless numeric), then connected. */
static void conn_start(struct h1 *h, struct backend_call *c)
{
    struct h1_conn *conn = conn_new(h, c);
    if (h->numeric) {
        connect_to(conn, (const struct sockaddr *)&h->addr);
        return;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    conn->gai.data = conn;
    conn->refs++;
    int rc = uv_getaddrinfo(h->loop, &conn->gai, on_resolved, backend__endpoint(h->b)->host,
                            h->port, &hints);
    if (rc < 0) {
        conn->refs--;
        conn->pending_error = rc;
        uv_timer_start(&conn->timer, on_timer, 0, 0);
    }
}

/* ---- the client ---- */

static void *create(struct backend *b, uv_loop_t *loop)
{
    const struct backend_endpoint *ep = backend__endpoint(b);
    struct h1 *h = xcalloc(1, sizeof(*h));
    h->magic = H1_MAGIC;
    h->b = b;
    h->loop = loop;
    snprintf(h->port, sizeof(h->port), "%d", ep->port);
    h->numeric = uv_ip4_addr(ep->host, ep->port, (struct sockaddr_in *)&h->addr) == 0 ||
                 uv_ip6_addr(ep->host, ep->port, (struct sockaddr_in6 *)&h->addr) == 0;
    return h;
}

static void send_call(void *client, struct backend_call *c)
{
    struct h1 *h = client;
    CHECK_MAGIC(h, H1_MAGIC);
    compose_head(c);
    struct h1_conn *conn = h->idle;
    if (!conn) {
        conn_start(h, c);
        return;
    }
    unlink_conn(conn);
    push(conn, false);
    conn->call = c;
    c->conn = conn;
    /* A reused connection whose write fails at once resends on a new one
     * (lost()), so nothing here finishes the call inside backend_call. */
    begin(conn);
}

static void destroy(void *client)
{
    struct h1 *h = client;
    CHECK_MAGIC(h, H1_MAGIC);
    h->closing = true;
    while (h->busy) {
        struct h1_conn *conn = h->busy;
        detach(conn); /* backend.c finishes the call */
        conn_close(conn);
    }
    while (h->idle)
        conn_close(h->idle);
    if (h->conns == 0) {
        struct backend *b = h->b;
        h->magic = 0;
        free(h);
        backend__closed(b);
    }
}

const struct backend_client backend__http1 = {"http1", NULL, NULL, create, send_call, destroy};
