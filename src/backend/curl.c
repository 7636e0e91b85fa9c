/*
 * curl.c: libcurl's multi interface on a libuv loop, the backend client for
 * https:// endpoints and endpoints behind a proxy (see internal.h).
 *
 *   send -> easy handle (pooled, configured once) -> curl_multi_add_handle
 *   curl socket callback -> uv_poll per socket -> curl_multi_socket_action
 *   curl timer callback  -> uv_timer            -> curl_multi_socket_action
 *   finished transfers (curl_multi_info_read)   -> backend__finish
 *
 * The multi handle keeps a cache of live connections, so sequential requests
 * reuse one connection instead of paying a TCP (and TLS) handshake each.
 * Requests arrive signed (backend.c); the headers are handed to libcurl as
 * they were signed, with Host given explicitly so it is the one signed.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/internal.h"
#include "metrics/metrics.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/log.h"

#define EASY_POOL_MAX 64
#define EASY_MAGIC 0x79736165u
#define CLIENT_MAGIC 0x6c727563u
#define POLL_MAGIC 0x6c6c6f70u

struct easy {
    uint32_t magic;
    CURL *curl;
    struct curl_slist *headers;
    struct backend_call *call;
    struct easy *next, *prev; /* in the pool, or in the in-flight list */
};

struct curl_client {
    uint32_t magic;
    struct backend *b;
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    int handles_open; /* timer + live poll handles */
    bool closing;
    struct easy *pool;
    int pool_len;
    struct easy *active; /* in flight, for destroy */
};

struct poll_ctx {
    uint32_t magic;
    uv_poll_t poll;
    curl_socket_t fd;
    struct curl_client *cc;
};

static int setup(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("curl_global_init failed");
        return -1;
    }
    return 0;
}

static void teardown(void)
{
    curl_global_cleanup();
}

/* ---- curl callbacks on the transfer ---- */

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct easy *e = ud;
    CHECK_MAGIC(e, EASY_MAGIC);
    buf_append(&e->call->res.body, data, size * n);
    return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    struct easy *e = ud;
    CHECK_MAGIC(e, EASY_MAGIC);
    size_t len = size * n;
    static const char name[] = "x-amzn-requestid:";
    if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        struct backend_result *r = &e->call->res;
        const char *v = data + sizeof(name) - 1;
        const char *end = data + len;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            end--;
        size_t vlen = MIN((size_t)(end - v), sizeof(r->request_id) - 1);
        memcpy(r->request_id, v, vlen);
        r->request_id[vlen] = '\0';
    }
    static const char crc[] = "x-amz-crc32:";
    if (len > sizeof(crc) - 1 && strncasecmp(data, crc, sizeof(crc) - 1) == 0)
        backend__crc_digits(e->call, data + sizeof(crc) - 1, len - (sizeof(crc) - 1));
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) { /* a new answer (after a 1xx, a redirect) */
        e->call->crc = 0;
        e->call->crc_given = e->call->crc_bad = false;
    }
    return len;
}

static curl_socket_t on_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    curl_socket_t fd = socket(a->family, a->socktype, a->protocol);
    if (fd != CURL_SOCKET_BAD) {
        METRIC_INCR(backend_connections);
        METRIC_INCR(backend_connections_opened);
    }
    return fd;
}

static int on_close_socket(void *ud, curl_socket_t fd)
{
    METRIC_DECR(backend_connections);
    return close(fd);
}

/* An easy handle with everything set that does not change per request. */
static struct easy *easy_new(struct curl_client *cc)
{
    const struct backend_endpoint *ep = backend__endpoint(cc->b);
    struct easy *e = xcalloc(1, sizeof(*e));
    e->magic = EASY_MAGIC;
    CURL *h = curl_easy_init();
    if (!h) abort();
    e->curl = h;
    curl_easy_setopt(h, CURLOPT_URL, ep->url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ddbx");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, e);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, e);
    curl_easy_setopt(h, CURLOPT_PRIVATE, e);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)backend__connect_timeout_ms());
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    return e;
}

