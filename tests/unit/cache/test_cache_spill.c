/*
 * test_cache_spill.c: the item cache over the spill tier (cache/cache.c with
 * spill/spill.h set up in a temp dir, one fake clock for both): evicted
 * entries come back from the spill as hits with their value, CRC and expiry;
 * negative entries too; expired ones are not spilled; every write,
 * invalidation, consistent-read lease and hold removes the spilled copy;
 * held keys never read the spill; other epochs' records are misses; entries
 * that came back unchanged are not written again; concurrent misses make one
 * spill read; a clean stop spills RAM and the next start serves it; the
 * order of a key's spill puts and deletes follows the order the shard applied
 * them in (spill_put and spill_delete are wrapped with the linker's --wrap,
 * so a test can stall one of them for a key and act meanwhile); and a
 * threaded run of writes, evictions and reads never returns a value older
 * than the last acknowledged write.
 */
#include "spill/spill_test.h"

#include "cache/cache.h"
#include "util/crc.h"

#define BUDGET (64u << 10) /* one shard: about 40 entries of 1 KB */
#define FILLERS 200        /* enough 1 KB entries to push everything else out */

/* A 1 KB value whose first bytes name it: {"Item":{"v":{"S":"NAME"},"p":{"S":"xxx..."}}} */
static const char *value_of(const char *name)
{
    static _Thread_local char b[4][1100];
    static _Thread_local int n;
    char *out = b[n++ % 4];
    char pad[1001];
    memset(pad, 'x', 1000);
    pad[1000] = '\0';
    snprintf(out, sizeof(b[0]), "{\"Item\":{\"v\":{\"S\":\"%s\"},\"p\":{\"S\":\"%s\"}}}", name,
             pad);
    return out;
}

static struct cache_key ckey(const char *s, uint32_t epoch)
{
    struct cache_key k;
    cache_key_init(&k, s, strlen(s));
    k.epoch = epoch;
    return k;
}

static enum cache_kind cget(const char *k, uint32_t epoch, struct buf *out, uint32_t *crc,
                            struct cache_fill **f)
{
    struct cache_key ck = ckey(k, epoch);
    buf_reset(out);
    *f = NULL;
    return cache_get(&ck, fake_clock(), out, crc, f, NULL);
}

/* Caches k = value (NULL: a negative entry) through a miss and its fill. */
static void cache_filled(const char *k, const char *value)
{
    struct buf out = BUF_INIT;
    struct cache_fill *f;
    uint32_t crc;
    assert_int_equal(cget(k, 1, &out, &crc, &f), CACHE_MISS);
    struct cache_result r = {value ? CACHE_HIT : CACHE_NEGATIVE, value, value ? strlen(value) : 0,
                             value ? crc32_of(value, strlen(value)) : 0, 200};
    cache_fill_done(f, &r, fake_clock());
    buf_free(&out);
}

/* Installs FILLERS other entries (pushing everything older out of RAM) and
 * waits until the spill has committed what was evicted. */
static void push_out(void)
{
    static int round;
    round++;
    for (int i = 0; i < FILLERS; i++) {
        char k[32];
        snprintf(k, sizeof(k), "filler-%d-%d", round, i);
        struct cache_key ck = ckey(k, 1);
        cache_put(&ck, value_of(k), strlen(value_of(k)), fake_clock());
    }
    assert_int_equal(spill_flush(), SPILL_OK);
}

/* Asserts k is answered from the spill (not RAM, no lease) with value. */
static void assert_from_spill(const char *k, const char *value)
{
    struct buf out = BUF_INIT;
    struct cache_fill *f;
    uint32_t crc = 0;
    long long hits = metric("ddbx_spill_hits_total");
    enum cache_kind kind = cget(k, 1, &out, &crc, &f);
    assert_null(f);
    assert_int_equal(metric("ddbx_spill_hits_total"), hits + 1);
    if (value) {
        assert_int_equal(kind, CACHE_HIT);
        assert_int_equal(out.len, strlen(value));
        assert_memory_equal(out.data, value, out.len);
        assert_int_equal(crc, crc32_of(value, strlen(value)));
    } else {
        assert_int_equal(kind, CACHE_NEGATIVE);
        assert_int_equal(out.len, 0);
    }
    buf_free(&out);
}

