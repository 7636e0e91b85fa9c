/*
 * batch_get.c: BatchGetItem answered key by key.
 *
 * Every key is looked up on its own: hits come from the cache, keys another
 * request is already reading wait for that read, and all remaining misses
 * go to the backend in one BatchGetItem (whole items, so every projection
 * can be served from what is cached). Keys of tables asked with
 * ConsistentRead take leases and always go to the backend. In a cluster,
 * each missing key another node owns is asked of that owner first, one GET
 * per key, all at once (docs/CLUSTER.md: per key, not per owner); the keys
 * no owner answered join the one backend read. The answer is composed when
 * every key has its result:
 *
 *   Responses        the items found, projected per table
 *   UnprocessedKeys  what the backend left unprocessed, keys whose shared read
 *                    failed, and keys past the 16 MB answer limit, in
 *                    DynamoDB's shape, for the application to resend
 *
 * A request in the shape SDKs send most is read without a JSON tree
 * (ddb_scan_batch_get): each key is kept as its text and its cache key built
 * from it (item_cache_key_text); its tree is parsed only when the key must be
 * written out again (key_of: to the backend, an owner, UnprocessedKeys).
 *
 * Cached values of tables asked for whole items are not copied under the
 * shard lock when the network layer writes pieces (r->zero_copy): each key
 * holds a reference to its cache entry (cache_get_ref, handed to the
 * request, released once the answer is written), and each item is spliced
 * out of {"Item":...} into the answer between ddbx's text (request_splice:
 * one writev; an item under 4 KB is copied into the text from the held
 * bytes, which costs less than a writev buffer). Other
 * values (read from the backend, woken from another's fill, from a peer, or
 * to be projected) are copied into the batch's value buffer, and an
 * unprojected one once more into the answer. The answer's CRC-32 (x-amz-crc32) is
 * built as it is written: ddbx's own text is CRC'd byte by byte, a spliced
 * item's CRC is derived from its value's stored CRC with zlib's
 * crc32_combine arithmetic, so the item bytes are never read again (a CRC
 * pass over a 25-item answer cost more than the rest of composing it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler/cluster.h"
#include "handler/item.h"
#include "handler/schema.h"
#include "proto/limits.h"
#include "proto/params.h"
#include "util/common.h"
#include "util/crc.h"

enum key_state { KS_PENDING, KS_FOUND, KS_ABSENT, KS_UNPROCESSED };

struct bg_table;

struct bg_key {
    struct batch *b;
    struct bg_table *t;
    const struct json *key;      /* the caller's Key object (NULL until key_of parses text) */
    const struct key_text *text; /* or, read without a tree, its text */
    struct cache_key k;
    enum key_state state;
    size_t off, len;         /* KS_FOUND: {"Item":...} at b->values.data + off, */
    const char *held;        /* or the cache's bytes, referenced by the request */
    uint32_t crc;            /* of value */
    bool fetch;              /* this request reads the key from the backend */
    struct cache_fill *fill; /* and may install what it reads (NULL: held, cache nothing) */
    struct cache_waiter waiter;
};

struct bg_table {
    const struct json *name;   /* as the caller wrote it: the answer's keys, a name or an ARN */
    const struct json *params; /* the caller's per-table object */
    struct projection *proj;
    bool consistent;
    const struct key_schema *ks;
    struct bg_key *keys;
    int nkeys;
};

struct batch {
    struct request *r;
    struct bg_table *tables;
    int ntables;
    int nkeys;      /* over all tables */
    int pending;    /* backend call and waits outstanding */
    int forwarded;  /* keys asked of their owners, not answered yet */
    bool looked_up; /* every key was looked up */
    enum ddb_rcc rcc;
    int fail_status; /* the backend refused the whole call: answer this */
    struct buf fail_body;
    struct buf values; /* the values found, back to back (freed when answered) */
};

static void finish(struct batch *b);

/* A found key's value: the cache's bytes it references, or its copy. */
static const char *value_of(const struct batch *b, const struct bg_key *k)
{
    return k->held ? k->held : b->values.data + k->off;
}

