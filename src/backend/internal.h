/*
 * internal.h: what backend.c shares with its two HTTP clients:
 *
 *   http1.c  ddbx's own HTTP/1.1 client on libuv and http_parser, for plain
 *            http:// endpoints (local backends, a sidecar, a VPC proxy): a
 *            relayed request costs a proxy's work and no more
 *   curl.c   libcurl's multi interface on libuv, for https:// (AWS itself)
 *            and for endpoints reached through a proxy
 *
 * backend.c owns the calls: it signs each one (auth/signer.h), keeps the
 * in-flight list, and finishes calls (metrics, the caller's callback, the
 * call back to its pool). A client only moves bytes: it sends c->head (its
 * own head composed from the signed values) and c->body, fills c->res, and
 * hands the call back through backend__finish().
 */
#ifndef DDBX_BACKEND_INTERNAL_H
#define DDBX_BACKEND_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "auth/sigv4.h"
#include "backend/backend.h"
#include "util/buf.h"

/* The endpoint, parsed once at setup (strings owned by backend.c). */
struct backend_endpoint {
    const char *url;         /* as configured */
    bool tls;                /* https:// */
    const char *host;        /* without brackets for IPv6 */
    int port;                /* explicit or the scheme's */
    const char *host_header; /* the Host header's value as sent and signed */
    const char *path;        /* "/" or the URL's path, percent-encoded as given */
};

/* One request to the backend, from backend_call() to its callback. */
struct backend_call {
    uint32_t magic;
    struct backend *b;
    const char *target; /* "DynamoDB_20120810.GetItem": static (the operations table) */
    struct buf body;    /* the request body, owned */
    struct buf auth;    /* the Authorization header's value */
    char amz_date[SIGV4_DATE_LEN + 1];
    struct buf head; /* a client's composed head (http1: request line and headers) */
    backend_cb cb;
    void *arg;
    uint64_t start_ns;
    uint64_t deadline_ns; /* start + --backend-timeout, monotonic */
    struct backend_result res;
    void *conn;   /* the client's state for this call (http1: its connection) */
    bool retried; /* http1: already resent once on a fresh connection */
    /* The answer's x-amz-crc32 as its digits arrive (backend__crc_digits);
     * backend__finish turns an answer whose body does not match it into an
     * IO error, as the SDKs do, so a damaged transfer is never cached. */
    uint64_t crc;
    bool crc_given, crc_bad;
    struct backend_call *next, *prev;
};

/* Takes a piece of the x-amz-crc32 header's value (digits; blanks around
 * them ignored; anything else, or a value past 32 bits, is damage). */
void backend__crc_digits(struct backend_call *c, const char *v, size_t len);

/* A client: one per worker, created on its loop. */
struct backend_client {
    const char *name; /* "http1", "curl" */
    /* Process-wide setup and teardown (NULL: none). setup returns 0 or -1 (logged). */
    int (*setup)(void);
    void (*teardown)(void);
    void *(*create)(struct backend *b, uv_loop_t *loop);
    /* Starts c (signed, head empty). Never calls backend__finish inside. */
    void (*send)(void *client, struct backend_call *c);
    /* Forgets every call in flight without finishing it (backend.c finishes
     * them next), closes connections and handles, and calls backend__closed(b)
     * once the last handle has closed (possibly inside this call). */
    void (*destroy)(void *client);
};

extern const struct backend_client backend__http1;
extern const struct backend_client backend__curl;

/* b's endpoint (--backend's, or backend_create_url's), valid while b is. */
const struct backend_endpoint *backend__endpoint(const struct backend *b);
/* The connect timeout (valid between setup and teardown). */
uint64_t backend__connect_timeout_ms(void);
/* The session token to send as X-Amz-Security-Token, or NULL. */
const char *backend__token(void);

/* Hands a call back: fills elapsed time, counts failures and timeouts, runs
 * the caller's callback and recycles the call. c->res.outcome, status and
 * error must be set. */
void backend__finish(struct backend_call *c);
/* The client of b has closed its last handle: b may be freed. */
void backend__closed(struct backend *b);

/* True once backend_destroy has begun. */
bool backend__closing(const struct backend *b);

#endif
