/*
 * conn.c: the connection state machine.
 *
 *   accept -> read -> [TLS: decrypt] -> http_request_feed -+- NEED_MORE: (100 Continue), wait
 *                                                          +- error: 400/413/431 reply, linger
 *                                                          '- READY: serve -> reply -> write
 *   write done -> next pipelined request, or idle (keep-alive), or close
 *   past --max-connections: ThrottlingException at once (after the handshake
 *   with TLS), then linger
 *
 * Lingering close (nginx's name): after a refusal the client is usually
 * still sending the request it was refused for (the rest of a 17 MiB body).
 * Closing with those bytes unread makes the kernel send a reset, which can
 * destroy the answer before the client reads it; so the connection sends
 * its answer, shuts its sending side, and reads and discards whatever comes
 * for a bounded time and size before it closes.
 *
 * With TLS (pool->tls) every byte read goes through net/tls.h first and
 * every byte written is sealed by it; the states above are the same.
 *
 * Sockets are net/sock.h's (edge-triggered, so requests are served in the
 * order they came), timers libuv's.
 *
 * A connection holds references: its socket, its timer, and the request
 * being served. It is freed when all three are gone, so a client that hangs
 * up while its request waits on the backend never leaves the handler with a
 * dangling request. The timer's reference goes last, from a uv_close
 * callback, so a connection outlives the loop iteration that closed it (as
 * net/sock.h asks).
 */
#include "net/conn.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "metrics/metrics.h"
#include "net/front.h"
#include "net/tls.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/log.h"

#define CONN_MAGIC 0x6e6e6f63u
#define READ_PAUSE_BYTES (HTTP_MAX_BODY + 1024 * 1024)
/* lingering close: the most time, silence and bytes it waits through */
#define LINGER_MAX_MS 30000
#define LINGER_IDLE_MS 5000
#define LINGER_MAX_BYTES (64u * 1024 * 1024)

enum timer_mode { T_NONE, T_IDLE, T_HEADER, T_LINGER };

struct conn {
    uint32_t magic;
    struct sock sock;
    uv_timer_t timer;
    struct conn_pool *pool;
    struct conn *prev, *next;
    struct http_request http;
    struct buf in;   /* received, not yet framed */
    struct buf head; /* status line and headers of the reply being written */
    struct request req;
    struct arena arena;
    struct sock_write wr;
    int refs;
    enum timer_mode timer_mode;
    bool busy; /* a request is being served or its reply written */
    bool writing;
    bool closing;
    bool eof;
    bool close_after; /* close once the current reply is written */
    bool continue_sent;
    bool read_paused;
    bool in_process; /* conn_process is on the stack: replies must not recurse */
    bool over_cap;   /* accepted past max_connections: answered ThrottlingException */
    bool linger;     /* linger once the current reply is written (a refusal) */
    bool lingering;  /* answered and shut: reading and discarding until done */
    enum conn_cors cors;
    uint64_t linger_deadline_ms;
    size_t linger_bytes;
    struct tls_conn *tls; /* NULL: plain TCP */
    struct buf raw;       /* TLS: the bytes of one read, before decryption (freed after
                           * each read, so an idle TLS connection holds no 64 KiB for it) */
    struct buf sealed;    /* TLS: records to send */
};

/* A write whose bytes could not all go at once: the rest, owned until sent. */
struct owned_write {
    struct sock_write req;
    struct conn *c;
    bool reply; /* completes the current reply */
    char data[];
};

static atomic_int open_total;

static void conn_process(struct conn *c);
static void conn_close(struct conn *c);
static void start_reading(struct conn *c);
static void begin_linger(struct conn *c);