/* k's Key as a tree: a key read as text is parsed when it is needed (it
 * goes to the backend or an owner, or comes back unprocessed), which hits
 * never are. ddb_scan_batch_get read it as JSON the fast path accepts. */
static const struct json *key_of(struct batch *b, struct bg_key *k)
{
    if (!k->key) {
        struct json *doc = NULL;
        if (json_parse(b->r->arena, k->text->json, k->text->len, &doc, NULL, 0) != JSON_OK)
            abort(); /* it was read as JSON, which the parser accepts */
        k->key = doc;
    }
    return k->key;
}

/* ---- composing the answer ---- */

static const char item_prefix[] = "{\"Item\":"; /* a value is {"Item":<item>} */
#define ITEM_PREFIX_LEN (sizeof(item_prefix) - 1)

/* The CRC-32 of the answer as it is appended to `out`, without reading
 * spliced items' bytes. For an item B spliced after text R, with the stored
 * CRC of its value V = P B S (P = {"Item":, S = }), CRC linearity (zlib's
 * crc32_combine: crc(XY) = x^(8|Y|) crc(X) + crc(Y) over GF(2)) gives, with
 * the byte c that follows the item:
 *   crc(R B c) = combine(crc(R) ^ crc(P), crc(V) ^ crc(S) ^ crc(c), |B| + 1)
 * so an item is folded in when the byte after it is (there always is one).
 * The multiplier for a length is cached per thread: items of a table tend
 * to have few distinct lengths, and computing one costs ten multiplications. */
struct answer_crc {
    uint32_t crc; /* of out[0..done), a pending item aside */
    size_t done;
    bool pending; /* an item ends at done: fold it in with the next byte */
    uint32_t a, b;
    size_t n;
};

static uLong crc_shift_op(size_t n)
{
    static _Thread_local struct {
        size_t n;
        uLong op;
    } ops[64];
    size_t i = n & 63;
    if (ops[i].n != n) {
        ops[i].n = n;
        ops[i].op = crc32_combine_gen64((z_off64_t)n);
    }
    return ops[i].op;
}

/* Takes acc up to the end of out. */
static void crc_catch_up(struct answer_crc *acc, const struct buf *out)
{
    if (acc->done == out->len) return;
    if (acc->pending) {
        uint32_t c = crc32_of_byte((unsigned char)out->data[acc->done]);
        acc->crc = crc_combine_op(acc->a, acc->b ^ c, (uint32_t)crc_shift_op(acc->n));
        acc->pending = false;
        acc->done++;
    }
    if (acc->done < out->len) /* between two items there is only their comma */
        acc->crc = (uint32_t)crc32(acc->crc, (const Bytef *)out->data + acc->done,
                                   (uInt)(out->len - acc->done));
    acc->done = out->len;
}

/* Appends the item of value v (len bytes, stored CRC vcrc) to out, or with
 * r not NULL (out is r->reply) splices it into r's body where it is stored:
 * out's next byte is then the one after the item all the same. */
static void crc_splice(struct answer_crc *acc, struct buf *out, const char *v, size_t len,
                       uint32_t vcrc, struct request *r)
{
    static _Thread_local uint32_t crc_p, crc_s;
    if (!crc_p) {
        crc_p = crc32_of(item_prefix, ITEM_PREFIX_LEN);
        crc_s = crc32_of("}", 1);
    }
    crc_catch_up(acc, out);
    size_t n = len - ITEM_PREFIX_LEN - 1;
    if (r)
        request_splice(r, v + ITEM_PREFIX_LEN, n);
    else
        buf_append(out, v + ITEM_PREFIX_LEN, n);
    acc->a = acc->crc ^ crc_p;
    acc->b = vcrc ^ crc_s;
    acc->n = n + 1;
    acc->pending = true;
    acc->done = out->len;
}

static void write_unprocessed_table(struct batch *b, struct json_writer *w, struct bg_table *t)
{
    jw_string(w, t->name->str, t->name->len);
    jw_object_begin(w);
    jw_cstr(w, "Keys");
    jw_array_begin(w);
    for (int i = 0; i < t->nkeys; i++)
        if (t->keys[i].state == KS_UNPROCESSED) jw_value(w, key_of(b, &t->keys[i]));
    jw_array_end(w);
    for (const struct json *m = t->params->child; m; m = m->next)
        if (!(m->keylen == 4 && memcmp(m->key, "Keys", 4) == 0)) jw_member(w, m);
    jw_object_end(w);
}

