/*
 * handler_test.h: drives the handlers (src/handler/) without a network or a
 * real backend: a fake backend records every call the handlers make and the
 * test answers each one when it chooses, on a fake clock; requests are
 * dispatched as the network layer does and their replies captured.
 *
 *   ht_setup()                          every module the handlers use, fresh
 *   struct ht_req *q = ht_send("GetItem", "{...}")    dispatch a request
 *   ht_call(i) / ht_pending()           the backend calls made, in order
 *   ht_answer(i, 200, "{...}")          answer call i (ht_fail: no answer)
 *   ht_describe(i, "t")                 answer a DescribeTable of table t (key pk S)
 *   q->done, q->status, q->body         the reply, once sent
 *   ht.principal = p                    requests sent from now on are p's (grants)
 *   ht.zero_copy = true                 requests as the network layer sends them: answers
 *                                       may be spliced from the cache's bytes (q->pieces,
 *                                       q->refs count them; released once "written")
 *
 * Everything is static inline, so each test file includes it and links the
 * handler library only.
 */
#ifndef DDBX_TESTS_HANDLER_TEST_H
#define DDBX_TESTS_HANDLER_TEST_H

#include "testutil.h"

#include <uv.h>
#include <zlib.h>

#include "cache/cache.h"
#include "cache/tags.h"
#include "config/config.h"
#include "handler/handler.h"
#include "handler/request.h"
#include "handler/schema.h"
#include "metrics/metrics.h"
#include "proto/json.h"
#include "proto/ops.h"
#include "util/common.h"

#define HT_MAX_CALLS 64
#define HT_MAX_REQS 64
#define HT_HOLDOFF_MS 20000 /* twice the default 10 s backend timeout */

struct ht_call {
    char target[96];
    struct buf body; /* what the handler sent */
    backend_cb cb;
    void *arg;
    bool answered;
};

struct ht_req {
    struct request r;
    struct arena arena;
    char *sent; /* the body given to the handler (kept alive) */
    bool done;
    int status;
    char *body; /* the reply, NUL-terminated (copied when sent) */
    uint32_t crc;
    bool crc_set;
    unsigned pieces, refs; /* the reply's spliced pieces and cache references */
};

static struct {
    uv_loop_t loop;
    struct handler_thread thread;
    struct config cfg;
    struct ht_call calls[HT_MAX_CALLS];
    int ncalls;
    struct ht_req *reqs[HT_MAX_REQS];
    int nreqs;
    uint64_t now;
    const struct auth_principal *principal; /* who sends (NULL: nobody is verified) */
    bool zero_copy;                         /* r->zero_copy of requests sent */
} ht;

/* ---- the fake backend ---- */

static inline void ht_backend_call(void *self, const char *target, struct buf *body, backend_cb cb,
                                   void *arg)
{
    assert_true(ht.ncalls < HT_MAX_CALLS);
    struct ht_call *c = &ht.calls[ht.ncalls++];
    memset(c, 0, sizeof(*c));
    snprintf(c->target, sizeof(c->target), "%s", target);
    buf_move(&c->body, body);
    buf_append(&c->body, "", 0); /* NUL-terminated for assertions */
    c->cb = cb;
    c->arg = arg;
}

static inline int ht_backend_inflight(const void *self)
{
    int n = 0;
    for (int i = 0; i < ht.ncalls; i++)
        n += !ht.calls[i].answered;
    return n;
}

static inline void ht_backend_destroy(void *self) {}

static const struct backend_ops ht_backend_ops = {ht_backend_call, ht_backend_inflight,
                                                  ht_backend_destroy};

static inline uint64_t ht_clock(void)
{
    return ht.now;
}

/* Lets posted work (waiters woken on this thread) run. */
static inline void ht_pump(void)
{
    for (int i = 0; i < 4; i++)
        uv_run(&ht.loop, UV_RUN_NOWAIT);
}

/* ---- setup ---- */

static inline int ht_setup_with(const char *const *flags, int nflags, void **state)
{
    char *argv[32] = {"ddbx"};
    for (int i = 0; i < nflags && i < 30; i++)
        argv[i + 1] = (char *)flags[i];
    char err[256];
    memset(&ht.cfg, 0, sizeof(ht.cfg));
    if (config_parse(&ht.cfg, nflags + 1, argv, NULL, stdout, err, sizeof(err)) != CONFIG_OK)
        fail_msg("config: %s", err);
    metrics_setup();
    metrics_thread_register();
    ht.now = 1000000;
    handler_set_clock(ht_clock);
    assert_int_equal(
        cache_setup(16u << 20, ht.cfg.item_ttl, ht.cfg.negative_ttl,
                    ht.cfg.write_holdoff ? ht.cfg.write_holdoff : 2 * ht.cfg.backend_timeout, 0),
        0);
    assert_int_equal(tags_setup(1u << 20, ht.cfg.query_lag_window,
                                ht.cfg.query_ttl + 2 * ht.cfg.backend_timeout, 0),
                     0);
    schema_setup();
    handler_setup(&ht.cfg);
    uv_loop_init(&ht.loop);
    handler_thread_init_with(&ht.thread, &ht.loop, 0, &ht_backend_ops, NULL);
    ht.ncalls = 0;
    ht.nreqs = 0;
    ht.principal = NULL;
    return 0;
}

