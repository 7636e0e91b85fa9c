/*
 * backend.h: the client for the backing DynamoDB endpoint.
 *
 * One struct backend per worker thread, driven by that thread's libuv loop
 * (the loop never blocks). For an http:// endpoint it is ddbx's own HTTP/1.1
 * client (backend/http1.c); for https:// (AWS itself), an endpoint behind a
 * proxy, or --backend-client curl, libcurl's multi interface (backend/curl.c).
 * Either way connections are kept alive and reused across requests, and every
 * request is re-signed with SigV4 using ddbx's own credentials (the client's
 * signature covers ddbx's host, so it cannot be forwarded), by auth/signer.h
 * with the derived key cached per day and region.
 *
 * Outcomes: an HTTP answer of any status is ANSWERED; a connection that
 * cannot be made is UNREACHABLE; --backend-connect-timeout (connecting) or
 * --backend-timeout (the whole call) passing is TIMEOUT; anything else (reset,
 * an answer that is not HTTP, shutting down) is IO_ERROR. A request that
 * meets a reset or a close on a reused keep-alive connection before any byte
 * of its answer is sent once more on a new connection, as libcurl does (the
 * backend may have closed the idle connection as the request went out).
 */
#ifndef DDBX_BACKEND_BACKEND_H
#define DDBX_BACKEND_BACKEND_H

#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "util/buf.h"

enum backend_outcome {
    BACKEND_ANSWERED = 0, /* an HTTP status came back */
    BACKEND_TIMEOUT,      /* connect or total timeout */
    BACKEND_UNREACHABLE,  /* could not connect (refused, no route, DNS) */
    BACKEND_IO_ERROR,     /* connection reset, garbled answer, shutting down */
};

struct backend_result {
    enum backend_outcome outcome;
    int status;           /* HTTP status when ANSWERED, else 0 */
    struct buf body;      /* owned by the result; a callback may buf_move() it */
    char request_id[128]; /* x-amzn-RequestId, or "" */
    uint32_t crc;         /* ANSWERED with crc_known: the body's CRC-32, checked */
    bool crc_known;       /* against its x-amz-crc32 (a relay sends it on as is) */
    uint64_t elapsed_ns;
    const char *error; /* a static description when not ANSWERED */
};

/* Called on the loop's thread, once per backend_call. `res` is valid during
 * the call only (except its body, which the callback may take). */
typedef void (*backend_cb)(struct backend_result *res, void *arg);

struct backend;

/* Parses the endpoint (its host must resolve now), checks --backend-client,
 * loads the region and credentials for all threads. Returns DDBX_OK or
 * DDBX_ERR (logged: a URL that is not http[s]://HOST[:PORT][/PATH], a host
 * that does not resolve, an unknown client). Call once before backend_create. */
int backend_setup(const struct config *cfg);
void backend_teardown(void);
/* The region in use (valid until backend_teardown). */
const char *backend_region(void);
/* "http1" or "curl": the client --backend gets (NULL before setup). */
const char *backend_client_name(void);

struct backend *backend_create(uv_loop_t *loop);
/* The same for another endpoint signed the same way (the DynamoDB Streams
 * endpoint; url is copied), with the client its scheme calls for. A URL that
 * is not http[s]://HOST[:PORT][/PATH] is logged, and each call of that
 * backend then fails (IO_ERROR). */
struct backend *backend_create_url(uv_loop_t *loop, const char *url);
/* Closes the client's connections and libuv handles. In-flight calls are
 * finished with BACKEND_IO_ERROR inside this call (so are calls their
 * callbacks make). The struct is freed once its handles have closed (run the
 * loop afterwards). */
void backend_destroy(struct backend *b);

/* Sends `body` (taken: the buffer is emptied) as X-Amz-Target `target`
 * ("DynamoDB_20120810.GetItem"). cb always runs later, never inside this call. */
void backend_call(struct backend *b, const char *target, struct buf *body, backend_cb cb,
                  void *arg);
/* Calls sent and not yet answered. */
int backend_inflight(const struct backend *b);

/* The backend as the handler layer sees it: these three calls, so handler
 * unit tests can give the handlers a fake backend. `self` is the backend. */
struct backend_ops {
    void (*call)(void *self, const char *target, struct buf *body, backend_cb cb, void *arg);
    int (*inflight)(const void *self);
    void (*destroy)(void *self);
};
/* The client above (self: a struct backend from backend_create). */
extern const struct backend_ops backend_client_ops;

#endif