/* Appends one item of the answer: the cached bytes themselves when the table
 * asks for whole items (the item spliced out of its value, no parse), else
 * the projection of the parsed item. */
static void append_item(struct batch *b, struct bg_table *t, struct bg_key *k, struct buf *out,
                        struct answer_crc *acc)
{
    const char *v = value_of(b, k);
    /* a held value's last byte is not read: with values far apart in memory
     * that is a cache miss per item here, before the kernel reads the value
     * anyway (perf), and every value the cache holds is {"Item":<object>}
     * (item_value_compose), whose first bytes, next to its key, say so */
    if (!t->proj && k->len > ITEM_PREFIX_LEN + 1 && memcmp(v, item_prefix, ITEM_PREFIX_LEN) == 0 &&
        (k->held || v[k->len - 1] == '}')) {
        crc_splice(acc, out, v, k->len, k->crc, k->held ? b->r : NULL);
        return;
    }
    const struct json *item = item_value_item(b->r, v, k->len);
    struct json_writer w;
    jw_init(&w, out);
    if (t->proj)
        projection_apply(t->proj, item, &w);
    else
        jw_value(&w, item);
    jw_free(&w);
}

static bool any_unprocessed(const struct batch *b)
{
    for (int ti = 0; ti < b->ntables; ti++)
        for (int i = 0; i < b->tables[ti].nkeys; i++)
            if (b->tables[ti].keys[i].state == KS_UNPROCESSED) return true;
    return false;
}

/* The answer is assembled from pieces: the Responses lists by appending
 * (each piece a complete JSON value), the rest with the JSON writer. */
static void compose(struct batch *b)
{
    struct request *r = b->r;
    struct buf *out = &r->reply;
    struct json_writer w;
    struct answer_crc acc = {0};
    size_t spliced = 0; /* answer bytes not in out: the cache's own */
    buf_reset(out);
    buf_reserve(out, b->values.len + 256);
    buf_append_str(out, "{\"Responses\":{");
    for (int ti = 0; ti < b->ntables; ti++) {
        struct bg_table *t = &b->tables[ti];
        if (ti) buf_append_char(out, ',');
        if (!json_append_plain_string(out, t->name->str, t->name->len)) {
            jw_init(&w, out);
            jw_string(&w, t->name->str, t->name->len);
            jw_free(&w);
        }
        buf_append_str(out, ":[");
        bool first = true;
        for (int i = 0; i < t->nkeys; i++) {
            struct bg_key *k = &t->keys[i];
            if (k->state != KS_FOUND) continue;
            if (out->len + spliced + k->len >
                ddb_limit(
                    DDB_LIMIT_batch_get_response_bytes)) { /* the rest comes back unprocessed */
                k->state = KS_UNPROCESSED;
                continue;
            }
            if (!first) buf_append_char(out, ',');
            first = false;
            size_t before = out->len;
            append_item(b, t, k, out, &acc);
            if (k->held && out->len == before) spliced += k->len;
        }
        buf_append_char(out, ']');
    }
    buf_append_str(out, "},\"UnprocessedKeys\":");
    if (any_unprocessed(b)) { /* else {}, without setting up the writer */
        jw_init(&w, out);
        jw_object_begin(&w);
        for (int ti = 0; ti < b->ntables; ti++) {
            struct bg_table *t = &b->tables[ti];
            for (int i = 0; i < t->nkeys; i++)
                if (t->keys[i].state == KS_UNPROCESSED) {
                    write_unprocessed_table(b, &w, t);
                    break;
                }
        }
        jw_object_end(&w);
        jw_free(&w);
    } else {
        buf_append_str(out, "{}");
    }
    if (b->rcc) {
        buf_append_str(out, ",\"ConsumedCapacity\":");
        jw_init(&w, out);
        jw_array_begin(&w);
        for (int ti = 0; ti < b->ntables; ti++) {
            /* what the caller's reads consumed, as DynamoDB charges them:
             * every key answered, found or not, whether cached or read */
            struct bg_table *t = &b->tables[ti];
            double units = 0;
            for (int i = 0; i < t->nkeys; i++) {
                struct bg_key *k = &t->keys[i];
                if (k->state == KS_FOUND || k->state == KS_ABSENT)
                    units += ddb_read_units(
                        k->state == KS_FOUND ? item_value_size(r, value_of(b, k), k->len) : 0,
                        t->consistent);
            }
            item_capacity(&w, t->name->str, t->name->len, units, b->rcc == DDB_RCC_INDEXES);
        }
        jw_array_end(&w);
        jw_free(&w);
    }
    buf_append_char(out, '}');
    crc_catch_up(&acc, out);
    buf_free(&b->values);
    r->crc = acc.crc;
    r->crc_set = true;
    request_send(r, 200);
}

