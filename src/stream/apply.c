/*
 * apply.c: what one stream record does to the cache (the item invalidated,
 * the query tags of its images bumped), and the memory of ddbx's own writes
 * that lets their records skip a second bump (see stream.h for the rule and
 * why it is safe).
 *
 * The own-write memory is a hash of entries by (table, key, new image) and a
 * list in insertion order, under one mutex; entries live own_keep_ms. An
 * OWN entry is a write ddbx answered; a SEEN entry a record that found no
 * OWN entry (its write may not be answered yet). Each kind consumes the
 * other, one for one.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cache/tags.h"
#include "metrics/metrics.h"
#include "proto/attr.h"
#include "proto/invalidation.h"
#include "proto/key.h"
#include "proto/number.h"
#include "stream/stream.h"
#include "util/common.h"

#define OWN_MAX_TAGS 16
#define ABSENT_IMAGE 0x9e3779b97f4a7c15ull /* the "image" of a deleted item */

/* ---- canonical image hashes ---- */

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    return XXH3_64bits_withSeed(p, n, h);
}

/* A scalar of type t ('S', 'N', 'B'): numbers by value, the rest by bytes
 * (a binary's base64 text must be canonical to stand for its bytes). */
static bool scalar_hash(char t, const struct json *v, uint64_t *out)
{
    if (!json_is_string(v)) return false;
    if (t == 'N') {
        struct number n;
        uint8_t kb[NUMBER_KEY_MAX];
        if (number_parse(v->str, v->len, &n) != NUMBER_OK) return false;
        *out = mix('N', kb, number_key(&n, kb));
        return true;
    }
    if (t == 'B' && !attr_base64_canonical(v->str, v->len)) return false;
    *out = mix((uint64_t)t, v->str, v->len);
    return true;
}

static bool av_hash(const struct json *v, int depth, uint64_t *out);

/* A map's members or a set's elements: the sum of their hashes, so their
 * order does not count (DynamoDB keeps neither). */
static bool unordered_hash(const struct json *v, char t, int depth, uint64_t *out)
{
    uint64_t sum = 0;
    for (const struct json *m = v->child; m; m = m->next) {
        uint64_t h;
        if (t == 'M' ? !av_hash(m, depth + 1, &h) : !scalar_hash(t, m, &h)) return false;
        sum += t == 'M' ? mix(h, m->key, m->keylen) : h;
    }
    *out = mix(sum ^ v->len, &t, 1);
    return true;
}

/* One AttributeValue. */
static bool av_hash(const struct json *v, int depth, uint64_t *out)
{
    const struct json *m = attr_type_member(v);
    if (!m || depth > ATTR_MAX_DEPTH) return false;
    char t = m->key[0];
    if (m->keylen == 1 && strchr("SNB", t)) return scalar_hash(t, m, out);
    if (m->keylen == 2 && m->key[1] == 'S' && strchr("SNB", t) && json_is_array(m))
        return unordered_hash(m, t, depth, out);
    if (m->keylen == 1 && t == 'M' && json_is_object(m)) return unordered_hash(m, 'M', depth, out);
    if (m->keylen == 1 && t == 'L' && json_is_array(m)) {
        uint64_t h = 'L';
        for (const struct json *e = m->child; e; e = e->next) {
            uint64_t eh;
            if (!av_hash(e, depth + 1, &eh)) return false;
            h = mix(h, &eh, sizeof(eh));
        }
        *out = h;
        return true;
    }
    if (m->keylen == 4 && (memcmp(m->key, "BOOL", 4) == 0 || memcmp(m->key, "NULL", 4) == 0) &&
        json_is_bool(m)) {
        *out = mix(m->type == JSON_TRUE, m->key, 4);
        return true;
    }
    return false;
}

bool stream_image_hash(const struct json *image, uint64_t *hash)
{
    if (!json_is_object(image)) return false;
    uint64_t sum = 0;
    for (const struct json *m = image->child; m; m = m->next) {
        uint64_t h;
        if (!av_hash(m, 0, &h)) return false;
        sum += mix(h, m->key, m->keylen);
    }
    *hash = mix(sum ^ image->len, "item", 4);
    return true;
}

/* ---- own writes ---- */

/* A table whose own writes are noted: those sent after `since`. */
struct noted {
    uint64_t table;
    uint64_t since;
};

struct own {
    struct own *hnext; /* bucket chain (live entries only) */
    struct own *fnext; /* insertion order */
    uint64_t table, key, image;
    uint64_t expires;
    bool seen; /* a record waiting for its write's answer; else a write waiting for its record */
    bool dead; /* consumed or forgotten: unlinked from its bucket, freed at the list's head */
    unsigned ntags;
    uint64_t tags[OWN_MAX_TAGS];
};

static struct {
    pthread_mutex_t lock;
    bool ready;
    struct own **buckets;
    unsigned nbuckets; /* power of two */
    struct own *oldest, *newest;
    unsigned listed, capacity; /* entries in the list (dead ones too), its bound */
    uint64_t keep_ms;
    uint64_t off_until;  /* no write is noted before then (an unmatched record was not kept) */
    struct noted *noted; /* tables whose streams carry new images */
    int nnoted, capnoted;
} own = {.lock = PTHREAD_MUTEX_INITIALIZER};

