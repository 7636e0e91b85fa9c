/*
 * cluster_test.h: a fake cluster node for the handler tests (handler_test.h
 * fakes the backend the same way). It records every call the handlers make
 * through struct cluster_ops (fan-outs, GETs, GET replies) and the test
 * completes each when it chooses; what peers send is delivered through the
 * real node_handlers (cluster_node_handlers()), on the test's thread.
 *
 *   fn_setup(state) / fn_teardown(state)   handler_test.h's, plus cluster_setup
 *   fn.degraded, fn.calls[i], fn_count(kind)     the fake's state, what it was asked
 *   fn_ack(i) / fn_ack_all()                     a fan-out acknowledged by every peer
 *   fn_answer(i, result, ttl, body)              a forwarded GET answered
 *   fn_peer_get(table, pk, flags)                a peer's GET for a key this node owns
 *   fn_peer_invalidate(table, pk, hold), fn_peer_forget(...), fn_event(type)
 *
 * Keys of table t are owned by node 1 when their pk starts with 'r', else by
 * this node (0).
 */
#ifndef DDBX_TESTS_CLUSTER_TEST_H
#define DDBX_TESTS_CLUSTER_TEST_H

#include "handler_test.h"

#include "handler/cluster.h"
#include "util/crc.h"

#define FN_MAX 64
#define FN_NEAR_TTL 5000
#define FN_DEGRADED_TTL 1000
#define FN_RECENT 600

enum fn_kind { FN_INVALIDATE, FN_TAG, FN_FORGET, FN_GET, FN_REPLY };

struct fn_call {
    enum fn_kind kind;
    char table[64];
    struct buf keys[8]; /* INVALIDATE keys, TAG tags, GET key (keys[0]), REPLY body */
    size_t nkeys;
    uint64_t hold, scope, flags;
    char request[512]; /* GET */
    node_done_fn done;
    node_get_fn got;
    void *arg;
    bool answered;
    /* REPLY */
    enum peer_get_status status;
    uint64_t ttl;
    uint32_t crc;
};

static struct {
    struct fn_call calls[FN_MAX];
    int n;
    bool degraded;
    int refuse; /* fan-outs and GETs answer NODE_ESTOPPED */
} fn;

static inline struct fn_call *fn_add(enum fn_kind kind, const char *table, size_t tlen)
{
    assert_true(fn.n < FN_MAX);
    struct fn_call *c = &fn.calls[fn.n++];
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    snprintf(c->table, sizeof(c->table), "%.*s", (int)tlen, table ? table : "");
    return c;
}

static inline void fn_keys(struct fn_call *c, const struct peer_bytes *keys, size_t n)
{
    c->nkeys = MIN(n, 8);
    for (size_t i = 0; i < c->nkeys; i++) {
        buf_init(&c->keys[i]);
        buf_append(&c->keys[i], keys[i].data, keys[i].len);
        buf_append(&c->keys[i], "", 0);
    }
}

static inline int fn_invalidate(void *n, const char *table, size_t tlen,
                                const struct peer_bytes *keys, size_t nkeys, uint64_t hold_ms,
                                node_done_fn done, void *arg)
{
    if (fn.refuse) return NODE_ESTOPPED;
    struct fn_call *c = fn_add(FN_INVALIDATE, table, tlen);
    fn_keys(c, keys, nkeys);
    c->hold = hold_ms, c->done = done, c->arg = arg;
    return NODE_OK;
}

static inline int fn_tag(void *n, const char *table, size_t tlen, const struct peer_bytes *tags,
                         size_t ntags, uint64_t hold_ms, node_done_fn done, void *arg)
{
    if (fn.refuse) return NODE_ESTOPPED;
    struct fn_call *c = fn_add(FN_TAG, table, tlen);
    fn_keys(c, tags, ntags);
    c->hold = hold_ms, c->done = done, c->arg = arg;
    return NODE_OK;
}

static inline int fn_forget(void *n, const char *table, size_t tlen, uint64_t scope,
                            uint64_t hold_ms, node_done_fn done, void *arg)
{
    if (fn.refuse) return NODE_ESTOPPED;
    struct fn_call *c = fn_add(FN_FORGET, table, tlen);
    c->scope = scope, c->hold = hold_ms, c->done = done, c->arg = arg;
    return NODE_OK;
}

