/*
 * worker.c: worker threads. The main thread binds one SO_REUSEPORT socket per
 * worker (so a bad address fails at startup, not inside a thread), then each
 * worker adopts its socket into its own loop and serves until told to stop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handler/request.h"
#include "metrics/metrics.h"
#include "net/conn.h"
#include "net/front.h"
#include "net/server.h"
#include "net/tls.h"
#include "net/trust.h"
#include "util/addr.h"
#include "util/common.h"
#include "util/log.h"

#define WORKER_MAGIC 0x6b726f77u

struct worker {
    uint32_t magic;
    int index;
    int fd;
    pthread_t tid;
    uv_loop_t loop;
    struct sock_listener listener;
    uv_async_t wake;
    uv_timer_t drain; /* while stopping, polls for detached backend calls to end */
    struct conn_pool pool;
    struct handler_thread ht;
    atomic_bool stop_requested;
    atomic_bool finished;
    uv_sem_t ready; /* posted once `wake` exists: server_start returns after it */
    bool listener_closed;
    const struct config *cfg;
};

static struct worker *workers;
static int nworkers;
static int bound_port;
static struct tls_server *api_tls; /* --tls-cert: every worker's connections use it */

static void on_connection(struct sock_listener *l, int fd)
{
    struct worker *w = l->data;
    CHECK_MAGIC(w, WORKER_MAGIC);
    conn_accept(&w->pool, fd);
}

static void finish_if_idle(struct worker *w);

static void on_drain(uv_timer_t *t)
{
    struct worker *w = t->data;
    CHECK_MAGIC(w, WORKER_MAGIC);
    finish_if_idle(w);
}

static void finish_if_idle(struct worker *w)
{
    if (!w->stop_requested || w->pool.count > 0 || !w->listener_closed) return;
    if (handler_thread_busy(&w->ht)) {
        /* requests of connections already gone still wait on the backend or a fill */
        uv_timer_start(&w->drain, on_drain, 20, 0);
        return;
    }
    handler_thread_close(&w->ht);
    uv_close((uv_handle_t *)&w->wake, NULL);
    uv_close((uv_handle_t *)&w->drain, NULL);
}

static void on_pool_empty(struct conn_pool *pool)
{
    struct worker *w = pool->data;
    CHECK_MAGIC(w, WORKER_MAGIC);
    finish_if_idle(w);
}

static void on_listener_closed(struct sock_listener *l)
{
    struct worker *w = l->data;
    CHECK_MAGIC(w, WORKER_MAGIC);
    w->listener_closed = true;
    finish_if_idle(w);
}

static void on_wake(uv_async_t *a)
{
    struct worker *w = a->data;
    CHECK_MAGIC(w, WORKER_MAGIC);
    if (!w->stop_requested || w->pool.stopping) return;
    sock_listener_close(&w->listener, on_listener_closed);
    conn_pool_stop(&w->pool);
}

static const struct service api_service;

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    CHECK_MAGIC(w, WORKER_MAGIC);
    char name[16];
    snprintf(name, sizeof(name), "w%d", w->index);
    log_set_thread_name(name);
    metrics_thread_register();
    uv_loop_init(&w->loop);
    handler_thread_init(&w->ht, &w->loop, w->index);
    int rc = conn_pool_init(&w->pool, &w->loop, &api_service, &w->ht, w->cfg);
    if (rc < 0) {
        log_error("worker %d: %s", w->index, uv_strerror(rc));
        abort();
    }
    w->pool.max_connections = w->cfg->max_connections ? w->cfg->max_connections : UINT64_MAX;
    w->pool.tls = api_tls;
    w->pool.on_empty = on_pool_empty;
    w->pool.data = w;
    uv_async_init(&w->loop, &w->wake, on_wake);
    w->wake.data = w;
    uv_timer_init(&w->loop, &w->drain);
    w->drain.data = w;
    w->listener.data = w;
    if (sock_listener_start(&w->listener, &w->loop, w->fd, on_connection) < 0) {
        log_error("worker %d cannot listen", w->index);
        abort();
    }
    uv_sem_post(&w->ready);                   /* from here on, other threads may signal `wake` */
    if (w->stop_requested) on_wake(&w->wake); /* stop raced the start */
    /* the loop ends when the listener, connections, backend and async are closed;
     * a pending backend call keeps it running until the call finishes */
    while (uv_run(&w->loop, UV_RUN_DEFAULT) != 0) {
    }
    uv_loop_close(&w->loop);
    trust_thread_done();
    atomic_store(&w->finished, true);
    return NULL;
}

/* --tls-cert and --tls-key: the API port's certificate, or none. */
static int tls_start(const struct config *cfg)
{
    if (!cfg->tls_cert[0] && !cfg->tls_key[0]) return DDBX_OK;
    if (!cfg->tls_cert[0] || !cfg->tls_key[0]) {
        log_error("--tls-cert and --tls-key go together: give both, or neither");
        return DDBX_ERR;
    }
    struct buf err = BUF_INIT;
    int rc = tls_server_create(cfg->tls_cert, cfg->tls_key, &api_tls, &err);
    if (rc != DDBX_OK) log_error("%s", err.data);
    buf_free(&err);
    return rc;
}

