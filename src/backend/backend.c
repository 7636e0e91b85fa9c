/*
 * backend.c: the backend client's front: the endpoint, credentials and
 * signer shared by all threads, and per worker the calls in flight.
 *
 *   backend_call -> call (pooled) -> SigV4 (auth/signer.c, key cached per day)
 *                -> client->send  (http1.c for http://, curl.c for https:// or a proxy)
 *   client: bytes out, answer in -> backend__finish -> metrics, caller's callback, pool
 *
 * Requests are signed here with ddbx's own signer rather than libcurl's
 * CURLOPT_AWS_SIGV4, so both clients sign alike, the derived key is computed
 * once a day instead of per request, and the canonicalisation is the one the
 * verifier of client requests uses.
 */
#include "backend/backend.h"

#include <stdlib.h>
#include <string.h>

#include "auth/signer.h"
#include "backend/creds.h"
#include "backend/internal.h"
#include "metrics/metrics.h"
#include "util/addr.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/crc.h"
#include "util/log.h"

#define BACKEND_MAGIC 0x6b636162u
#define CALL_MAGIC 0x6c6c6163u
#define POOL_MAX 256 /* idle calls kept per worker */

/* An endpoint and the strings it points to. */
struct endpoint {
    struct backend_endpoint ep;
    char *url, *host, *host_header, *path;
};

static struct {
    struct endpoint main; /* --backend */
    bool force_curl;      /* --backend-client curl */
    bool curl_ready;      /* libcurl's global setup done */
    char *region;
    struct aws_credentials creds;
    struct signer *signer;
    uint64_t connect_timeout_ms, timeout_ms;
} g;

struct backend {
    uint32_t magic;
    const struct backend_endpoint *ep; /* g.main's, or own's (backend_create_url) */
    struct endpoint own;
    const struct backend_client *client;
    void *impl;
    int inflight;
    bool closing;
    bool in_destroy;           /* backend_destroy is on the stack */
    bool impl_closed;          /* the client closed its last handle */
    struct backend_call *pool; /* idle calls, their buffers kept */
    int pool_len;
    struct backend_call *active; /* in flight, for backend_destroy */
};

/* ---- setup ---- */

/* Splits "http[s]://host[:port][/path]" into e. Returns DDBX_OK or DDBX_ERR
 * (e untouched). */
static int parse_endpoint(const char *url, struct endpoint *e)
{
    const char *p;
    bool tls = false;
    if (strncmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        p = url + 8;
        tls = true;
    } else {
        return DDBX_ERR;
    }
    const char *end = p + strcspn(p, "/?#");
    if (*end == '?' || *end == '#' || strchr(end, '?') || strchr(end, '#')) return DDBX_ERR;
    const char *host = p, *host_end, *colon = NULL;
    if (*p == '[') { /* [IPv6] */
        host_end = memchr(p, ']', (size_t)(end - p));
        if (!host_end) return DDBX_ERR;
        host++;
        if (host_end + 1 < end) {
            if (host_end[1] != ':') return DDBX_ERR;
            colon = host_end + 1;
        }
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        host_end = colon ? colon : end;
    }
    if (host_end == host || memchr(p, '@', (size_t)(end - p))) return DDBX_ERR;
    int def = tls ? 443 : 80, port = def;
    if (colon) {
        char *num_end;
        long v = strtol(colon + 1, &num_end, 10);
        if (num_end != end || colon + 1 == end || v <= 0 || v > 65535) return DDBX_ERR;
        port = (int)v;
    }
    e->url = xstrdup(url);
    e->host = xstrndup(host, (size_t)(host_end - host));
    size_t authority = (size_t)((colon ? colon : end) - p); /* brackets kept */
    struct buf hh = BUF_INIT;
    buf_append(&hh, p, authority);
    if (port != def) buf_printf(&hh, ":%d", port);
    e->host_header = hh.data;
    e->path = xstrdup(*end ? end : "/");
    e->ep = (struct backend_endpoint){e->url, tls, e->host, port, e->host_header, e->path};
    return DDBX_OK;
}

static void endpoint_free(struct endpoint *e)
{
    free(e->url);
    free(e->host);
    free(e->host_header);
    free(e->path);
    memset(e, 0, sizeof(*e));
}

/* libcurl honours these for http:// URLs; ddbx's own client does not speak
 * to proxies, so their presence hands the endpoint to libcurl. */
static bool proxy_configured(void)
{
    static const char *const vars[] = {"http_proxy", "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < ARRAY_SIZE(vars); i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return true;
    }
    return false;
}

static const struct backend_client *client_for(const struct backend_endpoint *ep)
{
    return g.force_curl || ep->tls || proxy_configured() ? &backend__curl : &backend__http1;
}

/* The host must resolve now, so a typo or an unknown name fails at start
 * rather than at the first request (the clients resolve again for each
 * connection they open). */
static int check_resolves(const struct endpoint *e)
{
    struct sockaddr_storage addr;
    socklen_t len;
    char err[300];
    if (addr_resolve_host(e->host, (uint16_t)e->ep.port, &addr, &len, err, sizeof(err)) < 0) {
        log_error("--backend \"%s\": %s", e->url, err);
        return DDBX_ERR;
    }
    return DDBX_OK;
}