static void finish(struct batch *b)
{
    if (--b->pending > 0) return;
    if (b->fail_status) {
        buf_free(&b->values);
        buf_move(&b->r->reply, &b->fail_body);
        b->r->crc_set = false;
        request_send(b->r, b->fail_status);
        return;
    }
    compose(b);
}

/* ---- results per key ---- */

/* k's value is the last len bytes of b->values. */
static void found(struct batch *b, struct bg_key *k, size_t len, uint32_t crc)
{
    if (b->values.len == len) /* the first: room for as many more, not a doubling per item */
        buf_reserve(&b->values, len * (size_t)b->nkeys);
    k->off = b->values.len - len;
    k->len = len;
    k->crc = crc;
    k->state = KS_FOUND;
}

static void set_value(struct batch *b, struct bg_key *k, const char *value, size_t len,
                      uint32_t crc)
{
    if (!value) {
        k->state = KS_ABSENT;
        return;
    }
    buf_append(&b->values, value, len);
    found(b, k, len, crc);
}

static void resume(struct item_wakeup *wk)
{
    struct bg_key *k = wk->ctx;
    if (wk->res.kind == CACHE_HIT)
        set_value(k->b, k, wk->res.data, wk->res.len, wk->res.crc);
    else if (wk->res.kind == CACHE_NEGATIVE)
        k->state = KS_ABSENT;
    else
        k->state = KS_UNPROCESSED; /* the shared read failed: the application resends */
    struct batch *b = k->b;
    free(wk);
    finish(b);
}

static void on_wake(struct cache_waiter *w, const struct cache_result *res)
{
    struct bg_key *k = container_of(w, struct bg_key, waiter);
    item_post_wakeup(k->b->r->thread, res, k, resume);
}

/* The key of the table's request that `item` answers, or NULL. */
static struct bg_key *match(struct batch *b, struct bg_table *t, const struct json *item)
{
    struct attr_error err;
    struct cache_key ik;
    if (item_cache_key(b->r, t->ks, item, false, &ik, &err) != KEY_OK) return NULL;
    for (int i = 0; i < t->nkeys; i++) {
        struct bg_key *k = &t->keys[i];
        if (k->fetch && k->k.len == ik.len && memcmp(k->k.data, ik.data, ik.len) == 0) return k;
    }
    return NULL;
}

static struct bg_table *table_named(struct batch *b, const struct json *name)
{
    for (int i = 0; i < b->ntables; i++)
        if (b->tables[i].name->len == name->keylen &&
            memcmp(b->tables[i].name->str, name->key, name->keylen) == 0)
            return &b->tables[i];
    return NULL;
}

