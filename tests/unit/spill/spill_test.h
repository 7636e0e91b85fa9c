/*
 * spill_test.h: what the spill tier's tests share: a private directory, a
 * fake wall clock, setup/teardown with metrics, reading a metric back from
 * the /metrics text, and put/get helpers with string keys and values.
 */
#ifndef DDBX_TESTS_SPILL_TEST_H
#define DDBX_TESTS_SPILL_TEST_H

#include "testutil.h"

#include <dirent.h>
#include <lmdb.h>
#include <pthread.h>
#include <sys/wait.h>
#include <zlib.h>

#include "metrics/metrics.h"
#include "spill/spill.h"
#include "util/log.h"

#define MIB (1024ull * 1024)
#define T0 1700000000000ull /* the fake clock's start, ms */
#define TTL 300000ull

static uint64_t fake_now = T0;
/* The writer thread reads the clock: tests move it with these (atomic). */
static inline void fake_set(uint64_t v)
{
    __atomic_store_n(&fake_now, v, __ATOMIC_RELAXED);
}
static inline void fake_add(uint64_t d)
{
    __atomic_fetch_add(&fake_now, d, __ATOMIC_RELAXED);
}
static inline uint64_t fake_clock(void)
{
    return __atomic_load_n(&fake_now, __ATOMIC_RELAXED);
}

static char spill_dir[64];

static inline void spill_dir_remove(void)
{
    DIR *d = opendir(spill_dir);
    if (!d) return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof(path), "%s/%s", spill_dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(spill_dir);
}

/* A commit hook that holds the writer just before it commits while
 * hold_writer() is in effect. */
static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hook_cond = PTHREAD_COND_INITIALIZER;
static bool hook_hold, hook_waiting;

static inline void hold_hook(void)
{
    pthread_mutex_lock(&hook_lock);
    while (hook_hold) {
        hook_waiting = true;
        pthread_cond_broadcast(&hook_cond);
        pthread_cond_wait(&hook_cond, &hook_lock);
    }
    hook_waiting = false;
    pthread_mutex_unlock(&hook_lock);
}

static inline void hold_writer(void)
{
    pthread_mutex_lock(&hook_lock);
    hook_hold = true;
    pthread_mutex_unlock(&hook_lock);
}

/* Waits until the writer sits in the hook with a batch in hand. */
static inline void wait_writer_held(void)
{
    pthread_mutex_lock(&hook_lock);
    while (!hook_waiting)
        pthread_cond_wait(&hook_cond, &hook_lock);
    pthread_mutex_unlock(&hook_lock);
}

static inline void release_writer(void)
{
    pthread_mutex_lock(&hook_lock);
    hook_hold = false;
    pthread_cond_broadcast(&hook_cond);
    pthread_mutex_unlock(&hook_lock);
}

static inline struct spill_options spill_opts(uint64_t map_size)
{
    return (struct spill_options){spill_dir, map_size, fake_clock, 0, hold_hook};
}

static inline int reopen(void)
{
    struct spill_options o = spill_opts(16 * MIB);
    return spill_setup(&o);
}

/* A fresh directory, metrics, and the tier set up with o (dir filled in). */
static inline void open_fresh_with(struct spill_options o)
{
    snprintf(spill_dir, sizeof(spill_dir), "/tmp/ddbx-spill-XXXXXX");
    assert_non_null(mkdtemp(spill_dir));
    fake_set(T0);
    metrics_setup();
    metrics_thread_register();
    o.dir = spill_dir;
    assert_int_equal(spill_setup(&o), SPILL_OK);
}

static inline void open_fresh(uint64_t map_size)
{
    open_fresh_with(spill_opts(map_size));
}

static inline int group_setup(void **state)
{
    log_set_level(getenv("SPILL_TEST_LOG")
                      ? LOG_DEBUG
                      : LOG_ERROR); /* keep the expected warnings out of the test output */
    return 0;
}

static inline int setup_16m(void **state)
{
    open_fresh(16 * MIB);
    return 0;
}

static inline int teardown_all(void **state)
{
    spill_teardown();
    metrics_teardown();
    spill_dir_remove();
    return 0;
}