int backend_setup(const struct config *cfg)
{
    g.region = *cfg->region ? xstrdup(cfg->region) : creds_region();
    if (!g.region) g.region = xstrdup("us-east-1");
    char *url;
    if (*cfg->backend) {
        url = xstrdup(cfg->backend);
    } else {
        struct buf u = BUF_INIT;
        buf_printf(&u, "https://dynamodb.%s.amazonaws.com/", g.region);
        url = u.data;
    }
    const char *choice = cfg->backend_client;
    g.force_curl = strcmp(choice, "curl") == 0;
    if (!g.force_curl && strcmp(choice, "auto") != 0) {
        log_error("--backend-client %s: expected auto or curl", choice);
        free(url);
        backend_teardown();
        return DDBX_ERR;
    }
    if (parse_endpoint(url, &g.main) < 0) {
        log_error("--backend \"%s\": expected http://HOST[:PORT][/PATH] or https://...", url);
        free(url);
        backend_teardown();
        return DDBX_ERR;
    }
    free(url);
    /* libcurl set up whichever client this endpoint gets: another endpoint
     * (backend_create_url) may need it */
    if (check_resolves(&g.main) < 0 || backend__curl.setup() < 0) {
        backend_teardown();
        return DDBX_ERR;
    }
    g.curl_ready = true;
    if (creds_load(&g.creds) < 0) {
        /* Local backends (moto, dynalite) accept any signature; AWS will answer
         * UnrecognizedClientException, which is relayed to the client. */
        log_warn("no AWS credentials found (environment or shared file); signing with "
                 "placeholder keys, which only local backends accept");
        g.creds.access_key = xstrdup("ddbx-placeholder");
        g.creds.secret_key = xstrdup("ddbx-placeholder");
        g.creds.source = xstrdup("placeholder");
    }
    g.signer =
        signer_create(g.creds.access_key, g.creds.secret_key, g.creds.session_token, "dynamodb");
    g.connect_timeout_ms = cfg->backend_connect_timeout;
    g.timeout_ms = cfg->backend_timeout;
    log_info("backend %s (%s client), region %s, credentials from %s", g.main.url,
             client_for(&g.main.ep)->name, g.region, g.creds.source);
    return DDBX_OK;
}

void backend_teardown(void)
{
    if (g.curl_ready) backend__curl.teardown();
    signer_destroy(g.signer);
    endpoint_free(&g.main);
    free(g.region);
    creds_free(&g.creds);
    memset(&g, 0, sizeof(g));
}

const char *backend_region(void)
{
    return g.region;
}

const char *backend_client_name(void)
{
    return g.main.url ? client_for(&g.main.ep)->name : NULL;
}

const struct backend_endpoint *backend__endpoint(const struct backend *b)
{
    CHECK_MAGIC(b, BACKEND_MAGIC);
    return b->ep;
}

uint64_t backend__connect_timeout_ms(void)
{
    return g.connect_timeout_ms;
}

const char *backend__token(void)
{
    return g.signer ? signer_token(g.signer) : NULL;
}

/* ---- calls ---- */

static struct backend *create(uv_loop_t *loop, const char *url)
{
    struct backend *b = xcalloc(1, sizeof(*b));
    b->magic = BACKEND_MAGIC;
    b->ep = &g.main.ep;
    if (url && parse_endpoint(url, &b->own) == DDBX_OK) {
        b->ep = &b->own.ep;
    } else if (url) { /* libcurl then fails each call with its own reason */
        log_error("backend endpoint \"%s\": expected http://HOST[:PORT][/PATH] or https://...",
                  url);
        b->own.url = xstrdup(url);
        b->own.ep = (struct backend_endpoint){b->own.url, true, "", 0, "", "/"};
        b->ep = &b->own.ep;
    }
    b->client = client_for(b->ep);
    b->impl = b->client->create(b, loop);
    return b;
}

struct backend *backend_create(uv_loop_t *loop)
{
    return create(loop, NULL);
}

struct backend *backend_create_url(uv_loop_t *loop, const char *url)
{
    return create(loop, url);
}

static void call_free(struct backend_call *c)
{
    c->magic = 0;
    buf_free(&c->body);
    buf_free(&c->auth);
    buf_free(&c->head);
    buf_free(&c->res.body);
    free(c);
}

bool backend__closing(const struct backend *b)
{
    return b->closing;
}

static void backend_free(struct backend *b)
{
    while (b->pool) {
        struct backend_call *c = b->pool;
        b->pool = c->next;
        call_free(c);
    }
    endpoint_free(&b->own);
    b->magic = 0;
    free(b);
}

void backend__closed(struct backend *b)
{
    CHECK_MAGIC(b, BACKEND_MAGIC);
    b->impl_closed = true;
    if (!b->in_destroy) backend_free(b);
}