static void easy_free(struct easy *e)
{
    e->magic = 0;
    curl_easy_cleanup(e->curl);
    curl_slist_free_all(e->headers);
    free(e);
}

static struct curl_slist *header(struct curl_slist *l, const char *name, const char *value)
{
    struct buf h = BUF_INIT;
    buf_append_str(&h, name);
    buf_append_str(&h, value);
    struct curl_slist *n = curl_slist_append(l, h.data);
    buf_free(&h);
    if (!n) abort();
    return n;
}

/* The signed headers, and "Expect:" and "Accept:" to keep libcurl from adding
 * its own (unsigned headers are harmless, but Expect costs a round trip). */
static void set_request(struct easy *e, struct backend_call *c)
{
    struct curl_slist *l = NULL;
    l = header(l, "Host: ", backend__endpoint(c->b)->host_header);
    l = header(l, "Content-Type: ", "application/x-amz-json-1.0");
    l = header(l, "X-Amz-Target: ", c->target);
    if (c->amz_date[0]) {
        l = header(l, "X-Amz-Date: ", c->amz_date);
        l = header(l, "Authorization: ", c->auth.data ? c->auth.data : "");
    }
    if (backend__token()) l = header(l, "X-Amz-Security-Token: ", backend__token());
    l = header(l, "Expect:", "");
    l = header(l, "Accept:", "");
    curl_slist_free_all(e->headers);
    e->headers = l;
    curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, l);
    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, c->body.data ? c->body.data : "");
    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body.len);
    uint64_t now = clock_mono_ns();
    long left_ms = c->deadline_ns > now ? (long)((c->deadline_ns - now) / 1000000) : 1;
    curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, left_ms > 0 ? left_ms : 1L);
}

static void done(struct curl_client *cc, struct easy *e, CURLcode rc)
{
    struct backend_call *c = e->call;
    struct backend_result *r = &c->res;
    if (rc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
        r->outcome = BACKEND_ANSWERED;
        r->status = (int)status;
    } else {
        r->outcome = rc == CURLE_OPERATION_TIMEDOUT ? BACKEND_TIMEOUT
                     : rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                             rc == CURLE_COULDNT_RESOLVE_PROXY
                         ? BACKEND_UNREACHABLE
                         : BACKEND_IO_ERROR;
        r->error = curl_easy_strerror(rc);
    }
    e->call = NULL;
    if (e->prev)
        e->prev->next = e->next;
    else
        cc->active = e->next;
    if (e->next) e->next->prev = e->prev;
    e->prev = NULL;
    if (cc->pool_len < EASY_POOL_MAX) {
        e->next = cc->pool;
        cc->pool = e;
        cc->pool_len++;
    } else {
        easy_free(e);
    }
    backend__finish(c);
}

static void drain_finished(struct curl_client *cc)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(cc->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        struct easy *e;
        CURLcode rc = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&e);
        CHECK_MAGIC(e, EASY_MAGIC);
        curl_multi_remove_handle(cc->multi, msg->easy_handle);
        done(cc, e, rc);
    }
}

/* ---- curl multi <-> libuv ---- */

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct poll_ctx *p = h->data;
    CHECK_MAGIC(p, POLL_MAGIC);
    int flags = 0, running;
    if (status < 0) flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    struct curl_client *cc = p->cc;
    curl_multi_socket_action(cc->multi, p->fd, flags, &running);
    drain_finished(cc);
}

static void handle_closed(struct curl_client *cc)
{
    CHECK_MAGIC(cc, CLIENT_MAGIC);
    if (--cc->handles_open > 0 || !cc->closing) return;
    struct backend *b = cc->b;
    cc->magic = 0;
    free(cc);
    backend__closed(b);
}

static void on_poll_closed(uv_handle_t *h)
{
    struct poll_ctx *p = h->data;
    CHECK_MAGIC(p, POLL_MAGIC);
    struct curl_client *cc = p->cc;
    p->magic = 0;
    free(p);
    handle_closed(cc);
}

