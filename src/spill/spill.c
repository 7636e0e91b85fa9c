/*
 * spill.c: the callers' side of the spill tier: setup (and the warm-restart
 * decision), the queue of operations for the writer thread, the map of
 * pending operations that gets consult before LMDB, reads, named values and
 * teardown. The writer thread is in writer.c.
 *
 *   spill_put / spill_delete --> queue (s.head..s.tail) --> writer.c: batches, commits
 *                          \--> pending map (by key id) <-- spill_get, before LMDB
 *
 * LMDB layout (proto/spill-record.md): database "records" maps the 16-byte
 * XXH3-128 of the cache key (LMDB keys are limited to 511 bytes; cache keys
 * are not) to a record (record.h), which holds the full key so a get checks
 * it; "age" maps (written_ms, seq) to the id, oldest first, for eviction;
 * "meta" holds named values and the clean mark.
 */
#include "spill/spill.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "metrics/metrics.h"
#include "spill/internal.h"
#include "spill/record.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/log.h"

#define PENDING_BUCKETS 1024 /* power of two; the map holds what is queued */
#define DEFAULT_QUEUE_BYTES (16u << 20)
#define MAX_KEY (64u << 10)
#define MAX_NAME 200
#define MAX_NAMED_VALUE 4096
#define MAX_READERS 1024 /* one slot per thread that ever called spill_get */
#define MIN_MAP (1ull << 20)

struct spill_state s;
static uint64_t generation; /* survives setups, so stale thread-local txns are recognised */

struct spill_reader {
    MDB_txn *txn; /* this thread's read txn, reset between gets */
    struct spill_reader *next;
};
static _Thread_local struct spill_reader *tls_reader;
static _Thread_local uint64_t tls_gen;

static void make_id(const void *key, size_t klen, uint8_t *id)
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(key, klen));
    memcpy(id, c.digest, SPILL_ID_LEN);
}

/* ---- the environment and the warm-restart decision ---- */

static int env_open(void)
{
    /* MDB_NOSYNC: commits are not flushed; durability of single commits is
     * not needed because the clean mark, written and synced at teardown,
     * decides what the next start trusts. MDB_NOTLS: gets run on any thread,
     * each with its own txn. MDB_NORDAHEAD: reads are random 4 KiB pages.
     * No MDB_WRITEMAP: a full disk must be a write error, not a SIGBUS, and
     * the map must stay file-backed, not anonymous memory. */
    int rc = mdb_env_create(&s.env);
    if (rc == 0) rc = mdb_env_set_mapsize(s.env, s.o.map_size);
    if (rc == 0) rc = mdb_env_set_maxdbs(s.env, 3);
    if (rc == 0) rc = mdb_env_set_maxreaders(s.env, MAX_READERS);
    if (rc == 0) rc = mdb_env_open(s.env, s.dir, MDB_NOTLS | MDB_NOSYNC | MDB_NORDAHEAD, 0600);
    if (rc != 0) {
        mdb_env_close(s.env);
        s.env = NULL;
    }
    return rc;
}

/* Closes the environment and removes its files: a discard that costs the
 * same for any size and does not read a possibly damaged tree. */
static int env_remove(void)
{
    if (s.env) mdb_env_close(s.env);
    s.env = NULL;
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", s.dir, files[i]);
        if (unlink(path) < 0 && errno != ENOENT) return -errno;
    }
    return env_open();
}

/* Reads the clean mark: what the previous stop left. */
static enum spill_start read_mark(int *err)
{
    MDB_txn *txn;
    MDB_dbi meta;
    MDB_val k = {sizeof(SPILL_CLEAN_MARK) - 1, SPILL_CLEAN_MARK}, v;
    enum spill_start start = SPILL_START_UNCLEAN;
    *err = mdb_txn_begin(s.env, NULL, MDB_RDONLY, &txn);
    if (*err) return start;
    *err = mdb_dbi_open(txn, "meta", 0, &meta);
    if (*err == MDB_NOTFOUND) {
        *err = 0;
        start = SPILL_START_EMPTY; /* a new environment */
    } else if (*err == 0) {
        *err = mdb_get(txn, meta, &k, &v);
        if (*err == 0 && v.mv_size == 8)
            start = s.o.wall_ms() >= spill__get_be64(v.mv_data) ? SPILL_START_WARM
                                                                : SPILL_START_CLOCK_BACK;
        if (*err == MDB_NOTFOUND) *err = 0;
    }
    mdb_txn_abort(txn);
    return start;
}

