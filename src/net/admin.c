/*
 * admin.c: the admin port on the main thread's loop: GET /healthz answers
 * "ok" while the node serves, GET /metrics the Prometheus text. With
 * --admin-token (or --admin-token-file), /metrics wants
 * "Authorization: Bearer TOKEN" and answers 401 otherwise; /healthz stays
 * open, since load balancers and orchestrators probe it without secrets and
 * it tells nothing but "ok" or "stopping".
 */
#include <errno.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "handler/request.h"
#include "metrics/metrics.h"
#include "net/conn.h"
#include "net/server.h"
#include "util/addr.h"
#include "util/common.h"
#include "util/log.h"

static struct sock_listener listener;
static struct conn_pool pool;
static bool started;
static char *token; /* NULL: /metrics is open */

/* True when the request carries "Authorization: Bearer <token>" (the token
 * compared in constant time). */
static bool authorized(const struct http_request *h)
{
    if (!token) return true;
    size_t len = 0, tl = strlen(token);
    const char *v = http_request_header(h, "authorization", &len);
    if (!v || len != 7 + tl || strncasecmp(v, "Bearer ", 7) != 0) return false;
    return CRYPTO_memcmp(v + 7, token, tl) == 0;
}

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
    } else if (strcmp(path, "/metrics") == 0 && !authorized(h)) {
        r->extra_headers = "\r\nWWW-Authenticate: Bearer realm=\"ddbx\"";
        buf_append_str(&r->reply, "unauthorized: /metrics needs Authorization: Bearer TOKEN\n");
        request_send(r, 401);
    } else if (strcmp(path, "/metrics") == 0) {
        metrics_render(&r->reply);
        request_send(r, 200);
    } else {
        buf_append_str(&r->reply, "not found: try /healthz or /metrics\n");
        request_send(r, 404);
    }
}

static const struct service admin_service = {"admin", false, serve_admin};

static void on_connection(struct sock_listener *l, int fd)
{
    conn_accept(&pool, fd);
}

/* The first line of the token file, which must be readable by its owner only. */
static char *read_token_file(const char *path)
{
    FILE *f = fopen(path, "re");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        log_error("--admin-token-file %s: %s", path, strerror(errno));
        if (f) fclose(f);
        return NULL;
    }
    char line[1024] = "";
    bool ok = (st.st_mode & (S_IRWXG | S_IRWXO)) == 0 && fgets(line, sizeof(line), f);
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        log_error("--admin-token-file %s: holds a secret but group or others may access it "
                  "(mode %04o); chmod 600 it",
                  path, (unsigned)(st.st_mode & 07777));
    else if (!ok || !line[0])
        log_error("--admin-token-file %s: no token on its first line", path);
    return ok && line[0] ? xstrdup(line) : NULL;
}

/* --admin-token or --admin-token-file into `token`. */
static int load_token(const struct config *cfg)
{
    if (cfg->admin_token[0] && cfg->admin_token_file[0]) {
        log_error("--admin-token and --admin-token-file: give one of them");
        return DDBX_ERR;
    }
    if (cfg->admin_token[0]) token = xstrdup(cfg->admin_token);
    if (cfg->admin_token_file[0] && !(token = read_token_file(cfg->admin_token_file)))
        return DDBX_ERR;
    return DDBX_OK;
}

static bool is_loopback(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
    return a->ss_family == AF_INET6 &&
           IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
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
    if (load_token(cfg) != DDBX_OK) return DDBX_ERR;
    if (!token && !is_loopback(&addr))
        log_warn("the admin port %s is reachable beyond this host and /metrics is open: "
                 "consider --admin-token",
                 cfg->admin);
    int fd = sock_listen_fd((const struct sockaddr *)&addr, addrlen, false, 64);
    int rc = fd < 0 ? -errno : conn_pool_init(&pool, loop, &admin_service, NULL, cfg);
    if (rc < 0 && fd >= 0)
        close(fd);
    else if (rc == 0 && (rc = sock_listener_start(&listener, loop, fd, on_connection)) < 0)
        conn_pool_stop(&pool); /* closes the pool's epoll instance */
    if (rc < 0) {
        log_error("cannot listen on admin address %s: %s", cfg->admin, uv_strerror(rc));
        free(token);
        token = NULL;
        return DDBX_ERR;
    }
    started = true;
    log_info("admin port on %s (/healthz, /metrics%s)", cfg->admin,
             token ? " with a bearer token" : "");
    return DDBX_OK;
}

void admin_stop(void)
{
    free(token);
    token = NULL;
    if (!started) return;
    started = false;
    sock_listener_close(&listener, NULL);
    conn_pool_stop(&pool);
}