void stream_own_setup(uint64_t keep_ms, unsigned capacity)
{
    pthread_mutex_lock(&own.lock);
    own.keep_ms = keep_ms;
    own.capacity = capacity;
    own.nbuckets = 1;
    while (own.nbuckets < capacity / 2)
        own.nbuckets *= 2;
    own.buckets = xcalloc(own.nbuckets, sizeof(*own.buckets));
    own.ready = true;
    pthread_mutex_unlock(&own.lock);
}

void stream_own_teardown(void)
{
    pthread_mutex_lock(&own.lock);
    for (struct own *e = own.oldest, *next; e; e = next) {
        next = e->fnext;
        free(e);
    }
    free(own.buckets);
    free(own.noted);
    own.buckets = NULL;
    own.noted = NULL;
    own.oldest = own.newest = NULL;
    own.listed = own.capacity = 0;
    own.nnoted = own.capnoted = 0;
    own.off_until = 0;
    own.ready = false;
    pthread_mutex_unlock(&own.lock);
}

static uint64_t table_hash(const char *table, size_t len)
{
    return XXH3_64bits(table, len);
}

static struct own **bucket(uint64_t key, uint64_t image)
{
    return &own.buckets[(key ^ image) & (own.nbuckets - 1)];
}

/* Unlinks a live entry from its bucket and marks it dead. */
static void own_kill(struct own *e)
{
    for (struct own **link = bucket(e->key, e->image); *link; link = &(*link)->hnext)
        if (*link == e) {
            *link = e->hnext;
            break;
        }
    e->dead = true;
}

/* Frees dead and expired entries at the head of the list; under the lock. */
static void expire(uint64_t now)
{
    while (own.oldest && (own.oldest->dead || own.oldest->expires <= now)) {
        struct own *e = own.oldest;
        if (!e->dead) own_kill(e);
        own.oldest = e->fnext;
        if (!own.oldest) own.newest = NULL;
        own.listed--;
        free(e);
    }
}

static struct own *find(uint64_t table, uint64_t key, uint64_t image, bool seen)
{
    for (struct own *e = *bucket(key, image); e; e = e->hnext)
        if (e->table == table && e->key == key && e->image == image && e->seen == seen) return e;
    return NULL;
}

/* Adds an entry unless the list is full; under the lock. */
static bool add(uint64_t table, uint64_t key, uint64_t image, bool seen, const uint64_t *tags,
                unsigned ntags, uint64_t now)
{
    if (own.listed >= own.capacity) return false;
    struct own *e = xcalloc(1, sizeof(*e));
    *e = (struct own){.table = table,
                      .key = key,
                      .image = image,
                      .expires = now + own.keep_ms,
                      .seen = seen,
                      .ntags = ntags};
    if (ntags) memcpy(e->tags, tags, ntags * sizeof(*tags));
    struct own **b = bucket(key, image);
    e->hnext = *b;
    *b = e;
    if (own.newest)
        own.newest->fnext = e;
    else
        own.oldest = e;
    own.newest = e;
    own.listed++;
    return true;
}

static struct noted *find_noted(uint64_t table)
{
    for (int i = 0; i < own.nnoted; i++)
        if (own.noted[i].table == table) return &own.noted[i];
    return NULL;
}

void stream_own_reset(const char *name, size_t len, bool noted, uint64_t now_ms)
{
    uint64_t t = table_hash(name, len);
    pthread_mutex_lock(&own.lock);
    for (struct own *e = own.oldest; e; e = e->fnext)
        if (!e->dead && e->table == t) own_kill(e);
    struct noted *n = find_noted(t);
    if (noted && !n) {
        if (own.nnoted == own.capnoted) {
            own.capnoted = own.capnoted ? own.capnoted * 2 : 8;
            own.noted = xrealloc(own.noted, (size_t)own.capnoted * sizeof(*own.noted));
        }
        n = &own.noted[own.nnoted++];
        n->table = t;
    } else if (!noted && n) {
        *n = own.noted[--own.nnoted];
        n = NULL;
    }
    if (n) n->since = now_ms;
    pthread_mutex_unlock(&own.lock);
}

void stream_own_note(const struct query_table *t, const struct cache_key *k,
                     const struct json *new_image, const uint64_t *tags, unsigned ntags,
                     uint64_t sent_ms, uint64_t now_ms)
{
    uint64_t image = ABSENT_IMAGE;
    if (ntags > OWN_MAX_TAGS || (new_image && !stream_image_hash(new_image, &image))) return;
    uint64_t table = table_hash(t->table, t->table_len), key = k->hash;
    pthread_mutex_lock(&own.lock);
    const struct noted *n = own.ready ? find_noted(table) : NULL;
    if (n && sent_ms > n->since) {
        expire(now_ms);
        struct own *seen = find(table, key, image, true);
        if (seen) /* its record went by before this answer: it was applied then */
            own_kill(seen);
        else if (now_ms >= own.off_until)
            add(table, key, image, false, tags, ntags, now_ms);
    }
    pthread_mutex_unlock(&own.lock);
}