/* Applies a 200 answer: items found, keys unprocessed, the rest absent. */
static void apply_answer(struct batch *b, const struct json *doc)
{
    const struct json *resp = json_get(doc, "Responses"),
                      *unproc = json_get(doc, "UnprocessedKeys");
    for (const struct json *tr = resp ? resp->child : NULL; tr; tr = tr->next) {
        struct bg_table *t = table_named(b, tr);
        for (const struct json *item = t && json_is_array(tr) ? tr->child : NULL; item;
             item = item->next) {
            struct bg_key *k = match(b, t, item);
            if (!k || k->state != KS_PENDING) continue;
            struct buf value = BUF_INIT;
            item_value_compose(&value, item);
            set_value(b, k, value.data, value.len, crc32_of(value.data, value.len));
            buf_free(&value);
        }
    }
    for (const struct json *tu = unproc ? unproc->child : NULL; tu; tu = tu->next) {
        struct bg_table *t = table_named(b, tu);
        const struct json *keys = json_get(tu, "Keys");
        for (const struct json *key = t && keys ? keys->child : NULL; key; key = key->next) {
            struct bg_key *k = match(b, t, key);
            if (k && k->state == KS_PENDING) k->state = KS_UNPROCESSED;
        }
    }
}

/* Ends every lease this request holds: installs what was read (pending keys
 * the backend answered nothing for are absent). When the call failed, waiters
 * read their keys themselves: the failure may be about another table of this
 * call, never theirs to inherit. */
static void end_fills(struct batch *b, bool answered)
{
    for (int ti = 0; ti < b->ntables; ti++)
        for (int i = 0; i < b->tables[ti].nkeys; i++) {
            struct bg_key *k = &b->tables[ti].keys[i];
            if (!k->fill) continue;
            struct cache_result res = {CACHE_FAILED, NULL, 0, 0, 0};
            if (answered && k->state == KS_PENDING) k->state = KS_ABSENT;
            uint64_t ttl =
                cluster_fill_ttl(b->tables[ti].ks->table, b->tables[ti].ks->table_len, 0);
            if (answered && k->state == KS_FOUND)
                res = (struct cache_result){CACHE_HIT, b->values.data + k->off, k->len, k->crc, 200,
                                            ttl};
            else if (answered && k->state == KS_ABSENT)
                res = (struct cache_result){CACHE_NEGATIVE, NULL, 0, 0, 200, ttl};
            cache_fill_done(k->fill, &res, item_now());
            k->fill = NULL;
        }
}

static void on_backend(struct backend_result *res, void *arg)
{
    struct batch *b = arg;
    struct request *r = b->r;
    CHECK_MAGIC(r, REQUEST_MAGIC);
    struct buf body = BUF_INIT;
    struct json *doc;
    int status = item_backend_doc(r, res, &body, &doc);
    if (status == 200) {
        snprintf(r->request_id, sizeof(r->request_id), "%s", res->request_id);
        apply_answer(b, doc);
        end_fills(b, true);
    } else {
        end_fills(b, false);
        b->fail_status = status;
        buf_move(&b->fail_body, &body);
    }
    buf_free(&body);
    finish(b);
}

static void send_misses(struct batch *b);

/* A key's owner answered (v), or did not (NULL: our lease is still ours, and
 * the key goes into the backend read once every owner answered). */
static void on_forwarded(struct request *r, void *arg, const struct cluster_value *v)
{
    struct bg_key *k = arg;
    struct batch *b = k->b;
    if (v) {
        k->fill = NULL; /* ended by cluster_get.c */
        set_value(b, k, v->body, v->len, v->crc);
    } else {
        k->fetch = true;
    }
    if (--b->forwarded == 0 && b->looked_up) send_misses(b);
    finish(b);
}

static void send_misses(struct batch *b)
{
    int total = 0;
    for (int ti = 0; ti < b->ntables; ti++)
        for (int i = 0; i < b->tables[ti].nkeys; i++)
            total += b->tables[ti].keys[i].fetch;
    if (!total) return; /* every key answered: no body to compose */
    struct buf body = BUF_INIT;
    struct json_writer w;
    jw_init(&w, &body);
    jw_object_begin(&w);
    jw_cstr(&w, "RequestItems");
    jw_object_begin(&w);
    for (int ti = 0; ti < b->ntables; ti++) {
        struct bg_table *t = &b->tables[ti];
        int n = 0;
        for (int i = 0; i < t->nkeys; i++)
            n += t->keys[i].fetch;
        if (!n) continue;
        jw_string(&w, t->name->str, t->name->len);
        jw_object_begin(&w);
        jw_cstr(&w, "Keys");
        jw_array_begin(&w);
        for (int i = 0; i < t->nkeys; i++)
            if (t->keys[i].fetch) jw_value(&w, key_of(b, &t->keys[i]));
        jw_array_end(&w);
        jw_cstr(&w, "ConsistentRead");
        jw_bool(&w, t->consistent || handler_options()->fill_consistent);
        jw_object_end(&w);
    }
    jw_object_end(&w);
    if (b->rcc) {
        jw_cstr(&w, "ReturnConsumedCapacity");
        jw_cstr(&w, b->rcc == DDB_RCC_INDEXES ? "INDEXES" : "TOTAL");
    }
    jw_object_end(&w);
    jw_free(&w);
    b->pending++;
    handler_call(b->r, "DynamoDB_20120810.BatchGetItem", &body, on_backend, b);
}

