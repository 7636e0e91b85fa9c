/*
 * request.c: sending replies, the per-operation dispatch table built from
 * proto/operations.tsv, per-operation metrics, and the thread mailbox.
 */
#include "handler/request.h"
#include "handler/grant.h"
#include "handler/handler.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "cache/cache.h"
#include "metrics/metrics.h"
#include "proto/json.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/log.h"

_Thread_local struct handler_thread *handler_current;

typedef void (*handler_fn)(struct request *r);

static const handler_fn handlers[OP_COUNT] = {
#define OP(prefix, name, cls, handler, describes, note) handler_##handler,
#include "operations.def"
#undef OP
};

static int fam_requests, fam_errors;
static const struct config *options;

const struct config *handler_options(void)
{
    return options;
}

static uint64_t (*clock_fn)(void) = clock_mono_ms;

const char *handler_region(void)
{
    /* the backend module resolved it (flag, environment, profile) when set up */
    const char *r = backend_region();
    if (r) return r;
    return options && options->region[0] ? options->region : "us-east-1";
}

uint64_t handler_now(void)
{
    return clock_fn();
}

void handler_set_clock(uint64_t (*now_ms)(void))
{
    clock_fn = now_ms ? now_ms : clock_mono_ms;
}

uint64_t handler_holdoff_ms(void)
{
    return options->write_holdoff ? options->write_holdoff : 2 * options->backend_timeout;
}

void handler_setup(const struct config *cfg)
{
    options = cfg;
    fam_requests = metrics_family_setup(FAMILY_REQUESTS, ops_names, OP_COUNT);
    fam_errors = metrics_family_setup(FAMILY_ERRORS, ops_names, OP_COUNT);
}

void handler_teardown(void) {}

void handler_dispatch(struct request *r)
{
    r->magic = REQUEST_MAGIC;
    if (r->thread) r->thread->active++;
    if (handler_authorize(r) != DDBX_OK) return;
    handlers[r->op->id](r);
}

/* ---- request ids ---- */

static _Thread_local uint64_t rng_state;

static uint64_t rng_next(void)
{
    if (!rng_state) {
        if (getrandom(&rng_state, sizeof(rng_state), 0) != sizeof(rng_state))
            rng_state = clock_mono_ns();
        rng_state |= 1;
    }
    /* xorshift64*: ids need to be unique, not unpredictable */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

void request_make_id(char *out, size_t outlen)
{
    /* A random prefix per thread and a counter: unique, and a few dozen
     * instructions instead of 52 random draws per reply. The characters are 32
     * of DynamoDB's 36 (upper-case letters and digits), 5 bits each. */
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    static _Thread_local char prefix[40];
    static _Thread_local uint64_t counter;
    if (!prefix[0])
        for (size_t i = 0; i < sizeof(prefix); i++)
            prefix[i] = alphabet[rng_next() & 31];
    size_t n = MIN(outlen - 1, 52);
    memcpy(out, prefix, MIN(n, sizeof(prefix)));
    uint64_t c = ++counter;
    for (size_t i = sizeof(prefix); i < n; i++, c >>= 5)
        out[i] = alphabet[c & 31];
    out[n] = '\0';
}

/* ---- replies ---- */

/* Ends the text run reply[text_mark..len) as a piece. */
static void close_text(struct request *r)
{
    if (r->reply.len == r->text_mark) return;
    r->pieces =
        arena_grow_array(r->arena, r->pieces, r->npieces, &r->pieces_cap, sizeof(*r->pieces));
    r->pieces[r->npieces++] =
        (struct request_piece){NULL, r->text_mark, r->reply.len - r->text_mark};
    r->pieces_len += r->reply.len - r->text_mark;
    r->text_mark = r->reply.len;
}

/* A piece shorter than this that follows text is copied into the text
 * instead. The network layer writes each piece and each run of text as one
 * writev buffer, and the kernel pays about 33 ns a buffer (a loopback writev
 * of 25 KB: 6.8-7.1 us of system time in 2 buffers, 8.5-9.0 us in 51;
 * bench/micro/writev_buffers): a BatchGetItem answer of spliced 1 KB items,
 * two buffers an item (the item, then the comma), cost 15.9 us of CPU per
 * 25-item call against 14.2 us with the items copied (their lines
 * prefetched at lookup; medians of four A/B rounds). A piece that starts the
 * body (a GetItem hit's value) is spliced whatever its size: copying it
 * would save no buffer. */
#define SPLICE_MIN 4096

void request_splice(struct request *r, const char *data, size_t len)
{
    if (!r->zero_copy) {
        log_error("request_splice without zero_copy");
        abort();
    }
    if (len < SPLICE_MIN && r->reply.len > 0) {
        buf_append(&r->reply, data, len);
        return;
    }
    close_text(r);
    if (!len) return;
    r->pieces =
        arena_grow_array(r->arena, r->pieces, r->npieces, &r->pieces_cap, sizeof(*r->pieces));
    r->pieces[r->npieces++] = (struct request_piece){data, 0, len};
    r->pieces_len += len;
}

void request_hold(struct request *r, struct cache_ref *ref)
{
    r->refs = arena_grow_array(r->arena, r->refs, r->nrefs, &r->refs_cap, sizeof(*r->refs));
    r->refs[r->nrefs++] = ref;
}

size_t request_body_size(const struct request *r)
{
    return r->npieces ? r->pieces_len : r->reply.len;
}

void request_body_copy(const struct request *r, struct buf *out)
{
    if (!r->npieces) {
        buf_append(out, r->reply.data, r->reply.len);
        return;
    }
    for (unsigned i = 0; i < r->npieces; i++) {
        const struct request_piece *p = &r->pieces[i];
        buf_append(out, p->data ? p->data : r->reply.data + p->off, p->len);
    }
}

void request_release(struct request *r)
{
    for (unsigned i = 0; i < r->nrefs; i++)
        cache_ref_release(r->refs[i]);
    r->refs = NULL;
    r->nrefs = r->refs_cap = 0;
    r->pieces = NULL;
    r->npieces = r->pieces_cap = 0;
    r->text_mark = r->pieces_len = 0;
}

void request_send(struct request *r, int status)
{
    if (r->op) CHECK_MAGIC(r, REQUEST_MAGIC);
    if (r->replied) {
        log_error("request replied twice (%s)", r->op ? r->op->name : "admin");
        abort();
    }
    r->replied = true;
    r->status = status;
    if (r->npieces) close_text(r); /* the text after the last splice */
    if (!r->request_id[0]) request_make_id(r->request_id, sizeof(r->request_id));
    if (r->op && r->thread) r->thread->active--;
    if (r->op && !r->peer) {
        metrics_family_incr(fam_requests, r->op->id);
        if (status >= 400) metrics_family_incr(fam_errors, r->op->id);
        metrics_hist_observe(HIST_REQUEST, clock_mono_ns() - r->start_ns);
    }
    r->done(r);
}

void request_send_error(struct request *r, enum ddb_error e, const char *fmt, ...)
{
    char msg[512];
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
    }
    buf_reset(&r->reply);
    r->crc_set = false;
    ddb_error_compose(&r->reply, e, fmt ? msg : NULL);
    request_send(r, ddb_error_desc(e)->status);
}

