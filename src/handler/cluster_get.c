/*
 * cluster_get.c: reads of keys another node owns (cluster.h), both sides.
 *
 *   asker (a worker):  miss, lease taken -> ops.get (GET to the owner) ... answer on the node
 *                      thread -> mailbox -> VALUE: near copy through the lease (kept only if
 *                      the lease is intact, the owner allowed it and no peer invalidated the
 *                      key lately), the client answered; otherwise the backend, as alone
 *   owner (node thread): GET -> cache_peek: a hit answered at once; a miss posted to the
 *                      serving thread, where an ordinary GetItem (get.c: lease, coalescing
 *                      with this node's own clients, the fill) reads it; its answer is
 *                      replied with ttl_ms > 0 only while this node's cache holds that very
 *                      value (a fill superseded by an invalidation installs nothing)
 *
 * Why the asker also remembers recent invalidations: an INVALIDATE from a
 * writer may reach the asker before it reaches the owner (two links, two
 * delays). A GET sent in between is answered by an owner that has not
 * applied it yet: the value may predate the write, and the asker's lease,
 * taken after the asker applied the INVALIDATE, cannot tell. The writer
 * answers its client only once every live peer applied the INVALIDATE, or
 * after its ack timeout; a peer that had not, and hears nothing more from
 * the writer, counts it dead within dead_after plus a ping interval and
 * drops what no stream covers. So a GET sent more than recent_ms (dead_after
 * plus ping interval) after the asker applied an invalidation of the key
 * reaches an owner that applied it too, or dropped; within recent_ms the
 * asker answers with the value but keeps no copy. Keys are remembered by
 * hash slot (a collision only refuses a near copy); a FORGET refuses every
 * near copy for recent_ms.
 */
#include "handler/cluster_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "handler/item.h"
#include "handler/schema.h"
#include "metrics/metrics.h"
#include "proto/ops.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/crc.h"
#include "util/log.h"

/* ---- recent invalidations ---- */

#define RECENT_SLOTS 65536 /* 512 KiB; a power of two */

static _Atomic uint64_t recent[RECENT_SLOTS];
static _Atomic uint64_t recent_all;

void cluster__recent_key(const void *key, size_t len, uint64_t now_ms)
{
    struct cache_key k;
    cache_key_init(&k, key, len);
    atomic_store_explicit(&recent[k.hash & (RECENT_SLOTS - 1)], now_ms, memory_order_relaxed);
}

void cluster__recent_all(uint64_t now_ms)
{
    atomic_store_explicit(&recent_all, now_ms, memory_order_relaxed);
}

/* True when no peer invalidated k (or forgot anything) within recent_ms
 * before `since`. */
static bool quiet_since(const struct cache_key *k, uint64_t since)
{
    uint64_t w = cluster__s.o.recent_ms;
    uint64_t a = atomic_load_explicit(&recent[k->hash & (RECENT_SLOTS - 1)], memory_order_relaxed);
    uint64_t b = atomic_load_explicit(&recent_all, memory_order_relaxed);
    return (!a || a + w <= since) && (!b || b + w <= since);
}

/* ---- the asker ---- */

struct fwd {
    struct request *r;
    struct cache_key k;
    struct cache_fill *lease;
    cluster_got_fn cb;
    void *arg;
    uint64_t sent_ms, start_ns;
};

/* The owner's answer, copied off the node's thread. */
struct fwd_answer {
    struct fwd *f;
    enum node_get_result result;
    uint64_t ttl_ms;
    uint32_t crc;
    size_t len;
    char body[];
};

/* How long the asker may keep the owner's value: what the owner allowed,
 * at most near_ttl, none if the key was invalidated lately, capped while
 * degraded. */
static uint64_t near_ttl(const struct fwd *f, uint64_t allowed)
{
    const char *key = f->k.data, *nul = memchr(key, '\0', f->k.len);
    uint64_t ttl = MIN(allowed, cluster__s.o.near_ttl_ms);
    if (!ttl || !nul || !quiet_since(&f->k, f->sent_ms)) return 0;
    return cluster_fill_ttl(key, (size_t)(nul - key), ttl);
}

static void fwd_resume(void *arg)
{
    struct fwd_answer *a = arg;
    struct fwd *f = a->f;
    CHECK_MAGIC(f->r, REQUEST_MAGIC);
    metrics_hist_observe(HIST_CLUSTER_GET, clock_mono_ns() - f->start_ns);
    if (a->result != NODE_GET_VALUE) {
        METRIC_INCR(cluster_reads_fallback);
        f->cb(f->r, f->arg, NULL); /* the lease is still the caller's: it reads the backend */
        free(a);
        return;
    }
    METRIC_INCR(cluster_reads_owner_answered);
    bool absent = a->len == 2 && memcmp(a->body, "{}", 2) == 0;
    uint64_t ttl = near_ttl(f, a->ttl_ms);
    if (ttl && cache_fill_valid(f->lease)) METRIC_INCR(cluster_near_copies);
    struct cache_result cr = {absent ? CACHE_NEGATIVE : CACHE_HIT,
                              absent ? NULL : a->body,
                              absent ? 0 : a->len,
                              a->crc,
                              200,
                              ttl,
                              ttl == 0};
    cache_fill_done(f->lease, &cr, item_now());
    struct cluster_value v = {cr.data, cr.len, a->crc};
    f->cb(f->r, f->arg, &v);
    free(a);
}