/* Asserts k is a plain miss (RAM and spill): the caller gets a lease, ended here. */
static void assert_miss(const char *k, uint32_t epoch)
{
    struct buf out = BUF_INIT;
    struct cache_fill *f;
    uint32_t crc;
    assert_int_equal(cget(k, epoch, &out, &crc, &f), CACHE_MISS);
    assert_non_null(f);
    struct cache_result r = {CACHE_FAILED, NULL, 0, 0, 0};
    cache_fill_done(f, &r, fake_clock());
    buf_free(&out);
}

/* The kind of a lookup of k that takes no lease (HIT, NEGATIVE, BYPASS). */
static enum cache_kind kind_of(const char *k)
{
    struct buf out = BUF_INIT;
    struct cache_fill *f;
    uint32_t crc;
    enum cache_kind kind = cget(k, 1, &out, &crc, &f);
    assert_null(f);
    buf_free(&out);
    return kind;
}

static long long spill_lookups(void)
{
    return metric("ddbx_spill_hits_total") + metric("ddbx_spill_misses_total");
}

/* True if the spill itself (not RAM) holds a servable record of k. */
static bool spilled(const char *k)
{
    struct buf out = BUF_INIT;
    struct spill_entry e;
    bool found = spill_get(k, strlen(k), 1, &out, &e) == SPILL_OK;
    buf_free(&out);
    return found;
}

static int setup(void **state)
{
    open_fresh(16 * MIB);
    return cache_setup(BUDGET, TTL, TTL / 2, 2000, 1);
}

static int teardown(void **state)
{
    release_writer(); /* a test that failed while holding it */
    cache_teardown();
    return teardown_all(state);
}

static void test_evicted_entries_come_back(void **state)
{
    cache_filled("a", value_of("a"));
    cache_filled("n", NULL);
    push_out();
    assert_true(spilled("a"));
    assert_true(spilled("n"));
    assert_from_spill("a", value_of("a"));
    assert_from_spill("n", NULL);
    /* back in RAM: the next lookups do not touch the spill */
    long long lookups = spill_lookups();
    assert_int_equal(kind_of("a"), CACHE_HIT);
    assert_int_equal(kind_of("n"), CACHE_NEGATIVE);
    assert_int_equal(spill_lookups(), lookups);
    /* a key never seen misses both tiers */
    assert_miss("never", 1);
}

/* cache_get_ref of an entry back from the spill: a reference to the record's
 * bytes, valid after the entry it filled is pushed out again. */
static void test_ref_from_the_spill(void **state)
{
    cache_filled("a", value_of("a"));
    push_out();
    assert_true(spilled("a"));
    struct cache_key ck = ckey("a", 1);
    struct cache_ref *ref = NULL;
    struct cache_fill *f = NULL;
    assert_int_equal(cache_get_ref(&ck, fake_clock(), &ref, &f, NULL), CACHE_HIT);
    assert_null(f);
    assert_non_null(ref);
    push_out(); /* the RAM copy it installed goes again */
    size_t len;
    uint32_t crc;
    const char *v = cache_ref_value(ref, &len, &crc);
    assert_int_equal(len, strlen(value_of("a")));
    assert_memory_equal(v, value_of("a"), len);
    assert_int_equal(crc, crc32_of(v, len));
    cache_ref_release(ref);
}

static void test_expiry_is_kept(void **state)
{
    cache_filled("a", value_of("a")); /* expires at T0 + TTL */
    cache_filled("n", NULL);          /* at T0 + TTL / 2 */
    fake_add(TTL / 4);
    push_out();
    struct buf out = BUF_INIT;
    struct spill_entry e;
    assert_int_equal(spill_get("a", 1, 1, &out, &e), SPILL_OK);
    assert_int_equal(e.expires_ms, T0 + TTL); /* the same absolute expiry, not a new TTL */
    assert_from_spill("a", value_of("a"));
    fake_set(T0 + TTL - 1);
    assert_int_equal(kind_of("a"), CACHE_HIT);
    fake_set(T0 + TTL);
    assert_miss("a", 1); /* RAM's copy expired when the original would have */
    assert_miss("n", 1); /* expired in the spill */
    /* an entry that expired before its eviction is not spilled */
    cache_filled("b", value_of("b"));
    fake_add(TTL);
    push_out();
    assert_false(spilled("b"));
    buf_free(&out);
}

enum change { WRITE_STORE, WRITE_INVALIDATE, WRITE_AMBIGUOUS, INVALIDATE, PUT, LEASE };