/* Opens the databases, removes the clean mark (synced: from now on a crash
 * means discard) and loads the named values. */
static int env_prepare(void)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k = {sizeof(SPILL_CLEAN_MARK) - 1, SPILL_CLEAN_MARK}, v;
    int rc = mdb_txn_begin(s.env, NULL, 0, &txn);
    if (rc) return rc;
    if ((rc = mdb_dbi_open(txn, "records", MDB_CREATE, &s.records)) ||
        (rc = mdb_dbi_open(txn, "age", MDB_CREATE, &s.age)) ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s.meta)))
        goto error;
    rc = mdb_del(txn, s.meta, &k, NULL);
    if (rc && rc != MDB_NOTFOUND) goto error;
    if ((rc = mdb_cursor_open(txn, s.meta, &cur))) goto error;
    while ((rc = mdb_cursor_get(cur, &k, &v, s.named ? MDB_NEXT : MDB_FIRST)) == 0) {
        struct spill_named *n = xmalloc(sizeof(*n) + k.mv_size + v.mv_size);
        *n = (struct spill_named){s.named, k.mv_size, v.mv_size};
        memcpy(n->data, k.mv_data, k.mv_size);
        memcpy(n->data + k.mv_size, v.mv_data, v.mv_size);
        s.named = n;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) goto error;
    if ((rc = mdb_txn_commit(txn))) return rc;
    return mdb_env_sync(s.env, 1);
error:
    mdb_txn_abort(txn);
    return rc;
}

static void named_free_all(void)
{
    while (s.named) {
        struct spill_named *n = s.named;
        s.named = n->next;
        free(n);
    }
}

static const char *start_name(enum spill_start st)
{
    static const char *const names[] = {"new (empty)", "warm (clean stop)",
                                        "discarded (no clean mark: the last stop was unclean)",
                                        "discarded (the clock is behind the last clean stop)"};
    return names[st];
}

/* Opens the environment and decides what of it to trust. */
static int env_start(void)
{
    int rc = env_open(), err = 0;
    if (rc == 0) {
        int dead = 0;
        mdb_reader_check(s.env, &dead);
        s.readers_cleared = (unsigned)dead;
        s.start = read_mark(&err);
    }
    if (rc || err) {
        log_warn("spill: %s is unreadable (%s); starting empty", s.dir,
                 mdb_strerror(rc ? rc : err));
        s.start = SPILL_START_EMPTY;
        if ((rc = env_remove())) return rc;
    } else if (s.start == SPILL_START_UNCLEAN || s.start == SPILL_START_CLOCK_BACK) {
        if ((rc = env_remove())) return rc;
    }
    if ((rc = env_prepare()) == 0) return 0;
    /* e.g. a full disk: the removal of the mark could not be written;
     * starting empty frees the space the old contents held */
    log_warn("spill: cannot prepare %s (%s); starting empty", s.dir, mdb_strerror(rc));
    named_free_all();
    s.start = SPILL_START_EMPTY;
    if ((rc = env_remove()) == 0) rc = env_prepare();
    return rc;
}

static int lock_dir(void)
{
    if (mkdir(s.dir, 0700) < 0 && errno != EEXIST) return -errno;
    char path[4096];
    snprintf(path, sizeof(path), "%s/ddbx.lock", s.dir);
    s.lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s.lockfd < 0) return -errno;
    if (flock(s.lockfd, LOCK_EX | LOCK_NB) < 0) return -errno;
    return 0;
}

static void state_free(void)
{
    if (s.env) mdb_env_close(s.env);
    if (s.lockfd >= 0) close(s.lockfd);
    named_free_all();
    free(s.pending);
    free(s.dir);
    memset(&s, 0, sizeof(s));
    s.lockfd = -1;
}