void request_send_msg(struct request *r, enum ddb_msg m, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, m);
    vsnprintf(msg, sizeof(msg), ddb_msg_text(m), ap);
    va_end(ap);
    request_send_error(r, ddb_msg_error(m), "%s", msg);
}

int request_backend_answer(struct backend_result *res, struct buf *body)
{
    buf_reset(body);
    switch (res->outcome) {
    case BACKEND_ANSWERED:
        if (json_validate_object(res->body.data, res->body.len) == JSON_OK) {
            buf_move(body, &res->body);
            return res->status;
        }
        log_warn("backend answered %d with a body that is not a JSON object", res->status);
        if (res->status == 503) {
            ddb_msg_compose(body, MSG_backend_unavailable);
            return 503;
        }
        ddb_msg_compose(body, MSG_backend_no_body);
        return 500;
    case BACKEND_TIMEOUT: ddb_msg_compose(body, MSG_backend_timeout); return 500;
    case BACKEND_UNREACHABLE: ddb_msg_compose(body, MSG_backend_unreachable); return 503;
    case BACKEND_IO_ERROR: break;
    }
    ddb_msg_compose(body, MSG_backend_connection);
    return 500;
}

int request_backend_take(struct request *r, struct backend_result *res)
{
    r->crc_set = false;
    if (res->outcome != BACKEND_ANSWERED) return request_backend_answer(res, &r->reply);
    /* a relayed answer goes back as the backend sent it, whatever its body
     * (TagResource answers 200 with an empty one) */
    buf_reset(&r->reply);
    buf_move(&r->reply, &res->body);
    snprintf(r->request_id, sizeof(r->request_id), "%s", res->request_id);
    /* the bytes are the backend's: their CRC was computed when it was checked */
    r->crc = res->crc;
    r->crc_set = res->crc_known;
    return res->status;
}

void request_send_backend(struct request *r, struct backend_result *res)
{
    request_send(r, request_backend_take(r, res));
}

const char *request_header(const struct request *r, const char *name, size_t *len)
{
    return http_header_find(r->headers, r->nheaders, name, len);
}

/* ---- the thread mailbox ---- */

struct post {
    void (*fn)(void *);
    void *arg;
    struct post *next;
};

static void on_async(uv_async_t *a)
{
    struct handler_thread *t = a->data;
    pthread_mutex_lock(&t->lock);
    struct post *p = t->posts;
    t->posts = NULL;
    t->posts_tail = &t->posts;
    pthread_mutex_unlock(&t->lock);
    while (p) {
        struct post *next = p->next;
        p->fn(p->arg);
        free(p);
        p = next;
    }
}

void handler_thread_init_with(struct handler_thread *t, uv_loop_t *loop, int index,
                              const struct backend_ops *bops, void *backend)
{
    memset(t, 0, sizeof(*t));
    t->loop = loop;
    t->index = index;
    t->bops = bops;
    t->backend = backend;
    pthread_mutex_init(&t->lock, NULL);
    t->posts_tail = &t->posts;
    uv_async_init(loop, &t->async, on_async);
    t->async.data = t;
    handler_current = t;
}

void handler_thread_init(struct handler_thread *t, uv_loop_t *loop, int index)
{
    handler_thread_init_with(t, loop, index, &backend_client_ops, backend_create(loop));
}

bool handler_thread_busy(const struct handler_thread *t)
{
    return t->active > 0 || t->bops->inflight(t->backend) > 0;
}

void handler_thread_post(struct handler_thread *t, void (*fn)(void *), void *arg)
{
    struct post *p = xmalloc(sizeof(*p));
    p->fn = fn;
    p->arg = arg;
    p->next = NULL;
    pthread_mutex_lock(&t->lock);
    *t->posts_tail = p;
    t->posts_tail = &p->next;
    pthread_mutex_unlock(&t->lock);
    uv_async_send(&t->async);
}

void handler_thread_close(struct handler_thread *t)
{
    on_async(&t->async); /* run what was posted before closing */
    uv_close((uv_handle_t *)&t->async, NULL);
    t->bops->destroy(t->backend);
    t->backend = NULL;
    buf_free(&t->scratch);
}