static void change(const char *k, enum change how)
{
    struct cache_key ck = ckey(k, 1);
    struct cache_fill *w;
    switch (how) {
    case WRITE_STORE:
    case WRITE_INVALIDATE:
    case WRITE_AMBIGUOUS:
        w = cache_write_begin(&ck);
        cache_write_end(w,
                        how == WRITE_STORE        ? CACHE_WRITE_STORE
                        : how == WRITE_INVALIDATE ? CACHE_WRITE_INVALIDATE
                                                  : CACHE_WRITE_AMBIGUOUS,
                        value_of("new"), strlen(value_of("new")), fake_clock());
        break;
    case INVALIDATE: cache_invalidate(&ck); break;
    case PUT: cache_put(&ck, value_of("new"), strlen(value_of("new")), fake_clock()); break;
    case LEASE:
        w = cache_lease(&ck);
        struct cache_result r = {CACHE_FAILED, NULL, 0, 0, 0};
        cache_fill_done(w, &r, fake_clock());
        break;
    }
}

static void test_every_change_removes_the_spilled_copy(void **state)
{
    static const enum change changes[] = {
        WRITE_STORE, WRITE_INVALIDATE, WRITE_AMBIGUOUS, INVALIDATE, PUT, LEASE};
    char k[16];
    for (size_t i = 0; i < ARRAY_LEN(changes); i++) {
        snprintf(k, sizeof(k), "k%zu", i);
        cache_filled(k, value_of("old"));
    }
    push_out();
    hold_writer(); /* the deletes stay queued: gets must see them all the same */
    for (size_t i = 0; i < ARRAY_LEN(changes); i++) {
        snprintf(k, sizeof(k), "k%zu", i);
        assert_true(spilled(k));
        change(k, changes[i]);
        assert_false(spilled(k));
    }
    release_writer();
    assert_int_equal(spill_flush(), SPILL_OK);
    struct buf out = BUF_INIT;
    struct cache_fill *f;
    uint32_t crc;
    for (size_t i = 0; i < ARRAY_LEN(changes); i++) {
        snprintf(k, sizeof(k), "k%zu", i);
        enum cache_kind kind = cget(k, 1, &out, &crc, &f);
        if (changes[i] == WRITE_STORE || changes[i] == PUT) {
            assert_int_equal(kind, CACHE_HIT); /* the new value, from RAM */
            assert_string_equal(out.data, value_of("new"));
        } else if (changes[i] == WRITE_AMBIGUOUS) {
            assert_int_equal(kind, CACHE_BYPASS); /* held */
        } else {
            assert_int_equal(kind, CACHE_MISS); /* never the old value */
            struct cache_result r = {CACHE_FAILED, NULL, 0, 0, 0};
            cache_fill_done(f, &r, fake_clock());
        }
    }
    buf_free(&out);
}

static void test_write_to_an_entry_back_from_the_spill(void **state)
{
    /* the entry is in RAM and in the spill at once: a write replaces both */
    cache_filled("k", value_of("old"));
    push_out();
    assert_from_spill("k", value_of("old"));
    change("k", WRITE_STORE);
    push_out(); /* the new value is evicted: it is written, not skipped */
    assert_from_spill("k", value_of("new"));
}

static void test_held_key_never_reads_the_spill(void **state)
{
    cache_filled("k", value_of("old"));
    push_out();
    change("k", WRITE_AMBIGUOUS);
    long long lookups = spill_lookups();
    assert_int_equal(kind_of("k"), CACHE_BYPASS);
    assert_int_equal(spill_lookups(), lookups);
    fake_add(2000); /* the hold-off passed: a miss, and the old value is gone */
    assert_miss("k", 1);
}

static void test_other_epochs_miss(void **state)
{
    cache_filled("k", value_of("old")); /* epoch 1 */
    cache_filled("j", value_of("j"));
    push_out();
    assert_miss("k", 2); /* the table changed since */
    assert_from_spill("j", value_of("j"));
}

static void test_back_unchanged_not_rewritten(void **state)
{
    cache_filled("k", value_of("k"));
    push_out(); /* written at T0 */
    assert_from_spill("k", value_of("k"));
    fake_add(1000);
    push_out(); /* evicted again unchanged: not written again */
    assert_from_spill("k", value_of("k"));
    /* the record written at T0 is still the one served */
    struct buf out = BUF_INIT;
    struct spill_entry e;
    assert_int_equal(spill_get("k", 1, 1, &out, &e), SPILL_OK);
    assert_int_equal(e.written_ms, T0);
    buf_free(&out);
}