static inline int fn_get(void *n, const char *table, size_t tlen, const void *key, size_t klen,
                         const void *request, size_t rlen, uint64_t flags, node_get_fn cb,
                         void *arg)
{
    if (fn.refuse) return NODE_ESTOPPED;
    struct fn_call *c = fn_add(FN_GET, table, tlen);
    fn_keys(c, &(struct peer_bytes){key, klen}, 1);
    snprintf(c->request, sizeof(c->request), "%.*s", (int)rlen, (const char *)request);
    c->flags = flags, c->got = cb, c->arg = arg;
    return NODE_OK;
}

/* What the real node does with a reply: sends it, and frees the request. */
static inline void fn_get_reply(void *n, struct node_get_req *req, enum peer_get_status status,
                                uint64_t ttl_ms, const void *body, size_t len, uint32_t crc)
{
    struct fn_call *c = fn_add(FN_REPLY, (const char *)req->table.data, req->table.len);
    fn_keys(c, &(struct peer_bytes){body, status == PEER_GET_VALUE ? len : 0}, 1);
    c->status = status, c->ttl = ttl_ms, c->crc = crc, c->answered = true;
    free(req);
}

static inline int fn_publish(void *n, const char *table, const char *arn,
                             const struct peer_shard_pos *shards, size_t nshards)
{
    return NODE_OK;
}

static inline bool fn_degraded(void *n)
{
    return fn.degraded;
}

/* The routing key is table, NUL, 'S', length (2 bytes), pk. */
static inline int fn_owner_of_key(void *n, const void *rk, size_t len)
{
    const char *nul = memchr(rk, '\0', len);
    return nul && (size_t)(nul - (const char *)rk) + 5 <= len && nul[4] == 'r' ? 1 : 0;
}

static inline int fn_owner_of_table(void *n, const char *table, size_t len)
{
    return 0;
}

static inline int fn_self(void *n)
{
    return 0;
}

static const struct cluster_ops fn_ops = {
    fn_invalidate, fn_tag,          fn_forget,         fn_get, fn_get_reply, fn_publish,
    fn_degraded,   fn_owner_of_key, fn_owner_of_table, fn_self};

static inline int fn_setup_with(const char *const *flags, int nflags, void **state)
{
    ht_setup_with(flags, nflags, state);
    memset(&fn, 0, sizeof(fn));
    struct cluster_options o = {.near_ttl_ms = FN_NEAR_TTL,
                                .degraded_ttl_ms = FN_DEGRADED_TTL,
                                .recent_ms = FN_RECENT,
                                .streams = true,
                                .serve = &ht.thread};
    assert_int_equal(cluster_setup(&fn_ops, &fn, &o), 0);
    return 0;
}

static inline int fn_setup(void **state)
{
    return fn_setup_with(NULL, 0, state);
}

/* Everything is released whatever the test left (so the next test starts
 * clean); a call left incomplete fails the test after. */
static inline int fn_teardown(void **state)
{
    int open = -1;
    for (int i = 0; i < fn.n; i++) {
        struct fn_call *c = &fn.calls[i];
        if (!c->answered && (c->done || c->got) && open < 0) open = i;
    }
    cluster_stop();
    cluster_teardown();
    for (int i = 0; i < fn.n; i++)
        for (size_t k = 0; k < fn.calls[i].nkeys; k++)
            buf_free(&fn.calls[i].keys[k]);
    int kind = open >= 0 ? fn.calls[open].kind : 0;
    fn.n = 0;
    /* what ht_teardown would fail on, released here so that one failed test
     * does not fail every later one's setup */
    int call = -1, req = -1;
    for (int i = 0; i < ht.ncalls; i++)
        if (!ht.calls[i].answered) call = call < 0 ? i : call, ht.calls[i].answered = true;
    for (int i = 0; i < ht.nreqs; i++)
        if (!ht.reqs[i]->done) req = req < 0 ? i : req, ht.reqs[i]->done = true;
    int rc = ht_teardown(state);
    if (open >= 0) fail_msg("cluster call %d (kind %d) never completed", open, kind);
    if (call >= 0) fail_msg("backend call %d never answered", call);
    if (req >= 0) fail_msg("request %d never answered", req);
    return rc;
}

static inline int fn_count(enum fn_kind kind)
{
    int n = 0;
    for (int i = 0; i < fn.n; i++)
        n += fn.calls[i].kind == kind;
    return n;
}

