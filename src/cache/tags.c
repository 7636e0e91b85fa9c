/*
 * tags.c: tag generations in locked shards (see tags.h for the rules and
 * why dropping a tag is safe).
 *
 * A shard's tags are in a chained hash and in a list by bump order: the
 * head was bumped last, so the tail holds the lowest generation and is
 * what goes first, which keeps every tag present above the shard's floor.
 * Generations come from one atomic counter, incremented inside the bumped
 * tag's shard lock, so a snapshot that reads the counter after a bump also
 * sees that bump's hot window when it then locks the shard.
 *
 * Notes: a tag's ring (allocated at its first noted bump) holds the notes of
 * its last bumps; note_floor is the highest generation of a bump whose note
 * is not there (a bump without one, a note pushed out, bumps made before the
 * tag was last dropped: the shard's floor), so a snapshot at or above it
 * finds every later bump's note in the ring. unnoted_hot_until does the same
 * for the hot window: until then, a bump without a note kept is hot.
 */
#include "cache/tags.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util/common.h"

#define CHUNK_OVERHEAD sizeof(size_t) /* glibc's per-chunk header */
#define MIN_BUCKETS 64u

struct tag {
    struct tag *hnext;         /* bucket chain */
    struct tag *newer, *older; /* bump order: the shard's head is the newest */
    uint64_t hash;
    uint64_t gen;
    uint64_t bumped_ms;
    uint64_t note_floor;        /* bumps up to this generation have no note kept */
    uint64_t unnoted_hot_until; /* a bump without a note kept is hot until then */
    struct tags_note *notes;    /* ring of TAGS_NOTES, or NULL */
    uint8_t nnotes, next;       /* notes held; where the next goes */
};

struct shard {
    pthread_mutex_t lock;
    struct tag **buckets;
    uint32_t nbuckets; /* power of two */
    uint32_t count;
    struct tag *newest, *oldest;
    uint64_t floor;     /* the highest generation dropped */
    uint64_t hot_until; /* a hot tag was dropped early: absent tags are hot until then */
    uint64_t bytes, budget;
    uint64_t expired, evicted;
} __attribute__((aligned(64)));

static struct {
    struct shard *shards;
    unsigned nshards;
    uint64_t limit, hot_ms, retain_ms;
    _Atomic uint64_t seq;
} g;

static size_t tag_cost(struct tag *t)
{
    size_t ring = t->notes ? malloc_usable_size(t->notes) + CHUNK_OVERHEAD : 0;
    return malloc_usable_size(t) + CHUNK_OVERHEAD + ring;
}

static void tag_free(struct tag *t)
{
    free(t->notes);
    free(t);
}

static struct shard *shard_of(uint64_t hash)
{
    return &g.shards[(hash >> 40) & (g.nshards - 1)];
}

static struct tag **find(struct shard *s, uint64_t hash)
{
    struct tag **link = &s->buckets[hash & (s->nbuckets - 1)];
    while (*link && (*link)->hash != hash)
        link = &(*link)->hnext;
    return link;
}

int tags_setup(uint64_t memory, uint64_t hot_ms, uint64_t retain_ms, unsigned shards)
{
    if (shards == 0) shards = 16;
    if (shards & (shards - 1) || memory / shards < 4096) return DDBX_ERR;
    g.nshards = shards;
    g.limit = memory;
    g.hot_ms = hot_ms;
    g.retain_ms = MAX(retain_ms, hot_ms);
    atomic_store(&g.seq, 1);
    g.shards = xcalloc(shards, sizeof(*g.shards));
    for (unsigned i = 0; i < shards; i++) {
        struct shard *s = &g.shards[i];
        pthread_mutex_init(&s->lock, NULL);
        s->nbuckets = MIN_BUCKETS;
        s->buckets = xcalloc(MIN_BUCKETS, sizeof(*s->buckets));
        s->bytes = MIN_BUCKETS * sizeof(*s->buckets);
        s->budget = memory / shards;
    }
    return DDBX_OK;
}

void tags_teardown(void)
{
    for (unsigned i = 0; i < g.nshards; i++) {
        struct shard *s = &g.shards[i];
        for (struct tag *t = s->newest, *next; t; t = next) {
            next = t->older;
            tag_free(t);
        }
        free(s->buckets);
        pthread_mutex_destroy(&s->lock);
    }
    free(g.shards);
    memset(&g, 0, sizeof(g));
}

uint64_t tags_hash(const void *tag, size_t len)
{
    return XXH3_64bits(tag, len);
}

static void unlink_order(struct shard *s, struct tag *t)
{
    if (t->newer)
        t->newer->older = t->older;
    else
        s->newest = t->older;
    if (t->older)
        t->older->newer = t->newer;
    else
        s->oldest = t->newer;
    t->newer = t->older = NULL;
}

static void push_newest(struct shard *s, struct tag *t)
{
    t->older = s->newest;
    t->newer = NULL;
    if (s->newest) s->newest->newer = t;
    s->newest = t;
    if (!s->oldest) s->oldest = t;
}

