/*
 * query.c: Query and Scan from the query cache.
 *
 *   body -> schema (handler/schema.c) -> indexes -> cache key (proto/query.c)
 *     -> the tags the page depends on (proto/invalidation.c)
 *     -> cache_get -+- HIT: valid while none of its tags moved -> answer
 *                   |        (stale: dropped, looked up again)
 *                   +- WAIT: another request's fill wakes us; its page is checked the same way
 *                   '- MISS: tags_snapshot, then the backend (ConsistentRead for the base
 *                        table and LSIs) -> installed if no tag moved meanwhile -> answer
 *
 * A page is stored in the item cache's memory (cache/cache.h) under a key
 * that begins with CACHE_RESULT_PREFIX, so --memory and the LRU cover it.
 * Its value is a small header, then the backend's answer byte for byte:
 *
 *   "QRv2" | body CRC-32 | process id | snapshot: generation, tag count, tag hashes
 *          | range length | range (proto/range.h; empty when not range-precise)
 *
 * The process id is random at setup: tag generations live in memory only,
 * so a page kept across a restart (the spill tier) is never taken as fresh.
 *
 * Not cached, relayed as sent: ConsistentRead, anything query_cache_key() or
 * query_read_partition() cannot read with certainty, tables ddbx cannot
 * describe. Misses of tables held after a change or a write of unknown
 * outcome are read from the backend and not installed (valid pages from
 * before are still served: the change bumped the tags it may touch).
 *
 * A page filled just after a write of one of its tags may come from a
 * lagging GSI (or an eventually consistent read): it is cached for
 * --query-lag-window only. A fill ddbx made consistent answers (and stores)
 * the ConsumedCapacity of the caller's own eventually consistent read, half
 * the backend's, so hits report what DynamoDB would have charged. An
 * unprojected, unfiltered consistent Query of the base table or of an
 * ALL-projected LSI also fills the item cache with the items it returned,
 * under item leases taken before the page's tags are checked (writes bump
 * tags before ending their leases).
 *
 * A range-precise page (an unfiltered Query, docs/QUERY_CACHE.md) keeps its
 * items' key hashes and its LastEvaluatedKey's sort value: when its
 * partition tag moved only by writes whose notes leave it unchanged
 * (tags_valid_noted), it is still served, and its stored snapshot is
 * re-stamped in place (cache_patch) so the next hit checks only newer
 * bumps; a fill that raced such writes is installed all the same.
 *
 * In a cluster each node caches its own pages (they are not forwarded to an
 * owner: docs/CLUSTER.md says why); every write's tags reach every node
 * before the write is answered, and while a node is degraded its pages of
 * tables without a stream live at most --peer-degraded-ttl.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cache/tags.h"
#include "handler/cluster.h"
#include "handler/item.h"
#include "handler/schema.h"
#include "metrics/metrics.h"
#include "proto/invalidation.h"
#include "proto/params.h"
#include "proto/query.h"
#include "proto/range.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/crc.h"

#define VALUE_MAGIC "QRv2"
#define VALUE_SEQ_AT 16 /* where the snapshot's generation is in a stored value */
#define MAX_LOOKUPS 3   /* stale entries or failed waits before reading without the cache */

struct qry {
    struct request *r;
    enum query_op op;
    struct json *doc;
    const struct key_schema *ks;
    struct cache_key k;
    struct cache_fill *fill; /* NULL: read without caching (held, or too many tries) */
    struct cache_waiter waiter;
    int lookups;
    unsigned ntags;
    uint64_t tags[TAGS_MAX_SNAPSHOT];
    struct tags_snapshot snap;
    bool hot;         /* the snapshot found a tag just bumped */
    uint64_t snap_ms; /* when the snapshot was taken */
    bool consistent;  /* the fill reads with ConsistentRead */
    bool fill_items;  /* the page's items may fill the item cache */
    bool indexes_rcc; /* ReturnConsumedCapacity INDEXES */
    bool rcc;         /* ReturnConsumedCapacity other than NONE */
    bool held;        /* the table is held: pages are served but none installed */
    int index;        /* Query: the index read, in the table's description */
};

