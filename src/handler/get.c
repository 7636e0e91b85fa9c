/*
 * get.c: GetItem from the item cache.
 *
 *   params -> schema -> cache key -> cache_get -+- HIT/NEGATIVE: answer (project if asked)
 *                                               +- WAIT: another request's fill wakes us
 *                                               +- MISS: (cluster: the key's owner, if another
 *                                               |    node, answers first: cluster.h) backend
 *                                               |    GetItem of the whole item
 *                                               |    -> cache_fill_done (installs unless a
 *                                               |       write came first) -> answer
 *                                               '- BYPASS (held): backend, nothing cached
 *
 * ConsistentRead=true takes a lease that supersedes running fills and reads
 * the backend every time; what it saw is installed unless a write came after.
 * Anything ddbx cannot answer exactly as DynamoDB would (proto/params.h says
 * RELAY; a key that does not match the schema) is relayed unchanged, so the
 * backend's answer or error reaches the client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler/cluster.h"
#include "handler/item.h"
#include "handler/schema.h"
#include "proto/params.h"
#include "util/common.h"
#include "util/crc.h"

struct get {
    struct request *r;
    struct ddb_get_item q;
    const struct key_schema *ks;
    struct cache_key k;
    struct cache_fill *fill; /* NULL when reading without a lease (held) */
    struct cache_waiter waiter;
    int waits; /* times this request waited on another's fill */
};

/* Answers from a cached or fetched value ({"Item":...}, or NULL for "not
 * found"). consumed: the backend's ConsumedCapacity when it was asked. */
static void answer(struct get *g, const char *value, size_t len, uint32_t crc,
                   const struct json *consumed)
{
    struct request *r = g->r;
    if (!g->q.proj && g->q.rcc == DDB_RCC_NONE) {
        if (value) {
            if (r->reply.data != value) {
                buf_reset(&r->reply);
                buf_append(&r->reply, value, len);
            }
            r->crc = crc;
            r->crc_set = true;
        } else {
            buf_reset(&r->reply);
            buf_append_str(&r->reply, "{}");
        }
        request_send(r, 200);
        return;
    }
    const struct json *item = item_value_item(r, value, len);
    buf_reset(&r->reply);
    struct json_writer w;
    jw_init(&w, &r->reply);
    jw_object_begin(&w);
    if (item) {
        jw_cstr(&w, "Item");
        if (g->q.proj)
            projection_apply(g->q.proj, item, &w);
        else
            jw_value(&w, item);
    }
    if (g->q.rcc != DDB_RCC_NONE) {
        jw_cstr(&w, "ConsumedCapacity");
        /* what the caller's own read consumed: the backend's figure when it
         * made that read (ConsistentRead), else what DynamoDB would charge
         * for it, whether the cache answered or a consistent fill did */
        if (consumed && g->q.consistent)
            jw_value(&w, consumed);
        else
            item_capacity(&w, g->ks->table, g->ks->table_len,
                          ddb_read_units(item_value_size(r, value, len), false),
                          g->q.rcc == DDB_RCC_INDEXES);
    }
    jw_object_end(&w);
    jw_free(&w);
    r->crc_set = false;
    request_send(r, 200);
}

static void send_failure(struct request *r, int status, const char *body, size_t len)
{
    buf_reset(&r->reply);
    buf_append(&r->reply, body, len);
    r->crc_set = false;
    request_send(r, status);
}

static void on_fill(struct backend_result *res, void *arg)
{
    struct get *g = arg;
    struct request *r = g->r;
    CHECK_MAGIC(r, REQUEST_MAGIC);
    struct buf body = BUF_INIT;
    struct json *doc;
    int status = item_backend_doc(r, res, &body, &doc);
    if (status != 200) {
        if (item_error_forgets_table(r, status, &body))
            schema_forget(g->ks->table, g->ks->table_len);
        /* waiters inherit the error: it is about this very key and read */
        struct cache_result fr = {CACHE_FAILED, body.data, body.len, 0, status};
        if (g->fill) cache_fill_done(g->fill, &fr, item_now());
        send_failure(r, fr.status, body.data, body.len);
        buf_free(&body);
        return;
    }
    snprintf(r->request_id, sizeof(r->request_id), "%s", res->request_id);
    const struct json *item = json_get(doc, "Item");
    struct buf value = BUF_INIT;
    struct cache_result fr = {CACHE_NEGATIVE, NULL, 0, 0, 200};
    if (json_is_object(item)) {
        item_value_from_answer(&value, doc, item, &body);
        fr = (struct cache_result){CACHE_HIT, value.data, value.len,
                                   crc32_of(value.data, value.len), 200};
    }
    fr.ttl_ms = cluster_fill_ttl(g->ks->table, g->ks->table_len, 0); /* degraded: capped */
    if (g->fill) cache_fill_done(g->fill, &fr, item_now());
    answer(g, fr.data, fr.len, fr.crc, json_get(doc, "ConsumedCapacity"));
    buf_free(&value);
    buf_free(&body);
}