/* ---- concurrent misses of one key ---- */

#define READERS 4

static struct {
    pthread_barrier_t start;
    enum cache_kind kinds[READERS];
    bool right_value[READERS];
} race;

struct waiting {
    struct cache_waiter w;
    bool woken;
    enum cache_kind kind;
    char value[1100];
};

static void on_wake(struct cache_waiter *w, const struct cache_result *r)
{
    struct waiting *x = (struct waiting *)w;
    x->kind = r->kind;
    snprintf(x->value, sizeof(x->value), "%.*s", (int)r->len, r->data ? r->data : "");
    __atomic_store_n(&x->woken, true, __ATOMIC_RELEASE);
}

static void *reader(void *arg)
{
    int i = (int)(intptr_t)arg;
    metrics_thread_register();
    struct waiting x = {{on_wake, NULL}, false, CACHE_FAILED, ""};
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL;
    uint32_t crc;
    struct cache_key ck = ckey("hot", 1);
    pthread_barrier_wait(&race.start);
    enum cache_kind kind = cache_get(&ck, fake_clock(), &out, &crc, &f, &x.w);
    const char *want = value_of("hot");
    if (kind == CACHE_WAIT) {
        while (!__atomic_load_n(&x.woken, __ATOMIC_ACQUIRE))
            sched_yield();
        kind = x.kind;
        race.right_value[i] = strcmp(x.value, want) == 0;
    } else if (kind == CACHE_HIT) {
        race.right_value[i] = out.len == strlen(want) && memcmp(out.data, want, out.len) == 0;
    }
    race.kinds[i] = kind; /* no cmocka assertion off the main thread */
    buf_free(&out);
    return NULL;
}

static void test_concurrent_misses_read_the_spill_once(void **state)
{
    pthread_barrier_init(&race.start, NULL, READERS);
    for (int round = 0; round < 30; round++) { /* 4 metric blocks a round, of 256 */
        cache_filled("hot", value_of("hot"));
        push_out();
        long long lookups = spill_lookups();
        pthread_t t[READERS];
        for (int i = 0; i < READERS; i++)
            pthread_create(&t[i], NULL, reader, (void *)(intptr_t)i);
        for (int i = 0; i < READERS; i++)
            pthread_join(t[i], NULL);
        /* one reader read the spill; the others waited on its fill or hit RAM */
        assert_int_equal(spill_lookups(), lookups + 1);
        for (int i = 0; i < READERS; i++) {
            assert_int_equal(race.kinds[i], CACHE_HIT);
            assert_true(race.right_value[i]);
        }
        change("hot", INVALIDATE);
    }
    pthread_barrier_destroy(&race.start);
}

/* ---- a clean stop and the next start ---- */

static void test_clean_stop_spills_ram(void **state)
{
    cache_filled("a", value_of("a"));
    cache_filled("n", NULL);
    push_out();
    assert_from_spill("a", value_of("a")); /* back from the spill: not written again */
    cache_filled("b", value_of("b"));      /* in RAM only */
    cache_filled("gone", value_of("gone"));
    change("gone", INVALIDATE);
    fake_add(10);
    size_t in_ram = 0;
    struct cache_stats st;
    cache_get_stats(&st, fake_clock());
    in_ram = st.entries;
    /* "a" came from the spill: skipped */
    assert_int_equal(cache_spill_all(fake_clock()), in_ram - 1);
    cache_teardown();
    spill_teardown();
    assert_int_equal(reopen(), SPILL_OK);
    assert_int_equal(stats().start, SPILL_START_WARM);
    assert_int_equal(cache_setup(BUDGET, TTL, TTL / 2, 2000, 1), 0);
    assert_from_spill("a", value_of("a"));
    assert_from_spill("b", value_of("b"));
    assert_from_spill("n", NULL);
    assert_miss("gone", 1);
    /* the expiry is the original one */
    fake_set(T0 + TTL);
    assert_miss("b", 1);
}

static void test_nothing_spilled_without_a_tier(void **state)
{
    cache_teardown();
    spill_teardown();
    assert_int_equal(cache_setup(BUDGET, TTL, TTL / 2, 2000, 1), 0);
    cache_filled("a", value_of("a"));
    assert_int_equal(cache_spill_all(fake_clock()), 0);
    for (int i = 0; i < FILLERS; i++) { /* evictions with no tier */
        char k[32];
        snprintf(k, sizeof(k), "f%d", i);
        struct cache_key ck = ckey(k, 1);
        cache_put(&ck, value_of(k), strlen(value_of(k)), fake_clock());
    }
    assert_miss("a", 1);
    assert_int_equal(reopen(), SPILL_OK); /* for the fixture's teardown */
}