static inline int ht_setup(void **state)
{
    return ht_setup_with(NULL, 0, state);
}

static inline int ht_teardown(void **state)
{
    for (int i = 0; i < ht.ncalls; i++)
        if (!ht.calls[i].answered)
            fail_msg("backend call %d (%s) never answered", i, ht.calls[i].target);
    for (int i = 0; i < ht.nreqs; i++) {
        struct ht_req *q = ht.reqs[i];
        if (!q->done) fail_msg("request %d never answered", i);
        arena_free(&q->arena);
        buf_free(&q->r.reply);
        free(q->sent);
        free(q->body);
        free(q);
    }
    for (int i = 0; i < ht.ncalls; i++)
        buf_free(&ht.calls[i].body);
    handler_thread_close(&ht.thread);
    uv_run(&ht.loop, UV_RUN_DEFAULT);
    uv_loop_close(&ht.loop);
    handler_teardown();
    schema_teardown();
    tags_teardown();
    cache_teardown();
    config_free(&ht.cfg);
    handler_set_clock(NULL);
    metrics_teardown();
    return 0;
}

/* ---- requests ---- */

static inline void ht_done(struct request *r)
{
    struct ht_req *q = container_of(r, struct ht_req, r);
    assert_false(q->done);
    q->done = true;
    q->status = r->status;
    /* what the network layer writes: the pieces in order, or the reply */
    struct buf body = BUF_INIT;
    request_body_copy(r, &body);
    q->body = strndup(body.data ? body.data : "", body.len);
    q->crc = r->crc;
    q->crc_set = r->crc_set;
    buf_free(&body);
    q->pieces = r->npieces;
    q->refs = r->nrefs;
    request_release(r); /* as once written */
}

/* Dispatches operation `op` with `body`, as the network layer does. */
static inline struct ht_req *ht_send(const char *op, const char *body)
{
    char target[96];
    snprintf(target, sizeof(target), "DynamoDB_20120810.%s", op);
    const struct op *o = ops_lookup(target, strlen(target));
    assert_non_null(o);
    struct ht_req *q = calloc(1, sizeof(*q));
    arena_init(&q->arena);
    q->sent = strdup(body);
    q->r.op = o;
    q->r.thread = &ht.thread;
    q->r.body = q->sent;
    q->r.body_len = strlen(body);
    q->r.arena = &q->arena;
    q->r.done = ht_done;
    q->r.owner = q;
    q->r.principal = ht.principal;
    q->r.zero_copy = ht.zero_copy;
    assert_true(ht.nreqs < HT_MAX_REQS);
    ht.reqs[ht.nreqs++] = q;
    handler_dispatch(&q->r);
    ht_pump();
    return q;
}

/* ---- the backend calls ---- */

static inline int ht_pending(void)
{
    return ht_backend_inflight(NULL);
}

static inline struct ht_call *ht_call(int i)
{
    if (i >= ht.ncalls) fail_msg("no backend call %d (%d made)", i, ht.ncalls);
    return &ht.calls[i];
}

/* Asserts that call i is an `op` whose body contains `needle` (NULL: any). */
static inline void ht_expect(int i, const char *op, const char *needle)
{
    struct ht_call *c = ht_call(i);
    assert_string_equal(strchr(c->target, '.') + 1, op);
    if (needle) assert_contains(c->body.data, needle);
}

static inline void ht_finish(int i, enum backend_outcome outcome, int status, const char *body)
{
    struct ht_call *c = ht_call(i);
    assert_false(c->answered);
    c->answered = true;
    struct backend_result res;
    memset(&res, 0, sizeof(res));
    res.outcome = outcome;
    res.status = status;
    if (body) buf_append(&res.body, body, strlen(body));
    snprintf(res.request_id, sizeof(res.request_id), "REQ%d", i);
    c->cb(&res, c->arg);
    buf_free(&res.body);
    ht_pump();
}

static inline void ht_answer(int i, int status, const char *body)
{
    ht_finish(i, BACKEND_ANSWERED, status, body);
}

static inline void ht_fail(int i, enum backend_outcome outcome)
{
    ht_finish(i, outcome, 0, NULL);
}

/* A DynamoDB error body of type `name` (e.g. "ConditionalCheckFailedException"). */
static inline const char *ht_error(const char *name)
{
    static char b[256];
    snprintf(b, sizeof(b),
             "{\"__type\":\"com.amazonaws.dynamodb.v20120810#%s\",\"message\":\"injected\"}", name);
    return b;
}