int spill_setup(const struct spill_options *o)
{
    if (s.enabled || !o->dir || !*o->dir) return SPILL_ERR;
    if (o->map_size < MIN_MAP) {
        log_error("spill: the map size must be at least 1MiB");
        return SPILL_ERR;
    }
    memset(&s, 0, sizeof(s));
    s.o = *o;
    if (!s.o.wall_ms) s.o.wall_ms = clock_wall_ms;
    if (!s.o.queue_bytes) s.o.queue_bytes = DEFAULT_QUEUE_BYTES;
    s.o.dir = s.dir = xstrdup(o->dir);
    s.lockfd = -1;
    s.gen = ++generation;
    int rc = lock_dir();
    if (rc) {
        log_error("spill: cannot use %s: %s", s.dir,
                  rc == -EWOULDBLOCK ? "another process holds it" : strerror(-rc));
        goto error;
    }
    if ((rc = env_start())) {
        log_error("spill: cannot open %s: %s", s.dir, mdb_strerror(rc));
        goto error;
    }
    MDB_stat st;
    mdb_env_stat(s.env, &st);
    s.psize = st.ms_psize;
    s.pending = xcalloc(PENDING_BUCKETS, sizeof(*s.pending));
    s.readable = true;
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.wake, NULL);
    pthread_cond_init(&s.done, NULL);
    if (spill__writer_start() < 0) {
        log_error("spill: cannot start the writer thread");
        pthread_mutex_destroy(&s.lock);
        pthread_cond_destroy(&s.wake);
        pthread_cond_destroy(&s.done);
        goto error;
    }
    s.enabled = true;
    log_info("spill: %s in %s, map %llu MiB, %llu records%s", start_name(s.start), s.dir,
             (unsigned long long)(s.o.map_size >> 20),
             (unsigned long long)__atomic_load_n(&s.entries, __ATOMIC_RELAXED),
             s.readers_cleared ? ", stale readers cleared" : "");
    return SPILL_OK;
error:
    state_free();
    return SPILL_ERR;
}

static void pending_free_all(void)
{
    for (unsigned i = 0; i < PENDING_BUCKETS; i++)
        while (s.pending[i]) {
            struct spill_pending *p = s.pending[i];
            s.pending[i] = p->next;
            free(p);
        }
}

void spill_teardown(void)
{
    if (!s.enabled) return;
    spill__writer_stop();
    while (s.readers) {
        struct spill_reader *r = s.readers;
        s.readers = r->next;
        mdb_txn_abort(r->txn);
        free(r);
    }
    pending_free_all();
    pthread_mutex_destroy(&s.lock);
    pthread_cond_destroy(&s.wake);
    pthread_cond_destroy(&s.done);
    state_free();
}

bool spill_enabled(void)
{
    return s.enabled;
}

/* ---- the queue and the pending map (s.lock held) ---- */

static struct spill_pending **pending_link(const uint8_t *id)
{
    uint64_t h;
    memcpy(&h, id, sizeof(h));
    struct spill_pending **link = &s.pending[h & (PENDING_BUCKETS - 1)];
    while (*link && memcmp((*link)->id, id, SPILL_ID_LEN) != 0)
        link = &(*link)->next;
    return link;
}

static void pending_add(struct spill_op *op)
{
    struct spill_pending **link = pending_link(op->id);
    if (!*link) {
        *link = xcalloc(1, sizeof(**link));
        memcpy((*link)->id, op->id, SPILL_ID_LEN);
    }
    (*link)->put = op->kind == OP_PUT ? op : NULL;
    (*link)->nops++;
}

/* The writer is done with op. A failed put that is still the newest for
 * its key leaves a tombstone while other ops of the key are queued (the
 * conservative answer); the entry goes when none are. */
static void pending_release(struct spill_op *op)
{
    struct spill_pending **link = pending_link(op->id), *p = *link;
    if (!p) return;
    if (p->put == op) p->put = NULL;
    if (--p->nops == 0) {
        *link = p->next;
        free(p);
    }
}

static void enqueue(struct spill_op *op)
{
    op->next = NULL;
    if (s.tail)
        s.tail->next = op;
    else
        s.head = op;
    s.tail = op;
    s.nqueued++;
    s.enqueued++;
    if (op->kind == OP_PUT)
        s.put_bytes += spill__op_cost(op);
    else
        s.other_bytes += spill__op_cost(op);
    if (op->kind == OP_PUT || op->kind == OP_DEL) pending_add(op);
    if (s.writer_waiting) pthread_cond_signal(&s.wake);
}

