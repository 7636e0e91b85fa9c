/*
 * stream.h: DynamoDB Streams readers, so that writes that bypass ddbx make
 * what it cached stale within a poll or two instead of a TTL.
 *
 * One reader per table ddbx serves whose backing table has a stream
 * (DescribeTable's LatestStreamArn; schema.c tells stream_watch()). A reader
 * runs on one libuv loop (the main thread's) and calls the Streams API
 * through a backend client of its own: DescribeStream for the shards,
 * GetShardIterator, then GetRecords per shard, one call in flight per shard
 * (DynamoDB allows two readers of a shard; ddbx uses one). Parents are read
 * before their children; a closed shard is read to its end, then its
 * children are found by describing the stream again. Polling an idle shard
 * backs off from poll_min_ms to poll_max_ms.
 *
 * Each record is applied by the rule of docs/QUERY_CACHE.md: the item's
 * entry is invalidated (never replaced from NewImage: an entry stored by a
 * write through ddbx carries no sequence number, so no record can be proved
 * newer than it, and an invalidation costs one read), and the query tags of
 * the partitions of its images are bumped. Records at or below the last
 * sequence number applied in their shard are skipped, so a duplicated or
 * replayed record changes nothing.
 *
 * Records of ddbx's own writes: a write through ddbx already invalidated
 * what it changed when it was answered, so its record would only cost the
 * same misses a second time (a leaderboard with 5% writes would drop from
 * about 95% hits to 90%). Writes answered through ddbx are noted
 * (stream_own_note) with their key, new image and the tags they bumped; the
 * first record of the same key and new image skips its bump if the write
 * bumped every tag it would. Why that is safe: the write's record comes
 * before the record of any later write of the key, so the first matching
 * record is the write's own or one of an earlier write (then the later
 * write's bump already covered it), and a record applied before the write
 * was answered is remembered for own_keep_ms so that the write is not noted
 * after its record went by. When the memory for this is full, writes are not
 * noted (their records bump again: extra misses, never stale results).
 *
 * Gaps: when a reader may have missed records (its start, a trimmed shard,
 * an iterator lost with nothing applied yet, an answer it cannot read, a
 * stream that disappeared) it calls `invalidate_table` (the table's epoch
 * changes: every entry of it goes) and bumps the table's tag.
 *
 * In a cluster (docs/CLUSTER.md, proto/peer-protocol.md 12.4) only a
 * table's owner among the live nodes reads its stream (`owns`): DynamoDB
 * allows two readers per shard, and one read per table is enough. What its
 * records change goes to every peer as well (`fanout`); the reader waits
 * for each page's fan-out before reading the next, and a shard's position
 * advances past a page only once every live peer acknowledged it. Every
 * position_ms (and when it stops reading a table) the owner publishes its
 * positions (`publish`); every node keeps the largest it hears of
 * (stream_position_note). When ownership moves (stream_reown: a peer came
 * or went), the old owner stops and the new one resumes each shard after the
 * largest position the cluster knows (AFTER_SEQUENCE_NUMBER), without a gap;
 * an open shard with no known position is read from LATEST, a gap, and
 * `invalidate_table` drops the table on every node (the caller sends FORGET).
 *
 * A warm restart (with the spill tier, spill/spill.h): at stream_stop each
 * table's reader stores where it got to in the named values of `meta_put`
 * (per shard: the last record applied; or none applied, read from its
 * start or from LATEST without a gap since: read it from TRIM_HORIZON; or
 * read to its end). The next start's reader of the same stream takes them
 * back once (`meta_get`) and resumes there instead of from LATEST with a gap:
 * shards it did not know are read whole (they opened while ddbx was
 * stopped), and positions older than 23 hours are refused (DynamoDB keeps
 * records 24 hours). `ready` says when a table's reader has read up to the
 * present (every shard answered an empty page or was read to its end, and
 * the stream was described since the last shard ended) or had a gap: from
 * then on nothing the cache holds of the table predates a write the stream
 * showed. The caller holds tables served from an earlier process's spilled
 * entries until then (handler/schema.h: schema_stream_ready).
 *
 * Threads: stream_watch, stream_own_note, stream_reown and
 * stream_position_note may be called from any thread; everything else runs
 * on the reader's loop.
 */
#ifndef DDBX_STREAM_STREAM_H
#define DDBX_STREAM_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "backend/backend.h"
#include "cache/cache.h"
#include "cluster/peer_msg.h"
#include "proto/json.h"
#include "proto/query.h"
#include "proto/stream.h"
#include "util/arena.h"
#include "util/buf.h"