/* Replaces the fixture's tier with a fresh one set up with o. */
static inline void restart_fresh(struct spill_options o)
{
    teardown_all(NULL);
    open_fresh_with(o);
}

/* A metric's value summed over threads, from the Prometheus text. */
static inline long long metric(const char *name)
{
    struct buf out = BUF_INIT;
    metrics_render(&out);
    char needle[128];
    snprintf(needle, sizeof(needle), "\n%s ", name);
    const char *p = strstr(out.data, needle);
    if (!p) fail_msg("metric %s not rendered", name);
    long long v = strtoll(p + strlen(needle), NULL, 10);
    buf_free(&out);
    return v;
}

static inline int put_ttl(const char *key, const char *value, uint64_t ttl)
{
    struct spill_entry e = {0, fake_clock() + ttl, 1, value ? 0 : SPILL_NEGATIVE, 0};
    size_t vlen = value ? strlen(value) : 0;
    e.crc = (uint32_t)crc32(0, (const Bytef *)value, (uInt)vlen);
    return spill_put(key, strlen(key), value, vlen, &e);
}

static inline int put(const char *key, const char *value)
{
    return put_ttl(key, value, TTL);
}

/* The value spill_get finds for key (epoch 1) in *out, or SPILL_MISS. */
static inline int get(const char *key, struct buf *out)
{
    struct spill_entry e;
    buf_reset(out);
    int rc = spill_get(key, strlen(key), 1, out, &e);
    if (rc == SPILL_OK && !(e.flags & SPILL_NEGATIVE))
        assert_int_equal(e.crc, (uint32_t)crc32(0, (const Bytef *)out->data, (uInt)out->len));
    if (rc != SPILL_OK) assert_int_equal(out->len, 0);
    return rc;
}

/* Asserts that key reads back as value (NULL: a miss). */
static inline void assert_get(const char *key, const char *value)
{
    struct buf out = BUF_INIT;
    int rc = get(key, &out);
    if (!value) {
        if (rc != SPILL_MISS) fail_msg("%s: expected a miss, got \"%s\"", key, out.data);
    } else {
        if (rc != SPILL_OK) fail_msg("%s: expected \"%s\", got a miss", key, value);
        assert_int_equal(out.len, strlen(value));
        assert_memory_equal(out.data, value, out.len);
    }
    buf_free(&out);
}

static inline struct spill_stats stats(void)
{
    struct spill_stats st;
    spill_get_stats(&st);
    return st;
}

/* A second process using the environment with LMDB directly: the test
 * binary re-executed as `<binary> lmdb-reader DIR PIN` (exec, not a bare
 * fork: LMDB environments must not cross fork). It opens the environment,
 * begins a read transaction if PIN is 1 (pinning that snapshot's pages, as
 * a slow reader would), writes 'r' to stdout and exits when stdin has a
 * byte. Test mains call lmdb_reader_main first. */
static inline int lmdb_reader_main(int argc, char **argv)
{
    if (argc != 4 || strcmp(argv[1], "lmdb-reader") != 0) return -1;
    MDB_env *env;
    MDB_txn *txn = NULL;
    char c = 'r';
    if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 3) || mdb_env_set_maxreaders(env, 1024) ||
        mdb_env_open(env, argv[2], MDB_NOTLS, 0600))
        return 1;
    if (argv[3][0] == '1' && mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) return 2;
    if (write(1, &c, 1) != 1 || read(0, &c, 1) != 1) return 3;
    if (txn) mdb_txn_abort(txn);
    mdb_env_close(env);
    return 0;
}

struct helper {
    pid_t pid;
    int to, from;
};

static inline struct helper helper_start(bool pin)
{
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl("/proc/self/exe", "spill-helper", "lmdb-reader", spill_dir, pin ? "1" : "0",
              (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    struct helper h = {pid, in[1], out[0]};
    char c = 0;
    assert_int_equal(read(h.from, &c, 1), 1);
    assert_int_equal(c, 'r');
    return h;
}

static inline void helper_stop(struct helper *h)
{
    int status;
    assert_int_equal(write(h->to, "x", 1), 1);
    assert_int_equal(waitpid(h->pid, &status, 0), h->pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(h->to);
    close(h->from);
}

#endif