static uint64_t process_id;
static pthread_once_t process_once = PTHREAD_ONCE_INIT;

static void process_id_init(void)
{
    if (getrandom(&process_id, sizeof(process_id), 0) != sizeof(process_id))
        process_id = clock_mono_ns() ^ (uint64_t)clock_wall_ms() << 20;
}

static void count_hit(const struct qry *q)
{
    if (q->op == QUERY_OP_QUERY)
        METRIC_INCR(query_cache_hits);
    else
        METRIC_INCR(scan_cache_hits);
}

static void count_miss(const struct qry *q)
{
    if (q->op == QUERY_OP_QUERY)
        METRIC_INCR(query_cache_misses);
    else
        METRIC_INCR(scan_cache_misses);
}

/* ---- stored values ---- */

struct page {
    const char *body;
    size_t len;
    uint32_t crc;
    struct tags_snapshot snap;
    const char *range; /* range_page_compose() bytes, or NULL */
    uint32_t range_len;
};

/* range: the page's range_page_compose() bytes (empty: not range-precise). */
static void value_compose(struct buf *out, const struct qry *q, const struct buf *range,
                          const char *body, size_t len)
{
    pthread_once(&process_once, process_id_init);
    uint32_t crc = crc32_of(body, len), n = q->snap.n, rlen = (uint32_t)range->len;
    buf_append(out, VALUE_MAGIC, 4);
    buf_append(out, &crc, sizeof(crc));
    buf_append(out, &process_id, sizeof(process_id));
    buf_append(out, &q->snap.seq, sizeof(q->snap.seq));
    buf_append(out, &n, sizeof(n));
    buf_append(out, q->snap.hash, n * sizeof(q->snap.hash[0]));
    buf_append(out, &rlen, sizeof(rlen));
    buf_append(out, range->data, range->len);
    buf_append(out, body, len);
}

/* Reads a stored value; false when it is not one this process wrote. */
static bool value_parse(const char *v, size_t len, struct page *p)
{
    size_t head = 4 + sizeof(uint32_t) + sizeof(uint64_t) * 2 + sizeof(uint32_t);
    uint64_t pid;
    pthread_once(&process_once, process_id_init);
    if (len < head || memcmp(v, VALUE_MAGIC, 4) != 0) return false;
    memcpy(&p->crc, v + 4, sizeof(p->crc));
    memcpy(&pid, v + 8, sizeof(pid));
    memcpy(&p->snap.seq, v + VALUE_SEQ_AT, sizeof(p->snap.seq));
    memcpy(&p->snap.n, v + 24, sizeof(p->snap.n));
    if (pid != process_id || p->snap.n > TAGS_MAX_SNAPSHOT ||
        len < head + p->snap.n * sizeof(uint64_t))
        return false;
    memcpy(p->snap.hash, v + head, p->snap.n * sizeof(uint64_t));
    head += p->snap.n * sizeof(uint64_t);
    if (len - head < sizeof(p->range_len)) return false;
    memcpy(&p->range_len, v + head, sizeof(p->range_len));
    head += sizeof(p->range_len);
    if (len - head < p->range_len) return false;
    p->range = p->range_len ? v + head : NULL;
    head += p->range_len;
    p->body = v + head;
    p->len = len - head;
    return true;
}

/* ---- answers ---- */

/* A cached page, byte for byte: its ConsumedCapacity (when asked for) is
 * what the caller's own read consumes, as DynamoDB would report it. */
static void send_page(struct qry *q, const struct page *p)
{
    struct request *r = q->r;
    struct buf copy = BUF_INIT; /* p may point into r->reply */
    buf_append(&copy, p->body, p->len);
    buf_move(&r->reply, &copy);
    r->crc = p->crc;
    r->crc_set = true;
    request_send(r, 200);
}

/* Writes v with every CapacityUnits and ReadCapacityUnits halved: what an
 * eventually consistent read consumes is half a consistent one's. */
