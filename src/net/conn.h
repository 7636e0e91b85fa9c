/*
 * conn.h: client connections, for both the DynamoDB API and the admin port.
 *
 * A connection reads bytes, frames them into requests (net/http.h), serves
 * one request at a time through its service, and writes each reply in order,
 * so pipelined requests are answered in the order they came. Keep-alive,
 * 100-continue, idle and header timeouts, and the connection cap live here.
 */
#ifndef DDBX_NET_CONN_H
#define DDBX_NET_CONN_H

#include <stdbool.h>
#include <uv.h>

#include "handler/request.h"
#include "net/http.h"
#include "net/sock.h"

struct tls_server;

struct conn;

struct service {
    const char *name;
    bool amz_headers; /* add x-amzn-RequestId and x-amz-crc32 to replies */
    /* Serves a READY request: must end, now or later, in request_send*(r). */
    void (*serve)(struct conn *c, struct request *r, const struct http_request *h);
};

/* The connections of one loop (a worker's or the admin port's). */
struct conn_pool {
    uv_loop_t *loop;
    struct sock_loop sockets; /* the connections' sockets (closed when stopped and empty) */
    const struct service *svc;
    struct handler_thread *thread; /* NULL for the admin port */
    struct conn *head;
    int count;
    bool stopping; /* no new requests; close connections as they go idle */
    void (*on_empty)(struct conn_pool *pool); /* called when stopping and count hits 0 */
    void *data;
    uint64_t idle_timeout_ms, header_timeout_ms;
    size_t max_header;
    uint64_t max_connections; /* 0: no cap (admin) */
    struct tls_server *tls;   /* net/tls.h: serve TLS with it; NULL: plain TCP (borrowed) */
    char busy_reply[1024];    /* the ThrottlingException sent past max_connections */
    char date[40];            /* cached Date header value */
    uint64_t date_sec;
};

/* 0, or a UV error when the sockets' epoll instance cannot be created. */
int conn_pool_init(struct conn_pool *pool, uv_loop_t *loop, const struct service *svc,
                   struct handler_thread *thread, const struct config *cfg);
/* Serves the accepted, non-blocking socket fd in the pool (which owns it). */
void conn_accept(struct conn_pool *pool, int fd);
/* Begins stopping: idle connections close now, busy ones after their reply. */
void conn_pool_stop(struct conn_pool *pool);

/* CORS headers on the reply to c's current request (reset for each request). */
enum conn_cors {
    CONN_CORS_NONE,
    CONN_CORS_ORIGIN,    /* Access-Control-Allow-Origin */
    CONN_CORS_PREFLIGHT, /* that, Access-Control-Max-Age, the request's
                          * Access-Control-Request-Headers and -Method echoed
                          * as -Allow-Headers and -Allow-Methods; no x-amz-crc32 */
};
void conn_reply_cors(struct conn *c, enum conn_cors mode);

/* The reason phrase of an HTTP status (proto/http_status.tsv). */
const char *conn_reason(int status);

/* Replies: r->content_type NULL is application/x-amz-json-1.0, "" sends no
 * Content-Type (DynamoDB's health and 404 answers have none). A reply to a
 * HEAD request carries the body's Content-Length but not the body. */

#endif
