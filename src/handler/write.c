/*
 * write.c: the write-through operations: PutItem, UpdateItem, DeleteItem,
 * BatchWriteItem, TransactWriteItems.
 *
 * Writes go to the backend first; the cache changes only after it answers:
 *
 *   success                      PutItem caches the item written (when its numbers
 *                                are already in DynamoDB's stored form, else the key
 *                                is invalidated so the next read fetches the stored
 *                                form); UpdateItem caches the ALL_NEW image it asked
 *                                for; DeleteItem leaves a negative entry;
 *                                BatchWriteItem does so for the processed requests
 *                                only; TransactWriteItems invalidates every key
 *   refused (4xx)                nothing changes
 *   ConditionalCheckFailed,      every key named is invalidated: the cached copy may be
 *   transaction cancelled        stale
 *   5xx, timeout, reset,         every key named is invalidated and held: nothing is
 *   transaction in progress      cached for it until the write can no longer land
 *
 * Every cache change also supersedes fills of the key that were running, so
 * a read that started before the write never installs the older value. Each
 * key takes a write lease when the write is sent: when two writes of one key
 * are in flight at once the backend may apply them in either order, so
 * neither stores its value; the key is invalidated and the next read fetches
 * what the backend holds.
 *
 * A key ddbx cannot build (its table cannot be described, another account's
 * ARN, a value whose cache key is not certain such as non-canonical base64)
 * does not stop the write: it goes to the backend all the same, and once it
 * is answered (success or unknown outcome) every entry of that table is
 * dropped (schema_invalidate), held too when the outcome is unknown.
 *
 * Query and Scan pages: once a write may have been applied (success or
 * unknown outcome) it bumps the tags of what it may have changed
 * (proto/invalidation.h, docs/QUERY_CACHE.md), before its item leases end
 * (a Query page filling the item cache relies on that order). To name the
 * GSI partitions of the old image, PutItem and DeleteItem ask the backend
 * for ALL_OLD when the table has a GSI and the caller asked for nothing
 * back (the caller still gets nothing back). An unknown outcome also holds
 * the table's pages uncached for the hold-off. Writes answered through ddbx
 * are told to the stream reader (stream/stream.h), so their own records do
 * not bump the same tags again.
 *
 * In a cluster (handler/cluster.h) every key, tag and table the write
 * changed here goes to every peer as well (held there too when the outcome
 * is unknown), and the client is answered once the live peers applied it.
 */
#include <stdio.h>
#include <string.h>

#include "cache/tags.h"
#include "handler/cluster.h"
#include "handler/item.h"
#include "handler/schema.h"
#include "metrics/metrics.h"
#include "proto/invalidation.h"
#include "proto/params.h"
#include "proto/range.h"
#include "stream/stream.h"
#include "util/common.h"

enum wkind {
    W_PUT,    /* success caches obj (an item) */
    W_DELETE, /* success leaves a negative entry */
    W_TOUCH,  /* success invalidates */
};

enum wop { OP_PUT, OP_UPDATE, OP_DELETE, OP_BATCH, OP_TRANSACT };

struct wkey {
    const struct json *obj; /* the Item (W_PUT) or the Key */
    int table;              /* index in write.tables */
    enum wkind kind;
    bool canonical; /* W_PUT: the item reads back byte for byte as written */
    bool from_item; /* the key comes from an item */
    bool keyed;     /* k was built; the key has a lease */
    struct cache_key k;
    struct cache_fill *lease; /* taken when the write is sent */
};

struct wtable {
    const struct json *name;     /* as the caller wrote it: a name or an ARN */
    const struct key_schema *ks; /* NULL: its keys cannot be built */
    bool unkeyed;                /* some key of it was not built */
};