/* The lookups' memory reads overlap instead of following one another
 * (cache_prefetch): with 100,000 items the lookups were a fifth of a call's
 * CPU, each waiting for two or three reads from memory in turn. A key's
 * bucket is fetched as soon as its key is built (build_keys), the entries
 * the buckets lead to here, just before the lookups. */
static bool prefetched(const struct bg_table *t)
{
    return !t->ks->held && !t->consistent;
}

static void prefetch_entries(const struct batch *b)
{
    for (int ti = 0; ti < b->ntables; ti++) {
        const struct bg_table *t = &b->tables[ti];
        if (prefetched(t))
            for (int i = 0; i < t->nkeys; i++)
                cache_prefetch(&t->keys[i].k, 1);
    }
}

/* The kernel copies a held value into the socket at the end of the call;
 * fetched now, its lines arrive while the rest of the batch is looked up
 * and the answer composed, instead of one after another in that copy. */
static void prefetch_value(const char *v, size_t len)
{
    for (size_t off = 0; off < len; off += 64)
        __builtin_prefetch(v + off);
}

static void look_up(struct batch *b)
{
    uint64_t now = item_now();
    b->pending = 1; /* held until every lookup has been started */
    prefetch_entries(b);
    for (int ti = 0; ti < b->ntables; ti++) {
        struct bg_table *t = &b->tables[ti];
        for (int i = 0; i < t->nkeys; i++) {
            struct bg_key *k = &t->keys[i];
            if (t->ks->held) { /* a change of unknown outcome may land: cache nothing */
                k->fetch = true;
                continue;
            }
            if (t->consistent) {
                k->fill = cache_lease(&k->k);
                k->fetch = true;
                continue;
            }
            uint32_t crc;
            size_t before = b->values.len;
            k->waiter.wake = on_wake;
            /* whole items are sent from the cache's bytes (the request holds
             * them until written); projected ones are copied to be parsed */
            struct cache_ref *ref = NULL;
            enum cache_kind kind =
                b->r->zero_copy && !t->proj
                    ? cache_get_ref(&k->k, now, &ref, &k->fill, &k->waiter)
                    : cache_get(&k->k, now, &b->values, &crc, &k->fill, &k->waiter);
            if (kind == CACHE_HIT && ref) {
                request_hold(b->r, ref);
                k->held = cache_ref_value(ref, &k->len, &k->crc);
                prefetch_value(k->held, k->len);
                k->state = KS_FOUND;
                continue;
            }
            switch (kind) {
            case CACHE_HIT: found(b, k, b->values.len - before, crc); break;
            case CACHE_NEGATIVE: k->state = KS_ABSENT; break;
            case CACHE_WAIT: b->pending++; break;
            case CACHE_MISS: /* k->fill is ours; another node may own the key (cluster.h) */
                if (cluster_forward_get(b->r, &k->k, k->fill, t->name, key_of(b, k), on_forwarded,
                                        k)) {
                    b->pending++;
                    b->forwarded++;
                    break;
                }
                k->fetch = true;
                break;
            default: k->fetch = true; break; /* BYPASS: no fill */
            }
        }
    }
    /* one backend read for what neither the cache nor an owner answered,
     * sent when the last owner answers */
    b->looked_up = true;
    if (b->forwarded == 0) send_misses(b);
    finish(b);
}

