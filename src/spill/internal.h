/*
 * internal.h: what spill.c (the callers' side: queue, pending map, reads,
 * setup) and writer.c (the writer thread) share. Not for other modules.
 *
 * One mutex (s.lock) guards the queue, the pending map, the named values
 * and the state flags; every critical section is a few pointer moves, and
 * no LMDB call is made under it.
 */
#ifndef DDBX_SPILL_INTERNAL_H
#define DDBX_SPILL_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "spill/spill.h"

#define SPILL_ID_LEN 16 /* XXH3-128 of the cache key: the records database's key */

enum spill_op_kind {
    OP_PUT,  /* store a record (data: key, value) */
    OP_DEL,  /* remove the key's record, whatever it is (data: key) */
    OP_DROP, /* remove the record only if it is still the one a get rejected */
    OP_META, /* store a named value (data: name, value) */
};

#define DROP_IF_CORRUPT UINT64_MAX /* OP_DROP's seq: remove only an undecodable record */

struct spill_op {
    struct spill_op *next; /* queue order */
    enum spill_op_kind kind;
    uint8_t id[SPILL_ID_LEN];
    struct spill_entry e; /* OP_PUT */
    uint64_t seq;         /* OP_DROP: the rejected record's seq, or DROP_IF_CORRUPT */
    size_t klen, vlen;    /* key (OP_META: name) and value lengths in data */
    char data[];
};

/* Queued operations of one key: what gets must see before LMDB. */
struct spill_pending {
    struct spill_pending *next;
    uint8_t id[SPILL_ID_LEN];
    struct spill_op *put; /* the newest op if it is a put; NULL: deleted (a tombstone) */
    uint32_t nops;        /* OP_PUT/OP_DEL ops of the key still queued or in flight */
};

struct spill_named {
    struct spill_named *next;
    size_t nlen, vlen;
    char data[]; /* name, then value */
};

struct spill_state {
    struct spill_options o;
    char *dir;
    int lockfd;
    MDB_env *env;
    MDB_dbi records, age, meta;
    unsigned psize;
    uint64_t gen; /* changes at every setup: thread-local read txns from before are stale */
    enum spill_start start;
    unsigned readers_cleared;
    bool enabled;

    pthread_mutex_t lock;
    pthread_cond_t wake; /* the writer waits on it */
    pthread_cond_t done; /* spill_flush waits on it */
    struct spill_op *head, *tail;
    uint64_t nqueued;
    size_t put_bytes;   /* value + key bytes of queued puts */
    size_t other_bytes; /* bytes of queued deletes and named values */
    struct spill_pending **pending;
    uint64_t enqueued, finished, failed; /* ops counted for spill_flush */
    bool stopping, writer_waiting, writer_ready;
    bool paused;   /* a commit failed: puts are refused until one succeeds */
    bool readable; /* false: deletions could not be committed; gets miss */
    struct spill_named *named;
    struct spill_reader *readers;
    pthread_t writer;

    /* written by the writer thread, read by spill_get_stats (relaxed atomics) */
    uint64_t entries, used_bytes, commits;
};

extern struct spill_state s;

/* writer.c */
int spill__writer_start(void);
/* Commits what is queued, writes the clean mark if everything was
 * committed, syncs and joins the thread. */
void spill__writer_stop(void);

/* spill.c, for the writer (s.lock held where noted) */
/* Removes and returns up to max_ops queued ops (max_bytes of puts) in order. */
struct spill_op *spill__take(unsigned max_ops, size_t max_bytes);
/* The writer is done with ops (a list through next): committed (ok) or not.
 * Failed deletes and named values come back as the return value, to be
 * retried; failed puts and drops are freed. Takes s.lock. */
struct spill_op *spill__finish(struct spill_op *ops, bool ok);
/* Gives up on everything queued and pending: gets miss until
 * spill__set_readable() (s.lock held). */
void spill__unreadable_locked(void);
void spill__set_readable(void);

static inline size_t spill__op_cost(const struct spill_op *op)
{
    return sizeof(*op) + op->klen + op->vlen;
}

/* Big-endian helpers for LMDB keys. */
static inline void spill__be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
static inline uint64_t spill__get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

#define SPILL_CLEAN_MARK "ddbx.clean_stop_ms" /* meta name of the clean mark */

#endif