struct write {
    struct request *r;
    struct ddb_write q;
    enum wop op;
    struct wkey *keys;
    int nkeys;
    struct wtable *tables; /* distinct */
    int ntables;
    struct buf send; /* a rewritten body, when not sent as received */
    bool rewritten;
    bool caller_none; /* UpdateItem: the caller asked for ReturnValues NONE */
    bool derive;      /* UpdateItem: the backend was asked for ALL_NEW */
    bool old_image;   /* PutItem, DeleteItem: the answer holds ALL_OLD */
    bool strip;       /* the backend was asked for Attributes the caller did not want */
    uint64_t sent_ms;
    struct cluster_fanout *fo; /* what the peers are told before the answer (NULL: alone) */
    uint64_t hold_ms;          /* the outcome is unknown: the peers hold what they are told */
};

/* ---- building ---- */

static int add_table(struct write *w, const struct json *name)
{
    for (int i = 0; i < w->ntables; i++)
        if (w->tables[i].name->len == name->len &&
            memcmp(w->tables[i].name->str, name->str, name->len) == 0)
            return i;
    w->tables[w->ntables] = (struct wtable){name, NULL, false};
    return w->ntables++;
}

/* What a successful write does to each key it names, by operation. */
static enum wkind kind_of(enum wop op, enum ddb_write_kind k)
{
    if (op == OP_TRANSACT) return W_TOUCH; /* a transaction's items are never stored */
    if (k == DDB_WRITE_PUT) return W_PUT;
    if (k == DDB_WRITE_DELETE) return W_DELETE;
    return W_TOUCH;
}

/* Parses the request with `parse`; answers or relays when it is not a write
 * ddbx serves. Returns the write, or NULL after answering. */
static struct write *write_parse(struct request *r, enum wop op,
                                 int (*parse)(struct arena *, const char *, size_t,
                                              struct ddb_write *, struct attr_error *))
{
    struct write *w = arena_alloc(r->arena, sizeof(*w));
    memset(w, 0, sizeof(*w));
    w->r = r;
    w->op = op;
    struct attr_error err;
    if (!item_params_ok(r, parse(r->arena, r->body, r->body_len, &w->q, &err), &err)) return NULL;
    w->keys = arena_alloc(r->arena, sizeof(*w->keys) * (size_t)w->q.nreqs);
    w->tables = arena_alloc(r->arena, sizeof(*w->tables) * (size_t)w->q.nreqs);
    for (int i = 0; i < w->q.nreqs; i++) {
        const struct ddb_write_req *q = &w->q.reqs[i];
        w->keys[w->nkeys++] = (struct wkey){.obj = q->obj,
                                            .table = add_table(w, q->table),
                                            .kind = kind_of(op, q->kind),
                                            .canonical = q->canonical,
                                            .from_item = q->kind == DDB_WRITE_PUT};
    }
    return w;
}

/* ---- after the backend answers ---- */

/* Ends a key's write lease with what the outcome means for it; the peers
 * drop the key too unless nothing changed. */
static void end_lease(struct write *w, struct wkey *k, enum cache_write_outcome outcome,
                      const struct json *item, uint64_t now)
{
    if (!k->lease) return;
    if (outcome != CACHE_WRITE_UNCHANGED) cluster_fan_key(w->fo, &k->k, w->hold_ms);
    struct buf value = BUF_INIT;
    if (outcome == CACHE_WRITE_STORE && item) item_value_compose(&value, item);
    cache_write_end(k->lease, outcome, item ? value.data : NULL, value.len, now);
    k->lease = NULL;
    buf_free(&value);
}

/* A successful write's effect on one of its keys. */
static void apply_success(struct write *w, struct wkey *k, uint64_t now)
{
    if (!k->lease) return;
    /* a table held by an earlier change of unknown outcome caches nothing;
     * neither does one a degraded cluster node cannot keep fresh (cluster.h) */
    const struct key_schema *ks = w->tables[k->table].ks;
    bool store = !ks->held && cluster_may_store(ks->table, ks->table_len);
    switch (k->kind) {
    case W_PUT: /* an item whose numbers DynamoDB would store otherwise is read back */
        end_lease(w, k, store && k->canonical ? CACHE_WRITE_STORE : CACHE_WRITE_INVALIDATE, k->obj,
                  now);
        break;
    case W_DELETE:
        end_lease(w, k, store ? CACHE_WRITE_STORE : CACHE_WRITE_INVALIDATE, NULL, now);
        break;
    case W_TOUCH: end_lease(w, k, CACHE_WRITE_INVALIDATE, NULL, now); break;
    }
}