struct spill_op *spill__take(unsigned max_ops, size_t max_bytes)
{
    struct spill_op *first = s.head, *last = NULL;
    size_t bytes = 0;
    for (unsigned n = 0; s.head && n < max_ops && (n == 0 || bytes < max_bytes); n++) {
        last = s.head;
        s.head = last->next;
        s.nqueued--;
        if (last->kind == OP_PUT) {
            bytes += spill__op_cost(last);
            s.put_bytes -= spill__op_cost(last);
        } else {
            s.other_bytes -= spill__op_cost(last);
        }
    }
    if (!last) return NULL;
    last->next = NULL;
    if (!s.head) s.tail = NULL;
    return first;
}

struct spill_op *spill__finish(struct spill_op *ops, bool ok)
{
    struct spill_op *retry = NULL, **tail = &retry;
    pthread_mutex_lock(&s.lock);
    while (ops) {
        struct spill_op *op = ops;
        ops = op->next;
        if (!ok && (op->kind == OP_DEL || op->kind == OP_META)) {
            *tail = op; /* still pending: gets keep seeing the tombstone */
            tail = &op->next;
            continue;
        }
        if (op->kind == OP_PUT || op->kind == OP_DEL) pending_release(op);
        s.finished++;
        free(op);
    }
    *tail = NULL;
    pthread_cond_broadcast(&s.done);
    pthread_mutex_unlock(&s.lock);
    return retry;
}

void spill__unreadable_locked(void)
{
    s.readable = false;
    while (s.head) {
        struct spill_op *op = s.head;
        s.head = op->next;
        s.finished++;
        free(op);
    }
    s.tail = NULL;
    s.nqueued = 0;
    s.put_bytes = s.other_bytes = 0;
    pending_free_all();
    pthread_cond_broadcast(&s.done);
}

void spill__set_readable(void)
{
    pthread_mutex_lock(&s.lock);
    s.readable = true;
    pthread_mutex_unlock(&s.lock);
}

static struct spill_op *op_new(enum spill_op_kind kind, const void *key, size_t klen,
                               const void *value, size_t vlen)
{
    struct spill_op *op = xmalloc(sizeof(*op) + klen + vlen);
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    op->klen = klen;
    op->vlen = vlen;
    if (klen) memcpy(op->data, key, klen);
    if (vlen) memcpy(op->data + klen, value, vlen);
    if (kind == OP_PUT || kind == OP_DEL) make_id(key, klen, op->id);
    return op;
}

/* ---- the calls ---- */

/* Queues a put; with wait, waits for room in the queue instead of dropping. */
static int put(const void *key, size_t klen, const void *value, size_t vlen,
               const struct spill_entry *e, bool wait)
{
    if (!s.enabled || klen > MAX_KEY || vlen + klen > s.o.map_size / 64 ||
        vlen + klen > s.o.queue_bytes) {
        if (s.enabled) METRIC_INCR(spill_dropped);
        return SPILL_DROPPED;
    }
    if (e->flags & SPILL_NEGATIVE) vlen = 0;
    struct spill_op *op = op_new(OP_PUT, key, klen, value, vlen);
    op->e = *e;
    op->e.written_ms = 0;
    pthread_mutex_lock(&s.lock);
    bool open, room;
    for (;;) {
        open = s.readable && !s.paused && !s.stopping;
        room = s.put_bytes + spill__op_cost(op) <= s.o.queue_bytes;
        if (!open || room || !wait) break;
        pthread_cond_wait(&s.done, &s.lock); /* the writer broadcasts as it finishes ops */
    }
    if (open && room) enqueue(op);
    pthread_mutex_unlock(&s.lock);
    if (open && room) return SPILL_OK;
    free(op);
    METRIC_INCR(spill_dropped);
    return SPILL_DROPPED;
}

int spill_put(const void *key, size_t klen, const void *value, size_t vlen,
              const struct spill_entry *e)
{
    return put(key, klen, value, vlen, e, false);
}

