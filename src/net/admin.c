/*
 * admin.c: the admin port on the main thread's loop: GET /healthz answers
 * "ok" while the node serves, GET /metrics the Prometheus text.
 */
#include <string.h>

#include "handler/request.h"
#include "metrics/metrics.h"
#include "net/conn.h"
#include "net/server.h"
#include "util/addr.h"
#include "util/common.h"
#include "util/log.h"

static uv_tcp_t listener;
static struct conn_pool pool;
static bool started;

static void serve_admin(struct conn *c, struct request *r, const struct http_request *h)
{
    const char *path = h->url.data ? h->url.data : "";
    r->content_type = "text/plain; version=0.0.4";
    if (strcmp(http_request_method(h), "GET") != 0) {
        buf_append_str(&r->reply, "only GET\n");
        request_send(r, 405);
    } else if (strcmp(path, "/healthz") == 0) {
        buf_append_str(&r->reply, pool.stopping ? "stopping\n" : "ok\n");
        request_send(r, pool.stopping ? 503 : 200);
    } else if (strcmp(path, "/metrics") == 0) {
        metrics_render(&r->reply);
        request_send(r, 200);
    } else {
        buf_append_str(&r->reply, "not found: try /healthz or /metrics\n");
        request_send(r, 404);
    }
}

static const struct service admin_service = {"admin", false, serve_admin};

static void on_connection(uv_stream_t *server, int status)
{
    if (status == 0) conn_accept(&pool, server);
}

int admin_start(uv_loop_t *loop, const struct config *cfg)
{
    if (!*cfg->admin) return DDBX_OK;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char err[300];
    if (addr_resolve(cfg->admin, &addr, &addrlen, err, sizeof(err)) < 0) {
        log_error("--admin \"%s\": %s", cfg->admin, err);
        return DDBX_ERR;
    }
    conn_pool_init(&pool, &admin_service, NULL, cfg);
    uv_tcp_init(loop, &listener);
    int rc = uv_tcp_bind(&listener, (struct sockaddr *)&addr, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&listener, 64, on_connection);
    if (rc < 0) {
        log_error("cannot listen on admin address %s: %s", cfg->admin, uv_strerror(rc));
        return DDBX_ERR;
    }
    started = true;
    log_info("admin port on %s (/healthz, /metrics)", cfg->admin);
    return DDBX_OK;
}

void admin_stop(void)
{
    if (!started) return;
    started = false;
    uv_close((uv_handle_t *)&listener, NULL);
    conn_pool_stop(&pool);
}