static bool subset(const uint64_t *a, unsigned na, const uint64_t *b, unsigned nb)
{
    for (unsigned i = 0; i < na; i++) {
        unsigned j = 0;
        while (j < nb && b[j] != a[i])
            j++;
        if (j == nb) return false;
    }
    return true;
}

/* True when the record is one of an own write that bumped all its tags. */
static bool own_record(uint64_t table, uint64_t key, uint64_t image, const uint64_t *tags,
                       unsigned ntags, uint64_t now)
{
    bool skip = false;
    pthread_mutex_lock(&own.lock);
    if (own.ready && find_noted(table)) {
        expire(now);
        struct own *e = find(table, key, image, false);
        if (e) {
            skip = subset(tags, ntags, e->tags, e->ntags);
            own_kill(e);
        } else if (!add(table, key, image, true, NULL, 0, now)) {
            /* without this record remembered, its write could be noted
             * later and wrongly match a later record: note nothing a while */
            own.off_until = now + own.keep_ms;
        }
    }
    pthread_mutex_unlock(&own.lock);
    return skip;
}

/* ---- records ---- */

static void base_schema(const struct query_table *t, struct key_schema *ks)
{
    memset(ks, 0, sizeof(*ks));
    ks->table = t->table;
    ks->table_len = t->table_len;
    ks->attr[0] = t->index[0].hash;
    ks->attr[1] = t->index[0].range;
    ks->nattrs = t->index[0].range.name ? 2 : 1;
}

static unsigned tag_hashes(const struct invalidation_tags *tags, uint64_t *out)
{
    for (int i = 0; i < tags->n; i++)
        out[i] = tags_hash(tags->tag[i].data, tags->tag[i].len);
    return (unsigned)tags->n;
}

/* Appends bytes (copied into a) to a list of fx, grown in a. */
static void effect_add(struct arena *a, struct peer_bytes **list, size_t *n, size_t *cap,
                       const void *data, size_t len)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct peer_bytes *grown = arena_alloc(a, ncap * sizeof(*grown));
        if (*n) memcpy(grown, *list, *n * sizeof(*grown));
        *list = grown;
        *cap = ncap;
    }
    uint8_t *copy = len ? arena_alloc(a, len) : NULL;
    if (len) memcpy(copy, data, len);
    (*list)[(*n)++] = (struct peer_bytes){copy, len};
}

static void collect(struct arena *a, struct stream_effects *fx, const struct cache_key *k,
                    const struct invalidation_tags *tags)
{
    const char *nul = memchr(k->data, '\0', k->len);
    size_t skip = nul ? (size_t)(nul - (const char *)k->data) + 1 : 0;
    effect_add(a, &fx->keys, &fx->nkeys, &fx->kcap, (const char *)k->data + skip, k->len - skip);
    for (int i = 0; i < tags->n; i++)
        effect_add(a, &fx->tags, &fx->ntags, &fx->tcap, tags->tag[i].data, tags->tag[i].len);
}

enum stream_applied stream_apply(struct arena *a, const struct query_table *t,
                                 const struct stream_record *r, uint64_t now_ms)
{
    return stream_apply_collect(a, t, r, now_ms, NULL);
}

enum stream_applied stream_apply_collect(struct arena *a, const struct query_table *t,
                                         const struct stream_record *r, uint64_t now_ms,
                                         struct stream_effects *fx)
{
    struct invalidation_write w;
    struct invalidation_tags tags;
    uint64_t hashes[INVALIDATION_MAX_TAGS];
    struct key_schema ks;
    struct buf kb = BUF_INIT;
    struct attr_error err;
    stream_record_write(r, &w);
    base_schema(t, &ks);
    if (key_from_key(&ks, r->keys, &kb, &err) != KEY_OK) {
        buf_free(&kb);
        invalidation_table_tags(a, t, &tags);
        tags_bump(hashes, tag_hashes(&tags, hashes), now_ms);
        METRIC_ADD(query_cache_tag_bumps, 1);
        return STREAM_UNKEYED;
    }
    invalidation_write_tags(a, t, &w, &tags);
    unsigned n = tag_hashes(&tags, hashes);
    struct cache_key k;
    cache_key_init(&k, kb.data, kb.len);
    uint64_t image = ABSENT_IMAGE;
    bool matchable = r->event == STREAM_REMOVE || stream_image_hash(r->new_image, &image);
    if (matchable &&
        own_record(table_hash(t->table, t->table_len), k.hash, image, hashes, n, now_ms)) {
        buf_free(&kb);
        METRIC_INCR(stream_records_own);
        return STREAM_APPLIED_OWN;
    }
    /* tags first: a Query page filling the item cache checks its tags after
     * taking its item leases, so it either sees this bump or loses its lease */
    tags_bump(hashes, n, now_ms);
    METRIC_ADD(query_cache_tag_bumps, n);
    cache_invalidate(&k);
    if (fx) collect(a, fx, &k, &tags);
    buf_free(&kb);
    METRIC_INCR(stream_records);
    return STREAM_APPLIED;
}