int spill_put_wait(const void *key, size_t klen, const void *value, size_t vlen,
                   const struct spill_entry *e)
{
    return put(key, klen, value, vlen, e, true);
}

void spill_delete(const void *key, size_t klen)
{
    if (!s.enabled) return;
    struct spill_op *op = op_new(OP_DEL, key, klen, NULL, 0);
    pthread_mutex_lock(&s.lock);
    /* unreadable: nothing is served until the tier has emptied itself */
    bool take = s.readable;
    if (take) enqueue(op);
    pthread_mutex_unlock(&s.lock);
    if (!take) free(op);
}

/* Asks the writer to remove a record a get rejected, if it is still there
 * (housekeeping: gets reject it anyway, so this may be skipped). */
static void drop_rejected(const uint8_t *id, uint64_t seq)
{
    struct spill_op *op = op_new(OP_DROP, NULL, 0, NULL, 0);
    memcpy(op->id, id, SPILL_ID_LEN);
    op->seq = seq;
    pthread_mutex_lock(&s.lock);
    bool take = s.readable && !s.paused && !s.stopping && s.other_bytes < s.o.queue_bytes;
    if (take) enqueue(op);
    pthread_mutex_unlock(&s.lock);
    if (!take) free(op);
}

/* This thread's read txn, renewed; NULL on failure. */
static MDB_txn *reader_txn(void)
{
    if (tls_reader && tls_gen == s.gen)
        return mdb_txn_renew(tls_reader->txn) == 0 ? tls_reader->txn : NULL;
    MDB_txn *txn;
    if (mdb_txn_begin(s.env, NULL, MDB_RDONLY, &txn) != 0) return NULL;
    struct spill_reader *r = xmalloc(sizeof(*r));
    r->txn = txn;
    pthread_mutex_lock(&s.lock);
    r->next = s.readers;
    s.readers = r;
    pthread_mutex_unlock(&s.lock);
    tls_reader = r;
    tls_gen = s.gen;
    return txn;
}

static bool servable(const struct spill_entry *e, uint32_t epoch, uint64_t now)
{
    if (now >= e->expires_ms) {
        METRIC_INCR(spill_expired);
        return false;
    }
    return e->epoch == epoch;
}

static void corrupt(const uint8_t *id, int rc)
{
    static bool warned; /* one line per process; the metric counts them all */
    if (!__atomic_exchange_n(&warned, true, __ATOMIC_RELAXED))
        log_warn("spill: corrupt record (%s) treated as a miss and deleted",
                 spill_record_strerror(rc));
    METRIC_INCR(spill_errors);
    drop_rejected(id, DROP_IF_CORRUPT);
}

/* Reads the key's record from LMDB; copies the value out before the txn ends. */
static int read_record(const uint8_t *id, const void *key, size_t klen, uint32_t epoch,
                       uint64_t now, struct buf *out, struct spill_entry *e)
{
    MDB_txn *txn = reader_txn();
    if (!txn) {
        METRIC_INCR(spill_errors);
        return SPILL_MISS;
    }
    MDB_val k = {SPILL_ID_LEN, (void *)id}, v;
    struct spill_record_fields f = {0};
    int rc = mdb_get(txn, s.records, &k, &v), dec = SPILL_RECORD_OK;
    bool hit = false, drop = false;
    if (rc == 0) dec = spill_record_decode(v.mv_data, v.mv_size, &f);
    if (rc == 0 && dec == SPILL_RECORD_OK && f.klen == klen && memcmp(f.key, key, klen) == 0) {
        *e = (struct spill_entry){f.value_crc, f.expires_ms, f.epoch, f.flags, f.written_ms};
        hit = servable(e, epoch, now);
        drop = !hit;
        if (hit && !(f.flags & SPILL_NEGATIVE)) buf_append(out, f.value, f.vlen);
    }
    mdb_txn_reset(txn);
    if (rc && rc != MDB_NOTFOUND) METRIC_INCR(spill_errors);
    if (rc == 0 && dec != SPILL_RECORD_OK) corrupt(id, dec);
    if (drop) drop_rejected(id, f.seq);
    return hit ? SPILL_OK : SPILL_MISS;
}

