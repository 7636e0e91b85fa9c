/*
 * tags.h: tag generations, the freshness of cached Query and Scan results,
 * shared by all worker threads.
 *
 * A tag is opaque bytes (proto/invalidation.h builds them: a table, a Scan
 * of it, an index, one partition of an index), known here by its 64-bit
 * hash. A write bumps the tags of what it may have changed: each bump takes
 * the next value of one global generation counter. A fill takes a snapshot
 * first: the counter's value then, and the hashes of the tags its result
 * depends on. The result is valid while none of those tags has a generation
 * above the snapshot's: it is checked when the fill installs the result
 * (the lease idea cache/cache.c uses for items) and again on every hit, so
 * a bump makes every dependent result stale at once, on every thread,
 * without finding or deleting any of them.
 *
 * Hot window: a GSI is updated asynchronously, and an eventually consistent
 * read may miss a write for a moment, so a fill started just after a bump
 * may read the state from before it. For `hot_ms` after a bump, snapshots
 * of the tag say TAGS_HOT: the result is served but not cached.
 *
 * Memory: tags live in shards (a mutex, a hash by tag, a list in bump
 * order), within a byte budget. A tag may be dropped at any time because
 * each shard keeps a floor, the highest generation it ever dropped, and
 * treats an absent tag as having that generation: a snapshot stays valid
 * through a drop only if the floor is still at or below it. Shards drop
 * oldest bumps first, so a drop only ever fails snapshots taken before the
 * dropped tag's last bump: once that bump is older than `retain_ms` (the
 * query TTL plus the longest fill), no live result has such a snapshot, and
 * dropping costs nothing. Tags are dropped when that old, and earlier only
 * when the budget is full (then a few results go stale early: a miss, never
 * a stale hit). A hot tag dropped early leaves its shard hot until it would
 * have cooled. Hash collisions merge two tags: extra misses, never stale hits.
 *
 * Notes: a bump may carry a note, a few opaque bytes saying what the write
 * did (proto/range.h writes and reads them: the written item's key and where
 * its new image lies in the tag's partition). Each tag keeps the notes of its
 * last TAGS_NOTES bumps; a bump without a note, a note pushed out of the ring
 * and a tag dropped and made again all read as "unknown". tags_valid_noted()
 * lets a result whose tags moved stay valid when every bump since its
 * snapshot carried a note its caller accepts (docs/QUERY_CACHE.md,
 * "Range-precise pages").
 *
 * Time is passed in (milliseconds, any monotonic origin), for fake clocks.
 */
#ifndef DDBX_CACHE_TAGS_H
#define DDBX_CACHE_TAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TAGS_MAX_SNAPSHOT 4 /* a Query result depends on 3 tags, a Scan on 2 */

/* tags_snapshot's answer: OK, or HOT (negative, as every outcome but OK is:
 * util/common.h), which is no error but says "do not cache". */
enum tags_status { TAGS_OK = 0, TAGS_HOT = -1 };

/* What a fill remembers, and what a cached result keeps next to its value. */
struct tags_snapshot {
    uint64_t seq; /* the generation counter when the snapshot was taken */
    unsigned n;
    uint64_t hash[TAGS_MAX_SNAPSHOT];
};

#define TAGS_NOTES 8     /* notes kept per tag */
#define TAGS_NOTE_MAX 64 /* bytes of one note */

/* What one bump of a tag says about its write; len 0: unknown. */
struct tags_note {
    uint64_t gen; /* the bump's generation (set by tags_bump_noted) */
    uint64_t ms;  /* when it was bumped (set by tags_bump_noted) */
    uint32_t len;
    unsigned char data[TAGS_NOTE_MAX];
};

/* Decides whether one noted bump leaves a result as it is (true). Called with
 * a shard lock held: it must only compute. */
typedef bool (*tags_note_fn)(const struct tags_note *note, void *ctx);

struct tags_stats {
    uint64_t tags;    /* tags held */
    uint64_t bytes;   /* memory they hold, buckets included */
    uint64_t limit;   /* the budget */
    uint64_t expired; /* dropped after retain_ms (free) */
    uint64_t evicted; /* dropped early for room (a few early misses) */
    uint64_t seq;     /* the generation counter */
};

/* memory: the byte budget; hot_ms: the hot window; retain_ms: how long a
 * bump is remembered at least, when there is room (raised to hot_ms if
 * below); shards: a power of two (0: 16). Returns DDBX_OK, or DDBX_ERR when
 * shards is not a power of two or leaves a shard under 4 KiB. */
int tags_setup(uint64_t memory, uint64_t hot_ms, uint64_t retain_ms, unsigned shards);
void tags_teardown(void);

/* The hash a tag is known by. */
uint64_t tags_hash(const void *tag, size_t len);

/* Takes a snapshot of n tags before a fill reads the backend. Returns
 * TAGS_OK, or TAGS_HOT when one of them was bumped less than hot_ms ago (the
 * snapshot is filled in all the same, but the result must not be cached) or
 * n is above TAGS_MAX_SNAPSHOT (nothing is kept). */
int tags_snapshot(struct tags_snapshot *s, const uint64_t *hashes, unsigned n, uint64_t now_ms);
/* True while no tag of the snapshot was bumped since it was taken. */
bool tags_valid(const struct tags_snapshot *s);
/* Bumps n tags: every result depending on one of them becomes stale, and
 * each is hot for hot_ms. Call it when a write's answer arrives (or its
 * outcome is unknown), and for each stream record applied. */
void tags_bump(const uint64_t *hashes, unsigned n, uint64_t now_ms);
/* tags_bump, with notes[i] (copied; len 0 or notes NULL: unknown) kept with
 * the bump of hashes[i]. */
void tags_bump_noted(const uint64_t *hashes, const struct tags_note *notes, unsigned n,
                     uint64_t now_ms);
/* True when every tag of the snapshot is unmoved, or was bumped since the
 * snapshot only with notes still kept that keeps() accepts. *seq is then a
 * generation the result may be re-stamped with (a snapshot with that seq
 * and the same tags is valid): the counter read before the first check. */
bool tags_valid_noted(const struct tags_snapshot *s, tags_note_fn keeps, void *ctx, uint64_t *seq);
/* For a snapshot of n tags taken at at_ms that said TAGS_HOT: true when every
 * bump that made one of them hot then (bumped less than hot_ms before
 * at_ms) carried a note still kept that keeps() accepts, so a result that
 * those bumps leave as it is may be cached as if the snapshot were not hot.
 * A bump without a note in that window, or pushed out of the ring, or a hot
 * tag dropped early: false. */
bool tags_hot_noted(const uint64_t *hashes, unsigned n, uint64_t at_ms, tags_note_fn keeps,
                    void *ctx);

void tags_get_stats(struct tags_stats *s);

#endif