/* ---- the order of a key's puts and deletes ---- */

/* The cache's calls go through these (-Wl,--wrap): a call for `stall.key`
 * raises stall.inside, then takes STALL_MS before it reaches the spill. */
#define STALL_MS 100
int __real_spill_put(const void *key, size_t klen, const void *value, size_t vlen,
                     const struct spill_entry *e);
void __real_spill_delete(const void *key, size_t klen);
int __wrap_spill_put(const void *key, size_t klen, const void *value, size_t vlen,
                     const struct spill_entry *e);
void __wrap_spill_delete(const void *key, size_t klen);

static struct {
    const char *key; /* NULL: no stall */
    bool put;        /* stall puts (else deletes) */
    bool inside;
} stall;

static void maybe_stall(const void *key, size_t klen, bool put)
{
    const char *k = __atomic_load_n(&stall.key, __ATOMIC_ACQUIRE);
    if (!k || put != stall.put || klen != strlen(k) || memcmp(key, k, klen) != 0) return;
    __atomic_store_n(&stall.key, NULL, __ATOMIC_RELAXED); /* once */
    __atomic_store_n(&stall.inside, true, __ATOMIC_RELEASE);
    usleep(STALL_MS * 1000);
}

int __wrap_spill_put(const void *key, size_t klen, const void *value, size_t vlen,
                     const struct spill_entry *e)
{
    maybe_stall(key, klen, true);
    return __real_spill_put(key, klen, value, vlen, e);
}

void __wrap_spill_delete(const void *key, size_t klen)
{
    maybe_stall(key, klen, false);
    __real_spill_delete(key, klen);
}

static void stall_next(const char *key, bool put)
{
    stall.put = put;
    stall.inside = false;
    __atomic_store_n(&stall.key, key, __ATOMIC_RELEASE);
}

static void wait_inside(void)
{
    while (!__atomic_load_n(&stall.inside, __ATOMIC_ACQUIRE))
        usleep(100);
}

static void *invalidating_write(void *arg)
{
    change(arg, WRITE_INVALIDATE);
    return NULL;
}

static void test_miss_during_a_writes_delete(void **state)
{
    /* A write's delete of the spilled copy is stalled. A miss of the key
     * meanwhile must not read the old value back from the spill and install
     * it: once the write is acknowledged, the old value is never served. */
    cache_filled("k", value_of("old"));
    push_out();
    stall_next("k", false);
    pthread_t t;
    pthread_create(&t, NULL, invalidating_write, "k");
    wait_inside();
    struct buf out = BUF_INIT;
    struct cache_fill *f;
    uint32_t crc;
    enum cache_kind kind = cget("k", 1, &out, &crc, &f); /* during the write: may see "old" */
    if (kind == CACHE_MISS) {
        struct cache_result r = {CACHE_FAILED, NULL, 0, 0, 0};
        cache_fill_done(f, &r, fake_clock());
    }
    pthread_join(t, NULL); /* the write is acknowledged */
    assert_miss("k", 1);
    buf_free(&out);
}

static void *evicting_put(void *arg)
{
    push_out();
    return NULL;
}

static void test_write_during_an_evictions_put(void **state)
{
    /* An eviction's put of the old value is stalled. A write of the key
     * meanwhile must not be overtaken by it: once the write is acknowledged,
     * the spill never answers the old value. */
    cache_filled("k", value_of("old"));
    stall_next("k", true);
    pthread_t t;
    pthread_create(&t, NULL, evicting_put, NULL);
    wait_inside();
    change("k", WRITE_INVALIDATE); /* acknowledged when it returns */
    pthread_join(t, NULL);
    assert_int_equal(spill_flush(), SPILL_OK);
    assert_false(spilled("k"));
    assert_miss("k", 1);
}

/* ---- the write rule under evictions, threaded ---- */

#define STRESS_MS 400

static struct {
    uint32_t backend; /* the version the "backend" holds */
    uint32_t acked;   /* the newest version whose write was acknowledged */
    bool stop;
    uint32_t violations;
} st;

static const char *versioned(uint32_t v)
{
    static _Thread_local char b[1100];
    char name[16];
    snprintf(name, sizeof(name), "%010u", v);
    snprintf(b, sizeof(b), "%s", value_of(name));
    return b;
}