int conn_pool_init(struct conn_pool *pool, uv_loop_t *loop, const struct service *svc,
                   struct handler_thread *thread, const struct config *cfg)
{
    memset(pool, 0, sizeof(*pool));
    pool->loop = loop;
    int rc = sock_loop_init(&pool->sockets, loop);
    if (rc < 0) return rc;
    pool->svc = svc;
    pool->thread = thread;
    pool->idle_timeout_ms = cfg->idle_timeout;
    pool->header_timeout_ms = cfg->header_timeout;
    pool->max_header = cfg->max_header_size;
    struct buf body = BUF_INIT;
    ddb_msg_compose(&body, MSG_throttled);
    int status = ddb_error_desc(ddb_msg_error(MSG_throttled))->status;
    snprintf(pool->busy_reply, sizeof(pool->busy_reply),
             "HTTP/1.1 %d %s\r\nContent-Type: application/x-amz-json-1.0\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
             status, conn_reason(status), body.len, body.data);
    buf_free(&body);
    return 0;
}

/* A stopping pool with no connection left: its sockets' poll closes, then
 * the owner hears. */
static void pool_check_empty(struct conn_pool *pool)
{
    if (!pool->stopping || pool->count > 0) return;
    sock_loop_close(&pool->sockets);
    if (pool->on_empty) pool->on_empty(pool);
}

static void conn_unref(struct conn *c)
{
    if (--c->refs > 0) return;
    http_request_free(&c->http);
    buf_free(&c->in);
    buf_free(&c->head);
    buf_free(&c->req.reply);
    buf_free(&c->raw);
    buf_free(&c->sealed);
    tls_conn_free(c->tls);
    arena_free(&c->arena);
    c->magic = 0;
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    CHECK_MAGIC(c, CONN_MAGIC);
    conn_unref(c);
}

static void on_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    CHECK_MAGIC(c, CONN_MAGIC);
    if (c->timer_mode == T_LINGER) {
        conn_close(c);
        return;
    }
    METRIC_INCR(client_timeouts);
    log_debug("closing connection: %s timeout", c->timer_mode == T_HEADER ? "header" : "idle");
    conn_close(c);
}

static void arm_timer(struct conn *c)
{
    if (c->closing || c->lingering) return;
    enum timer_mode want = T_IDLE;
    if (c->busy)
        want = T_NONE;
    else if ((c->http.started && !c->http.headers_done) ||
             (c->tls && !tls_conn_established(c->tls))) /* a handshake counts as headers */
        want = T_HEADER;
    if (want == T_NONE) {
        uv_timer_stop(&c->timer);
    } else if (want == T_IDLE) {
        uv_timer_start(&c->timer, on_timer, c->pool->idle_timeout_ms, 0);
    } else if (c->timer_mode != T_HEADER) { /* measured from the request's first byte */
        uv_timer_start(&c->timer, on_timer, c->pool->header_timeout_ms, 0);
    }
    c->timer_mode = want;
}

static void conn_close(struct conn *c)
{
    if (c->closing) return;
    if (c->tls && !c->lingering) { /* best effort: a close_notify if it fits at once */
        buf_reset(&c->sealed);
        tls_conn_close_notify(c->tls, &c->sealed);
        uv_buf_t b = uv_buf_init(c->sealed.data, (unsigned)c->sealed.len);
        if (b.len) sock_try_write(&c->sock, &b, 1);
    }
    c->closing = true;
    struct conn_pool *pool = c->pool;
    if (c->prev)
        c->prev->next = c->next;
    else
        pool->head = c->next;
    if (c->next) c->next->prev = c->prev;
    pool->count--;
    if (pool->max_connections) {
        atomic_fetch_sub(&open_total, 1);
        METRIC_DECR(client_connections);
    }
    sock_close(&c->sock); /* a queued reply's write ends now, canceled */
    conn_unref(c);        /* the socket's reference; the timer's keeps c to the next iteration */
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    pool_check_empty(pool);
}

static const struct {
    int status;
    const char *reason;
} reasons[] = {
#define STATUS(code, reason) {code, reason},
#include "http_status.def"
#undef STATUS
};

const char *conn_reason(int status)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
            if (reasons[i].status == status) return reasons[i].reason;
        status = status < 400 ? 200 : status < 500 ? 400 : 500; /* the class's row */
    }
    return "";
}