int spill_get(const void *key, size_t klen, uint32_t epoch, struct buf *out, struct spill_entry *e)
{
    if (!s.enabled) return SPILL_MISS;
    uint8_t id[SPILL_ID_LEN];
    make_id(key, klen, id);
    uint64_t now = s.o.wall_ms();
    size_t mark = out->len;
    int rc = SPILL_MISS;
    pthread_mutex_lock(&s.lock);
    struct spill_pending *p = s.readable ? *pending_link(id) : NULL;
    bool decided = !s.readable || p;
    if (p && p->put && p->put->klen == klen && memcmp(p->put->data, key, klen) == 0) {
        *e = p->put->e;
        buf_append(out, p->put->data + klen, p->put->vlen);
        rc = SPILL_OK;
    }
    pthread_mutex_unlock(&s.lock);
    if (!decided)
        rc = read_record(id, key, klen, epoch, now, out, e);
    else if (rc == SPILL_OK && !servable(e, epoch, now))
        rc = SPILL_MISS;
    if (rc == SPILL_OK) {
        METRIC_INCR(spill_hits);
    } else {
        out->len = mark;
        if (out->data) out->data[mark] = '\0';
        METRIC_INCR(spill_misses);
    }
    return rc;
}

/* ---- named values ---- */

static struct spill_named **named_link(const char *name, size_t nlen)
{
    struct spill_named **link = &s.named;
    while (*link && ((*link)->nlen != nlen || memcmp((*link)->data, name, nlen) != 0))
        link = &(*link)->next;
    return link;
}

int spill_meta_put(const char *name, const void *value, size_t len)
{
    size_t nlen = strlen(name);
    if (!s.enabled || nlen == 0 || nlen > MAX_NAME || len > MAX_NAMED_VALUE ||
        strcmp(name, SPILL_CLEAN_MARK) == 0)
        return SPILL_ERR;
    struct spill_named *n = xmalloc(sizeof(*n) + nlen + len);
    n->nlen = nlen;
    n->vlen = len;
    memcpy(n->data, name, nlen);
    if (len) memcpy(n->data + nlen, value, len);
    struct spill_op *op = op_new(OP_META, name, nlen, value, len);
    pthread_mutex_lock(&s.lock);
    struct spill_named **link = named_link(name, nlen), *old = *link;
    n->next = old ? old->next : NULL;
    *link = n;
    enqueue(op);
    pthread_mutex_unlock(&s.lock);
    free(old);
    return SPILL_OK;
}

int spill_meta_get(const char *name, struct buf *out)
{
    if (!s.enabled) return SPILL_MISS;
    pthread_mutex_lock(&s.lock);
    struct spill_named *n = *named_link(name, strlen(name));
    if (n) buf_append(out, n->data + n->nlen, n->vlen);
    pthread_mutex_unlock(&s.lock);
    return n ? SPILL_OK : SPILL_MISS;
}

/* ---- flush and figures ---- */

int spill_flush(void)
{
    if (!s.enabled) return SPILL_ERR;
    pthread_mutex_lock(&s.lock);
    uint64_t target = s.enqueued;
    while (s.finished < target && s.readable && !s.paused)
        pthread_cond_wait(&s.done, &s.lock);
    int rc = s.finished >= target && s.readable && !s.paused ? SPILL_OK : SPILL_ERR;
    pthread_mutex_unlock(&s.lock);
    return rc;
}

void spill_get_stats(struct spill_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (!s.enabled) return;
    st->start = s.start;
    st->map_size = s.o.map_size;
    st->readers_cleared = s.readers_cleared;
    st->entries = __atomic_load_n(&s.entries, __ATOMIC_RELAXED);
    st->used_bytes = __atomic_load_n(&s.used_bytes, __ATOMIC_RELAXED);
    st->commits = __atomic_load_n(&s.commits, __ATOMIC_RELAXED);
    pthread_mutex_lock(&s.lock);
    st->queued = s.nqueued;
    st->paused = s.paused;
    st->readable = s.readable;
    pthread_mutex_unlock(&s.lock);
}

uint64_t spill_wall_ms(void)
{
    return s.enabled ? s.o.wall_ms() : clock_wall_ms();
}
