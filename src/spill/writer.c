/*
 * writer.c: the spill tier's one writer thread. It takes what callers
 * queued (puts, deletes, drops of rejected records, named values) in
 * batches, applies each batch in queue order in one write transaction,
 * evicts the oldest records when the map nears its size, and commits.
 *
 * Space. Pages in use are counted from the databases' own statistics
 * (O(1) per transaction). Above 3/4 of the map the oldest records go, by the
 * age index, in the same transaction as the batch that needs the room.
 * What must fit in the quarter left free: the pages this transaction copies
 * (copy-on-write) and those the previous one freed, which LMDB reuses only
 * one transaction later. Records are keyed by a hash, so the oldest are
 * scattered over the tree and each eviction copies a leaf; hence a batch is
 * at most 1/64 of the map's pages (operations) and bytes, and a transaction
 * evicts at most twice its batch's count (more, in eviction-only
 * transactions, when it falls behind). A failed commit (MDB_MAP_FULL, a
 * full disk, an I/O error) drops the batch's puts, pauses spilling with one
 * log line and retries with backoff: the retry evicts a slice of the oldest
 * records and commits the batch's deletes; its success resumes spilling.
 * After a space failure the limit is lowered below the usage that failed, so
 * the tier settles instead of failing again. Deletes that cannot be
 * committed for long make the tier unreadable until it could empty itself.
 *
 * Stop. The queue is drained, the data synced, and only then the clean mark
 * written and synced: a mark on disk always follows the data it vouches for.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/metrics.h"
#include "spill/internal.h"
#include "spill/record.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/log.h"

#define BACKOFF_FIRST_MS 10
#define BACKOFF_MAX_MS 1000
#define EPISODE_MS 10000 /* a pause within this of the last resume is the same episode */
/* written by retries: a commit that writes nothing proves nothing */
#define PROBE_NAME "ddbx.probe"

enum remove_mode { REMOVE_ANY, REMOVE_IF_SEQ, REMOVE_IF_CORRUPT };

/* Figures of one transaction, added to the metrics only once it commits. */
struct counts {
    int64_t writes, deletes, evictions, dropped;
};

static struct {
    uint64_t next_seq, last_written;
    uint64_t map_pages, high, floor; /* pages */
    unsigned batch_ops;              /* most operations per transaction */
    size_t batch_bytes;              /* most bytes of puts per transaction */
    bool behind;                     /* still above high after a transaction's evictions */
    struct spill_op *carry;
    size_t carry_bytes;
    struct buf scratch;
    uint64_t backoff_ms, retry_at, resumed_at, paused_at;
    bool pause_logged;
    int64_t g_entries, g_bytes; /* what this thread added to the gauges */
} w;

static void age_key(uint8_t *k, uint64_t written_ms, uint64_t seq)
{
    spill__be64(k, written_ms);
    spill__be64(k + 8, seq);
}

/* Pages the databases hold, free-list pages excluded (they are reused). */
static uint64_t used_pages(MDB_txn *txn)
{
    MDB_dbi dbis[] = {0 /* free list */, 1 /* names */, s.records, s.age, s.meta};
    uint64_t n = 2; /* the two meta pages */
    for (size_t i = 0; i < ARRAY_SIZE(dbis); i++) {
        MDB_stat st;
        if (mdb_stat(txn, dbis[i], &st) == 0)
            n += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
    }
    return n;
}

static uint64_t entries_of(MDB_txn *txn)
{
    MDB_stat st;
    return mdb_stat(txn, s.records, &st) == 0 ? st.ms_entries : 0;
}

static void set_limits(uint64_t high)
{
    w.high = MAX(high, w.floor);
}

/* ---- applying operations (inside the write transaction) ---- */

/* Removes the record stored under id (and its age entry) according to mode. */
static int remove_record(MDB_txn *txn, const uint8_t *id, enum remove_mode mode, uint64_t seq,
                         bool *removed)
{
    MDB_val k = {SPILL_ID_LEN, (void *)id}, v;
    struct spill_record_fields f;
    *removed = false;
    int rc = mdb_get(txn, s.records, &k, &v);
    if (rc) return rc == MDB_NOTFOUND ? 0 : rc;
    if (spill_record_decode(v.mv_data, v.mv_size, &f) != SPILL_RECORD_OK) {
        if (mode == REMOVE_IF_SEQ) return 0;
    } else {
        if (mode == REMOVE_IF_CORRUPT || (mode == REMOVE_IF_SEQ && f.seq != seq)) return 0;
        uint8_t ak[16];
        age_key(ak, f.written_ms, f.seq);
        MDB_val a = {sizeof(ak), ak};
        rc = mdb_del(txn, s.age, &a, NULL);
        if (rc && rc != MDB_NOTFOUND) return rc;
    }
    rc = mdb_del(txn, s.records, &k, NULL);
    *removed = rc == 0;
    return rc;
}