void conn_reply_cors(struct conn *c, enum conn_cors mode)
{
    c->cors = mode;
}

/* Decimal digits of n into out (no NUL); returns the length. */
static size_t fmt_u64(char *out, uint64_t n)
{
    char tmp[20];
    size_t len = 0;
    do
        tmp[len++] = (char)('0' + n % 10);
    while ((n /= 10));
    for (size_t i = 0; i < len; i++)
        out[i] = tmp[len - 1 - i];
    return len;
}

static const char *http_date(struct conn_pool *pool)
{
    uint64_t sec = clock_wall_ms() / 1000;
    if (sec != pool->date_sec) {
        clock_http_date(pool->date, sizeof(pool->date), (int64_t)sec);
        pool->date_sec = sec;
    }
    return pool->date;
}

static void write_done(struct conn *c)
{
    request_release(&c->req); /* the cache's bytes it was written from */
    c->writing = false;
    c->busy = false;
    arena_reset(&c->arena);
    http_request_next(&c->http);
    c->continue_sent = false;
    if (c->closing) {
        conn_unref(c);
        return;
    }
    c->refs--; /* the request's reference; the socket and timer still hold it */
    if (c->close_after && c->linger && !c->eof) {
        begin_linger(c);
        return;
    }
    if (c->close_after || (c->eof && c->in.len == 0)) {
        conn_close(c);
        return;
    }
    if (!c->in_process) conn_process(c); /* else its loop takes the next request */
}

/* The end of a reply's write: status < 0 when it failed. */
static void reply_written(struct conn *c, int status)
{
    if (status < 0 && !c->closing) {
        log_debug("write failed: %s", uv_strerror(status));
        c->close_after = true;
        c->linger = false;
    }
    write_done(c);
}

static void on_write(struct sock_write *w, int status)
{
    struct conn *c = w->data;
    CHECK_MAGIC(c, CONN_MAGIC);
    reply_written(c, status);
}

static void on_owned_write(struct sock_write *w, int status)
{
    struct owned_write *o = container_of(w, struct owned_write, req);
    struct conn *c = o->c;
    bool reply = o->reply;
    free(o);
    CHECK_MAGIC(c, CONN_MAGIC);
    if (reply) reply_written(c, status);
}

/* Sends data[0..len) after everything queued before it, copying what the
 * socket does not take at once. `reply`: it completes the current reply
 * (write_done runs once it is written, or failed). */
static void send_bytes(struct conn *c, const char *data, size_t len, bool reply)
{
    size_t done = 0;
    if (!c->closing && len) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        int w = sock_try_write(&c->sock, &b, 1);
        if (w < 0 && w != UV_EAGAIN) {
            if (reply) reply_written(c, w);
            return;
        }
        done = w > 0 ? (size_t)w : 0;
    }
    if (done == len || c->closing) {
        if (reply) write_done(c);
        return;
    }
    struct owned_write *o = xmalloc(sizeof(*o) + len - done);
    o->c = c;
    o->reply = reply;
    memcpy(o->data, data + done, len - done);
    uv_buf_t b = uv_buf_init(o->data, (unsigned)(len - done));
    int rc = sock_write(&c->sock, &o->req, &b, 1, on_owned_write);
    if (rc < 0) {
        free(o);
        if (reply) reply_written(c, rc);
    }
}

/* Seals n buffers with TLS into c->sealed and sends them. */
static void send_sealed(struct conn *c, const uv_buf_t *bufs, unsigned n, bool reply)
{
    buf_reset(&c->sealed);
    for (unsigned i = 0; i < n; i++) {
        if (tls_conn_write(c->tls, bufs[i].base, bufs[i].len, &c->sealed) != TLS_OK) {
            if (reply) reply_written(c, UV_EPROTO);
            return;
        }
    }
    send_bytes(c, c->sealed.data, c->sealed.len, reply);
}