struct stream_options {
    uv_loop_t *loop;                /* the readers' loop */
    const struct backend_ops *bops; /* the Streams client (a fake in unit tests) */
    void *backend;                  /* owned by the module from stream_setup on */
    /* A gap: everything cached of the table must go (the caller changes its epoch). */
    void (*invalidate_table)(const char *table, size_t len);
    uint64_t (*now_ms)(void); /* the cache's clock */
    uint64_t poll_min_ms;     /* 0: 100 */
    uint64_t poll_max_ms;     /* 0: 1000 */
    uint64_t describe_ms;     /* how often open streams are described again; 0: 60000 */
    uint64_t own_keep_ms; /* how long own writes and unmatched records are remembered; 0: 60000 */
    /* A cluster (all NULL without one). owns: this node reads the table's
     * stream (NULL: every table). fanout: sends what a page of records
     * changed to the peers (bytes copied) and calls done(arg, acked) once,
     * from any thread, when every live peer applied it (acked) or the ack
     * timeout passed. publish: STREAM_POSITION of a table's shards. */
    bool (*owns)(const char *table, size_t len);
    void (*fanout)(const char *table, size_t tlen, const struct peer_bytes *keys, size_t nkeys,
                   const struct peer_bytes *tags, size_t ntags, void (*done)(void *arg, bool acked),
                   void *arg);
    int (*publish)(const char *table, const char *arn, const struct peer_shard_pos *shards,
                   size_t nshards);
    uint64_t position_ms; /* how often positions are published, and ownership checked; 0: 1000 */
    uint64_t takeover_ms; /* a table this node comes to own is read after this long, so the old
                             owner's last position arrives first; 0: at once */
    /* A warm restart (NULL: none): named values kept across a clean stop,
     * as spill_meta_put/spill_meta_get (values up to 4 KiB; an empty value
     * is none). meta_get returns 0 and appends the value to out, or -1. */
    void (*meta_put)(const char *name, const void *value, size_t len);
    int (*meta_get)(const char *name, struct buf *out);
    /* The table's reader read up to the present, or had a gap (NULL: nobody
     * is told). On the loop's thread; may be called more than once. */
    void (*ready)(const char *table, size_t len);
};

/* Starts the module (no reader yet). Returns 0 or -1. */
int stream_setup(const struct stream_options *o);
/* On the loop's thread: stops every reader, closes the handles and the
 * backend client; run the loop afterwards to let them close. */
void stream_stop(void);
/* After the loop has run the closes: frees everything. */
void stream_teardown(void);

/* Any thread: a table ddbx serves, as just described (copied). A table with a
 * stream gets a reader (a new stream ARN restarts it); one without is logged
 * once. A no-op before stream_setup or after stream_stop. */
void stream_watch(const struct query_table *t);

/* Any thread: the live nodes changed; each table's reader starts or stops
 * as `owns` now says (on the loop, soon). */
void stream_reown(void);
/* Any thread: a peer's STREAM_POSITION entry: the last sequence number it
 * applied (and every live peer acknowledged) in a shard of a stream. The
 * largest seen per (stream, shard) is where this node resumes if it comes
 * to own the table. An empty sequence says nothing. */
void stream_position_note(const char *arn, size_t alen, const char *shard, size_t slen,
                          const char *seq, size_t qlen);

/* Any thread: a write through ddbx, sent at sent_ms, was answered at now_ms.
 * k: the item's cache key; new_image: the item after it (NULL: deleted);
 * tags: the tag hashes it bumped. Ignored unless the table's stream is read
 * with new images, and for writes sent before the reader was last
 * positioned (their records may be in a gap, never to be read). */
void stream_own_note(const struct query_table *t, const struct cache_key *k,
                     const struct json *new_image, const uint64_t *tags, unsigned ntags,
                     uint64_t sent_ms, uint64_t now_ms);

/* The per-table gauges of metrics.def (GAUGES_FN rows): each table's reader
 * state, and the lag of the last record applied. Thread-safe. */
void stream_gauge_state(struct buf *out, const char *name);
void stream_gauge_lag(struct buf *out, const char *name);

/* ---- record application (apply.c), public for the unit tests ---- */

enum stream_applied {
    STREAM_APPLIED = 0, /* the item invalidated and its tags bumped */
    STREAM_APPLIED_OWN, /* a record of ddbx's own write: nothing to do */
    STREAM_UNKEYED,     /* its key cannot be read: the table tag was bumped; the
                         * caller must drop the table's items (a gap) */
};
/* Applies one record of table t. Scratch memory comes from a. */
enum stream_applied stream_apply(struct arena *a, const struct query_table *t,
                                 const struct stream_record *r, uint64_t now_ms);
/* What applied records changed, for the peers: item keys (the cache key
 * after the table's NUL) and query tags, in the arena given. */
struct stream_effects {
    struct peer_bytes *keys, *tags;
    size_t nkeys, ntags, kcap, tcap;
};
/* stream_apply, adding what a STREAM_APPLIED record changed to fx. */
enum stream_applied stream_apply_collect(struct arena *a, const struct query_table *t,
                                         const struct stream_record *r, uint64_t now_ms,
                                         struct stream_effects *fx);
/* A canonical hash of an item image (an object of AttributeValues): member
 * and set order do not matter, numbers are compared as values ("1.50" is
 * "1.5"). False when the image holds a value it cannot read with certainty. */
bool stream_image_hash(const struct json *image, uint64_t *hash);
/* Own-write memory: set up by stream_setup; exposed for unit tests. */
void stream_own_setup(uint64_t keep_ms, unsigned capacity);
void stream_own_teardown(void);
/* The table's reader was (re)positioned at now_ms (its start, after a gap)
 * or stopped: what was remembered of it is forgotten, and from now on its
 * own writes are noted when `noted` (its stream carries new images). */
void stream_own_reset(const char *table, size_t len, bool noted, uint64_t now_ms);

#endif
