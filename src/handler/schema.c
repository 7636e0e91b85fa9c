/*
 * schema.c: the table registry. A small chained hash under one mutex:
 * lookups copy a record into the request's arena, so no lock is held while a
 * request uses its schema.
 *
 * A record without key attributes is a placeholder: the table is not known
 * yet but is held (schema_invalidate with a hold on a table never described),
 * so the hold survives until the table is learnt.
 *
 * Index snapshots are reference counted: the registry holds one reference,
 * each schema_indexes_get() another, and the last put frees it, so a
 * request may keep using a snapshot the registry has replaced.
 *
 * With a spill tier (spill/spill.h), epochs outlive the process as spilled
 * records do, kept as the tier's named values: the counter, so no epoch a
 * record may carry is issued twice, and each table's epoch with what makes it
 * that table (backend, region, account, name, creation time, key schema),
 * under "schema.table." and a hash of the name. A table learnt
 * again with the same identity gets its stored epoch back, and its records
 * are served after a warm restart; every forget or invalidation stores a new
 * epoch or none, so no record of an older incarnation ever is. The tier keeps
 * named values in the order they are put, and they are put under `lock`, in
 * the order epochs are assigned.
 */
#include "handler/schema.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "handler/handler.h"
#include "handler/item.h"
#include "spill/spill.h"
#include "util/common.h"
#include "util/hash.h"
#include "util/log.h"

#define SCHEMA_BUCKETS 256

struct snapshot {
    atomic_int refs;
    struct arena strings;
    struct query_table q;
};