/* Sends bytes that are not a reply (100 Continue, the over-cap answer). */
static void send_other(struct conn *c, const char *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    if (c->tls)
        send_sealed(c, &b, 1, false);
    else
        send_bytes(c, data, len, false);
}

/* After a refusal: shut the sending side (with a close_notify first over
 * TLS) and read and discard until the client closes, stays silent for
 * LINGER_IDLE_MS, or LINGER_MAX_MS or LINGER_MAX_BYTES pass. */
static void begin_linger(struct conn *c)
{
    c->lingering = true;
    METRIC_INCR(http_lingering_closes);
    if (c->tls) {
        buf_reset(&c->sealed);
        tls_conn_close_notify(c->tls, &c->sealed);
        send_bytes(c, c->sealed.data, c->sealed.len, false);
    }
    if (sock_shutdown(&c->sock) < 0) {
        conn_close(c);
        return;
    }
    buf_reset(&c->in);
    c->linger_deadline_ms = clock_mono_ms() + LINGER_MAX_MS;
    c->linger_bytes = 0;
    c->timer_mode = T_LINGER;
    uv_timer_start(&c->timer, on_timer, LINGER_IDLE_MS, 0);
    if (c->read_paused) {
        c->read_paused = false;
        start_reading(c);
    }
}

/* n more bytes came while lingering: dropped, and the bounds checked. */
static void linger_discard(struct conn *c, size_t n)
{
    c->linger_bytes += n;
    uint64_t now = clock_mono_ms();
    if (c->linger_bytes > LINGER_MAX_BYTES || now >= c->linger_deadline_ms) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timer, MIN(LINGER_IDLE_MS, c->linger_deadline_ms - now), 0);
}

/* Writes bufs: directly when the socket takes them all (the common case),
 * else queues the rest with sock_write. Completion runs write_done. */
static void write_bufs(struct conn *c, uv_buf_t *bufs, unsigned n)
{
    c->writing = true;
    int w = sock_try_write(&c->sock, bufs, n);
    size_t done = w > 0 ? (size_t)w : 0;
    if (w < 0 && w != UV_EAGAIN) {
        c->close_after = true;
        write_done(c);
        return;
    }
    unsigned i = 0;
    while (i < n && done >= bufs[i].len)
        done -= bufs[i++].len;
    if (i == n) {
        write_done(c);
        return;
    }
    bufs[i].base += done;
    bufs[i].len -= done;
    c->wr.data = c;
    if (sock_write(&c->sock, &c->wr, bufs + i, n - i, on_write) < 0) {
        c->close_after = true;
        write_done(c);
    }
}

/* Appends the header line "name: v", v being the request header request_name's
 * value, when the request has one. */
static void echo_header(struct conn *c, struct buf *h, const char *name, const char *request_name)
{
    size_t len = 0;
    const char *v = http_request_header(&c->http, request_name, &len);
    if (!v || !len) return;
    buf_append_str(h, "\r\n");
    buf_append_str(h, name);
    buf_append_str(h, ": ");
    buf_append(h, v, len);
}

/* DynamoDB's CORS headers (values from proto/front.tsv). */
static void append_cors(struct conn *c, struct buf *h)
{
    buf_append_str(h, "\r\nAccess-Control-Allow-Origin: ");
    buf_append_str(h, front_cors_allow_origin);
    if (c->cors != CONN_CORS_PREFLIGHT) return;
    echo_header(c, h, "Access-Control-Allow-Headers", "access-control-request-headers");
    echo_header(c, h, "Access-Control-Allow-Methods", "access-control-request-method");
    buf_append_str(h, "\r\nAccess-Control-Max-Age: ");
    buf_append_str(h, front_cors_max_age);
}