/* Takes the oldest tag out (the caller frees it after unlocking); its
 * generation becomes the floor, its hot window the shard's if still open. */
static struct tag *drop_oldest(struct shard *s, uint64_t now_ms)
{
    struct tag *t = s->oldest;
    *find(s, t->hash) = t->hnext;
    unlink_order(s, t);
    s->count--;
    s->bytes -= tag_cost(t);
    s->floor = MAX(s->floor, t->gen);
    if (t->bumped_ms + g.retain_ms > now_ms) {
        s->evicted++;
        s->hot_until = MAX(s->hot_until, t->bumped_ms + g.hot_ms);
    } else {
        s->expired++;
    }
    return t;
}

static void grow(struct shard *s)
{
    uint32_t n = s->nbuckets * 2;
    uint64_t extra = (uint64_t)s->nbuckets * sizeof(*s->buckets);
    if (s->bytes + extra > s->budget / 2) return; /* longer chains rather than no tags */
    struct tag **b = xcalloc(n, sizeof(*b));
    for (uint32_t i = 0; i < s->nbuckets; i++) {
        for (struct tag *t = s->buckets[i], *next; t; t = next) {
            next = t->hnext;
            t->hnext = b[t->hash & (n - 1)];
            b[t->hash & (n - 1)] = t;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
    s->bytes += extra;
}

/* Keeps the note of t's bump just made (NULL or empty: unknown). *ring is
 * a fresh ring the call may keep (then set to NULL). */
static void note_locked(struct shard *s, struct tag *t, const struct tags_note *note,
                        struct tags_note **ring)
{
    if (!note || note->len == 0 || note->len > TAGS_NOTE_MAX || (!t->notes && !*ring)) {
        t->note_floor = t->gen; /* every earlier note says nothing past this one */
        t->unnoted_hot_until = t->bumped_ms + g.hot_ms;
        t->nnotes = 0;
        return;
    }
    if (!t->notes) {
        t->notes = *ring;
        *ring = NULL;
        s->bytes += malloc_usable_size(t->notes) + CHUNK_OVERHEAD;
    }
    if (t->nnotes == TAGS_NOTES) { /* the oldest goes */
        t->note_floor = MAX(t->note_floor, t->notes[t->next].gen);
        t->unnoted_hot_until = MAX(t->unnoted_hot_until, t->notes[t->next].ms + g.hot_ms);
    } else {
        t->nnotes++;
    }
    struct tags_note *n = &t->notes[t->next];
    n->gen = t->gen;
    n->ms = t->bumped_ms;
    n->len = note->len;
    memcpy(n->data, note->data, note->len);
    t->next = (uint8_t)((t->next + 1) % TAGS_NOTES);
}

/* Bumps one tag in its locked shard. *spare is a fresh tag the call may
 * keep (then set to NULL), *ring a fresh ring of notes; dropped tags are
 * chained on *dropped. */
static void bump_locked(struct shard *s, uint64_t hash, const struct tags_note *note,
                        uint64_t now_ms, struct tag **spare, struct tags_note **ring,
                        struct tag **dropped)
{
    struct tag **link = find(s, hash), *t = *link;
    if (t) {
        unlink_order(s, t);
    } else {
        t = *spare;
        *spare = NULL;
        t->hash = hash;
        while (s->oldest && s->bytes + tag_cost(t) > s->budget) {
            struct tag *d = drop_oldest(s, now_ms);
            d->hnext = *dropped;
            *dropped = d;
        }
        link = find(s, hash); /* drops may have moved the link */
        t->hnext = NULL;
        *link = t;
        s->count++;
        s->bytes += tag_cost(t);
        if (s->count > s->nbuckets) grow(s);
        t->note_floor = s->floor; /* its bumps before it was dropped: no notes */
        t->unnoted_hot_until = s->hot_until;
    }
    t->gen = atomic_fetch_add(&g.seq, 1) + 1;
    t->bumped_ms = now_ms;
    note_locked(s, t, note, ring);
    push_newest(s, t);
    /* remembering older bumps helps no live snapshot (tags.h) */
    while (s->oldest != t && s->oldest->bumped_ms + g.retain_ms <= now_ms) {
        struct tag *d = drop_oldest(s, now_ms);
        d->hnext = *dropped;
        *dropped = d;
    }
}

void tags_bump_noted(const uint64_t *hashes, const struct tags_note *notes, unsigned n,
                     uint64_t now_ms)
{
    for (unsigned i = 0; i < n; i++) {
        struct shard *s = shard_of(hashes[i]);
        const struct tags_note *note = notes && notes[i].len ? &notes[i] : NULL;
        struct tag *spare = xcalloc(1, sizeof(*spare)), *dropped = NULL;
        struct tags_note *ring = note ? xcalloc(TAGS_NOTES, sizeof(*ring)) : NULL;
        pthread_mutex_lock(&s->lock);
        bump_locked(s, hashes[i], note, now_ms, &spare, &ring, &dropped);
        pthread_mutex_unlock(&s->lock);
        free(spare);
        free(ring);
        while (dropped) {
            struct tag *next = dropped->hnext;
            tag_free(dropped);
            dropped = next;
        }
    }
}

void tags_bump(const uint64_t *hashes, unsigned n, uint64_t now_ms)
{
    tags_bump_noted(hashes, NULL, n, now_ms);
}

int tags_snapshot(struct tags_snapshot *snap, const uint64_t *hashes, unsigned n, uint64_t now_ms)
{
    snap->seq = atomic_load(&g.seq);
    if (n > TAGS_MAX_SNAPSHOT) { /* tags it could not keep: never cacheable */
        snap->n = 0;
        return TAGS_HOT;
    }
    snap->n = n;
    int rc = TAGS_OK;
    for (unsigned i = 0; i < n; i++) {
        struct shard *s = shard_of(hashes[i]);
        snap->hash[i] = hashes[i];
        pthread_mutex_lock(&s->lock);
        struct tag *t = *find(s, hashes[i]);
        uint64_t hot_until = t ? t->bumped_ms + g.hot_ms : s->hot_until;
        pthread_mutex_unlock(&s->lock);
        if (now_ms < hot_until) rc = TAGS_HOT;
    }
    return rc;
}

bool tags_valid(const struct tags_snapshot *snap)
{
    for (unsigned i = 0; i < snap->n; i++) {
        struct shard *s = shard_of(snap->hash[i]);
        pthread_mutex_lock(&s->lock);
        struct tag *t = *find(s, snap->hash[i]);
        uint64_t gen = t ? t->gen : s->floor;
        pthread_mutex_unlock(&s->lock);
        if (gen > snap->seq) return false;
    }
    return true;
}

/* Whether tag t (locked), bumped since seq, was bumped since only with
 * notes keeps() accepts. */
static bool notes_keep(const struct tag *t, uint64_t seq, tags_note_fn keeps, void *ctx)
{
    if (t->note_floor > seq) return false;
    for (unsigned j = 0; j < t->nnotes; j++) {
        const struct tags_note *n = &t->notes[(t->next + TAGS_NOTES - 1 - j) % TAGS_NOTES];
        if (n->gen <= seq) break; /* older notes are older bumps */
        if (!keeps(n, ctx)) return false;
    }
    return true;
}

bool tags_valid_noted(const struct tags_snapshot *snap, tags_note_fn keeps, void *ctx,
                      uint64_t *seq)
{
    /* every bump with a generation up to this is seen by the locks below */
    *seq = atomic_load(&g.seq);
    for (unsigned i = 0; i < snap->n; i++) {
        struct shard *s = shard_of(snap->hash[i]);
        pthread_mutex_lock(&s->lock);
        struct tag *t = *find(s, snap->hash[i]);
        bool ok =
            t ? t->gen <= snap->seq || notes_keep(t, snap->seq, keeps, ctx) : s->floor <= snap->seq;
        pthread_mutex_unlock(&s->lock);
        if (!ok) return false;
    }
    return true;
}

/* Whether tag t (locked), hot at at_ms, was made hot only by noted bumps
 * keeps() accepts. */
static bool hot_notes_keep(const struct tag *t, uint64_t at_ms, tags_note_fn keeps, void *ctx)
{
    if (t->unnoted_hot_until > at_ms) return false;
    for (unsigned j = 0; j < t->nnotes; j++) {
        const struct tags_note *n = &t->notes[(t->next + TAGS_NOTES - 1 - j) % TAGS_NOTES];
        if (n->ms + g.hot_ms > at_ms && !keeps(n, ctx)) return false;
    }
    return true;
}

bool tags_hot_noted(const uint64_t *hashes, unsigned n, uint64_t at_ms, tags_note_fn keeps,
                    void *ctx)
{
    for (unsigned i = 0; i < n; i++) {
        struct shard *s = shard_of(hashes[i]);
        pthread_mutex_lock(&s->lock);
        struct tag *t = *find(s, hashes[i]);
        bool ok = t ? t->bumped_ms + g.hot_ms <= at_ms || hot_notes_keep(t, at_ms, keeps, ctx)
                    : s->hot_until <= at_ms;
        pthread_mutex_unlock(&s->lock);
        if (!ok) return false;
    }
    return true;
}

void tags_get_stats(struct tags_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->limit = g.limit;
    st->seq = atomic_load(&g.seq);
    for (unsigned i = 0; i < g.nshards; i++) {
        struct shard *s = &g.shards[i];
        pthread_mutex_lock(&s->lock);
        st->tags += s->count;
        st->bytes += s->bytes;
        st->expired += s->expired;
        st->evicted += s->evicted;
        pthread_mutex_unlock(&s->lock);
    }
}