static void on_got(void *arg, const struct node_get_answer *ans)
{
    struct fwd *f = arg;
    size_t len = ans->result == NODE_GET_VALUE ? ans->body.len : 0;
    struct fwd_answer *a = xmalloc(sizeof(*a) + len + 1);
    *a = (struct fwd_answer){f, ans->result, ans->ttl_ms, ans->crc, len};
    if (len) memcpy(a->body, ans->body.data, len);
    a->body[len] = '\0';
    handler_thread_post(f->r->thread, fwd_resume, a);
}

bool cluster_forward_get(struct request *r, const struct cache_key *k, struct cache_fill *lease,
                         const struct json *table, const struct json *key, cluster_got_fn cb,
                         void *arg)
{
    if (!cluster_on() || r->peer || !lease || !r->thread) return false;
    const struct cluster_ops *ops = cluster__s.ops;
    void *n = cluster__s.node;
    const char *nul = memchr(k->data, '\0', k->len);
    if (!nul || ops->owner_of_key(n, k->data, k->len) == ops->self(n)) {
        METRIC_INCR(cluster_reads_owned);
        return false;
    }
    struct fwd *f = arena_alloc(r->arena, sizeof(*f));
    *f = (struct fwd){r, *k, lease, cb, arg, item_now(), clock_mono_ns()};
    struct buf body = BUF_INIT; /* what the owner fills with: unprojected, eventually consistent */
    struct json_writer w;
    jw_init(&w, &body);
    jw_object_begin(&w);
    jw_cstr(&w, "TableName");
    jw_value(&w, table);
    jw_cstr(&w, "Key");
    jw_value(&w, key);
    jw_object_end(&w);
    jw_free(&w);
    size_t tlen = (size_t)(nul - (const char *)k->data);
    int rc =
        ops->get(n, k->data, tlen, nul + 1, k->len - tlen - 1, body.data, body.len, 0, on_got, f);
    buf_free(&body);
    if (rc < 0) return false; /* the node is stopping: read it here */
    METRIC_INCR(cluster_reads_forwarded);
    return true;
}

/* ---- the owner ---- */

static struct {
    pthread_mutex_t lock;
    bool accepting;
    int inflight;              /* GETs posted to the serving thread, not answered yet */
    struct handler_thread *ht; /* the serving thread's context */
    bool own;                  /* started here */
    uv_thread_t tid;
    uv_loop_t loop;
    struct handler_thread own_ht;
    uv_async_t stop;
    uv_sem_t ready;
} sv = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const struct cluster_ops *reply_ops(void)
{
    return cluster_on() ? cluster__s.ops : &cluster_node_ops;
}

/* What a peer may keep of a value this node caches for ttl_left more ms. */
static uint64_t peer_ttl(struct peer_bytes table, uint64_t ttl_left)
{
    if (cluster__capped((const char *)table.data, table.len)) return 0;
    return MIN(ttl_left, cluster__s.o.near_ttl_ms);
}

/* The cache key of a GET at the table's current epoch (0 when the table is
 * unknown); *held when its table is held. In `buf`. */
static struct cache_key get_key(const struct node_get_req *req, struct buf *buf, bool *held)
{
    struct schema_state st = {0};
    schema_indexes_put(schema_indexes_get((const char *)req->table.data, req->table.len, &st));
    buf_append(buf, req->table.data, req->table.len);
    buf_append_char(buf, '\0');
    buf_append(buf, req->key.data, req->key.len);
    struct cache_key k;
    cache_key_init(&k, buf->data, buf->len);
    k.epoch = st.epoch;
    *held = st.held;
    return k;
}

/* Answers from the cache; false on a miss. With `expect`, only when the
 * cache holds exactly that value (it answers with a ttl, else with none). */
static bool reply_cached(struct node_get_req *req, const struct buf *expect)
{
    struct buf key = BUF_INIT, value = BUF_INIT;
    bool held = false;
    struct cache_key k = get_key(req, &key, &held);
    uint32_t crc = 0;
    uint64_t left = 0;
    enum cache_kind kind =
        held || !k.epoch ? CACHE_MISS : cache_peek(&k, item_now(), &value, &crc, &left);
    if (kind == CACHE_NEGATIVE) buf_append_str(&value, "{}"), crc = crc32_of("{}", 2);
    bool same =
        kind != CACHE_MISS &&
        (!expect || (expect->len == value.len && memcmp(expect->data, value.data, value.len) == 0));
    if (expect) {
        uint64_t ttl = same ? peer_ttl(req->table, left) : 0;
        reply_ops()->get_reply(req->node, req, PEER_GET_VALUE, ttl, expect->data, expect->len,
                               crc32_of(expect->data, expect->len));
    } else if (same) {
        reply_ops()->get_reply(req->node, req, PEER_GET_VALUE, peer_ttl(req->table, left),
                               value.data, value.len, crc);
    }
    buf_free(&key);
    buf_free(&value);
    return same || expect;
}