/* The x-amz-crc32 of a body the handler did not give one for. */
static uint32_t body_crc(const struct request *r)
{
    if (!r->npieces) return (uint32_t)crc32(0, (const Bytef *)r->reply.data, (uInt)r->reply.len);
    uLong crc = 0;
    for (unsigned i = 0; i < r->npieces; i++) {
        const struct request_piece *p = &r->pieces[i];
        crc = crc32(crc, (const Bytef *)(p->data ? p->data : r->reply.data + p->off), (uInt)p->len);
    }
    return (uint32_t)crc;
}

/* The uv_bufs of the reply: the head, then the body (r->reply, or its
 * pieces, the cache's bytes among them, written where they are stored).
 * Returns how many. sock_write copies the array when it queues a write, so
 * the arena's copy need only last the call. */
static unsigned reply_bufs(struct conn *c, struct request *r, uv_buf_t *two, uv_buf_t **bufs)
{
    struct buf *h = &c->head;
    bool body = request_body_size(r) && c->http.parser.method != HTTP_HEAD;
    two[0] = uv_buf_init(h->data, (unsigned)h->len);
    two[1] = uv_buf_init(r->reply.data, (unsigned)r->reply.len);
    *bufs = two;
    if (!body || !r->npieces) return body ? 2 : 1;
    *bufs = arena_alloc(r->arena, sizeof(uv_buf_t) * (r->npieces + 1));
    (*bufs)[0] = two[0];
    for (unsigned i = 0; i < r->npieces; i++) {
        const struct request_piece *p = &r->pieces[i];
        (*bufs)[i + 1] =
            uv_buf_init((char *)(p->data ? p->data : r->reply.data + p->off), (unsigned)p->len);
    }
    return r->npieces + 1;
}

/* r->done for requests of this connection: composes headers and writes. */
static void on_reply(struct request *r)
{
    struct conn *c = r->owner;
    CHECK_MAGIC(c, CONN_MAGIC);
    if (c->closing) { /* the client left while the request was served */
        request_release(r);
        c->busy = false;
        conn_unref(c);
        return;
    }
    struct conn_pool *pool = c->pool;
    if (!c->http.keep_alive || pool->stopping) c->close_after = true;
    /* composed with appends, not printf: this runs for every reply (callgrind
     * put printf at a tenth of a cache hit's instructions) */
    struct buf *h = &c->head;
    char num[24];
    buf_reset(h);
    buf_append_str(h, "HTTP/1.1 ");
    buf_append(h, num, fmt_u64(num, (uint64_t)r->status));
    buf_append_char(h, ' ');
    buf_append_str(h, conn_reason(r->status));
    buf_append_str(h, "\r\nDate: ");
    buf_append_str(h, http_date(pool));
    if (!r->content_type || r->content_type[0]) {
        buf_append_str(h, "\r\nContent-Type: ");
        buf_append_str(h, r->content_type ? r->content_type : "application/x-amz-json-1.0");
    }
    buf_append_str(h, "\r\nContent-Length: ");
    buf_append(h, num, fmt_u64(num, request_body_size(r)));
    if (pool->svc->amz_headers) {
        buf_append_str(h, "\r\nx-amzn-RequestId: ");
        buf_append_str(h, r->request_id);
    }
    if (pool->svc->amz_headers && c->cors != CONN_CORS_PREFLIGHT) {
        uint32_t crc = r->crc_set ? r->crc : body_crc(r);
        buf_append_str(h, "\r\nx-amz-crc32: ");
        buf_append(h, num, fmt_u64(num, crc));
    }
    if (c->cors != CONN_CORS_NONE) append_cors(c, h);
    if (r->extra_headers) buf_append_str(h, r->extra_headers);
    if (c->close_after) buf_append_str(h, "\r\nConnection: close");
    buf_append_str(h, "\r\n\r\n");
    /* the answer to a HEAD request has the headers of the body it does not send */
    uv_buf_t two[2], *bufs;
    unsigned n = reply_bufs(c, r, two, &bufs);
    if (c->tls) /* sealed from the pieces at once: they are released after the write */
        send_sealed(c, bufs, n, true);
    else
        write_bufs(c, bufs, n);
}