enum processed { PROCESSED, UNPROCESSED, UNKNOWN };

/* Whether the BatchWriteItem answer left k's request unprocessed. */
static enum processed processed(struct write *w, const struct json *doc, const struct wkey *k)
{
    const struct json *u = json_get(doc, "UnprocessedItems"), *reqs = NULL;
    const struct json *name = w->tables[k->table].name;
    for (const struct json *t = u ? u->child : NULL; t && !reqs; t = t->next)
        if (t->keylen == name->len && memcmp(t->key, name->str, name->len) == 0) reqs = t;
    enum processed p = PROCESSED;
    for (const struct json *q = json_is_array(reqs) ? reqs->child : NULL; q; q = q->next) {
        const struct json *put = json_get(json_get(q, "PutRequest"), "Item");
        const struct json *del = json_get(json_get(q, "DeleteRequest"), "Key");
        struct cache_key ck;
        struct attr_error err;
        if (item_cache_key(w->r, w->tables[k->table].ks, put ? put : del, put == NULL, &ck, &err) !=
            KEY_OK)
            p = UNKNOWN; /* cannot tell which key it is */
        else if (item_same_key(&ck, &k->k))
            return UNPROCESSED;
    }
    return p;
}

/* Answers the caller without the Attributes it did not ask for. */
static void strip_attributes(struct write *w, const struct json *doc)
{
    struct request *r = w->r;
    buf_reset(&r->reply);
    struct json_writer jw;
    jw_init(&jw, &r->reply);
    jw_object_begin(&jw);
    for (const struct json *m = doc->child; m; m = m->next)
        if (!json_key_is(m, "Attributes")) jw_member(&jw, m);
    jw_object_end(&jw);
    jw_free(&jw);
}

/* UpdateItem asked for ALL_NEW: cache the new image. */
static void update_answer(struct write *w, struct json *doc, uint64_t now)
{
    const struct json *attrs = json_get(doc, "Attributes");
    const struct key_schema *ks = w->tables[0].ks;
    bool store = json_is_object(attrs) && !ks->held && cluster_may_store(ks->table, ks->table_len);
    end_lease(w, &w->keys[0], store ? CACHE_WRITE_STORE : CACHE_WRITE_INVALIDATE, attrs, now);
}

/* ---- query tags ---- */

/* What the answer tells of key k's images, for the rule of
 * docs/QUERY_CACHE.md; known: the write was applied as answered. */
static void write_images(struct write *w, const struct wkey *k, const struct json *doc, bool known,
                         struct invalidation_write *iw)
{
    const struct json *attrs = known ? json_get(doc, "Attributes") : NULL;
    memset(iw, 0, sizeof(*iw));
    iw->key = k->obj;
    iw->old_state = iw->new_state = INVALIDATION_UNKNOWN;
    if (k->from_item) { /* a put: the new image is the item written */
        iw->new_state = INVALIDATION_KNOWN;
        iw->new_image = k->obj;
    } else if (w->q.reqs[k - w->keys].kind == DDB_WRITE_DELETE) {
        iw->new_state = INVALIDATION_ABSENT;
    }
    if (known && w->old_image && w->op != OP_UPDATE) {
        iw->old_state = json_is_object(attrs) ? INVALIDATION_KNOWN : INVALIDATION_ABSENT;
        iw->old_image = attrs;
    }
    if (w->op != OP_UPDATE) return;
    const struct json *doc_q = w->q.doc, *ue = json_get(doc_q, "UpdateExpression");
    iw->update = true;
    iw->update_expression = json_is_string(ue) ? ue->str : NULL;
    iw->update_expression_len = json_is_string(ue) ? ue->len : 0;
    iw->update_names = json_get(doc_q, "ExpressionAttributeNames");
    iw->attribute_updates = json_get(doc_q, "AttributeUpdates");
    if (!known) return;
    if (w->derive && json_is_object(attrs)) { /* ALL_NEW */
        iw->new_state = INVALIDATION_KNOWN;
        iw->new_image = attrs;
    } else if (w->q.return_values == DDB_RV_ALL_OLD) {
        iw->old_state = json_is_object(attrs) ? INVALIDATION_KNOWN : INVALIDATION_ABSENT;
        iw->old_image = attrs;
    }
}

