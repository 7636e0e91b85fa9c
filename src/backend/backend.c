/*
 * backend.c: libcurl's multi interface on a libuv loop.
 *
 *   backend_call -> easy handle (pooled) -> curl_multi_add_handle
 *   curl socket callback -> uv_poll per socket -> curl_multi_socket_action
 *   curl timer callback  -> uv_timer            -> curl_multi_socket_action
 *   finished transfers (curl_multi_info_read)   -> the caller's callback
 *
 * The multi handle keeps a cache of live connections, so sequential requests
 * reuse one connection instead of paying a TCP (and TLS) handshake each.
 */
#include "backend/backend.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/creds.h"
#include "metrics/metrics.h"
#include "util/addr.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/log.h"

#define BACKEND_MAGIC 0x6b636162u
#define CALL_MAGIC 0x6c6c6163u
#define POLL_MAGIC 0x6c6c6f70u
#define POOL_MAX 64

static struct {
    char *url;
    char *region;
    char *sigv4;        /* "aws:amz:<region>:dynamodb" */
    char *token_header; /* "X-Amz-Security-Token: ..." or NULL */
    struct aws_credentials creds;
    long connect_timeout_ms;
    long timeout_ms;
} g;

struct call {
    uint32_t magic;
    struct backend *b;
    CURL *easy;
    struct curl_slist *headers;
    struct buf request;
    backend_cb cb;
    void *arg;
    uint64_t start_ns;
    struct backend_result res;
    struct call *next; /* in the free pool, or in the in-flight list */
    struct call *prev; /* in the in-flight list */
};

struct backend {
    uint32_t magic;
    uv_loop_t *loop;
    char *url; /* NULL: the backend's (g.url) */
    CURLM *multi;
    uv_timer_t timer;
    int inflight;
    int closing;
    int handles_open; /* timer + live poll handles, for deferred free */
    struct call *pool;
    int pool_len;
    struct call *active; /* in-flight calls, for backend_destroy */
};

struct poll_ctx {
    uint32_t magic;
    uv_poll_t poll;
    curl_socket_t fd;
    struct backend *b;
};

/* The backend URL must be http(s) and its host must resolve now, so a typo
 * or an unknown name fails at start rather than at the first request
 * (libcurl resolves again for each connection it opens). */
static int check_url(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, err[300];
    int rc = DDBX_ERR;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        log_error("--backend \"%s\" is not a URL", url);
    } else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        log_error("--backend \"%s\" is not an http or https URL", url);
    } else {
        struct sockaddr_storage addr;
        socklen_t len;
        char *h = host;
        size_t hl = strlen(h);
        if (hl > 2 && h[0] == '[' && h[hl - 1] == ']') { /* an IPv6 literal, bracketed in URLs */
            h[hl - 1] = '\0';
            h++;
        }
        rc = addr_resolve_host(h, (uint16_t)atoi(port), &addr, &len, err, sizeof(err));
        if (rc < 0) log_error("--backend \"%s\": %s", url, err);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc < 0 ? DDBX_ERR : DDBX_OK;
}

int backend_setup(const struct config *cfg)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("curl_global_init failed");
        return DDBX_ERR;
    }
    g.region = *cfg->region ? xstrdup(cfg->region) : creds_region();
    if (!g.region) g.region = xstrdup("us-east-1");
    if (*cfg->backend) {
        g.url = xstrdup(cfg->backend);
    } else {
        struct buf u = BUF_INIT;
        buf_printf(&u, "https://dynamodb.%s.amazonaws.com/", g.region);
        g.url = u.data;
    }
    if (check_url(g.url) < 0) {
        backend_teardown();
        return DDBX_ERR;
    }
    struct buf s = BUF_INIT;
    buf_printf(&s, "aws:amz:%s:dynamodb", g.region);
    g.sigv4 = s.data;
    if (creds_load(&g.creds) < 0) {
        /* Local backends (moto, dynalite) accept any signature; AWS will answer
         * UnrecognizedClientException, which is relayed to the client. */
        log_warn("no AWS credentials found (environment or shared file); signing with "
                 "placeholder keys, which only local backends accept");
        g.creds.access_key = xstrdup("ddbx-placeholder");
        g.creds.secret_key = xstrdup("ddbx-placeholder");
        g.creds.source = xstrdup("placeholder");
    }
    if (g.creds.session_token) {
        struct buf t = BUF_INIT;
        buf_printf(&t, "X-Amz-Security-Token: %s", g.creds.session_token);
        g.token_header = t.data;
    }
    g.connect_timeout_ms = (long)cfg->backend_connect_timeout;
    g.timeout_ms = (long)cfg->backend_timeout;
    log_info("backend %s, region %s, credentials from %s", g.url, g.region, g.creds.source);
    return DDBX_OK;
}