static void on_timer_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *ud, void *sockp)
{
    struct curl_client *cc = ud;
    struct poll_ctx *p = sockp;
    CHECK_MAGIC(cc, CLIENT_MAGIC);
    if (p) CHECK_MAGIC(p, POLL_MAGIC);
    if (what == CURL_POLL_REMOVE) {
        if (p) {
            uv_poll_stop(&p->poll);
            uv_close((uv_handle_t *)&p->poll, on_poll_closed);
        }
        return 0;
    }
    if (!p) {
        p = xcalloc(1, sizeof(*p));
        p->magic = POLL_MAGIC;
        p->fd = fd;
        p->cc = cc;
        if (uv_poll_init_socket(cc->loop, &p->poll, fd) != 0) {
            free(p);
            return -1;
        }
        p->poll.data = p;
        cc->handles_open++;
        curl_multi_assign(cc->multi, fd, p);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= UV_WRITABLE;
    uv_poll_start(&p->poll, events, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    struct curl_client *cc = t->data;
    CHECK_MAGIC(cc, CLIENT_MAGIC);
    int running;
    curl_multi_socket_action(cc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_finished(cc);
}

static int on_timer(CURLM *multi, long timeout_ms, void *ud)
{
    struct curl_client *cc = ud;
    CHECK_MAGIC(cc, CLIENT_MAGIC);
    if (timeout_ms < 0)
        uv_timer_stop(&cc->timer);
    else
        uv_timer_start(&cc->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static void *create(struct backend *b, uv_loop_t *loop)
{
    struct curl_client *cc = xcalloc(1, sizeof(*cc));
    cc->magic = CLIENT_MAGIC;
    cc->b = b;
    cc->loop = loop;
    cc->multi = curl_multi_init();
    if (!cc->multi) abort();
    curl_multi_setopt(cc->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(cc->multi, CURLMOPT_SOCKETDATA, cc);
    curl_multi_setopt(cc->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(cc->multi, CURLMOPT_TIMERDATA, cc);
    /* enough idle connections to serve bursts without reconnecting */
    curl_multi_setopt(cc->multi, CURLMOPT_MAXCONNECTS, 256L);
    uv_timer_init(loop, &cc->timer);
    cc->timer.data = cc;
    cc->handles_open = 1;
    return cc;
}

static void send_call(void *client, struct backend_call *c)
{
    struct curl_client *cc = client;
    CHECK_MAGIC(cc, CLIENT_MAGIC);
    struct easy *e = cc->pool;
    if (e) {
        cc->pool = e->next;
        cc->pool_len--;
    } else {
        e = easy_new(cc);
    }
    e->call = c;
    c->conn = e;
    e->prev = NULL;
    e->next = cc->active;
    if (cc->active) cc->active->prev = e;
    cc->active = e;
    set_request(e, c);
    CURLMcode mc = curl_multi_add_handle(cc->multi, e->curl);
    if (mc != CURLM_OK) {
        /* cannot happen with a valid multi handle */
        log_error("curl_multi_add_handle: %s", curl_multi_strerror(mc));
        abort();
    }
}

static void destroy(void *client)
{
    struct curl_client *cc = client;
    CHECK_MAGIC(cc, CLIENT_MAGIC);
    cc->closing = true;
    /* forget the calls in flight: backend.c finishes them */
    while (cc->active) {
        struct easy *e = cc->active;
        cc->active = e->next;
        curl_multi_remove_handle(cc->multi, e->curl);
        e->call->conn = NULL;
        easy_free(e);
    }
    while (cc->pool) {
        struct easy *e = cc->pool;
        cc->pool = e->next;
        easy_free(e);
    }
    curl_multi_cleanup(cc->multi); /* closes cached connections via on_socket REMOVE */
    uv_close((uv_handle_t *)&cc->timer, on_timer_closed);
}

const struct backend_client backend__curl = {"curl", setup, teardown, create, send_call, destroy};