_Static_assert(TAGS_NOTE_MAX >= RANGE_NOTE_MAX, "a tag note holds a range note");

/* Bumps the tags of one written key (before its lease ends); a successful
 * single write is then told to the stream reader. An answered write notes
 * on each partition tag what it did there (proto/range.h), so range-precise
 * pages it cannot change stay valid; an unknown outcome notes nothing. */
static void bump_key(struct write *w, struct wkey *k, const struct json *doc, bool known,
                     uint64_t now)
{
    const struct key_schema *ks = w->tables[k->table].ks;
    const struct query_table *t = schema_indexes_get(ks->table, ks->table_len, NULL);
    if (!t) return; /* no index list: no page of the table is cached */
    struct invalidation_write iw;
    struct invalidation_tags tags;
    uint64_t hashes[INVALIDATION_MAX_TAGS];
    write_images(w, k, doc, known, &iw);
    invalidation_write_tags(w->r->arena, t, &iw, &tags);
    struct tags_note notes[INVALIDATION_MAX_TAGS];
    for (int i = 0; i < tags.n; i++) {
        hashes[i] = tags_hash(tags.tag[i].data, tags.tag[i].len);
        notes[i].len = known && tags.kind[i] == INVALIDATION_PARTITION
                           ? (uint32_t)range_note(w->r->arena, t, &tags.part[i], &iw, notes[i].data)
                           : 0;
    }
    tags_bump_noted(hashes, notes, (unsigned)tags.n, now);
    METRIC_ADD(query_cache_tag_bumps, tags.n);
    cluster_fan_tags(w->fo, ks->table, ks->table_len, &tags, w->hold_ms);
    if (known && w->op != OP_TRANSACT && iw.new_state != INVALIDATION_UNKNOWN)
        stream_own_note(t, &k->k, iw.new_image, hashes, (unsigned)tags.n, w->sent_ms, now);
    schema_indexes_put(t);
}

/* Bumps the tags of every key the write may have changed; an unknown
 * outcome also holds the tables' pages uncached while it may land. */
static void bump_tags(struct write *w, enum write_outcome outcome, const struct json *doc,
                      uint64_t now)
{
    if (outcome != WO_SUCCESS && outcome != WO_AMBIGUOUS) return; /* nothing was written */
    for (int i = 0; i < w->nkeys; i++) {
        struct wkey *k = &w->keys[i];
        if (!k->keyed || w->q.reqs[i].kind == DDB_WRITE_CHECK) continue;
        if (outcome == WO_SUCCESS && w->op == OP_BATCH && processed(w, doc, k) == UNPROCESSED)
            continue;
        bump_key(w, k, doc, outcome == WO_SUCCESS, now);
    }
    if (outcome != WO_AMBIGUOUS) return;
    for (int i = 0; i < w->ntables; i++)
        if (w->tables[i].ks)
            schema_hold_queries(w->tables[i].ks->table, w->tables[i].ks->table_len,
                                now + handler_holdoff_ms());
}

/* Tables with keys ddbx could not build lose every entry once the write may
 * have changed them; an unknown outcome holds them as well. */
static void invalidate_unkeyed(struct write *w, enum write_outcome outcome, uint64_t now)
{
    if (outcome == WO_UNCHANGED) return;
    uint64_t hold = outcome == WO_AMBIGUOUS ? now + handler_holdoff_ms() : 0;
    for (int i = 0; i < w->ntables; i++) {
        const char *name;
        size_t len;
        if ((w->tables[i].unkeyed || !w->tables[i].ks) &&
            schema_table_name(w->tables[i].name, &name, &len)) {
            schema_invalidate(name, len, hold);
            cluster_fan_forget(w->fo, name, len, PEER_FORGET_ITEMS | PEER_FORGET_QUERIES,
                               w->hold_ms);
        }
    }
}

