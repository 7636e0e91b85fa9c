/*
 * request.h: one DynamoDB request as the handlers see it, and the thread
 * context they run in.
 *
 * The network layer fills a struct request (operation, headers, body), calls
 * handler_dispatch(), and is called back through r->done exactly once, when a
 * handler calls request_send*(). Between the two, the handler owns the
 * request; the body and headers stay valid until the reply is sent.
 *
 *   net (conn) -> handler_dispatch -> handler_<op> -> [cache | backend] -> request_send -> r->done
 */
#ifndef DDBX_HANDLER_REQUEST_H
#define DDBX_HANDLER_REQUEST_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "backend/backend.h"
#include "config/config.h"
#include "proto/errors.h"
#include "proto/ops.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/http_header.h"

#define REQUEST_MAGIC 0x71657272u

/* Per worker thread: its loop, its backend client and a mailbox other
 * threads post work to (cache fills completing for waiters on this thread). */
struct handler_thread {
    uv_loop_t *loop;
    const struct backend_ops *bops; /* the backend client (a fake in unit tests) */
    void *backend;
    int index;
    uv_async_t async;
    pthread_mutex_t lock;
    struct post *posts; /* guarded by lock; FIFO via posts_tail */
    struct post **posts_tail;
    int active;         /* requests dispatched and not yet answered */
    struct buf scratch; /* reused by this thread's handlers within a call (item_cache_key) */
};

/* The calling thread's context (set by handler_thread_init). */
extern _Thread_local struct handler_thread *handler_current;

/* Sets up t on `loop` with a backend client of its own. */
void handler_thread_init(struct handler_thread *t, uv_loop_t *loop, int index);
/* The same with a given backend (unit tests give a fake); t owns it from now. */
void handler_thread_init_with(struct handler_thread *t, uv_loop_t *loop, int index,
                              const struct backend_ops *bops, void *backend);
/* Closes the async handle and destroys the backend; run the loop afterwards. */
void handler_thread_close(struct handler_thread *t);
/* True while requests it dispatched, or backend calls it sent, are unfinished. */
bool handler_thread_busy(const struct handler_thread *t);
/* Thread-safe: runs fn(arg) on t's loop soon. */
void handler_thread_post(struct handler_thread *t, void (*fn)(void *), void *arg);

struct auth_principal;
struct cache_ref;

/* A run of a reply's body (request_splice): bytes held elsewhere, or (data
 * NULL) r->reply's bytes [off, off + len). Offsets, not pointers, into
 * r->reply: it may move while the rest is appended. */
struct request_piece {
    const char *data;
    size_t off, len;
};

struct request {
    uint32_t magic;
    const struct op *op; /* NULL for non-API requests (admin) */
    /* who signed the request (auth/credentials.h), or NULL when ddbx does not
     * authenticate; borrowed, valid only until handler_dispatch returns: the
     * grants (handler/grant.h) are judged before the handler runs */
    const struct auth_principal *principal;
    struct handler_thread *thread;
    const char *body; /* borrowed, valid until the reply */
    size_t body_len;
    const struct http_header *headers; /* borrowed, valid until the reply */
    int nheaders;
    struct arena *arena; /* scratch, reset after the reply */
    uint64_t start_ns;

    /* the reply, filled by the handler */
    int status;
    struct buf reply;
    const char *content_type;  /* NULL: application/x-amz-json-1.0 */
    const char *extra_headers; /* more header lines, each "\r\nName: value"; NULL: none */
    uint32_t crc;              /* CRC-32 of reply when crc_set */
    bool crc_set;
    bool replied;
    char request_id[128]; /* "" : generated when sent */

    void (*done)(struct request *r); /* set by the network layer */
    void *owner;
    bool peer; /* a GET a cluster peer forwarded to this node as the key's owner
                  (handler/cluster.h): never forwarded again, not counted as a request */

    /* Answers written from the cache's own bytes (request_splice). zero_copy
     * is set by the network layer, which writes the pieces with one writev and
     * calls request_release once they are written or dropped; without it
     * (peers' GETs, tests) handlers put the whole body in reply. */
    bool zero_copy;
    struct request_piece *pieces; /* in r->arena; when npieces, the body is these in order */
    unsigned npieces, pieces_cap;
    size_t text_mark;        /* reply's bytes before it are in pieces already */
    size_t pieces_len;       /* when npieces: the whole body's length (set when sent) */
    struct cache_ref **refs; /* in r->arena: held until request_release */
    unsigned nrefs, refs_cap;
};

/* With r->zero_copy only: the body goes on with data[0..len), after what has
 * been appended to r->reply so far (reply's later appends follow it). data is
 * borrowed until the reply is written: the cache's bytes held by request_hold,
 * or memory that lives as long as the request. A piece under 4 KB that
 * follows text is copied into r->reply at once instead (a writev buffer
 * costs the kernel more than the copy; request.c, SPLICE_MIN). */
void request_splice(struct request *r, const char *data, size_t len);
/* r keeps the cache reference until request_release (it owns it from now). */
void request_hold(struct request *r, struct cache_ref *ref);
/* The body's length and its bytes: pieces in order, or r->reply. */
size_t request_body_size(const struct request *r);
/* Appends the whole body to out (a copy: for callers that need it flat). */
void request_body_copy(const struct request *r, struct buf *out);
/* Releases the references r holds and forgets its pieces: the network layer
 * calls it once the reply is written, or dropped with its connection. */
void request_release(struct request *r);

/* Finishes the request: r->reply holds the body (and r->pieces, if spliced). */
void request_send(struct request *r, int status);
/* Finishes with a DynamoDB error body; fmt NULL: the table's message. */
void request_send_error(struct request *r, enum ddb_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Finishes with message m of proto/messages.tsv (formatted with the
 * arguments it takes), as the error the table says. */
void request_send_msg(struct request *r, enum ddb_msg m, ...);
/* Finishes with what the backend answered, or a 5xx if it did not answer. */
void request_send_backend(struct request *r, struct backend_result *res);
/* What request_send_backend sends, made ready in r (reply, request id)
 * without sending it: returns the status to send it with. */
int request_backend_take(struct request *r, struct backend_result *res);
/* The status and body a client should get for a backend result: the
 * backend's own answer when its body is a JSON object, else a DynamoDB-shaped
 * 5xx. Takes the body out of res. */
int request_backend_answer(struct backend_result *res, struct buf *body);
/* Case-insensitive header lookup; NULL when absent. *len gets its length. */
const char *request_header(const struct request *r, const char *name, size_t *len);
/* Writes a fresh DynamoDB-style request id (52 upper-case alphanumerics). */
void request_make_id(char *out, size_t outlen);

void handler_setup(const struct config *cfg);
void handler_teardown(void);
/* Runs the operation's handler (r->op must be set), once r->principal's
 * grants allow the request (handler/grant.h); else answers it. */
void handler_dispatch(struct request *r);

/* The handlers, named in proto/operations.tsv. */
#define OP(prefix, name, cls, handler, describes, note) void handler_##handler(struct request *r);
#include "operations.def"
#undef OP

#endif