static void halve_capacity(struct json_writer *w, const struct json *v)
{
    if (!json_is_object(v)) {
        jw_value(w, v);
        return;
    }
    jw_object_begin(w);
    for (const struct json *m = v->child; m; m = m->next) {
        jw_string(w, m->key, m->keylen);
        if (m->type == JSON_NUMBER &&
            (json_key_is(m, "CapacityUnits") || json_key_is(m, "ReadCapacityUnits")))
            jw_double(w, strtod(m->str, NULL) / 2);
        else
            halve_capacity(w, m);
    }
    jw_object_end(w);
}

/* The backend's answer to a fill ddbx made consistent, as the caller's own
 * (eventually consistent) read would have been answered. */
static void as_eventually_consistent(struct qry *q, struct buf *body)
{
    struct json *doc;
    if (!q->consistent || !q->rcc ||
        json_parse(q->r->arena, body->data, body->len, &doc, NULL, 0) != JSON_OK)
        return;
    struct buf out = BUF_INIT;
    struct json_writer w;
    jw_init(&w, &out);
    jw_object_begin(&w);
    for (const struct json *m = doc->child; m; m = m->next) {
        jw_string(&w, m->key, m->keylen);
        if (json_key_is(m, "ConsumedCapacity"))
            halve_capacity(&w, m);
        else
            jw_value(&w, m);
    }
    jw_object_end(&w);
    jw_free(&w);
    buf_move(body, &out);
}

static void send_failure(struct request *r, int status, const char *body, size_t len)
{
    buf_reset(&r->reply);
    buf_append(&r->reply, body, len);
    r->crc_set = false;
    request_send(r, status);
}

/* ---- filling the item cache from a page ---- */

/* Installs the page's items under leases taken now, if the page's tags have
 * not moved since its read was sent: a write of any of them either bumped a
 * tag before this check (nothing is installed) or ends its own lease after
 * it, superseding ours. */
static void fill_items(struct qry *q, const struct json *doc)
{
    struct request *r = q->r;
    const struct json *items = json_get(doc, "Items");
    if (!json_is_array(items) || items->len == 0) return;
    struct cache_fill **leases = arena_alloc(r->arena, items->len * sizeof(*leases));
    const struct json **which = arena_alloc(r->arena, items->len * sizeof(*which));
    int n = 0;
    uint64_t now = item_now();
    for (const struct json *it = items->child; it; it = it->next) {
        struct cache_key ik;
        struct attr_error err;
        struct buf scratch = BUF_INIT;
        uint32_t crc;
        struct cache_fill *f = NULL;
        if (!json_is_object(it) || item_cache_key(r, q->ks, it, false, &ik, &err) != KEY_OK)
            continue;
        if (cache_get(&ik, now, &scratch, &crc, &f, NULL) == CACHE_MISS) {
            leases[n] = f;
            which[n++] = it;
        }
        buf_free(&scratch);
    }
    bool valid = tags_valid(&q->snap);
    for (int i = 0; i < n; i++) {
        struct buf value = BUF_INIT;
        struct cache_result cr = {CACHE_FAILED, NULL, 0, 0, 0};
        if (valid) {
            item_value_compose(&value, which[i]);
            cr = (struct cache_result){
                CACHE_HIT, value.data,
                value.len, crc32_of(value.data, value.len),
                200,       cluster_fill_ttl(q->ks->table, q->ks->table_len, 0)};
            METRIC_INCR(query_items_filled);
        }
        cache_fill_done(leases[i], &cr, now);
        buf_free(&value);
    }
}

/* ---- range-precise pages ---- */

static bool note_keeps(const struct tags_note *n, void *ctx)
{
    return range_keeps(ctx, n->data, n->len);
}

/* Whether snap, whose tags moved, is still good for a page with range bytes
 * range[0..len) because every bump since carried a note leaving the page
 * as it is; *seq is then the generation to re-stamp it with. */
static bool kept_by_notes(struct qry *q, const struct tags_snapshot *snap, const char *range,
                          size_t len, uint64_t *seq)
{
    struct range_page rp;
    return len && range_page_parse(q->r->arena, range, len, &rp) == len &&
           tags_valid_noted(snap, note_keeps, &rp, seq);
}