static int apply_put(MDB_txn *txn, const struct spill_op *op, struct counts *c)
{
    bool removed;
    int rc = remove_record(txn, op->id, REMOVE_ANY, 0, &removed);
    uint64_t now = s.o.wall_ms();
    if (rc || now >= op->e.expires_ms) return rc;
    w.last_written = MAX(w.last_written, now); /* keeps the age index in write order */
    struct spill_record_fields f = {op->e.flags,         op->e.epoch, w.last_written, w.next_seq++,
                                    op->e.expires_ms,    op->data,    op->klen,       op->e.crc,
                                    op->data + op->klen, op->vlen};
    buf_reset(&w.scratch);
    spill_record_encode(&w.scratch, &f);
    MDB_val k = {SPILL_ID_LEN, (void *)op->id}, v = {w.scratch.len, w.scratch.data};
    uint8_t ak[16];
    age_key(ak, f.written_ms, f.seq);
    MDB_val a = {sizeof(ak), ak}, id = {SPILL_ID_LEN, (void *)op->id};
    if ((rc = mdb_put(txn, s.records, &k, &v, 0)) == 0 &&
        (rc = mdb_put(txn, s.age, &a, &id, 0)) == 0)
        c->writes++;
    return rc;
}

static int apply(MDB_txn *txn, const struct spill_op *op, bool paused, struct counts *c)
{
    bool removed = false;
    int rc = 0;
    switch (op->kind) {
    case OP_PUT:
        if (paused) {
            c->dropped++;
            return 0;
        }
        return apply_put(txn, op, c);
    case OP_DEL:
        rc = remove_record(txn, op->id, REMOVE_ANY, 0, &removed);
        c->deletes += removed;
        return rc;
    case OP_DROP:
        return remove_record(txn, op->id,
                             op->seq == DROP_IF_CORRUPT ? REMOVE_IF_CORRUPT : REMOVE_IF_SEQ,
                             op->seq, &removed);
    case OP_META: {
        MDB_val k = {op->klen, (void *)op->data}, v = {op->vlen, (void *)(op->data + op->klen)};
        return mdb_put(txn, s.meta, &k, &v, 0);
    }
    }
    return 0;
}

/* Evicts oldest first while above the high mark (and, in retries after a
 * failure, at least `least` records), at most 2 * batch_ops records. */
static int evict(MDB_txn *txn, uint64_t least, struct counts *c)
{
    uint64_t used = used_pages(txn), most = 2ull * w.batch_ops;
    w.behind = false;
    if (used <= w.high && !least) return 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s.age, &cur);
    if (rc) return rc;
    MDB_val k, v;
    uint64_t n = 0;
    while ((used > w.high || n < least) && n < most &&
           (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
        uint8_t id[SPILL_ID_LEN];
        bool removed = false;
        if (k.mv_size == 16 && v.mv_size == SPILL_ID_LEN) {
            memcpy(id, v.mv_data, SPILL_ID_LEN);
            rc = remove_record(txn, id, REMOVE_IF_SEQ, spill__get_be64((uint8_t *)k.mv_data + 8),
                               &removed);
        }
        /* the age entry goes either way: it was the record's, or an orphan */
        if (rc == 0 && !removed) rc = mdb_cursor_del(cur, 0);
        if (rc) break;
        n++;
        c->evictions += removed;
        used = used_pages(txn);
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND) rc = 0; /* nothing left to evict */
    w.behind = rc == 0 && used > w.high && n == most;
    return rc;
}

/* ---- pause and resume ---- */

/* The metrics first: whoever sees the flag change sees them too. */
static void set_paused(bool paused)
{
    if (paused) METRIC_INCR(spill_pauses);
    METRIC_ADD(spill_paused, paused ? 1 : -1);
    pthread_mutex_lock(&s.lock);
    s.paused = paused;
    pthread_cond_broadcast(&s.done);
    pthread_mutex_unlock(&s.lock);
}

