/*
 * spill.h: the LMDB spill tier. Entries the item cache evicts from RAM are
 * written here, and a RAM miss looks here before the backend; a clean stop
 * leaves the tier trusted for the next start (a warm restart).
 *
 * Threads. spill_put, spill_delete and spill_meta_put only queue work for
 * ONE writer thread, which batches many of them into few LMDB commits; they
 * never wait on the disk. spill_get reads on the calling thread (any thread:
 * the environment is opened with MDB_NOTLS, and each thread keeps its own
 * read transaction, reset between gets and never shared).
 *
 * The rule that keeps a spilled value from being served after a newer write:
 * once spill_delete(k) has returned, no spill_get(k) returns a value put
 * before that call, even while the writer has not committed the delete (gets
 * consult the map of queued operations before LMDB).
 *
 * Trust across restarts. spill_setup removes the clean mark before anything
 * else happens and spill_teardown writes it after the last commit, so a
 * process that dies in between (kill -9, crash, power loss) leaves no mark
 * and the next spill_setup discards everything. The previous contents are
 * served only if the mark is present and the wall clock has not gone back
 * since the time it records.
 *
 * Failures. A full map (MDB_MAP_FULL), a full disk, an I/O error or a
 * corrupt record never crash the process nor answer wrongly: a corrupt
 * record is a miss (and is deleted); a failed commit drops that batch's
 * puts, pauses spilling (one log line, the ddbx_spill_paused gauge) and
 * resumes once a later commit succeeds (after freeing space, oldest first).
 * If even deletions cannot be committed, the tier stops answering (every get
 * misses) until it could empty itself, and the next start discards it.
 *
 * Module state is global, like the cache's: one tier per process.
 */
#ifndef DDBX_SPILL_SPILL_H
#define DDBX_SPILL_SPILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Return codes. */
enum spill_rc {
    SPILL_OK = 0,
    SPILL_MISS = -1,    /* spill_get/spill_meta_get: nothing (or nothing servable) */
    SPILL_DROPPED = -2, /* spill_put: not queued (queue full, too large, paused, off) */
    SPILL_ERR = -3,     /* setup failed / flush could not commit everything */
};

#define SPILL_NEGATIVE 1u /* flag: a cached "not found" (no value bytes) */

struct spill_options {
    const char *dir;   /* directory for data.mdb and lock.mdb (created if missing) */
    uint64_t map_size; /* the LMDB map size: the most the tier holds on disk */
    /* Wall clock in milliseconds; NULL: clock_wall_ms. Tests inject a fake. */
    uint64_t (*wall_ms)(void);
    /* Bytes of puts the writer's queue may hold before puts are dropped;
     * 0: 16 MiB. Deletes are never dropped. */
    size_t queue_bytes;
    /* For tests: called by the writer thread just before each commit. */
    void (*commit_hook)(void);
};

/* What put takes and get gives back. */
struct spill_entry {
    uint32_t crc;        /* CRC-32 of the value */
    uint64_t expires_ms; /* absolute wall-clock ms */
    uint32_t epoch;      /* the table's epoch when stored */
    uint32_t flags;      /* SPILL_NEGATIVE */
    uint64_t written_ms; /* get only: when the writer stored it (0 while queued) */
};

/* How the last spill_setup found the previous contents. */
enum spill_start {
    SPILL_START_EMPTY,     /* nothing there (first start, or unreadable files replaced) */
    SPILL_START_WARM,      /* clean mark present, clock not behind it: contents kept */
    SPILL_START_UNCLEAN,   /* no clean mark: discarded */
    SPILL_START_CLOCK_BACK /* the clock is behind the clean mark: discarded */
};

struct spill_stats {
    enum spill_start start;
    uint64_t entries;         /* records committed */
    uint64_t used_bytes;      /* pages in use in the map, times the page size */
    uint64_t map_size;        /* the map's size */
    uint64_t commits;         /* write transactions committed by the writer */
    uint64_t queued;          /* operations waiting for the writer */
    unsigned readers_cleared; /* stale reader slots mdb_reader_check freed at setup */
    bool paused;              /* spilling paused after a failed commit */
    bool readable;            /* false while the tier could not commit deletions */
};

/* Opens (or creates) the tier in o->dir and starts the writer thread; the
 * options are copied. The directory is locked (flock) against a second
 * process. Returns SPILL_OK, or SPILL_ERR (logged) if the map size is under
 * 1 MiB or the directory cannot be made, locked or opened. */
int spill_setup(const struct spill_options *o);
/* Commits everything queued, writes the clean mark, syncs, stops the writer
 * and closes the environment. Threads that called spill_get must not call it
 * again until a new spill_setup. No-op if the tier is not set up. */
void spill_teardown(void);
bool spill_enabled(void);

/* Queues a record for the key (klen bytes, opaque; up to 64 KiB) holding
 * value (vlen bytes; NULL with SPILL_NEGATIVE). Both are copied. Returns
 * SPILL_OK, or SPILL_DROPPED (counted in ddbx_spill_dropped_total) when the
 * queue holds o->queue_bytes of puts, key and value exceed 1/64 of the map,
 * spilling is paused, or the tier is not set up. */
int spill_put(const void *key, size_t klen, const void *value, size_t vlen,
              const struct spill_entry *e);

/* spill_put for a clean stop: instead of dropping a put the queue has no
 * room for, waits until the writer has made room. Still SPILL_DROPPED when
 * the record is too large, spilling is paused or not readable, or the tier
 * is not set up. */
int spill_put_wait(const void *key, size_t klen, const void *value, size_t vlen,
                   const struct spill_entry *e);

/* Forgets the key (its value was written or invalidated). Never dropped
 * (see the rule above), except while the tier is not readable, when nothing
 * is served until it has emptied itself. */
void spill_delete(const void *key, size_t klen);

/* Looks the key up. On a hit returns SPILL_OK, appends the value to out and
 * fills *e. A record that is absent, expired, of another epoch than `epoch`,
 * or corrupt is SPILL_MISS (and the last three are deleted). */
int spill_get(const void *key, size_t klen, uint32_t epoch, struct buf *out, struct spill_entry *e);

/* Named values kept with the tier (table epochs, stream positions), trusted
 * exactly as the records are: kept across a clean stop, discarded with them.
 * Names are up to 200 bytes; values up to 4 KiB. put copies both and queues
 * the write (never dropped); get answers from memory. */
int spill_meta_put(const char *name, const void *value, size_t len);
/* SPILL_OK and the value appended to out, or SPILL_MISS. */
int spill_meta_get(const char *name, struct buf *out);

/* Waits until every operation queued before the call is committed (or was
 * dropped). Returns SPILL_OK, or SPILL_ERR if some could not be committed
 * because the tier is paused or not readable. For tests and benchmarks. */
int spill_flush(void);

void spill_get_stats(struct spill_stats *s);

/* The wall clock the tier keeps expiries in (spill_options.wall_ms), in
 * milliseconds; clock_wall_ms when the tier is not set up. */
uint64_t spill_wall_ms(void);

#endif