void backend_destroy(struct backend *b)
{
    CHECK_MAGIC(b, BACKEND_MAGIC);
    b->closing = true;
    b->in_destroy = true;
    b->client->destroy(b->impl); /* forgets its calls, closes its handles */
    /* finish the calls in flight so their owners can release their requests
     * (a callback that calls again adds to the list, and is finished too) */
    while (b->active) {
        struct backend_call *c = b->active;
        c->res.outcome = BACKEND_IO_ERROR;
        c->res.status = 0;
        c->res.error = "ddbx is shutting down";
        backend__finish(c);
    }
    b->in_destroy = false;
    if (b->impl_closed) backend_free(b);
}

/* Signs c: Authorization and X-Amz-Date over host, content-type, x-amz-target
 * (and the session token), exactly the headers both clients send. */
static void sign(struct backend_call *c)
{
    const struct http_header h[] = {
        {"content-type", "application/x-amz-json-1.0", 12, 26},
        {"x-amz-target", c->target, 12, (uint32_t)strlen(c->target)},
    };
    const struct backend_endpoint *ep = c->b->ep;
    struct signer_request r = {
        .method = "POST",
        .host = ep->host_header,
        .path = ep->path,
        .headers = h,
        .nheaders = (int)ARRAY_SIZE(h),
        .body = c->body.data,
        .body_len = c->body.len,
        .region = g.region,
        .now = (int64_t)(clock_wall_ms() / 1000),
    };
    buf_reset(&c->auth);
    if (signer_sign(g.signer, &r, &c->auth, c->amz_date) < 0) {
        /* a region too long for a scope: checked nowhere else, so say it here */
        log_warn("cannot sign for region %s; sending unsigned", g.region);
        c->amz_date[0] = '\0';
    }
}

void backend_call(struct backend *b, const char *target, struct buf *body, backend_cb cb, void *arg)
{
    CHECK_MAGIC(b, BACKEND_MAGIC);
    struct backend_call *c = b->pool;
    if (c) {
        b->pool = c->next;
        b->pool_len--;
    } else {
        c = xcalloc(1, sizeof(*c));
        c->magic = CALL_MAGIC;
        c->b = b;
    }
    buf_move(&c->body, body);
    buf_reset(&c->head);
    c->target = target;
    c->cb = cb;
    c->arg = arg;
    c->conn = NULL;
    c->retried = false;
    c->crc = 0;
    c->crc_given = c->crc_bad = false;
    c->res.outcome = BACKEND_IO_ERROR;
    c->res.status = 0;
    c->res.request_id[0] = '\0';
    c->res.error = NULL;
    c->res.elapsed_ns = 0;
    c->start_ns = clock_mono_ns();
    c->deadline_ns = c->start_ns + g.timeout_ms * 1000000;
    c->prev = NULL;
    c->next = b->active;
    if (b->active) b->active->prev = c;
    b->active = c;
    b->inflight++;
    METRIC_INCR(backend_requests);
    if (b->closing) return; /* finished with the others by the client's destroy */
    sign(c);
    b->client->send(b->impl, c);
}

void backend__crc_digits(struct backend_call *c, const char *v, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n') continue;
        if (v[i] < '0' || v[i] > '9' || c->crc > UINT32_MAX / 10) {
            c->crc_bad = true;
            continue;
        }
        c->crc = c->crc * 10 + (uint64_t)(v[i] - '0');
        c->crc_given = true;
    }
    if (c->crc > UINT32_MAX) c->crc_bad = true;
}

void backend__finish(struct backend_call *c)
{
    CHECK_MAGIC(c, CALL_MAGIC);
    struct backend *b = c->b;
    struct backend_result *r = &c->res;
    r->crc_known = false;
    if (r->outcome == BACKEND_ANSWERED && (c->crc_bad || c->crc_given)) {
        r->crc = c->crc_bad ? 0 : crc32_of(r->body.data, r->body.len);
        r->crc_known = !c->crc_bad && r->crc == (uint32_t)c->crc;
        if (!r->crc_known) { /* damaged on the way: as if it never came */
            r->outcome = BACKEND_IO_ERROR;
            r->status = 0;
            r->error = "the backend's answer does not match its x-amz-crc32";
            buf_reset(&r->body);
        }
    }
    r->elapsed_ns = clock_mono_ns() - c->start_ns;
    metrics_hist_observe(HIST_BACKEND, r->elapsed_ns);
    if (r->outcome != BACKEND_ANSWERED) {
        METRIC_INCR(backend_failures);
        if (r->outcome == BACKEND_TIMEOUT) METRIC_INCR(backend_timeouts);
        log_debug("backend call failed: %s", r->error ? r->error : "?");
    }
    b->inflight--;
    if (c->prev)
        c->prev->next = c->next;
    else
        b->active = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = c->prev = NULL;
    c->conn = NULL;
    c->cb(r, c->arg);
    buf_reset(&c->res.body);
    if (b->pool_len >= POOL_MAX || b->closing) {
        call_free(c);
        return;
    }
    c->next = b->pool;
    b->pool = c;
    b->pool_len++;
}

int backend_inflight(const struct backend *b)
{
    CHECK_MAGIC(b, BACKEND_MAGIC); /* reached through backend_ops' void * too */
    return b->inflight;
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

const struct backend_ops backend_client_ops = {ops_call, ops_inflight, ops_destroy};