static void pause_after(int rc, uint64_t used_before)
{
    uint64_t now = clock_mono_ms();
    if (rc == MDB_MAP_FULL || rc == ENOSPC || rc == EFBIG || rc == MDB_TXN_FULL)
        set_limits(MIN(w.high, used_before * 7 / 8)); /* settle below what failed */
    METRIC_INCR(spill_errors);
    if (s.paused) { /* a retry failed */
        w.backoff_ms = MIN(w.backoff_ms * 2, BACKOFF_MAX_MS);
    } else {
        set_paused(true);
        w.paused_at = now;
        bool same_episode = w.resumed_at && now - w.resumed_at < EPISODE_MS;
        w.backoff_ms = same_episode ? MIN(w.backoff_ms * 2, BACKOFF_MAX_MS) : BACKOFF_FIRST_MS;
        w.pause_logged = !same_episode;
        if (!same_episode)
            log_warn("spill: paused: %s; entries evicted from RAM are dropped until space is "
                     "freed (limit now %llu KiB)",
                     mdb_strerror(rc), (unsigned long long)(w.high * s.psize >> 10));
    }
    w.retry_at = now + w.backoff_ms;
}

static void resume(void)
{
    uint64_t now = clock_mono_ms();
    if (w.pause_logged)
        log_info("spill: resumed after %llu ms", (unsigned long long)(now - w.paused_at));
    w.pause_logged = false;
    w.resumed_at = now;
    set_paused(false);
}

/* ---- transactions ---- */

struct figures {
    int64_t entries, bytes;
};

/* What the transaction leaves, read before it commits. */
static struct figures figures_of(MDB_txn *txn)
{
    return (struct figures){(int64_t)entries_of(txn), (int64_t)(used_pages(txn) * s.psize)};
}

static void publish(struct figures fig)
{
    int64_t entries = fig.entries, bytes = fig.bytes;
    METRIC_ADD(spill_entries, entries - w.g_entries);
    METRIC_ADD(spill_bytes, bytes - w.g_bytes);
    w.g_entries = entries;
    w.g_bytes = bytes;
    __atomic_store_n(&s.entries, (uint64_t)entries, __ATOMIC_RELAXED);
    __atomic_store_n(&s.used_bytes, (uint64_t)bytes, __ATOMIC_RELAXED);
}

static int probe(MDB_txn *txn)
{
    uint8_t now[8];
    spill__be64(now, s.o.wall_ms());
    MDB_val k = {sizeof(PROBE_NAME) - 1, PROBE_NAME}, v = {sizeof(now), now};
    return mdb_put(txn, s.meta, &k, &v, 0);
}

/* Applies ops (after any carried from a failed batch) in one transaction.
 * Returns true if it committed. */
static bool run_batch(struct spill_op *ops)
{
    struct spill_op **tail = &w.carry;
    while (*tail)
        tail = &(*tail)->next;
    *tail = ops;
    ops = w.carry;
    w.carry = NULL;
    w.carry_bytes = 0;

    bool paused = s.paused; /* only this thread changes it */
    struct counts c = {0};
    uint64_t used_before = __atomic_load_n(&s.used_bytes, __ATOMIC_RELAXED) / s.psize;
    struct figures fig = {0};
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(s.env, NULL, 0, &txn);
    for (struct spill_op *op = ops; op && !rc; op = op->next)
        rc = apply(txn, op, paused, &c);
    if (!rc && paused) {
        int dead;
        mdb_reader_check(s.env, &dead); /* a dead process may be pinning old pages */
        uint64_t entries = entries_of(txn);
        rc = evict(txn, entries ? MAX(1, entries / 16) : 0, &c);
        if (!rc) rc = probe(txn);
    } else if (!rc) {
        rc = evict(txn, 0, &c);
    }
    if (!rc) fig = figures_of(txn);
    if (!rc && s.o.commit_hook) s.o.commit_hook();
    if (!rc)
        rc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    if (rc == 0) {
        __atomic_add_fetch(&s.commits, 1, __ATOMIC_RELAXED);
        publish(fig);
        METRIC_ADD(spill_writes, c.writes);
        METRIC_ADD(spill_deletes, c.deletes);
        METRIC_ADD(spill_evictions, c.evictions);
        METRIC_ADD(spill_dropped, c.dropped);
        spill__finish(ops, true);
        if (paused) resume();
        return true;
    }
    for (struct spill_op *op = ops; op; op = op->next)
        if (op->kind == OP_PUT) METRIC_INCR(spill_dropped);
    w.carry = spill__finish(ops, false);
    for (struct spill_op *op = w.carry; op; op = op->next)
        w.carry_bytes += spill__op_cost(op);
    pause_after(rc, used_before);
    return false;
}