void backend_teardown(void)
{
    free(g.url);
    free(g.region);
    free(g.sigv4);
    free(g.token_header);
    creds_free(&g.creds);
    memset(&g, 0, sizeof(g));
    curl_global_cleanup();
}

const char *backend_region(void)
{
    return g.region;
}

/* ---- curl callbacks on the transfer ---- */

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct call *c = ud;
    CHECK_MAGIC(c, CALL_MAGIC);
    buf_append(&c->res.body, data, size * n);
    return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    struct call *c = ud;
    CHECK_MAGIC(c, CALL_MAGIC);
    size_t len = size * n;
    static const char name[] = "x-amzn-requestid:";
    if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        const char *v = data + sizeof(name) - 1;
        const char *end = data + len;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            end--;
        size_t vlen = MIN((size_t)(end - v), sizeof(c->res.request_id) - 1);
        memcpy(c->res.request_id, v, vlen);
        c->res.request_id[vlen] = '\0';
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

static struct call *call_get(struct backend *b)
{
    struct call *c = b->pool;
    if (c) {
        b->pool = c->next;
        b->pool_len--;
    } else {
        c = xcalloc(1, sizeof(*c));
        c->magic = CALL_MAGIC;
        c->easy = curl_easy_init();
        if (!c->easy) abort();
        c->b = b;
    }
    return c;
}

static void call_free(struct call *c)
{
    curl_easy_cleanup(c->easy);
    buf_free(&c->request);
    c->magic = 0;
    free(c);
}

static void call_put(struct backend *b, struct call *c)
{
    curl_slist_free_all(c->headers);
    c->headers = NULL;
    buf_reset(&c->request);
    buf_free(&c->res.body);
    if (b->pool_len >= POOL_MAX || b->closing) {
        call_free(c);
        return;
    }
    c->next = b->pool;
    b->pool = c;
    b->pool_len++;
}

static void configure(struct call *c, const char *target)
{
    CURL *e = c->easy;
    curl_easy_reset(e);
    struct buf h = BUF_INIT;
    buf_printf(&h, "X-Amz-Target: %s", target);
    c->headers = curl_slist_append(NULL, "Content-Type: application/x-amz-json-1.0");
    c->headers = curl_slist_append(c->headers, h.data);
    /* no "Expect:"/"Accept:" suppressions: libcurl 7.88 signs such empty headers
     * although it does not send them, which breaks the signature */
    if (g.token_header) c->headers = curl_slist_append(c->headers, g.token_header);
    buf_free(&h);
    curl_easy_setopt(e, CURLOPT_URL, c->b->url ? c->b->url : g.url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->request.data ? c->request.data : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->request.len);
    curl_easy_setopt(e, CURLOPT_AWS_SIGV4, g.sigv4);
    curl_easy_setopt(e, CURLOPT_USERNAME, g.creds.access_key);
    curl_easy_setopt(e, CURLOPT_PASSWORD, g.creds.secret_key);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ddbx");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, g.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, g.timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
}

static void finish(struct backend *b, struct call *c, CURLcode rc)
{
    struct backend_result *r = &c->res;
    r->elapsed_ns = clock_mono_ns() - c->start_ns;
    metrics_hist_observe(HIST_BACKEND, r->elapsed_ns);
    if (rc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
        r->outcome = BACKEND_ANSWERED;
        r->status = (int)status;
    } else {
        METRIC_INCR(backend_failures);
        r->outcome = rc == CURLE_OPERATION_TIMEDOUT ? BACKEND_TIMEOUT
                     : rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST
                         ? BACKEND_UNREACHABLE
                         : BACKEND_IO_ERROR;
        if (r->outcome == BACKEND_TIMEOUT) METRIC_INCR(backend_timeouts);
        r->error = curl_easy_strerror(rc);
        log_debug("backend call failed: %s", r->error);
    }
    b->inflight--;
    if (c->prev)
        c->prev->next = c->next;
    else
        b->active = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = c->prev = NULL;
    c->cb(r, c->arg);
    call_put(b, c);
}

static void drain_finished(struct backend *b)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(b->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        struct call *c;
        CURLcode rc = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        CHECK_MAGIC(c, CALL_MAGIC);
        curl_multi_remove_handle(b->multi, msg->easy_handle);
        finish(b, c, rc);
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
    struct backend *b = p->b;
    CHECK_MAGIC(b, BACKEND_MAGIC);
    curl_multi_socket_action(b->multi, p->fd, flags, &running);
    drain_finished(b);
}

/* A handle of b closed: b is freed with its last one once it is closing. */
static void handle_gone(struct backend *b)
{
    CHECK_MAGIC(b, BACKEND_MAGIC);
    if (--b->handles_open > 0 || !b->closing) return;
    b->magic = 0;
    free(b->url);
    free(b);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct poll_ctx *p = h->data;
    CHECK_MAGIC(p, POLL_MAGIC);
    struct backend *b = p->b;
    p->magic = 0;
    free(p);
    handle_gone(b);
}