static void start_request(struct conn *c)
{
    struct request *r = &c->req;
    struct buf reply = r->reply; /* keep the reply buffer's memory across requests */
    memset(r, 0, sizeof(*r));
    r->reply = reply;
    buf_reset(&r->reply);
    r->thread = c->pool->thread;
    r->body = c->http.body.data ? c->http.body.data : "";
    r->body_len = c->http.body.len;
    r->headers = c->http.headers;
    r->nheaders = c->http.nheaders;
    r->arena = &c->arena;
    r->zero_copy = true; /* on_reply writes pieces; write_done releases them */
    r->start_ns = clock_mono_ns();
    r->done = on_reply;
    r->owner = c;
    c->busy = true;
    c->refs++;
    c->cors = CONN_CORS_NONE;
    arm_timer(c);
    c->pool->svc->serve(c, r, &c->http);
}

/* Replies to a request the framer refused, then closes. */
static void refuse(struct conn *c, int status)
{
    METRIC_INCR(http_errors);
    struct request *r = &c->req;
    buf_reset(&r->reply);
    /* not DynamoDB's answers (its front never shows them), ddbx's own in
     * DynamoDB's shape; a 413 is RequestEntityTooLarge with its table text */
    if (status == 413)
        ddb_error_compose(&r->reply, DDB_RequestEntityTooLarge, NULL);
    else
        ddb_msg_compose(&r->reply, status == 431 ? MSG_http_headers_too_large : MSG_http_malformed);
    c->cors = CONN_CORS_NONE;
    r->status = status;
    r->crc_set = false;
    r->content_type = NULL;
    r->extra_headers = NULL;
    r->owner = c;
    r->done = on_reply;
    request_make_id(r->request_id, sizeof(r->request_id));
    c->busy = true;
    c->refs++;
    c->close_after = true;
    c->linger = true; /* the rest of what it refused may still be coming */
    on_reply(r);
}

static void conn_process(struct conn *c)
{
    c->in_process = true;
    while (!c->busy && !c->closing) {
        if (c->pool->stopping && !c->http.started) {
            conn_close(c);
            break;
        }
        size_t used = 0;
        int st =
            c->in.len ? http_request_feed(&c->http, c->in.data, c->in.len, &used) : HTTP_NEED_MORE;
        buf_consume(&c->in, used);
        if (st == HTTP_READY) {
            start_request(c);
            continue;
        }
        if (st != HTTP_NEED_MORE) {
            refuse(c, st == HTTP_EBODY ? 413 : st == HTTP_EHEADERS ? 431 : 400);
            break;
        }
        if (c->eof) {
            conn_close(c);
            break;
        }
        if (c->http.expect_continue && !c->continue_sent) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            send_other(c, cont, sizeof(cont) - 1);
            c->continue_sent = true;
        }
        arm_timer(c);
        break;
    }
    c->in_process = false;
    if (c->read_paused && c->in.len < READ_PAUSE_BYTES && !c->closing) {
        c->read_paused = false;
        start_reading(c);
    }
}

static void on_alloc(struct sock *s, uv_buf_t *out)
{
    struct conn *c = s->data;
    CHECK_MAGIC(c, CONN_MAGIC);
    struct buf *b = c->tls ? &c->raw : &c->in; /* TLS: ciphertext apart, decrypted into in */
    if (c->tls || c->lingering) buf_reset(b);
    buf_reserve(b, 64 * 1024);
    *out = uv_buf_init(b->data + b->len, (unsigned)(b->cap - b->len - 1));
}

/* New plaintext is in c->in: serve it (or pause reading while a request is served). */
static void got_bytes(struct conn *c)
{
    if (c->busy && c->in.len >= READ_PAUSE_BYTES) {
        sock_read_stop(&c->sock);
        c->read_paused = true;
    }
    if (!c->busy) conn_process(c);
}