/* Whether every bump that made the fill's snapshot hot carried a note that
 * leaves the page (range bytes) as it is. */
static bool hot_writes_keep(struct qry *q, const struct buf *range)
{
    struct range_page rp;
    return range->len &&
           range_page_parse(q->r->arena, range->data, range->len, &rp) == range->len &&
           tags_hot_noted(q->tags, q->ntags, q->snap_ms, note_keeps, &rp);
}

/* The range bytes of a fill's answer (doc), left empty when the page is not
 * range-precise or the table changed since the request was planned. */
static void range_of_answer(struct qry *q, const struct json *doc, struct buf *out)
{
    struct schema_state st = {0};
    const struct query_table *t = schema_indexes_get(q->ks->table, q->ks->table_len, &st);
    struct range_page rp;
    if (t && st.epoch == q->k.epoch && q->index < t->nindexes &&
        range_page_read(q->r->arena, t, q->index, q->doc, doc, &rp) == RANGE_OK)
        range_page_compose(out, &rp);
    schema_indexes_put(t);
}

/* ---- the fill ---- */

static void look_up(struct qry *q);

static void on_fill(struct backend_result *res, void *arg)
{
    struct qry *q = arg;
    struct request *r = q->r;
    CHECK_MAGIC(r, REQUEST_MAGIC);
    struct buf body = BUF_INIT;
    int status = request_backend_answer(res, &body);
    if (res->outcome == BACKEND_ANSWERED)
        snprintf(r->request_id, sizeof(r->request_id), "%s", res->request_id);
    if (status != 200) {
        if (item_error_forgets_table(r, status, &body))
            schema_forget(q->ks->table, q->ks->table_len);
        struct cache_result fr = {CACHE_FAILED, body.data, body.len, 0, status};
        if (q->fill) cache_fill_done(q->fill, &fr, item_now());
        send_failure(r, status, body.data, body.len);
        buf_free(&body);
        return;
    }
    as_eventually_consistent(q, &body);
    if (q->fill) {
        struct json *doc = NULL;
        struct buf range = BUF_INIT;
        /* Scan pages are never range-precise nor fill items: not parsed */
        if (q->op == QUERY_OP_QUERY &&
            json_parse(r->arena, body.data, body.len, &doc, NULL, 0) == JSON_OK)
            range_of_answer(q, doc, &range);
        /* a tag that moved since the snapshot: the page may predate a write,
         * unless every such write is noted as leaving this page as it is
         * (whether the read saw it or not, the page is the same) */
        bool strict = tags_valid(&q->snap), valid = strict;
        uint64_t seq;
        if (!valid && kept_by_notes(q, &q->snap, range.data, range.len, &seq)) {
            valid = true;
            q->snap.seq = seq;
            METRIC_INCR(query_cache_fills_kept);
        }
        struct buf value = BUF_INIT;
        struct cache_result fr = {CACHE_FAILED, NULL, 0, 0, 0}; /* waiters look again */
        if (valid) {
            const struct config *o = handler_options();
            value_compose(&value, q, &range, body.data, body.len);
            /* a GSI may not show a write bumped just before the read yet;
             * if every such write leaves this page as it is, it does not
             * matter whether it shows */
            bool lagging = q->hot && !q->consistent && !hot_writes_keep(q, &range);
            uint64_t ttl = lagging ? o->query_lag_window : o->query_ttl;
            fr = (struct cache_result){
                CACHE_HIT, value.data,
                value.len, crc32_of(value.data, value.len),
                200,       ttl ? cluster_fill_ttl(q->ks->table, q->ks->table_len, ttl) : 0};
            if (fr.ttl_ms == 0) fr.kind = CACHE_FAILED, fr.status = 0; /* cache nothing */
            if (fr.kind == CACHE_HIT) METRIC_INCR(query_cache_fills);
            if (fr.kind == CACHE_HIT && lagging) METRIC_INCR(query_cache_lagging_fills);
        } else {
            METRIC_INCR(query_cache_fills_refused);
        }
        cache_fill_done(q->fill, &fr, item_now());
        buf_free(&value);
        buf_free(&range);
        if (strict && q->fill_items && doc) fill_items(q, doc);
    }
    buf_move(&r->reply, &body);
    r->crc_set = false;
    request_send(r, 200);
}