/* Whether key i of t repeats one before it. `seen` is an open-addressing
 * table of mask + 1 slots (at least twice t's keys) holding key indexes + 1,
 * by hash: comparing every pair was 300 comparisons for 25 keys (callgrind). */
static bool repeated(const struct bg_table *t, int i, uint32_t *seen, size_t mask)
{
    const struct cache_key *k = &t->keys[i].k;
    size_t s = (size_t)k->hash & mask;
    for (; seen[s]; s = (s + 1) & mask) {
        const struct cache_key *o = &t->keys[seen[s] - 1].k;
        if (o->hash == k->hash && item_same_key(o, k)) return true;
    }
    seen[s] = (uint32_t)i + 1;
    return false;
}

/* Builds every key's cache key; answers or relays when one cannot be. */
static void build_keys(struct batch *b)
{
    struct request *r = b->r;
    for (int ti = 0; ti < b->ntables; ti++) {
        struct bg_table *t = &b->tables[ti];
        size_t slots = 64;
        while (slots < 2 * (size_t)t->nkeys)
            slots *= 2;
        uint32_t *seen = arena_alloc(r->arena, slots * sizeof(*seen));
        memset(seen, 0, slots * sizeof(*seen));
        for (int i = 0; i < t->nkeys; i++) {
            struct bg_key *k = &t->keys[i];
            /* a key read as text, when its text says it all; else the tree's
             * own answer, errors included */
            if (!(k->text && item_cache_key_text(r, t->ks, k->text, &k->k)) &&
                !item_key_or_answer(r, t->ks, key_of(b, k), true, &k->k))
                return;
            if (prefetched(t)) cache_prefetch(&t->keys[i].k, 0);
            if (repeated(t, i, seen, slots - 1)) {
                item_send_duplicate_keys(r);
                return;
            }
        }
    }
    look_up(b);
}

static void on_schemas(struct request *r, const struct key_schema **ks, void *arg)
{
    struct batch *b = arg;
    for (int i = 0; i < b->ntables; i++) {
        if (!ks[i]) {
            handler_relay(r);
            return;
        }
        b->tables[i].ks = ks[i];
        if (!item_projection_allowed(r, ks[i], b->tables[i].proj)) return;
    }
    build_keys(b);
}

void handler_batch_get_item(struct request *r)
{
    struct batch *b = arena_alloc(r->arena, sizeof(*b));
    memset(b, 0, sizeof(*b));
    b->r = r;
    struct ddb_batch_get q;
    struct attr_error err;
    int rc = ddb_scan_batch_get(r->arena, r->body, r->body_len, &q)
                 ? DDB_PARAMS_OK
                 : ddb_parse_batch_get(r->arena, r->body, r->body_len, &q, &err);
    if (!item_params_ok(r, rc, &err)) return;
    b->rcc = q.rcc;
    b->ntables = q.ntables;
    b->tables = arena_alloc(r->arena, sizeof(*b->tables) * (size_t)q.ntables);
    const struct json **names = arena_alloc(r->arena, sizeof(*names) * (size_t)q.ntables);
    for (int ti = 0; ti < q.ntables; ti++) {
        const struct ddb_batch_get_table *qt = &q.tables[ti];
        struct bg_table *t = &b->tables[ti];
        *t = (struct bg_table){.name = qt->name,
                               .params = qt->params,
                               .proj = qt->proj,
                               .consistent = qt->consistent,
                               .nkeys = qt->nkeys};
        b->nkeys += qt->nkeys;
        t->keys = arena_alloc(r->arena, sizeof(*t->keys) * (size_t)qt->nkeys);
        int i = 0; /* every key is set below (the Keys list has nkeys members) */
        for (const struct json *k = qt->keys ? qt->keys->child : NULL; k; k = k->next, i++)
            t->keys[i] = (struct bg_key){.b = b, .t = t, .key = k};
        for (; qt->text && i < qt->nkeys; i++)
            t->keys[i] = (struct bg_key){.b = b, .t = t, .text = &qt->text[i]};
        names[ti] = t->name;
    }
    schema_get_all(r, names, b->ntables, on_schemas, b);
}