/* The over-cap answer, and a lingering close. */
static void refuse_over_cap(struct conn *c)
{
    send_other(c, c->pool->busy_reply, strlen(c->pool->busy_reply));
    if (!c->closing) begin_linger(c);
}

/* TLS: decrypts n bytes read into c->raw, sends what the handshake answers. */
static void on_read_tls(struct conn *c, size_t n)
{
    bool was = tls_conn_established(c->tls);
    buf_reset(&c->sealed);
    int st = tls_conn_read(c->tls, c->raw.data, n, &c->in, &c->sealed);
    if (c->sealed.len) send_bytes(c, c->sealed.data, c->sealed.len, false);
    if (st == TLS_EFAIL) {
        METRIC_INCR(tls_failures);
        log_debug("closing TLS connection: %s", tls_conn_error(c->tls));
        conn_close(c);
        return;
    }
    if (!was && tls_conn_established(c->tls)) {
        METRIC_INCR(tls_handshakes);
        arm_timer(c);
    }
    if (c->over_cap) {
        buf_reset(&c->in);
        if (tls_conn_established(c->tls)) refuse_over_cap(c);
        return;
    }
    if (st == TLS_ECLOSED) {
        sock_read_stop(&c->sock);
        c->eof = true;
        if (!c->busy) conn_process(c);
        return;
    }
    got_bytes(c);
}

static void on_read_bytes(struct conn *c, ssize_t n)
{
    if (n > 0 && c->lingering) {
        linger_discard(c, (size_t)n);
        return;
    }
    if (n > 0 && c->tls) {
        on_read_tls(c, (size_t)n);
        return;
    }
    if (n > 0) {
        c->in.len += (size_t)n;
        c->in.data[c->in.len] = '\0';
        got_bytes(c);
        return;
    }
    if (n == 0) return;
    sock_read_stop(&c->sock);
    if (n != UV_EOF || c->lingering) {
        conn_close(c);
        return;
    }
    c->eof = true;
    if (!c->busy) conn_process(c); /* frames what is left, then closes */
}

static void on_read(struct sock *s, ssize_t n)
{
    struct conn *c = s->data;
    CHECK_MAGIC(c, CONN_MAGIC);
    on_read_bytes(c, n);
    if (c->tls) buf_free(&c->raw); /* c lives on: handles close later, in the loop */
}

static void start_reading(struct conn *c)
{
    sock_read_start(&c->sock, on_alloc, on_read);
}

void conn_accept(struct conn_pool *pool, int fd)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    c->magic = CONN_MAGIC;
    c->pool = pool;
    int opened = sock_open(&c->sock, &pool->sockets, fd);
    c->sock.data = c;
    uv_timer_init(pool->loop, &c->timer);
    c->timer.data = c;
    c->refs = 2;
    http_request_init(&c->http, pool->max_header, HTTP_MAX_BODY);
    arena_init(&c->arena);
    c->next = pool->head;
    if (pool->head) pool->head->prev = c;
    pool->head = c;
    pool->count++;
    bool over = false;
    if (pool->max_connections) {
        METRIC_INCR(client_connections_accepted);
        METRIC_INCR(client_connections);
        over = (uint64_t)atomic_fetch_add(&open_total, 1) >= pool->max_connections;
    }
    if (opened < 0) {
        log_warn("cannot serve a connection: %s", uv_strerror(opened));
        conn_close(c);
        return;
    }
    sock_nodelay(&c->sock);
    if (pool->tls) c->tls = tls_conn_new(pool->tls);
    start_reading(c);
    if (over) {
        METRIC_INCR(client_connections_refused);
        c->over_cap = true;
        if (!c->tls) { /* TLS: answered once the handshake is done */
            refuse_over_cap(c);
            return;
        }
    }
    arm_timer(c);
}

void conn_pool_stop(struct conn_pool *pool)
{
    pool->stopping = true;
    for (struct conn *c = pool->head, *next; c; c = next) {
        next = c->next;
        if (!c->busy && !c->http.started) conn_close(c);
    }
    pool_check_empty(pool);
}