/* The backend's read: the request as sent, with ConsistentRead when the
 * index allows it (so a page never predates a write it follows). */
static void start_fill(struct qry *q)
{
    struct request *r = q->r;
    uint64_t now = item_now();
    q->hot = tags_snapshot(&q->snap, q->tags, q->ntags, now) == TAGS_HOT;
    q->snap_ms = now;
    if (!q->consistent) {
        handler_forward(r, r->body, r->body_len, on_fill, q);
        return;
    }
    struct buf body = BUF_INIT;
    struct json_writer w;
    jw_init(&w, &body);
    jw_object_begin(&w);
    for (const struct json *m = q->doc->child; m; m = m->next)
        if (!json_key_is(m, "ConsistentRead")) jw_member(&w, m);
    jw_cstr(&w, "ConsistentRead");
    jw_bool(&w, true);
    jw_object_end(&w);
    jw_free(&w);
    handler_call(r, r->op->target, &body, on_fill, q);
}

/* A page found in the cache or handed over by another's fill: served while
 * none of its tags moved, or moved only by writes noted as leaving it as it
 * is (then its stored snapshot is re-stamped, if it is still the value
 * read); otherwise false (the caller looks again). */
static bool serve_stored(struct qry *q, const char *value, size_t len)
{
    struct page p;
    uint64_t seq;
    if (!value_parse(value, len, &p)) return false;
    if (!tags_valid(&p.snap)) {
        if (!kept_by_notes(q, &p.snap, p.range, p.range_len, &seq)) return false;
        METRIC_INCR(query_cache_kept);
        cache_patch(&q->k, value, len, VALUE_SEQ_AT, &seq, sizeof(seq));
    }
    send_page(q, &p);
    return true;
}

static void resume(struct item_wakeup *wk)
{
    struct qry *q = wk->ctx;
    CHECK_MAGIC(q->r, REQUEST_MAGIC);
    const struct cache_result *res = &wk->res;
    if (res->kind == CACHE_FAILED && res->status != 0)
        send_failure(q->r, res->status, res->data, res->len);
    else if (res->kind != CACHE_HIT || !serve_stored(q, res->data, res->len))
        look_up(q);
    free(wk);
}

static void on_wake(struct cache_waiter *w, const struct cache_result *res)
{
    struct qry *q = container_of(w, struct qry, waiter);
    item_post_wakeup(q->r->thread, res, q, resume);
}

static void look_up(struct qry *q)
{
    struct request *r = q->r;
    uint32_t crc = 0;
    if (q->lookups++ >= MAX_LOOKUPS) { /* keeps losing races: read without the cache */
        q->fill = NULL;
        start_fill(q);
        return;
    }
    buf_reset(&r->reply);
    q->waiter.wake = on_wake;
    switch (cache_get(&q->k, item_now(), &r->reply, &crc, &q->fill, &q->waiter)) {
    case CACHE_HIT:
        if (serve_stored(q, r->reply.data, r->reply.len)) {
            count_hit(q);
            return;
        }
        METRIC_INCR(query_cache_stale);
        cache_invalidate(&q->k);
        look_up(q);
        return;
    case CACHE_MISS:
        count_miss(q);
        if (q->held) { /* a change may still land: read, install nothing */
            cache_fill_done(q->fill, &(struct cache_result){CACHE_FAILED, NULL, 0, 0, 0},
                            item_now());
            q->fill = NULL;
            METRIC_INCR(query_cache_held);
        }
        start_fill(q);
        return;
    case CACHE_WAIT: count_miss(q); return; /* on_wake resumes us */
    default:                                /* BYPASS, NEGATIVE: never stored for pages */
        q->fill = NULL;
        count_miss(q);
        start_fill(q);
        return;
    }
}

/* ---- deciding ---- */