int server_reload(void)
{
    if (!api_tls) return DDBX_OK;
    struct buf err = BUF_INIT;
    int rc = tls_server_reload(api_tls, &err);
    if (rc == DDBX_OK)
        log_info("reloaded the TLS certificate and key; new connections use them");
    else
        log_error("reloading the TLS certificate: %s; the one loaded before stays in use",
                  err.data);
    buf_free(&err);
    return rc;
}

int server_start(const struct config *cfg)
{
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char err[300];
    if (addr_resolve(cfg->listen, &addr, &addrlen, err, sizeof(err)) < 0) {
        log_error("--listen \"%s\": %s", cfg->listen, err);
        return DDBX_ERR;
    }
    if (tls_start(cfg) != DDBX_OK) return DDBX_ERR;
    nworkers = cfg->threads ? (int)cfg->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nworkers < 1) nworkers = 1;
    workers = xcalloc((size_t)nworkers, sizeof(*workers));
    for (int i = 0; i < nworkers; i++) {
        struct worker *w = &workers[i];
        w->magic = WORKER_MAGIC;
        w->index = i;
        w->cfg = cfg;
        /* SO_REUSEPORT: every worker listens on the port, the kernel spreads connections */
        w->fd = sock_listen_fd((const struct sockaddr *)&addr, addrlen, true, 1024);
        if (w->fd < 0) {
            log_error("cannot listen on %s: %s", cfg->listen, strerror(errno));
            return DDBX_ERR;
        }
        if (i == 0) { /* with port 0, the others must join the port the first got */
            socklen_t len = sizeof(addr);
            getsockname(w->fd, (struct sockaddr *)&addr, &len);
            bound_port =
                ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                 : ((struct sockaddr_in *)&addr)->sin_port);
        }
    }
    for (int i = 0; i < nworkers; i++) {
        uv_sem_init(&workers[i].ready, 0);
        if (pthread_create(&workers[i].tid, NULL, worker_main, &workers[i]) != 0) {
            log_error("cannot start worker thread %d", i);
            return DDBX_ERR;
        }
    }
    /* a signal may call server_stop as soon as this returns: every worker's
     * wake handle must exist (and be seen to exist) by then */
    for (int i = 0; i < nworkers; i++)
        uv_sem_wait(&workers[i].ready);
    log_info("serving the DynamoDB API on %s (port %d) with %d worker thread%s%s", cfg->listen,
             bound_port, nworkers, nworkers == 1 ? "" : "s", api_tls ? " over TLS" : "");
    return DDBX_OK;
}

void server_stop(void)
{
    for (int i = 0; i < nworkers; i++) {
        atomic_store(&workers[i].stop_requested, true);
        uv_async_send(&workers[i].wake);
    }
}

bool server_stopped(void)
{
    for (int i = 0; i < nworkers; i++)
        if (!atomic_load(&workers[i].finished)) return false;
    return true;
}

void server_join(void)
{
    for (int i = 0; i < nworkers; i++) {
        pthread_join(workers[i].tid, NULL);
        uv_sem_destroy(&workers[i].ready);
        workers[i].magic = 0;
    }
    free(workers);
    workers = NULL;
    nworkers = 0;
    tls_server_destroy(api_tls);
    api_tls = NULL;
}

/* ---- the DynamoDB API service ---- */

/* Verifies the request's signature (net/trust.h); on a refusal answers it,
 * with DynamoDB's SerializationException when its body is not JSON (which
 * DynamoDB judges first), and returns DDBX_ERR. */
static int authenticate(struct request *r, const struct http_request *h)
{
    const char *url = h->url.data ? h->url.data : "/";
    size_t url_len = h->url.data ? h->url.len : 1;
    const char *q = memchr(url, '?', url_len);
    struct sigv4_request sr = {http_request_method(h),
                               url,
                               q ? (size_t)(q - url) : url_len,
                               q ? q + 1 : NULL,
                               q ? (size_t)(url + url_len - q - 1) : 0,
                               r->headers,
                               r->nheaders,
                               r->body,
                               r->body_len};
    struct auth_failure f;
    auth_failure_init(&f);
    int rc = trust_check(&sr, &r->principal, &f);
    if (rc != DDBX_OK) {
        buf_reset(&r->reply);
        bool json = front_body_is_json(r->body, r->body_len, r->arena);
        enum ddb_error e = json ? f.error : DDB_SerializationException;
        ddb_error_compose(&r->reply, e, json ? f.message.data : NULL);
        request_send(r, ddb_error_desc(e)->status);
    }
    auth_failure_free(&f);
    return rc;
}

/* Judges the request as DynamoDB's front does (net/front.h), answers what
 * the front answers, and hands the rest to the operation's handler. */
static void serve_api(struct conn *c, struct request *r, const struct http_request *h)
{
    struct front_judgement j;
    front_judge(http_request_method(h), r->headers, r->nheaders, r->body, r->body_len, r->arena,
                &j);
    conn_reply_cors(c, !j.cors                        ? CONN_CORS_NONE
                       : j.verdict == FRONT_PREFLIGHT ? CONN_CORS_PREFLIGHT
                                                      : CONN_CORS_ORIGIN);
    r->content_type = j.content_type;
    if (j.verdict != FRONT_OPERATION) {
        request_send(r, front_answer(&j, backend_region(), &r->reply));
        return;
    }
    /* authentication: after the target, before the operation's own validation */
    if (authenticate(r, h) != DDBX_OK) return;
    r->op = j.op;
    handler_dispatch(r);
}

static const struct service api_service = {"api", true, serve_api};