static void on_answer(struct backend_result *res, void *arg)
{
    struct write *w = arg;
    struct request *r = w->r;
    CHECK_MAGIC(r, REQUEST_MAGIC);
    int status = request_backend_answer(res, &r->reply);
    r->crc_set = false;
    if (res->outcome == BACKEND_ANSWERED)
        snprintf(r->request_id, sizeof(r->request_id), "%s", res->request_id);
    enum write_outcome outcome = item_write_outcome(r, res, status, &r->reply);
    uint64_t now = item_now();
    w->fo = cluster_fanout_new(r);
    struct json *doc = NULL;
    if (outcome == WO_SUCCESS && (w->op == OP_UPDATE || w->op == OP_BATCH || w->old_image) &&
        json_parse(r->arena, r->reply.data, r->reply.len, &doc, NULL, 0) != JSON_OK)
        outcome = WO_AMBIGUOUS; /* a 200 we cannot read */
    w->hold_ms = outcome == WO_AMBIGUOUS ? handler_holdoff_ms() : 0;
    bump_tags(w, outcome, doc, now);
    if (outcome == WO_SUCCESS && w->strip) strip_attributes(w, doc);
    if (outcome == WO_SUCCESS && w->op == OP_UPDATE && w->derive) {
        update_answer(w, doc, now);
    } else {
        static const enum cache_write_outcome failed[] = {
            [WO_UNCHANGED] = CACHE_WRITE_UNCHANGED,
            [WO_INVALIDATE] = CACHE_WRITE_INVALIDATE,
            [WO_AMBIGUOUS] = CACHE_WRITE_AMBIGUOUS,
        };
        for (int i = 0; i < w->nkeys; i++) {
            struct wkey *k = &w->keys[i];
            enum processed p = PROCESSED;
            if (outcome == WO_SUCCESS && k->lease && w->op == OP_BATCH) p = processed(w, doc, k);
            if (outcome != WO_SUCCESS)
                end_lease(w, k, failed[outcome], NULL, now);
            else if (p == UNPROCESSED)
                end_lease(w, k, CACHE_WRITE_UNCHANGED, NULL, now);
            else if (p == UNKNOWN)
                end_lease(w, k, CACHE_WRITE_INVALIDATE, NULL, now);
            else
                apply_success(w, k, now);
        }
    }
    invalidate_unkeyed(w, outcome, now);
    if (item_error_forgets_table(r, status, &r->reply))
        for (int i = 0; i < w->ntables; i++)
            if (w->tables[i].ks) {
                schema_forget(w->tables[i].ks->table, w->tables[i].ks->table_len);
                cluster_fan_forget(w->fo, w->tables[i].ks->table, w->tables[i].ks->table_len,
                                   PEER_FORGET_ITEMS | PEER_FORGET_QUERIES, 0);
            }
    /* every live peer applies what changed before the client hears of it */
    cluster_fan_answer(w->fo, r, status);
}

/* ---- before: schemas and keys ---- */

/* PutItem, DeleteItem: the old image names the GSI partitions the item
 * leaves; ask for it when the table has a GSI (or take it when the caller
 * asked for it). */
static void ask_old_image(struct write *w)
{
    const struct json *rv = json_get(w->q.doc, "ReturnValues");
    if (json_str_is(rv, "ALL_OLD")) {
        w->old_image = true;
        return;
    }
    if (rv && !json_str_is(rv, "NONE")) return; /* the backend judges it */
    const struct key_schema *ks = w->tables[0].ks;
    const struct query_table *t = schema_indexes_get(ks->table, ks->table_len, NULL);
    bool gsi = false;
    for (int i = 1; t && i < t->nindexes; i++)
        gsi |= t->index[i].kind == QUERY_INDEX_GSI;
    schema_indexes_put(t);
    if (!gsi) return;
    struct json_writer jw;
    jw_init(&jw, &w->send);
    jw_object_begin(&jw);
    for (const struct json *m = w->q.doc->child; m; m = m->next)
        if (!json_key_is(m, "ReturnValues")) jw_member(&jw, m);
    jw_cstr(&jw, "ReturnValues");
    jw_cstr(&jw, "ALL_OLD");
    jw_object_end(&jw);
    jw_free(&jw);
    w->rewritten = w->old_image = w->strip = true;
}