static uint32_t version_in(const char *value)
{
    const char *p = strstr(value, "\"v\":{\"S\":\"");
    return p ? (uint32_t)strtoul(p + 10, NULL, 10) : 0;
}

static void *stress_writer(void *arg)
{
    metrics_thread_register();
    struct cache_key ck = ckey("w", 1);
    for (uint32_t v = 1; !__atomic_load_n(&st.stop, __ATOMIC_RELAXED); v++) {
        struct cache_fill *w = cache_write_begin(&ck);
        __atomic_store_n(&st.backend, v, __ATOMIC_SEQ_CST); /* the backend applies it */
        cache_write_end(w, v % 2 ? CACHE_WRITE_STORE : CACHE_WRITE_INVALIDATE, versioned(v),
                        strlen(versioned(v)), fake_clock());
        __atomic_store_n(&st.acked, v, __ATOMIC_SEQ_CST); /* the client hears of it */
        usleep(20); /* time for evictions and reads between writes */
    }
    return NULL;
}

static void *stress_evictor(void *arg)
{
    metrics_thread_register();
    for (unsigned i = 0; !__atomic_load_n(&st.stop, __ATOMIC_RELAXED); i++) {
        char k[32];
        snprintf(k, sizeof(k), "e%u", i % 500);
        struct cache_key ck = ckey(k, 1);
        cache_put(&ck, value_of(k), strlen(value_of(k)), fake_clock());
    }
    return NULL;
}

static void *stress_reader(void *arg)
{
    metrics_thread_register();
    struct cache_key ck = ckey("w", 1);
    struct buf out = BUF_INIT;
    while (!__atomic_load_n(&st.stop, __ATOMIC_RELAXED)) {
        uint32_t floor = __atomic_load_n(&st.acked, __ATOMIC_SEQ_CST), crc, seen;
        struct cache_fill *f = NULL;
        buf_reset(&out);
        enum cache_kind kind = cache_get(&ck, fake_clock(), &out, &crc, &f, NULL);
        if (kind == CACHE_HIT) {
            seen = version_in(out.data);
        } else if (kind == CACHE_MISS) { /* read the backend, then fill */
            seen = __atomic_load_n(&st.backend, __ATOMIC_SEQ_CST);
            const char *v = versioned(seen);
            struct cache_result r = {CACHE_HIT, v, strlen(v), crc32_of(v, strlen(v)), 200};
            cache_fill_done(f, &r, fake_clock());
        } else {
            continue;
        }
        if (seen < floor) __atomic_add_fetch(&st.violations, 1, __ATOMIC_RELAXED);
        usleep(20); /* time for the evictor to push the key out between reads */
    }
    buf_free(&out);
    return NULL;
}

static void test_write_rule_under_evictions(void **state)
{
    memset(&st, 0, sizeof(st));
    long long hits = metric("ddbx_spill_hits_total");
    pthread_t w, e, r[2];
    pthread_create(&w, NULL, stress_writer, NULL);
    pthread_create(&e, NULL, stress_evictor, NULL);
    for (int i = 0; i < 2; i++)
        pthread_create(&r[i], NULL, stress_reader, NULL);
    usleep(STRESS_MS * 1000);
    __atomic_store_n(&st.stop, true, __ATOMIC_RELAXED);
    pthread_join(w, NULL);
    pthread_join(e, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(r[i], NULL);
    assert_int_equal(st.violations, 0);
    assert_true(st.acked > 100);
    /* the written key did travel through the spill (only readers read it) */
    hits = metric("ddbx_spill_hits_total") - hits;
    assert_true(hits > 0);
    print_message("%u writes, %lld reads of the written key answered by the spill\n", st.acked,
                  hits);
}

int main(int argc, char **argv)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_evicted_entries_come_back),
        T(test_ref_from_the_spill),
        T(test_expiry_is_kept),
        T(test_every_change_removes_the_spilled_copy),
        T(test_write_to_an_entry_back_from_the_spill),
        T(test_held_key_never_reads_the_spill),
        T(test_other_epochs_miss),
        T(test_back_unchanged_not_rewritten),
        T(test_concurrent_misses_read_the_spill_once),
        T(test_clean_stop_spills_ram),
        T(test_nothing_spilled_without_a_tier),
        T(test_miss_during_a_writes_delete),
        T(test_write_during_an_evictions_put),
        T(test_write_rule_under_evictions),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