static void on_timer_closed(uv_handle_t *h)
{
    handle_gone(h->data);
}

/* libcurl's socket callback: 0, or -1 to fail the transfer. */
static int on_socket(CURL *e, curl_socket_t fd, int what, void *ud, void *sockp)
{
    struct backend *b = ud;
    struct poll_ctx *p = sockp;
    CHECK_MAGIC(b, BACKEND_MAGIC);
    if (p) CHECK_MAGIC(p, POLL_MAGIC);
    if (what == CURL_POLL_REMOVE) {
        if (p) {
            uv_poll_stop(&p->poll);
            uv_close((uv_handle_t *)&p->poll, on_handle_closed);
        }
        return 0;
    }
    if (!p) {
        p = xcalloc(1, sizeof(*p));
        p->magic = POLL_MAGIC;
        p->fd = fd;
        p->b = b;
        if (uv_poll_init_socket(b->loop, &p->poll, fd) != 0) {
            free(p);
            return -1;
        }
        p->poll.data = p;
        b->handles_open++;
        curl_multi_assign(b->multi, fd, p);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= UV_WRITABLE;
    uv_poll_start(&p->poll, events, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    struct backend *b = t->data;
    CHECK_MAGIC(b, BACKEND_MAGIC);
    int running;
    curl_multi_socket_action(b->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_finished(b);
}

/* libcurl's timer callback (returns 0, as libcurl expects). */
static int on_timer(CURLM *multi, long timeout_ms, void *ud)
{
    struct backend *b = ud;
    CHECK_MAGIC(b, BACKEND_MAGIC);
    if (timeout_ms < 0)
        uv_timer_stop(&b->timer);
    else
        uv_timer_start(&b->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

struct backend *backend_create(uv_loop_t *loop)
{
    struct backend *b = xcalloc(1, sizeof(*b));
    b->magic = BACKEND_MAGIC;
    b->loop = loop;
    b->multi = curl_multi_init();
    if (!b->multi) abort();
    curl_multi_setopt(b->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(b->multi, CURLMOPT_SOCKETDATA, b);
    curl_multi_setopt(b->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(b->multi, CURLMOPT_TIMERDATA, b);
    /* enough idle connections to serve bursts without reconnecting */
    curl_multi_setopt(b->multi, CURLMOPT_MAXCONNECTS, 256L);
    uv_timer_init(loop, &b->timer);
    b->timer.data = b;
    b->handles_open = 1;
    return b;
}

struct backend *backend_create_url(uv_loop_t *loop, const char *url)
{
    struct backend *b = backend_create(loop);
    b->url = xstrdup(url);
    return b;
}

void backend_call(struct backend *b, const char *target, struct buf *body, backend_cb cb, void *arg)
{
    CHECK_MAGIC(b, BACKEND_MAGIC);
    struct call *c = call_get(b);
    buf_move(&c->request, body);
    memset(&c->res, 0, sizeof(c->res));
    c->cb = cb;
    c->arg = arg;
    c->start_ns = clock_mono_ns();
    configure(c, target);
    b->inflight++;
    c->prev = NULL;
    c->next = b->active;
    if (b->active) b->active->prev = c;
    b->active = c;
    METRIC_INCR(backend_requests);
    CURLMcode mc = curl_multi_add_handle(b->multi, c->easy);
    if (mc != CURLM_OK) {
        /* cannot happen with a valid multi handle; report it as an I/O error */
        log_error("curl_multi_add_handle: %s", curl_multi_strerror(mc));
        abort();
    }
}

int backend_inflight(const struct backend *b)
{
    CHECK_MAGIC(b, BACKEND_MAGIC); /* reached through backend_ops' void * too */
    return b->inflight;
}

void backend_destroy(struct backend *b)
{
    CHECK_MAGIC(b, BACKEND_MAGIC);
    b->closing = 1;
    /* finish in-flight calls so their owners can release their requests */
    while (b->active) {
        struct call *c = b->active;
        curl_multi_remove_handle(b->multi, c->easy);
        finish(b, c, CURLE_ABORTED_BY_CALLBACK);
    }
    while (b->pool) {
        struct call *c = b->pool;
        b->pool = c->next;
        call_free(c);
    }
    curl_multi_cleanup(b->multi); /* closes cached connections via on_socket REMOVE */
    uv_close((uv_handle_t *)&b->timer, on_timer_closed);
}

static void ops_call(void *self, const char *target, struct buf *body, backend_cb cb, void *arg)
{
    backend_call(self, target, body, cb, arg);
}

static int ops_inflight(const void *self)
{
    return backend_inflight(self);
}

static void ops_destroy(void *self)
{
    backend_destroy(self);
}

const struct backend_ops backend_curl_ops = {ops_call, ops_inflight, ops_destroy};