/* Reads the whole item (projections are applied here, so the fill serves
 * every projection of the key). Without a lease (g->fill NULL: the key or
 * its table is held) the answer is only relayed, never cached. */
static void start_fill(struct get *g)
{
    struct buf body = BUF_INIT;
    struct json_writer w;
    jw_init(&w, &body);
    jw_object_begin(&w);
    jw_cstr(&w, "TableName");
    jw_value(&w, g->q.table);
    jw_cstr(&w, "Key");
    jw_value(&w, g->q.key);
    jw_cstr(&w, "ConsistentRead");
    jw_bool(&w, g->q.consistent || handler_options()->fill_consistent);
    if (g->q.rcc != DDB_RCC_NONE) {
        jw_cstr(&w, "ReturnConsumedCapacity");
        jw_cstr(&w, g->q.rcc == DDB_RCC_INDEXES ? "INDEXES" : "TOTAL");
    }
    jw_object_end(&w);
    jw_free(&w);
    handler_call(g->r, "DynamoDB_20120810.GetItem", &body, on_fill, g);
}

static void look_up(struct get *g);

/* The key's owner answered a forwarded miss (v), or did not (NULL: our
 * lease is still ours, read the backend). */
static void on_forwarded(struct request *r, void *arg, const struct cluster_value *v)
{
    struct get *g = arg;
    if (!v) {
        start_fill(g);
        return;
    }
    g->fill = NULL; /* ended by cluster_get.c */
    answer(g, v->body, v->len, v->crc, NULL);
}

static void resume(struct item_wakeup *wk)
{
    struct get *g = wk->ctx;
    const struct cache_result *res = &wk->res;
    if (res->kind == CACHE_FAILED && res->status == 0) /* the fill read nothing: look again */
        look_up(g);
    else if (res->kind == CACHE_FAILED)
        send_failure(g->r, res->status, res->data, res->len);
    else
        answer(g, res->kind == CACHE_HIT ? res->data : NULL, res->len, res->crc, NULL);
    free(wk);
}

static void on_wake(struct cache_waiter *w, const struct cache_result *res)
{
    struct get *g = container_of(w, struct get, waiter);
    item_post_wakeup(g->r->thread, res, g, resume);
}

static void look_up(struct get *g)
{
    struct request *r = g->r;
    uint32_t crc = 0;
    buf_reset(&r->reply);
    g->waiter.wake = on_wake;
    /* after a second fruitless wait, read the backend ourselves */
    struct cache_waiter *w = g->waits++ < 2 ? &g->waiter : NULL;
    switch (cache_get(&g->k, item_now(), &r->reply, &crc, &g->fill, w)) {
    case CACHE_HIT: answer(g, r->reply.data, r->reply.len, crc, NULL); return;
    case CACHE_NEGATIVE: answer(g, NULL, 0, 0, NULL); return;
    case CACHE_MISS:
        /* another node owns the key: ask it (cluster.h) before the backend */
        if (cluster_forward_get(r, &g->k, g->fill, g->q.table, g->q.key, on_forwarded, g)) return;
        start_fill(g);
        return;
    case CACHE_BYPASS: start_fill(g); return;
    default: return; /* CACHE_WAIT: on_wake resumes us */
    }
}

static void on_schema(struct request *r, const struct key_schema *ks, void *arg)
{
    struct get *g = arg;
    if (!ks) {
        handler_relay(r);
        return;
    }
    g->ks = ks;
    if (!item_projection_allowed(r, ks, g->q.proj)) return;
    if (!item_key_or_answer(r, ks, g->q.key, true, &g->k)) return;
    if (ks->held) {
        start_fill(g);
        return;
    }
    if (g->q.consistent) {
        g->fill = cache_lease(&g->k);
        start_fill(g);
        return;
    }
    look_up(g);
}

void handler_get_item(struct request *r)
{
    struct get *g = arena_alloc(r->arena, sizeof(*g));
    memset(g, 0, sizeof(*g));
    g->r = r;
    struct attr_error err;
    if (item_params_ok(r, ddb_parse_get_item(r->arena, r->body, r->body_len, &g->q, &err), &err))
        schema_get(r, g->q.table, on_schema, g);
}