/* While unreadable: empties the tier (records, age index) and writes the
 * named values back; success makes it readable and resumes spilling. */
static bool try_empty(void)
{
    struct figures fig = {0};
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(s.env, NULL, 0, &txn);
    if (!rc) rc = mdb_drop(txn, s.records, 0);
    if (!rc) rc = mdb_drop(txn, s.age, 0);
    /* the named values, copied out first: no LMDB call under s.lock */
    struct buf named = BUF_INIT;
    pthread_mutex_lock(&s.lock);
    for (struct spill_named *n = s.named; n; n = n->next) {
        buf_append(&named, n, sizeof(*n));
        buf_append(&named, n->data, n->nlen + n->vlen);
    }
    pthread_mutex_unlock(&s.lock);
    for (size_t off = 0; off < named.len && !rc;) {
        struct spill_named n;
        memcpy(&n, named.data + off, sizeof(n));
        char *data = named.data + off + sizeof(n);
        MDB_val k = {n.nlen, data}, v = {n.vlen, data + n.nlen};
        rc = mdb_put(txn, s.meta, &k, &v, 0);
        off += sizeof(n) + n.nlen + n.vlen;
    }
    buf_free(&named);
    if (!rc) fig = figures_of(txn);
    if (!rc)
        rc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    if (rc) {
        w.backoff_ms = MIN(MAX(w.backoff_ms, BACKOFF_FIRST_MS) * 2, BACKOFF_MAX_MS);
        w.retry_at = clock_mono_ms() + w.backoff_ms;
        return false;
    }
    publish(fig);
    log_info("spill: emptied after failed commits; serving and spilling again");
    spill__set_readable();
    if (s.paused) resume();
    return true;
}

/* Gives up on everything queued or carried: deletes could not be committed
 * for too long, so nothing in LMDB may be served until it is emptied. */
static void go_unreadable_locked(void)
{
    log_error("spill: %zu bytes of deletes could not be committed; the tier answers nothing "
              "until it can empty itself",
              w.carry_bytes + s.other_bytes);
    while (w.carry) {
        struct spill_op *op = w.carry;
        w.carry = op->next;
        s.finished++;
        free(op);
    }
    w.carry_bytes = 0;
    spill__unreadable_locked();
    w.retry_at = 0;
}

/* Waits for work; returns the next batch (NULL: none) and whether to stop. */
static struct spill_op *next_batch(bool *stopping)
{
    pthread_mutex_lock(&s.lock);
    for (;;) {
        *stopping = s.stopping;
        if (*stopping) break;
        if (s.readable && w.carry_bytes + s.other_bytes > 4 * s.o.queue_bytes)
            go_unreadable_locked();
        if (!s.readable || s.paused) {
            uint64_t now = clock_mono_ms();
            if (now >= w.retry_at) break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t ns = (uint64_t)ts.tv_nsec + (w.retry_at - now) * 1000000ull;
            ts.tv_sec += (time_t)(ns / 1000000000ull);
            ts.tv_nsec = (long)(ns % 1000000000ull);
            pthread_cond_timedwait(&s.wake, &s.lock, &ts);
            continue;
        }
        if (s.head || w.carry) break;
        s.writer_waiting = true;
        pthread_cond_wait(&s.wake, &s.lock);
        s.writer_waiting = false;
    }
    struct spill_op *ops = s.readable ? spill__take(w.batch_ops, w.batch_bytes) : NULL;
    pthread_mutex_unlock(&s.lock);
    return ops;
}