static void on_schemas(struct request *r, const struct key_schema **ks, void *arg)
{
    struct write *w = arg;
    for (int t = 0; t < w->ntables; t++)
        w->tables[t].ks = ks[t];
    for (int i = 0; i < w->nkeys; i++) {
        struct wkey *k = &w->keys[i];
        struct wtable *t = &w->tables[k->table];
        if (!t->ks) continue;
        struct attr_error err;
        int rc = item_cache_key(r, t->ks, k->obj, !k->from_item, &k->k, &err);
        if (rc == KEY_EINVALID) {
            item_send_attr_error(r, &err);
            return;
        }
        if (rc != KEY_OK) { /* not certain: the backend judges it, the table pays */
            t->unkeyed = true;
            continue;
        }
        k->keyed = true;
        for (int j = 0; w->op == OP_BATCH && j < i; j++)
            if (w->keys[j].keyed && item_same_key(&w->keys[j].k, &k->k)) {
                item_send_duplicate_keys(r);
                return;
            }
    }
    for (int i = 0; i < w->nkeys; i++)
        if (w->keys[i].keyed) w->keys[i].lease = cache_write_begin(&w->keys[i].k);
    if (w->op == OP_UPDATE && !w->keys[0].keyed) w->derive = w->rewritten = w->strip = false;
    if ((w->op == OP_PUT || w->op == OP_DELETE) && w->keys[0].keyed) ask_old_image(w);
    w->sent_ms = item_now();
    if (w->rewritten)
        handler_call(r, r->op->target, &w->send, on_answer, w);
    else
        handler_forward(r, r->body, r->body_len, on_answer, w);
}

static void start(struct write *w)
{
    const struct json **names = arena_alloc(w->r->arena, sizeof(*names) * (size_t)w->ntables);
    for (int i = 0; i < w->ntables; i++)
        names[i] = w->tables[i].name;
    schema_get_all(w->r, names, w->ntables, on_schemas, w);
}

/* ---- the operations ---- */

void handler_put_item(struct request *r)
{
    struct write *w = write_parse(r, OP_PUT, ddb_parse_put_item);
    if (w) start(w);
}

void handler_delete_item(struct request *r)
{
    struct write *w = write_parse(r, OP_DELETE, ddb_parse_delete_item);
    if (w) start(w);
}

void handler_update_item(struct request *r)
{
    struct write *w = write_parse(r, OP_UPDATE, ddb_parse_update_item);
    if (!w) return;
    w->caller_none = w->q.return_values == DDB_RV_NONE;
    w->derive = w->caller_none || w->q.return_values == DDB_RV_ALL_NEW;
    if (w->derive && w->caller_none) { /* ask for the new image, answer NONE */
        struct json_writer jw;
        jw_init(&jw, &w->send);
        jw_object_begin(&jw);
        for (const struct json *m = w->q.doc->child; m; m = m->next)
            if (m != w->q.return_values_member) jw_member(&jw, m);
        jw_cstr(&jw, "ReturnValues");
        jw_cstr(&jw, "ALL_NEW");
        jw_object_end(&jw);
        jw_free(&jw);
        w->rewritten = w->strip = true;
    }
    start(w);
}

void handler_batch_write_item(struct request *r)
{
    struct write *w = write_parse(r, OP_BATCH, ddb_parse_batch_write);
    if (w) start(w);
}

void handler_transact_write_items(struct request *r)
{
    struct write *w = write_parse(r, OP_TRANSACT, ddb_parse_transact_write);
    if (w) start(w);
}