/* A GET read through the ordinary GetItem path on the serving thread. */
struct serve_job {
    struct request r;
    struct arena arena;
    struct node_get_req *req;
};

static void job_free(void *arg)
{
    struct serve_job *j = arg;
    arena_free(&j->arena);
    buf_free(&j->r.reply);
    free(j);
}

static void served(struct request *r)
{
    struct serve_job *j = container_of(r, struct serve_job, r);
    if (r->status == 200) {
        reply_cached(j->req, &r->reply);
        METRIC_INCR(cluster_peer_gets_filled);
    } else {
        reply_ops()->get_reply(j->req->node, j->req, PEER_GET_FAILED, 0, NULL, 0, 0);
    }
    /* freed later: get.c may still be on its way out of request_send; posted
     * before the count drops, so cluster_stop closes the thread after it */
    handler_thread_post(r->thread, job_free, j);
    pthread_mutex_lock(&sv.lock);
    sv.inflight--;
    pthread_mutex_unlock(&sv.lock);
}

static void serve(void *arg)
{
    struct serve_job *j = arg;
    static const char target[] = "DynamoDB_20120810.GetItem";
    struct request *r = &j->r;
    arena_init(&j->arena);
    r->op = ops_lookup(target, sizeof(target) - 1);
    r->thread = sv.ht;
    r->body = (const char *)j->req->request.data;
    r->body_len = j->req->request.len;
    r->arena = &j->arena;
    r->start_ns = clock_mono_ns();
    r->done = served;
    r->peer = true;
    /* not handler_dispatch: a peer's read is not a client's (no grants, no
     * request metrics) */
    r->magic = REQUEST_MAGIC;
    r->thread->active++;
    handler_get_item(r);
}

void cluster__on_get(void *arg, struct node_get_req *req)
{
    if (!cluster_on()) {
        reply_ops()->get_reply(req->node, req, PEER_GET_MISS, 0, NULL, 0, 0);
        return;
    }
    if (reply_cached(req, NULL)) {
        METRIC_INCR(cluster_peer_gets_hit);
        return;
    }
    pthread_mutex_lock(&sv.lock);
    bool go = sv.accepting && !(req->flags & PEER_GET_NO_FILL);
    if (go) sv.inflight++;
    pthread_mutex_unlock(&sv.lock);
    if (!go) {
        reply_ops()->get_reply(req->node, req, PEER_GET_MISS, 0, NULL, 0, 0);
        return;
    }
    struct serve_job *j = xcalloc(1, sizeof(*j));
    j->req = req;
    handler_thread_post(sv.ht, serve, j);
}

/* ---- the serving thread ---- */

static void on_stop(uv_async_t *a)
{
    handler_thread_close(&sv.own_ht);
    uv_close((uv_handle_t *)&sv.stop, NULL);
}

static void serve_main(void *arg)
{
    log_set_thread_name("peer-get");
    metrics_thread_register();
    uv_loop_init(&sv.loop);
    handler_thread_init(&sv.own_ht, &sv.loop, -1);
    uv_async_init(&sv.loop, &sv.stop, on_stop);
    uv_sem_post(&sv.ready);
    uv_run(&sv.loop, UV_RUN_DEFAULT);
    uv_loop_close(&sv.loop);
}

int cluster__serve_start(void)
{
    for (size_t i = 0; i < RECENT_SLOTS; i++) /* times of an earlier setup's clock */
        atomic_store_explicit(&recent[i], 0, memory_order_relaxed);
    atomic_store(&recent_all, 0);
    sv.own = !cluster__s.o.serve;
    sv.ht = cluster__s.o.serve ? cluster__s.o.serve : &sv.own_ht;
    if (sv.own) {
        uv_sem_init(&sv.ready, 0);
        if (uv_thread_create(&sv.tid, serve_main, NULL) != 0) {
            log_error("cluster: cannot start the thread serving peers' reads");
            return DDBX_ERR;
        }
        uv_sem_wait(&sv.ready);
        uv_sem_destroy(&sv.ready);
    }
    pthread_mutex_lock(&sv.lock);
    sv.accepting = true;
    sv.inflight = 0;
    pthread_mutex_unlock(&sv.lock);
    return DDBX_OK;
}

void cluster__serve_stop(void)
{
    pthread_mutex_lock(&sv.lock);
    sv.accepting = false;
    pthread_mutex_unlock(&sv.lock);
    if (!sv.own) return; /* the caller's thread: the caller runs it until they are answered */
    for (;;) {           /* each is bounded by --backend-timeout */
        pthread_mutex_lock(&sv.lock);
        int left = sv.inflight;
        pthread_mutex_unlock(&sv.lock);
        if (!left) break;
        uv_sleep(1);
    }
    uv_async_send(&sv.stop);
    uv_thread_join(&sv.tid);
    sv.own = false;
}