struct record {
    struct record *next;
    char *table;
    size_t table_len;
    char *account; /* NULL: the backend gave no TableArn */
    size_t account_len;
    char *created; /* CreationDateTime's text (NULL: not given): tells incarnations apart */
    size_t created_len;
    uint32_t epoch;
    uint64_t hold_until;
    uint64_t query_hold_until;
    bool stream_wait; /* spilled entries of an earlier process: held until its reader is ready */
    struct snapshot *snap; /* NULL: no usable index list */
    int nattrs;            /* 0: a placeholder carrying a hold */
    char *names[2];
    size_t lens[2];
    char types[2];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct record *buckets[SCHEMA_BUCKETS];
static uint32_t next_epoch = 1;
static uint32_t epoch_floor;    /* stored epochs below it are never reused */
static uint64_t all_hold_until; /* a hold on every table */
static bool wait_for_streams;   /* schema_wait_for_streams */
static schema_watch_fn watcher;

static struct snapshot *snapshot_new(const struct query_table *q)
{
    struct snapshot *sn = xcalloc(1, sizeof(*sn));
    atomic_init(&sn->refs, 1);
    arena_init(&sn->strings);
    query_table_copy(&sn->strings, q, &sn->q);
    return sn;
}

static void snapshot_put(struct snapshot *sn)
{
    if (!sn || atomic_fetch_sub(&sn->refs, 1) != 1) return;
    arena_free(&sn->strings);
    free(sn);
}

static unsigned bucket(const char *t, size_t len)
{
    return hash_fnv1a(t, len) % SCHEMA_BUCKETS;
}

static struct record **find(const char *t, size_t len)
{
    struct record **link = &buckets[bucket(t, len)];
    while (*link && !((*link)->table_len == len && memcmp((*link)->table, t, len) == 0))
        link = &(*link)->next;
    return link;
}

static void record_free(struct record *rec)
{
    if (!rec) return;
    free(rec->table);
    free(rec->account);
    free(rec->created);
    free(rec->names[0]);
    free(rec->names[1]);
    snapshot_put(rec->snap);
    free(rec);
}

/* ---- epochs kept in the spill tier (under `lock`, except at setup) ---- */

#define META_NEXT "schema.next_epoch"
#define META_FLOOR "schema.epoch_floor"
#define META_TABLE "schema.table." /* + 32 hex digits of the name's XXH3-128 */

static void be32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

static uint32_t get_be32(const char *p)
{
    const uint8_t *b = (const uint8_t *)p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void meta_put_u32(const char *name, uint32_t v)
{
    uint8_t b[4];
    be32(b, v);
    spill_meta_put(name, b, sizeof(b));
}

static uint32_t meta_get_u32(const char *name)
{
    struct buf b = BUF_INIT;
    uint32_t v = spill_meta_get(name, &b) == SPILL_OK && b.len == 4 ? get_be32(b.data) : 0;
    buf_free(&b);
    return v;
}

static void table_meta_name(char *out, size_t outlen, const char *t, size_t len)
{
    XXH128_hash_t h = XXH3_128bits(t, len);
    snprintf(out, outlen, META_TABLE "%016llx%016llx", (unsigned long long)h.high64,
             (unsigned long long)h.low64);
}

static void put_field(struct buf *b, const char *s, size_t len)
{
    uint8_t n[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    buf_append(b, n, sizeof(n));
    buf_append(b, s, len);
}

/* Appends the stored form of a table: its epoch, then what makes it that
 * table (the backend and region ddbx uses, the account, the name, when it was
 * created, the key schema). Only the epoch (meaning: forgotten) for a
 * placeholder or a table without an account, which cannot be told from
 * another account's. */
static void stored_form(struct buf *b, const struct record *rec)
{
    const struct config *o = handler_options();
    const char *backend = o ? o->backend : "", *region = handler_region();
    uint8_t e[4];
    be32(e, rec->epoch);
    buf_append(b, e, sizeof(e));
    if (!rec->account || !rec->nattrs) return;
    put_field(b, backend, strlen(backend));
    put_field(b, region, strlen(region));
    put_field(b, rec->account, rec->account_len);
    put_field(b, rec->table, rec->table_len);
    put_field(b, rec->created ? rec->created : "", rec->created_len);
    for (int i = 0; i < rec->nattrs; i++) {
        put_field(b, rec->names[i], rec->lens[i]);
        put_field(b, &rec->types[i], 1);
    }
}

/* Stores the table's epoch (rec NULL: forgotten, no epoch to reuse). */
static void store_table(const char *t, size_t len, const struct record *rec)
{
    if (!spill_enabled()) return;
    char name[64];
    table_meta_name(name, sizeof(name), t, len);
    struct buf b = BUF_INIT;
    if (rec) {
        stored_form(&b, rec);
    } else {
        buf_append(&b, "\0\0\0\0", 4);
    }
    spill_meta_put(name, b.data, b.len);
    buf_free(&b);
}

/* The stored epoch of a table with rec's identity, or 0: none stored, the
 * table was forgotten or invalidated since, or it was another table. */
static uint32_t stored_epoch(const struct record *rec)
{
    if (!spill_enabled()) return 0;
    char name[64];
    table_meta_name(name, sizeof(name), rec->table, rec->table_len);
    struct buf stored = BUF_INIT, want = BUF_INIT;
    uint32_t epoch = 0;
    stored_form(&want, rec);
    if (spill_meta_get(name, &stored) == SPILL_OK && stored.len == want.len && want.len > 4 &&
        memcmp(stored.data + 4, want.data + 4, want.len - 4) == 0)
        epoch = get_be32(stored.data);
    buf_free(&stored);
    buf_free(&want);
    return epoch >= epoch_floor && epoch < next_epoch ? epoch : 0;
}

/* A new epoch, never issued before, even by an earlier process. */
static uint32_t new_epoch(void)
{
    uint32_t e = next_epoch++;
    if (spill_enabled()) meta_put_u32(META_NEXT, next_epoch);
    return e;
}

/* No stored epoch below the counter's present value is reused. */
static void raise_floor(void)
{
    epoch_floor = next_epoch;
    if (spill_enabled()) meta_put_u32(META_FLOOR, epoch_floor);
}

/* The epochs a warm start inherits. */
static void load_epochs(void)
{
    if (!spill_enabled()) return;
    next_epoch = MAX(next_epoch, meta_get_u32(META_NEXT));
    epoch_floor = MAX(epoch_floor, meta_get_u32(META_FLOOR));
}

static void drop_all(void)
{
    for (int i = 0; i < SCHEMA_BUCKETS; i++) {
        while (buckets[i]) {
            struct record *rec = buckets[i];
            buckets[i] = rec->next;
            record_free(rec);
        }
    }
}

void schema_setup(void)
{
    pthread_mutex_lock(&lock);
    watcher = NULL;
    wait_for_streams = false;
    all_hold_until = 0; /* a hold is on the clock of the setup that set it */
    load_epochs();
    pthread_mutex_unlock(&lock);
}

/* Frees the registry; what the spill tier keeps stays for the next start. */
void schema_teardown(void)
{
    pthread_mutex_lock(&lock);
    drop_all();
    pthread_mutex_unlock(&lock);
}

static const struct key_schema *copy_out(struct request *r, const struct record *rec)
{
    struct key_schema *ks = arena_alloc(r->arena, sizeof(*ks));
    memset(ks, 0, sizeof(*ks));
    ks->table = arena_strndup(r->arena, rec->table, rec->table_len);
    ks->table_len = rec->table_len;
    if (rec->account) {
        ks->account = arena_strndup(r->arena, rec->account, rec->account_len);
        ks->account_len = rec->account_len;
    }
    ks->epoch = rec->epoch;
    uint64_t hold = MAX(rec->hold_until, all_hold_until);
    /* no clock read on the common path */
    ks->held = rec->stream_wait || (hold && item_now() < hold);
    ks->nattrs = rec->nattrs;
    for (int i = 0; i < rec->nattrs; i++) {
        ks->attr[i].name = arena_strndup(r->arena, rec->names[i], rec->lens[i]);
        ks->attr[i].len = rec->lens[i];
        ks->attr[i].type = rec->types[i];
    }
    return ks;
}

const struct key_schema *schema_peek(struct request *r, const char *table, size_t len)
{
    const struct key_schema *ks = NULL;
    pthread_mutex_lock(&lock);
    struct record *rec = *find(table, len);
    if (rec && rec->nattrs) ks = copy_out(r, rec);
    pthread_mutex_unlock(&lock);
    return ks;
}

/* ---- table names and ARNs ---- */

/* "arn:PARTITION:dynamodb:REGION:ACCOUNT:table/NAME", split; false when s is
 * not the ARN of a table (an index or stream ARN is not a table). */
struct arn {
    const char *region, *account, *name;
    size_t region_len, account_len, name_len;
};

static bool parse_arn(const char *s, size_t len, struct arn *a)
{
    const char *f[6];
    size_t fl[6];
    const char *p = s, *end = s + len;
    for (int i = 0; i < 5; i++) {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (!colon) return false;
        f[i] = p;
        fl[i] = (size_t)(colon - p);
        p = colon + 1;
    }
    f[5] = p;
    fl[5] = (size_t)(end - p);
    if (fl[0] != 3 || memcmp(f[0], "arn", 3) != 0 || fl[2] != 8 || memcmp(f[2], "dynamodb", 8) != 0)
        return false;
    if (fl[5] <= 6 || memcmp(f[5], "table/", 6) != 0 || memchr(f[5] + 6, '/', fl[5] - 6))
        return false;
    *a = (struct arn){f[3], f[4], f[5] + 6, fl[3], fl[4], fl[5] - 6};
    return true;
}

static bool is_arn(const struct json *table)
{
    return table->len >= 4 && memcmp(table->str, "arn:", 4) == 0;
}

bool schema_table_name(const struct json *table, const char **name, size_t *len)
{
    if (!json_is_string(table)) return false;
    if (!is_arn(table)) {
        *name = table->str;
        *len = table->len;
        return true;
    }
    struct arn a;
    if (!parse_arn(table->str, table->len, &a)) return false;
    *name = a.name;
    *len = a.name_len;
    return true;
}

/* ---- learning, forgetting, invalidating ---- */

/* The type ('S', 'N', 'B') AttributeDefinitions gives `name`, or 0. */
static char attr_type(const struct json *defs, const struct json *name)
{
    for (const struct json *d = defs ? defs->child : NULL; d; d = d->next) {
        const struct json *n = json_get(d, "AttributeName"), *t = json_get(d, "AttributeType");
        if (json_is_string(n) && n->len == name->len && memcmp(n->str, name->str, n->len) == 0) {
            if (json_str_is(t, "S") || json_str_is(t, "N") || json_str_is(t, "B")) return t->str[0];
            return 0;
        }
    }
    return 0;
}

static bool same_schema(const struct record *a, const struct record *b)
{
    if (a->nattrs != b->nattrs) return false;
    for (int i = 0; i < a->nattrs; i++)
        if (a->lens[i] != b->lens[i] || a->types[i] != b->types[i] ||
            memcmp(a->names[i], b->names[i], a->lens[i]) != 0)
            return false;
    return true;
}

/* A record from a TableDescription, or NULL when it does not describe a
 * usable table. */
static struct record *record_from(const struct json *d)
{
    const struct json *name = json_get(d, "TableName"), *ks = json_get(d, "KeySchema"),
                      *defs = json_get(d, "AttributeDefinitions"),
                      *status = json_get(d, "TableStatus"), *arn = json_get(d, "TableArn");
    if (!json_is_string(name) || !json_is_array(ks) || !json_is_array(defs)) return NULL;
    /* a table being deleted answers reads with errors soon: nothing to cache */
    if (status && !json_str_is(status, "ACTIVE") && !json_str_is(status, "UPDATING")) return NULL;
    struct record *rec = xcalloc(1, sizeof(*rec));
    for (const struct json *k = ks->child; k; k = k->next) {
        const struct json *an = json_get(k, "AttributeName"), *kt = json_get(k, "KeyType");
        if (!json_is_string(an) || !json_is_string(kt)) goto bad;
        int slot = json_str_is(kt, "HASH") ? 0 : json_str_is(kt, "RANGE") ? 1 : -1;
        char type = attr_type(defs, an);
        if (slot < 0 || rec->names[slot] || !type) goto bad;
        rec->names[slot] = xstrndup(an->str, an->len);
        rec->lens[slot] = an->len;
        rec->types[slot] = type;
    }
    if (!rec->names[0]) goto bad;
    rec->nattrs = rec->names[1] ? 2 : 1;
    rec->table = xstrndup(name->str, name->len);
    rec->table_len = name->len;
    struct arn a;
    if (json_is_string(arn) && parse_arn(arn->str, arn->len, &a) && a.name_len == name->len &&
        memcmp(a.name, name->str, name->len) == 0) {
        rec->account = xstrndup(a.account, a.account_len);
        rec->account_len = a.account_len;
    }
    struct query_table *q = xmalloc(sizeof(*q));
    if (query_table_parse(d, q) == QUERY_OK) rec->snap = snapshot_new(q);
    free(q);
    const struct json *created = json_get(d, "CreationDateTime");
    if (created && created->str) {
        rec->created = xstrndup(created->str, created->len);
        rec->created_len = created->len;
    }
    return rec;
bad:
    record_free(rec);
    return NULL;
}

/* False when both records say when their table was created and they differ:
 * the table was deleted and created again. */
static bool same_incarnation(const struct record *a, const struct record *b)
{
    return !a->created || !b->created ||
           (a->created_len == b->created_len &&
            memcmp(a->created, b->created, a->created_len) == 0);
}

/* Takes what rec says of the table and old does not (its account, its
 * creation time); true if anything was taken. */
static bool adopt(struct record *old, struct record *rec)
{
    bool taken = false;
    if (!old->account && rec->account) {
        old->account = rec->account;
        old->account_len = rec->account_len;
        rec->account = NULL;
        taken = true;
    }
    if (!old->created && rec->created) {
        old->created = rec->created;
        old->created_len = rec->created_len;
        rec->created = NULL;
        taken = true;
    }
    return taken;
}

static bool same_indexes(const struct record *a, const struct record *b)
{
    if (!a->snap || !b->snap) return !a->snap && !b->snap;
    return query_table_same_indexes(&a->snap->q, &b->snap->q);
}

static bool same_stream(const struct snapshot *a, const struct snapshot *b)
{
    const struct query_table *x = &a->q, *y = &b->q;
    if (!x->stream_arn || !y->stream_arn) return !x->stream_arn && !y->stream_arn;
    return x->stream_arn_len == y->stream_arn_len && x->stream_view == y->stream_view &&
           memcmp(x->stream_arn, y->stream_arn, x->stream_arn_len) == 0;
}

/* Whether a record's table has a stream (as its last description said). */
static bool has_stream(const struct record *rec)
{
    return rec->snap && rec->snap->q.stream_arn;
}

void schema_learn(const struct json *d)
{
    struct record *rec = record_from(d);
    if (!rec) return;
    struct record *drop = rec;
    struct snapshot *told = NULL; /* a new or changed description, for the watcher */
    pthread_mutex_lock(&lock);
    struct record **link = find(rec->table, rec->table_len);
    struct record *old = *link;
    if (old && old->nattrs && same_schema(old, rec) && same_indexes(old, rec) &&
        same_incarnation(old, rec)) {
        /* already known: keep its epoch */
        if (adopt(old, rec)) store_table(old->table, old->table_len, old);
        if (rec->snap && !same_stream(old->snap, rec->snap)) { /* a new stream */
            struct snapshot *sn = old->snap;
            old->snap = rec->snap;
            rec->snap = sn;
            told = old->snap;
        }
    } else {
        rec->epoch = stored_epoch(rec);
        if (!rec->epoch) {
            rec->epoch = new_epoch();
            store_table(rec->table, rec->table_len, rec);
        } else if (wait_for_streams && has_stream(rec) && !(old && old->nattrs)) {
            /* an earlier process's epoch: its spilled entries may predate
             * writes that bypassed ddbx while it was stopped */
            rec->stream_wait = true;
            log_info("table %.*s: its spilled entries are served once its stream was read up to "
                     "the present",
                     (int)rec->table_len, rec->table);
        }
        if (old) { /* a placeholder's holds carry over */
            rec->hold_until = old->hold_until;
            rec->query_hold_until = old->query_hold_until;
        }
        rec->next = old ? old->next : NULL;
        *link = rec;
        drop = old;
        told = rec->snap;
    }
    if (told) atomic_fetch_add(&told->refs, 1);
    schema_watch_fn fn = watcher;
    bool learnt = drop != rec;
    pthread_mutex_unlock(&lock);
    if (learnt) {
        const struct json *name = json_get(d, "TableName");
        log_debug("learnt the key schema of table %.*s", (int)name->len, name->str);
    }
    if (told && fn) fn(&told->q);
    snapshot_put(told);
    record_free(drop);
}

void schema_forget(const char *table, size_t len)
{
    pthread_mutex_lock(&lock);
    store_table(table, len, NULL);
    struct record **link = find(table, len), *rec = *link;
    /* a hold outlives the record: keep a placeholder */
    if (rec && MAX(rec->hold_until, rec->query_hold_until) > item_now()) {
        rec->nattrs = 0;
        rec = NULL;
    } else if (rec) {
        *link = rec->next;
    }
    pthread_mutex_unlock(&lock);
    record_free(rec);
}

void schema_invalidate(const char *table, size_t len, uint64_t hold_until)
{
    struct record *fresh = NULL;
    if (hold_until) {
        fresh = xcalloc(1, sizeof(*fresh));
        fresh->table = xstrndup(table, len);
        fresh->table_len = len;
    }
    pthread_mutex_lock(&lock);
    struct record **link = find(table, len), *rec = *link;
    if (!rec && fresh) {
        fresh->next = NULL;
        *link = rec = fresh;
        fresh = NULL;
    }
    if (rec) {
        rec->epoch = new_epoch();
        rec->hold_until = MAX(rec->hold_until, hold_until);
    }
    store_table(table, len, rec);
    pthread_mutex_unlock(&lock);
    record_free(fresh);
}

void schema_invalidate_all(uint64_t hold_until)
{
    pthread_mutex_lock(&lock);
    raise_floor(); /* the stored epochs of tables not learnt in this run included */
    for (int i = 0; i < SCHEMA_BUCKETS; i++)
        for (struct record *rec = buckets[i]; rec; rec = rec->next) {
            rec->epoch = new_epoch();
            store_table(rec->table, rec->table_len, rec);
        }
    all_hold_until = MAX(all_hold_until, hold_until);
    pthread_mutex_unlock(&lock);
}

void schema_invalidate_unstreamed(bool streams)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < SCHEMA_BUCKETS; i++)
        for (struct record *rec = buckets[i]; rec; rec = rec->next)
            if (!streams || !has_stream(rec)) {
                rec->epoch = new_epoch();
                store_table(rec->table, rec->table_len, rec);
            }
    pthread_mutex_unlock(&lock);
}

bool schema_has_stream(const char *table, size_t len)
{
    pthread_mutex_lock(&lock);
    const struct record *rec = *find(table, len);
    bool yes = rec && has_stream(rec);
    pthread_mutex_unlock(&lock);
    return yes;
}

void schema_forget_all(void)
{
    pthread_mutex_lock(&lock);
    drop_all();
    raise_floor();
    pthread_mutex_unlock(&lock);
}

const struct query_table *schema_indexes_get(const char *table, size_t len, struct schema_state *st)
{
    struct snapshot *sn = NULL;
    pthread_mutex_lock(&lock);
    struct record *rec = *find(table, len);
    if (rec && rec->nattrs && rec->snap) {
        sn = rec->snap;
        atomic_fetch_add(&sn->refs, 1);
    }
    if (st && rec) {
        uint64_t now = item_now();
        st->epoch = rec->epoch;
        st->held = rec->stream_wait || now < MAX(rec->hold_until, all_hold_until);
        st->query_held = now < rec->query_hold_until;
    }
    pthread_mutex_unlock(&lock);
    return sn ? &sn->q : NULL;
}

void schema_indexes_put(const struct query_table *t)
{
    if (t) snapshot_put(container_of(t, struct snapshot, q));
}

void schema_hold_queries(const char *table, size_t len, uint64_t until)
{
    pthread_mutex_lock(&lock);
    struct record *rec = *find(table, len);
    if (rec) rec->query_hold_until = MAX(rec->query_hold_until, until);
    pthread_mutex_unlock(&lock);
}

void schema_wait_for_streams(bool on)
{
    pthread_mutex_lock(&lock);
    wait_for_streams = on;
    pthread_mutex_unlock(&lock);
}

void schema_stream_ready(const char *table, size_t len)
{
    pthread_mutex_lock(&lock);
    struct record *rec = *find(table, len);
    bool was = rec && rec->stream_wait;
    if (rec) rec->stream_wait = false;
    pthread_mutex_unlock(&lock);
    if (was)
        log_info("table %.*s: its stream was read up to the present; serving it", (int)len, table);
}

void schema_set_watcher(schema_watch_fn fn)
{
    pthread_mutex_lock(&lock);
    watcher = fn;
    pthread_mutex_unlock(&lock);
}

/* ---- fetching with DescribeTable ---- */

struct fetch {
    struct request *r;
    schema_cb cb;
    void *arg;
    const char *table; /* the plain name */
    size_t len;
    const char *account; /* an ARN's account the table must have, or NULL */
    size_t account_len;
};

/* ks (the table's schema, or NULL) when the table is the one the request meant. */
static const struct key_schema *resolve(const struct fetch *f, const struct key_schema *ks)
{
    if (ks && f->account &&
        !(ks->account && ks->account_len == f->account_len &&
          memcmp(ks->account, f->account, f->account_len) == 0))
        return NULL; /* another account's table of the same name, or unknown */
    return ks;
}

static void on_described(struct backend_result *res, void *arg)
{
    struct fetch *f = arg;
    struct request *r = f->r;
    CHECK_MAGIC(r, REQUEST_MAGIC);
    if (res->outcome != BACKEND_ANSWERED) {
        /* no answer at all (timeout, unreachable): relaying the request would
         * wait as long again; answer the client with the failure now */
        request_send_backend(r, res);
        return;
    }
    if (res->status == 200) {
        struct json *doc;
        if (json_parse(r->arena, res->body.data, res->body.len, &doc, NULL, 0) == JSON_OK)
            schema_learn(json_get(doc, "Table"));
    }
    f->cb(r, resolve(f, schema_peek(r, f->table, f->len)), f->arg);
}

void schema_get(struct request *r, const struct json *table, schema_cb cb, void *arg)
{
    if (!json_is_string(table)) {
        cb(r, NULL, arg);
        return;
    }
    struct fetch *f = arena_alloc(r->arena, sizeof(*f));
    *f = (struct fetch){r, cb, arg, table->str, table->len, NULL, 0};
    if (is_arn(table)) {
        struct arn a;
        const char *region = handler_region();
        if (!parse_arn(table->str, table->len, &a) || a.region_len != strlen(region) ||
            memcmp(a.region, region, a.region_len) != 0) {
            cb(r, NULL, arg); /* not a table in the region ddbx serves */
            return;
        }
        f->table = a.name;
        f->len = a.name_len;
        f->account = a.account;
        f->account_len = a.account_len;
    }
    const struct key_schema *ks = schema_peek(r, f->table, f->len);
    if (ks) {
        cb(r, resolve(f, ks), arg);
        return;
    }
    struct buf body = BUF_INIT;
    struct json_writer w;
    jw_init(&w, &body);
    jw_object_begin(&w);
    jw_cstr(&w, "TableName");
    jw_string(&w, f->table, f->len);
    jw_object_end(&w);
    jw_free(&w);
    handler_call(r, "DynamoDB_20120810.DescribeTable", &body, on_described, f);
}

struct get_all {
    const struct json **tables;
    const struct key_schema **ks;
    int n, done;
    schema_all_cb cb;
    void *arg;
};

static void next_schema(struct request *r, const struct key_schema *ks, void *arg)
{
    struct get_all *ga = arg;
    ga->ks[ga->done++] = ks;
    if (ga->done == ga->n) {
        ga->cb(r, ga->ks, ga->arg);
        return;
    }
    schema_get(r, ga->tables[ga->done], next_schema, ga);
}

void schema_get_all(struct request *r, const struct json **tables, int n, schema_all_cb cb,
                    void *arg)
{
    struct get_all *ga = arena_alloc(r->arena, sizeof(*ga));
    *ga = (struct get_all){
        tables, arena_alloc(r->arena, sizeof(*ga->ks) * (size_t)(n ? n : 1)), n, 0, cb, arg};
    if (n == 0) {
        cb(r, ga->ks, arg);
        return;
    }
    schema_get(r, tables[0], next_schema, ga);
}