static void relay_uncached(struct request *r)
{
    METRIC_INCR(query_cache_uncacheable);
    handler_relay(r);
}

/* The tags the page depends on and how it is read; false when not cacheable. */
static bool plan(struct qry *q, const struct query_table *t)
{
    struct request *r = q->r;
    struct invalidation_tags tags;
    int index = 0;
    if (q->op == QUERY_OP_QUERY) {
        struct query_partition p;
        if (query_read_partition(r->arena, t, q->doc, &p) != QUERY_OK) return false;
        invalidation_query_tags(r->arena, t, &p, &tags);
        index = q->index = p.index;
    } else {
        const struct json *name = json_get(q->doc, "IndexName");
        if (name && (!json_is_string(name) || name->len == 0)) return false;
        index = name ? query_table_index(t, name->str, name->len) : 0;
        if (index < 0) return false;
        invalidation_scan_tags(r->arena, t, &tags);
    }
    if (tags.n > TAGS_MAX_SNAPSHOT) return false;
    q->ntags = (unsigned)tags.n;
    for (int i = 0; i < tags.n; i++)
        q->tags[i] = tags_hash(tags.tag[i].data, tags.tag[i].len);
    const struct query_index *ix = &t->index[index];
    q->consistent = ix->kind != QUERY_INDEX_GSI && handler_options()->fill_consistent;
    const struct json *select = json_get(q->doc, "Select");
    q->fill_items =
        q->op == QUERY_OP_QUERY && q->consistent && ix->projection == QUERY_PROJECT_ALL &&
        (!select || json_str_is(select, "ALL_ATTRIBUTES")) &&
        !json_get(q->doc, "ProjectionExpression") && !json_get(q->doc, "AttributesToGet") &&
        !json_get(q->doc, "FilterExpression") && !json_get(q->doc, "QueryFilter");
    const struct json *rcc = json_get(q->doc, "ReturnConsumedCapacity");
    q->rcc = rcc && !json_str_is(rcc, "NONE");
    return true;
}

static void on_schema(struct request *r, const struct key_schema *ks, void *arg)
{
    struct qry *q = arg;
    struct schema_state st = {0};
    const struct query_table *t = ks ? schema_indexes_get(ks->table, ks->table_len, &st) : NULL;
    struct buf key = BUF_INIT;
    buf_append_char(&key, CACHE_RESULT_PREFIX);
    bool cacheable = t && query_cache_key(q->op, st.epoch, q->doc, &key) == QUERY_OK && plan(q, t);
    schema_indexes_put(t);
    if (!cacheable) {
        buf_free(&key);
        relay_uncached(r);
        return;
    }
    q->ks = ks;
    char *copy = arena_alloc(r->arena, key.len);
    memcpy(copy, key.data, key.len);
    cache_key_init(&q->k, copy, key.len);
    q->k.epoch = st.epoch;
    buf_free(&key);
    /* a change may still land: pages cached before it are checked as ever
     * (its tags were bumped), but nothing read now is installed */
    q->held = ks->held || st.held || st.query_held;
    if (q->held) q->fill_items = false;
    look_up(q);
}

static void query_or_scan(struct request *r, enum query_op op)
{
    struct qry *q = arena_alloc(r->arena, sizeof(*q));
    memset(q, 0, sizeof(*q));
    q->r = r;
    q->op = op;
    struct attr_error err;
    if (!item_params_ok(r, ddb_parse_object(r->arena, r->body, r->body_len, &q->doc, &err), &err))
        return;
    const struct json *table = json_get(q->doc, "TableName");
    const struct json *consistent = json_get(q->doc, "ConsistentRead");
    if (!json_is_string(table) || (consistent && consistent->type == JSON_TRUE)) {
        relay_uncached(r); /* strong reads always go to the backend */
        return;
    }
    schema_get(r, table, on_schema, q);
}

void handler_query(struct request *r)
{
    query_or_scan(r, QUERY_OP_QUERY);
}

void handler_scan(struct request *r)
{
    query_or_scan(r, QUERY_OP_SCAN);
}