/* A TableDescription of table t with hash key pk of `type` in moto's account. */
static inline const char *ht_description(const char *t, char type)
{
    static char b[512];
    snprintf(b, sizeof(b),
             "{\"TableName\":\"%s\",\"TableStatus\":\"ACTIVE\","
             "\"TableArn\":\"arn:aws:dynamodb:us-east-1:123456789012:table/%s\","
             "\"KeySchema\":[{\"AttributeName\":\"pk\",\"KeyType\":\"HASH\"}],"
             "\"AttributeDefinitions\":[{\"AttributeName\":\"pk\",\"AttributeType\":\"%c\"}]}",
             t, t, type);
    return b;
}

/* Answers call i, a DescribeTable, for table `t` with hash key pk of `type`. */
static inline void ht_describe_type(int i, const char *t, char type)
{
    ht_expect(i, "DescribeTable", NULL);
    char b[600];
    snprintf(b, sizeof(b), "{\"Table\":%s}", ht_description(t, type));
    ht_answer(i, 200, b);
}

/* The same with a string key. */
static inline void ht_describe(int i, const char *t)
{
    ht_describe_type(i, t, 'S');
}

/* ---- requests of everyday shape ---- */

static inline struct ht_req *ht_get(const char *t, const char *pk)
{
    char b[256];
    snprintf(b, sizeof(b), "{\"TableName\":\"%s\",\"Key\":{\"pk\":{\"S\":\"%s\"}}}", t, pk);
    return ht_send("GetItem", b);
}

static inline struct ht_req *ht_put(const char *t, const char *pk, const char *v)
{
    char b[256];
    snprintf(b, sizeof(b),
             "{\"TableName\":\"%s\",\"Item\":{\"pk\":{\"S\":\"%s\"},\"v\":{\"S\":\"%s\"}}}", t, pk,
             v);
    return ht_send("PutItem", b);
}

/* {"Item":{"pk":{"S":pk},"v":{"S":v}}}: a GetItem answer (and a cached value) */
static inline const char *ht_item(const char *pk, const char *v)
{
    static char b[4][16384]; /* values up to 16 KB (test_batch_get's large items) */
    static int n;
    char *out = b[n++ % 4];
    snprintf(out, sizeof(b[0]), "{\"Item\":{\"pk\":{\"S\":\"%s\"},\"v\":{\"S\":\"%s\"}}}", pk, v);
    return out;
}

/* Asserts q was answered with status and exactly `body`. */
static inline void ht_replied(struct ht_req *q, int status, const char *body)
{
    if (!q->done) fail_msg("not answered yet");
    if (q->status != status || (body && strcmp(q->body, body) != 0))
        fail_msg("answered %d %s\n  wanted %d %s", q->status, q->body, status, body ? body : "");
    /* a CRC a handler sets is sent as x-amz-crc32: it must be the body's */
    if (q->crc_set && q->crc != (uint32_t)crc32(0, (const Bytef *)q->body, (uInt)strlen(q->body)))
        fail_msg("x-amz-crc32 %u is not the CRC-32 of %s", q->crc, q->body);
}

/* A table t whose schema ddbx knows (one GetItem of a missing key made it
 * describe t; the key is cached as absent). */
static inline void ht_known_table(const char *t)
{
    int c = ht.ncalls;
    struct ht_req *q = ht_get(t, "__none__");
    ht_describe(c, t);
    ht_expect(c + 1, "GetItem", NULL);
    ht_answer(c + 1, 200, "{}");
    ht_replied(q, 200, "{}");
}

/* Caches pk = v in t (a GetItem that misses and reads v); t must be known. */
static inline void ht_cached(const char *t, const char *pk, const char *v)
{
    int c = ht.ncalls;
    struct ht_req *q = ht_get(t, pk);
    ht_expect(c, "GetItem", NULL);
    ht_answer(c, 200, ht_item(pk, v));
    ht_replied(q, 200, ht_item(pk, v));
    q = ht_get(t, pk);
    assert_int_equal(ht.ncalls, c + 1); /* a hit */
    ht_replied(q, 200, ht_item(pk, v));
}

/* Asserts a GetItem of pk is a hit answering v (no backend call). */
static inline void ht_hit(const char *t, const char *pk, const char *v)
{
    int c = ht.ncalls;
    struct ht_req *q = ht_get(t, pk);
    if (ht.ncalls != c)
        fail_msg("GetItem %s/%s went to the backend (%s)", t, pk, ht.calls[c].body.data);
    if (v)
        ht_replied(q, 200, ht_item(pk, v));
    else
        ht_replied(q, 200, "{}");
}

/* Asserts a GetItem of pk goes to the backend; answers it with v (NULL: absent). */
static inline struct ht_req *ht_miss(const char *t, const char *pk, const char *v)
{
    int c = ht.ncalls;
    struct ht_req *q = ht_get(t, pk);
    if (ht.ncalls != c + 1) fail_msg("GetItem %s/%s was not a miss", t, pk);
    ht_expect(c, "GetItem", NULL);
    ht_answer(c, 200, v ? ht_item(pk, v) : "{}");
    ht_replied(q, 200, v ? ht_item(pk, v) : "{}");
    return q;
}

#endif