/* The index of the first call of `kind` from `from` on; fails if none. */
static inline int fn_find(enum fn_kind kind, int from)
{
    for (int i = from; i < fn.n; i++)
        if (fn.calls[i].kind == kind) return i;
    fail_msg("no cluster call of kind %d from %d (%d made)", kind, from, fn.n);
    return -1;
}

/* Fan-out i acknowledged by every peer (or, unacked, by none in time). */
static inline void fn_complete(int i, bool acked)
{
    struct fn_call *c = &fn.calls[i];
    assert_false(c->answered);
    c->answered = true;
    struct node_fanout_result r = {acked ? 6u : 0u, acked ? 0u : 6u, 0, 100};
    if (c->done) c->done(c->arg, &r);
    ht_pump();
}

static inline void fn_ack(int i)
{
    fn_complete(i, true);
}

/* Acknowledges every fan-out not yet completed. */
static inline void fn_ack_all(void)
{
    for (int i = 0; i < fn.n; i++)
        if (!fn.calls[i].answered && fn.calls[i].kind <= FN_FORGET) fn_ack(i);
}

/* Forwarded GET i answered with `result` (VALUE: body, its CRC, ttl_ms). */
static inline void fn_answer(int i, enum node_get_result result, uint64_t ttl_ms, const char *body)
{
    struct fn_call *c = &fn.calls[i];
    assert_int_equal(c->kind, FN_GET);
    assert_false(c->answered);
    c->answered = true;
    struct node_get_answer a = {.result = result, .owner = 1, .ttl_ms = ttl_ms};
    if (body) {
        a.body = (struct peer_bytes){(const uint8_t *)body, strlen(body)};
        a.crc = crc32_of(body, strlen(body));
    }
    c->got(c->arg, &a);
    ht_pump();
}

/* The item key of pk (a string): 'S', 2-byte length, bytes. */
static inline size_t fn_item_key(const char *pk, char *out)
{
    size_t len = strlen(pk);
    out[0] = 'S', out[1] = (char)(len >> 8), out[2] = (char)len;
    memcpy(out + 3, pk, len);
    return len + 3;
}

/* A peer's GET of t/pk (this node owns it), as the node hands it over. */
static inline void fn_peer_get(const char *t, const char *pk, uint64_t flags)
{
    char key[128], request[256];
    size_t klen = fn_item_key(pk, key);
    int rlen = snprintf(request, sizeof(request),
                        "{\"TableName\":\"%s\",\"Key\":{\"pk\":{\"S\":\"%s\"}}}", t, pk);
    size_t tlen = strlen(t);
    struct node_get_req *req = calloc(1, sizeof(*req) + tlen + klen + (size_t)rlen);
    uint8_t *p = (uint8_t *)(req + 1);
    memcpy(p, t, tlen), req->table = (struct peer_bytes){p, tlen}, p += tlen;
    memcpy(p, key, klen), req->key = (struct peer_bytes){p, klen}, p += klen;
    memcpy(p, request, (size_t)rlen), req->request = (struct peer_bytes){p, (size_t)rlen};
    req->from = 1;
    req->flags = flags;
    cluster_node_handlers()->get(NULL, req);
    ht_pump();
}

/* The last reply this node sent a peer's GET. */
static inline struct fn_call *fn_reply(void)
{
    for (int i = fn.n - 1; i >= 0; i--)
        if (fn.calls[i].kind == FN_REPLY) return &fn.calls[i];
    fail_msg("no GET_REPLY sent");
    return NULL;
}

static inline void fn_peer_invalidate(const char *t, const char *pk, uint64_t hold_ms)
{
    char key[128];
    struct peer_bytes k = {(const uint8_t *)key, fn_item_key(pk, key)};
    struct peer_keyset m = {{(const uint8_t *)t, strlen(t)}, {1, &k}, hold_ms};
    cluster_node_handlers()->invalidate(NULL, 1, &m);
}

static inline void fn_peer_forget(const char *t, uint64_t scope, uint64_t hold_ms)
{
    struct peer_forget m = {{(const uint8_t *)t, strlen(t)}, scope, hold_ms};
    cluster_node_handlers()->forget(NULL, 1, &m);
}

static inline void fn_event(enum node_event_type type)
{
    struct node_event ev = {type, type <= NODE_PEER_DEPARTED ? 1 : -1, 0, false};
    cluster_node_handlers()->event(NULL, &ev);
}

#endif