/* Syncs the data, then writes and syncs the clean mark. */
static void write_clean_mark(void)
{
    uint8_t now[8];
    spill__be64(now, s.o.wall_ms());
    MDB_val k = {sizeof(SPILL_CLEAN_MARK) - 1, SPILL_CLEAN_MARK}, v = {sizeof(now), now};
    MDB_txn *txn = NULL;
    int rc = mdb_env_sync(s.env, 1);
    if (!rc) rc = mdb_txn_begin(s.env, NULL, 0, &txn);
    if (!rc) rc = mdb_put(txn, s.meta, &k, &v, 0);
    if (!rc) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (txn) mdb_txn_abort(txn);
    if (!rc) rc = mdb_env_sync(s.env, 1);
    if (rc)
        log_warn("spill: clean mark not written (%s): the next start discards the spill",
                 mdb_strerror(rc));
}

static void *writer_main(void *arg)
{
    log_set_thread_name("spill-writer");
    metrics_thread_register();
    METRIC_ADD(spill_entries, w.g_entries);
    METRIC_ADD(spill_bytes, w.g_bytes);
    pthread_mutex_lock(&s.lock);
    s.writer_ready = true; /* its figures are in the metrics before setup returns */
    pthread_cond_broadcast(&s.done);
    pthread_mutex_unlock(&s.lock);
    for (;;) {
        if (w.behind && s.readable && !s.paused) {
            run_batch(NULL); /* eviction only: puts wait until there is room */
            continue;
        }
        bool stopping;
        struct spill_op *ops = next_batch(&stopping);
        if (!s.readable) {
            if (try_empty() || !stopping) continue;
            break; /* stopping and still failing */
        }
        if (stopping && !ops && !w.carry) break;
        if (!run_batch(ops) && stopping) break;
    }
    pthread_mutex_lock(&s.lock);
    bool clean = s.readable && !s.paused && !w.carry && !s.head;
    pthread_mutex_unlock(&s.lock);
    if (clean) write_clean_mark();
    METRIC_ADD(spill_entries, -w.g_entries);
    METRIC_ADD(spill_bytes, -w.g_bytes);
    if (s.paused) METRIC_ADD(spill_paused, -1);
    return NULL;
}

/* Reads where the age index ends and what the tier holds. */
static int load_position(void)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_txn_begin(s.env, NULL, MDB_RDONLY, &txn);
    if (rc) return rc;
    if ((rc = mdb_cursor_open(txn, s.age, &cur)) == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        if (rc == 0 && k.mv_size == 16) {
            w.last_written = spill__get_be64(k.mv_data);
            w.next_seq = spill__get_be64((uint8_t *)k.mv_data + 8) + 1;
        }
        if (rc == MDB_NOTFOUND) rc = 0;
        mdb_cursor_close(cur);
    }
    w.g_entries = (int64_t)entries_of(txn);
    w.g_bytes = (int64_t)(used_pages(txn) * s.psize);
    __atomic_store_n(&s.entries, (uint64_t)w.g_entries, __ATOMIC_RELAXED);
    __atomic_store_n(&s.used_bytes, (uint64_t)w.g_bytes, __ATOMIC_RELAXED);
    mdb_txn_abort(txn);
    return rc;
}

int spill__writer_start(void)
{
    buf_free(&w.scratch);
    memset(&w, 0, sizeof(w));
    w.map_pages = s.o.map_size / s.psize;
    w.floor = w.map_pages / 8;
    set_limits(w.map_pages * 3 / 4);
    w.batch_ops = (unsigned)MIN(MAX(w.map_pages / 64, 2), 1024);
    w.batch_bytes = s.o.map_size / 64;
    if (load_position()) return -1;
    if (pthread_create(&s.writer, NULL, writer_main, NULL) != 0) return -1;
    pthread_mutex_lock(&s.lock);
    while (!s.writer_ready)
        pthread_cond_wait(&s.done, &s.lock);
    pthread_mutex_unlock(&s.lock);
    return 0;
}

void spill__writer_stop(void)
{
    pthread_mutex_lock(&s.lock);
    s.stopping = true;
    pthread_cond_signal(&s.wake);
    pthread_mutex_unlock(&s.lock);
    pthread_join(s.writer, NULL);
    /* what a failed stop left (the clean mark was not written) */
    pthread_mutex_lock(&s.lock);
    spill__unreadable_locked();
    pthread_mutex_unlock(&s.lock);
    while (w.carry) {
        struct spill_op *op = w.carry;
        w.carry = op->next;
        free(op);
    }
    buf_free(&w.scratch);
}
