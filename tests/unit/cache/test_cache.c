/*
 * test_cache.c: the item cache (cache/cache.h): hits and misses, LRU order
 * within the memory budget, TTLs on a fake clock, the lease rule (a fill
 * that started before a write never installs), coalescing of concurrent
 * misses, honest memory accounting, and references (cache_get_ref) that
 * outlive eviction, replacement, invalidation, expiry and teardown.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cache/cache.h"
#include "util/common.h"
#include "util/crc.h"

#define MIB (1024 * 1024)

static struct cache_key key(const char *s)
{
    struct cache_key k;
    cache_key_init(&k, s, strlen(s));
    return k;
}

static enum cache_kind get(const char *k, uint64_t now, struct buf *out, struct cache_fill **fill)
{
    struct cache_key ck = key(k);
    uint32_t crc;
    buf_reset(out);
    return cache_get(&ck, now, out, &crc, fill, NULL);
}

static void fill_with(struct cache_fill *f, const char *value, uint64_t now)
{
    struct cache_result r = {value ? CACHE_HIT : CACHE_NEGATIVE, value, value ? strlen(value) : 0,
                             value ? crc32_of(value, strlen(value)) : 0, 200};
    cache_fill_done(f, &r, now);
}

static int setup_small(void **state)
{
    return cache_setup(1 * MIB, 1000, 500, 2000, 1);
}

static int teardown(void **state)
{
    cache_teardown();
    return 0;
}

static void test_miss_fill_hit(void **state)
{
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL;
    assert_int_equal(get("a", 0, &out, &f), CACHE_MISS);
    assert_non_null(f);
    fill_with(f, "{\"Item\":{}}", 0);
    assert_int_equal(get("a", 1, &out, &f), CACHE_HIT);
    assert_string_equal(out.data, "{\"Item\":{}}");
    /* a negative fill is a negative hit */
    assert_int_equal(get("b", 1, &out, &f), CACHE_MISS);
    fill_with(f, NULL, 1);
    assert_int_equal(get("b", 2, &out, &f), CACHE_NEGATIVE);
    assert_int_equal(out.len, 0);
    buf_free(&out);
}

static void test_crc_matches_value(void **state)
{
    struct cache_key k = key("k");
    cache_put(&k, "hello", 5, 0);
    struct buf out = BUF_INIT;
    uint32_t crc = 0;
    struct cache_fill *f = NULL;
    assert_int_equal(cache_get(&k, 0, &out, &crc, &f, NULL), CACHE_HIT);
    assert_int_equal(crc, 0x3610a686u); /* zlib.crc32(b"hello") */
    buf_free(&out);
}

static void test_patch_rewrites_only_the_value_read(void **state)
{
    struct cache_key k = key("k"), other = key("o");
    struct buf out = BUF_INIT;
    uint32_t crc = 0;
    struct cache_fill *f = NULL;
    cache_put(&k, "seq=1;body", 10, 10000);
    assert_true(cache_patch(&k, "seq=1;body", 10, 4, "7", 1));
    assert_int_equal(cache_get(&k, 10999, &out, &crc, &f, NULL), CACHE_HIT);
    assert_string_equal(out.data, "seq=7;body");
    assert_int_equal(crc, crc32_of("seq=7;body", 10));
    /* the expiry is the put's, not the patch's (item TTL 1000 ms) */
    buf_reset(&out);
    assert_int_equal(get("k", 11000, &out, &f), CACHE_MISS);
    fill_with(f, "seq=2;body", 11000);
    /* a value other than the one read (a newer fill) is left alone */
    assert_false(cache_patch(&k, "seq=1;body", 10, 4, "9", 1));
    assert_false(cache_patch(&k, "seq=2;bod", 9, 4, "9", 1));
    assert_false(cache_patch(&k, "seq=2;body", 10, 9, "xx", 2));    /* past its end */
    assert_false(cache_patch(&other, "seq=2;body", 10, 4, "9", 1)); /* no entry */
    buf_reset(&out);
    assert_int_equal(cache_get(&k, 11001, &out, &crc, &f, NULL), CACHE_HIT);
    assert_string_equal(out.data, "seq=2;body");
    cache_put(&other, NULL, 0, 11001); /* negative entries hold no value */
    assert_false(cache_patch(&other, "", 0, 0, "", 0));
    buf_free(&out);
}

static void test_ttl(void **state)
{
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL;
    struct cache_key a = key("a"), b = key("b");
    cache_put(&a, "v", 1, 10000);  /* item TTL 1000 ms */
    cache_put(&b, NULL, 0, 10000); /* negative TTL 500 ms */
    assert_int_equal(get("a", 10999, &out, &f), CACHE_HIT);
    assert_int_equal(get("b", 10499, &out, &f), CACHE_NEGATIVE);
    assert_int_equal(get("b", 10500, &out, &f), CACHE_MISS);
    fill_with(f, NULL, 10500);
    assert_int_equal(get("a", 11000, &out, &f), CACHE_MISS);
    fill_with(f, "w", 11000);
    assert_int_equal(get("a", 11001, &out, &f), CACHE_HIT);
    assert_string_equal(out.data, "w");
    buf_free(&out);
}

static void test_ttl_across_32bit_wrap(void **state)
{
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL;
    struct cache_key a = key("a");
    uint64_t t = (1ull << 32) - 300; /* expiry falls after the low 32 bits wrap */
    cache_put(&a, "v", 1, t);
    assert_int_equal(get("a", t + 999, &out, &f), CACHE_HIT);
    assert_int_equal(get("a", t + 1000, &out, &f), CACHE_MISS);
    fill_with(f, "v", t + 1000);
    buf_free(&out);
}

static void test_long_expired_never_served(void **state)
{
    /* issue 7: expiry was kept in 32 bits, so an entry that expired 24.9 to
     * 49.7 days ago and was never evicted read as fresh again */
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL;
    struct cache_key a = key("a");
    uint64_t t0 = 5000;
    cache_put(&a, "v", 1, t0);
    const uint64_t day = 24ull * 3600 * 1000;
    for (uint64_t later = 1; later <= 60; later++) {
        assert_int_equal(get("a", t0 + later * day, &out, &f), CACHE_MISS);
        fill_with(f, NULL, 0); /* a negative entry installed at time 0: long expired too */
    }
    /* 2^31 and 2^32 ms past expiry exactly */
    cache_put(&a, "v", 1, t0);
    assert_int_equal(get("a", t0 + 1000 + (1ull << 31), &out, &f), CACHE_MISS);
    fill_with(f, NULL, 0);
    cache_put(&a, "v", 1, t0);
    assert_int_equal(get("a", t0 + 1000 + (1ull << 32), &out, &f), CACHE_MISS);
    fill_with(f, NULL, 0);
    buf_free(&out);
}

static struct cache_key key_at(const char *s, uint32_t epoch)
{
    struct cache_key k = key(s);
    k.epoch = epoch;
    return k;
}

static enum cache_kind get_at(const char *k, uint32_t epoch, uint64_t now, struct buf *out,
                              struct cache_fill **fill, struct cache_waiter *w)
{
    struct cache_key ck = key_at(k, epoch);
    uint32_t crc;
    buf_reset(out);
    return cache_get(&ck, now, out, &crc, fill, w);
}

static void test_older_epoch_is_stale(void **state)
{
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL;
    struct cache_key k1 = key_at("k", 1);
    cache_put(&k1, "v1", 2, 0);
    assert_int_equal(get_at("k", 1, 1, &out, &f, NULL), CACHE_HIT);
    /* the table changed (epoch 2): the entry of epoch 1 is never served again */
    assert_int_equal(get_at("k", 2, 1, &out, &f, NULL), CACHE_MISS);
    fill_with(f, NULL, 1); /* the reader of epoch 2 read "not found" ... */
    assert_int_equal(get_at("k", 1, 1, &out, &f, NULL), CACHE_NEGATIVE); /* served to epoch 1 */
    assert_int_equal(get_at("k", 3, 1, &out, &f, NULL), CACHE_MISS);
    struct cache_fill *f1 = NULL;
    assert_int_equal(get_at("k", 1, 1, &out, &f1, NULL), CACHE_MISS); /* an older reader */
    fill_with(f, "new", 1);
    fill_with(f1, "old", 1); /* lands after: the newer entry stays */
    /* a newer epoch's entry serves older readers too (it is newer data) */
    assert_int_equal(get_at("k", 1, 2, &out, &f, NULL), CACHE_HIT);
    assert_string_equal(out.data, "new");
    assert_int_equal(get_at("k", 3, 2, &out, &f, NULL), CACHE_HIT);
    buf_free(&out);
}

static int woken;
static void count_wake(struct cache_waiter *w, const struct cache_result *r)
{
    woken++;
}

static void test_no_join_across_epochs(void **state)
{
    /* a reader of a newer epoch never waits on a fill that began before the
     * table changed (it may read from before the change) */
    struct buf out = BUF_INIT;
    struct cache_fill *old = NULL, *young = NULL, *none = NULL;
    struct cache_waiter w = {count_wake, NULL}, w2 = {count_wake, NULL};
    assert_int_equal(get_at("k", 1, 0, &out, &old, &w), CACHE_MISS);
    assert_int_equal(get_at("k", 2, 0, &out, &young, &w), CACHE_MISS);
    /* an older reader may wait on a newer fill */
    assert_int_equal(get_at("k", 1, 0, &out, &none, &w2), CACHE_WAIT);
    woken = 0;
    fill_with(young, "new", 0);
    assert_int_equal(woken, 1);
    /* the older fill lands after the newer one: the newer entry stays */
    fill_with(old, "old", 0);
    assert_int_equal(get_at("k", 2, 1, &out, &none, NULL), CACHE_HIT);
    assert_string_equal(out.data, "new");
    buf_free(&out);
}

static void test_write_covers_every_epoch(void **state)
{
    /* issue 7, first path: a write leased under epoch 1 while the table's
     * epoch moved to 2, and a fill of epoch 2 installed the old value. The
     * write's end replaces that entry: nothing older survives it. */
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL;
    struct cache_key k1 = key_at("k", 1);
    cache_put(&k1, "V0", 2, 0);
    struct cache_fill *wl = cache_write_begin(&k1);
    assert_int_equal(get_at("k", 2, 1, &out, &f, NULL), CACHE_MISS);
    fill_with(f, "V0", 1); /* read before the write was applied */
    assert_int_equal(get_at("k", 2, 2, &out, &f, NULL), CACHE_HIT);
    cache_write_end(wl, CACHE_WRITE_STORE, "V1", 2, 3);
    /* epoch-2 readers do not get V0, nor the epoch-1 V1: they read again */
    assert_int_equal(get_at("k", 2, 4, &out, &f, NULL), CACHE_MISS);
    fill_with(f, "V1", 4);
    assert_int_equal(get_at("k", 2, 5, &out, &f, NULL), CACHE_HIT);
    assert_string_equal(out.data, "V1");
    buf_free(&out);
}

static void test_ambiguous_write_holds_key(void **state)
{
    /* setup_small: hold-off 2000 ms */
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL;
    struct cache_key k = key("k");
    cache_put(&k, "V0", 2, 0);
    struct cache_fill *wl = cache_write_begin(&k);
    assert_int_equal(get("k", 10, &out, &f), CACHE_HIT); /* before the answer: V0 */
    cache_write_end(wl, CACHE_WRITE_AMBIGUOUS, NULL, 0, 100);
    /* held: every lookup reads the backend, and nothing is installed */
    assert_int_equal(get("k", 101, &out, &f), CACHE_BYPASS);
    assert_int_equal(get("k", 2099, &out, &f), CACHE_BYPASS);
    struct cache_fill *c = cache_lease(&k); /* a consistent read during the hold */
    fill_with(c, "V0", 500);
    assert_int_equal(get("k", 501, &out, &f), CACHE_BYPASS);
    cache_put(&k, "V2", 2, 600);                   /* nor does a put */
    struct cache_fill *w2 = cache_write_begin(&k); /* nor a later write */
    cache_write_end(w2, CACHE_WRITE_STORE, "V3", 2, 700);
    assert_int_equal(get("k", 701, &out, &f), CACHE_BYPASS);
    /* a second unknown outcome extends the hold */
    w2 = cache_write_begin(&k);
    cache_write_end(w2, CACHE_WRITE_AMBIGUOUS, NULL, 0, 1500);
    assert_int_equal(get("k", 2200, &out, &f), CACHE_BYPASS);
    /* after the hold-off the key is cached again */
    assert_int_equal(get("k", 3500, &out, &f), CACHE_MISS);
    fill_with(f, "V9", 3500);
    assert_int_equal(get("k", 3501, &out, &f), CACHE_HIT);
    assert_string_equal(out.data, "V9");
    struct cache_stats st;
    cache_get_stats(&st, 3500);
    assert_int_equal(st.holds, 0);
    buf_free(&out);
}

static void test_fill_running_across_hold_not_installed(void **state)
{
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL, *g = NULL;
    struct cache_key k = key("k");
    assert_int_equal(get("k", 0, &out, &f), CACHE_MISS); /* a read in flight */
    struct cache_fill *wl = cache_write_begin(&k);
    cache_write_end(wl, CACHE_WRITE_AMBIGUOUS, NULL, 0, 10);
    fill_with(f, "V0", 20);
    assert_int_equal(get("k", 30, &out, &g), CACHE_BYPASS);
    buf_free(&out);
}

static void test_lru_eviction_order(void **state)
{
    /* 1 MiB budget, values of ~10 KB: about 100 fit */
    char value[10000];
    memset(value, 'x', sizeof(value));
    char name[32];
    for (int i = 0; i < 80; i++) {
        snprintf(name, sizeof(name), "k%d", i);
        struct cache_key k = key(name);
        cache_put(&k, value, sizeof(value), 0);
    }
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL;
    assert_int_equal(get("k0", 1, &out, &f), CACHE_HIT); /* k0 becomes most recent */
    for (int i = 80; i < 160; i++) {
        snprintf(name, sizeof(name), "k%d", i);
        struct cache_key k = key(name);
        cache_put(&k, value, sizeof(value), 2);
    }
    struct cache_stats s;
    cache_get_stats(&s, 0);
    assert_true(s.bytes <= 1 * MIB);
    assert_true(s.entries >= 90 && s.entries < 105);
    assert_int_equal(get("k0", 3, &out, &f), CACHE_HIT);  /* used recently: kept */
    assert_int_equal(get("k1", 3, &out, &f), CACHE_MISS); /* least recent: gone */
    fill_with(f, NULL, 3);
    assert_int_equal(get("k159", 3, &out, &f), CACHE_HIT);
    buf_free(&out);
}

static void test_memory_counted_honestly(void **state)
{
    struct cache_stats before, after;
    cache_get_stats(&before, 0);
    char name[32], value[100];
    memset(value, 'v', sizeof(value));
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "key-%06d", i);
        struct cache_key k = key(name);
        cache_put(&k, value, sizeof(value), 0);
    }
    cache_get_stats(&after, 0);
    uint64_t per = (after.bytes - before.bytes) / 1000;
    /* at least the bytes stored, and the header and allocator overhead too */
    assert_true(per >= 100 + 10 + 40);
    assert_true(per < 100 + 10 + 120);
}

static void test_bucket_growth_within_budget(void **state)
{
    /* The bucket array doubles as entries pass a power of two; whatever the
     * entry size, the doubling must not leave the cache over its budget
     * (some of these sizes make it come when the cache is nearly full). */
    char name[32], value[1100];
    memset(value, 'v', sizeof(value));
    for (size_t vlen = 800; vlen <= sizeof(value); vlen += 8) {
        cache_teardown();
        assert_int_equal(cache_setup(1 * MIB, 1000, 1000, 2000, 1), 0);
        for (int i = 0; i < 1100; i++) {
            snprintf(name, sizeof(name), "key-%06d", i);
            struct cache_key k = key(name);
            cache_put(&k, value, vlen, 0);
            struct cache_stats s;
            cache_get_stats(&s, 0);
            if (s.bytes > s.limit)
                fail_msg("values of %zu bytes: %llu bytes held with %llu entries, budget %llu",
                         vlen, (unsigned long long)s.bytes, (unsigned long long)s.entries,
                         (unsigned long long)s.limit);
        }
    }
}

static void test_fill_refused_after_write(void **state)
{
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL;
    assert_int_equal(get("a", 0, &out, &f), CACHE_MISS);
    assert_true(cache_fill_valid(f));
    struct cache_key a = key("a");
    cache_put(&a, "new", 3, 0); /* a write lands while the fill reads */
    assert_false(cache_fill_valid(f));
    fill_with(f, "old", 0); /* the slow fill's older value */
    assert_int_equal(get("a", 1, &out, &f), CACHE_HIT);
    assert_string_equal(out.data, "new");
    buf_free(&out);
}

struct waiter {
    struct cache_waiter w;
    int woken;
    enum cache_kind kind;
    char value[32];
};

static void wake(struct cache_waiter *cw, const struct cache_result *r)
{
    struct waiter *w = (struct waiter *)cw;
    w->woken++;
    w->kind = r->kind;
    snprintf(w->value, sizeof(w->value), "%.*s", (int)r->len, r->data ? r->data : "");
}

static void test_fill_refused_after_invalidate(void **state)
{
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL, *g = NULL, *h = NULL;
    assert_int_equal(get("a", 0, &out, &f), CACHE_MISS);
    struct cache_key a = key("a");
    cache_invalidate(&a);
    /* a read after the invalidation does not join the superseded fill */
    assert_int_equal(get("a", 0, &out, &g), CACHE_MISS);
    assert_ptr_not_equal(f, g);
    fill_with(f, "old", 0); /* refused: it started before the invalidation */
    assert_int_equal(get("a", 0, &out, &h), CACHE_MISS);
    fill_with(h, NULL, 0);
    fill_with(g, "newer", 0);
    assert_int_equal(get("a", 1, &out, &f), CACHE_HIT);
    assert_string_equal(out.data, "newer");
    buf_free(&out);
}

static void test_lease_supersedes_running_fills(void **state)
{
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL, *g = NULL;
    struct cache_key a = key("a");
    uint32_t crc;
    assert_int_equal(get("a", 0, &out, &f), CACHE_MISS);
    struct cache_fill *lease = cache_lease(&a); /* a consistent read starts */
    fill_with(f, "older", 0);                   /* the eventually consistent fill ends: refused */
    struct waiter w = {{wake, NULL}, 0, 0, ""};
    /* a new miss waits for the consistent read, not for the older fill */
    assert_int_equal(cache_get(&a, 0, &out, &crc, &g, &w.w), CACHE_WAIT);
    fill_with(lease, "latest", 0);
    assert_int_equal(w.woken, 1);
    assert_string_equal(w.value, "latest");
    assert_int_equal(get("a", 1, &out, &f), CACHE_HIT);
    assert_string_equal(out.data, "latest");
    buf_free(&out);
}

static void test_coalescing(void **state)
{
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL, *g = NULL;
    struct cache_key a = key("a");
    uint32_t crc;
    assert_int_equal(cache_get(&a, 0, &out, &crc, &f, NULL), CACHE_MISS);
    struct waiter ws[40];
    memset(ws, 0, sizeof(ws));
    for (int i = 0; i < 40; i++) {
        ws[i].w.wake = wake;
        g = NULL;
        assert_int_equal(cache_get(&a, 0, &out, &crc, &g, &ws[i].w), CACHE_WAIT);
        assert_null(g);
    }
    fill_with(f, "v1", 0);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(ws[i].woken, 1);
        assert_int_equal(ws[i].kind, CACHE_HIT);
        assert_string_equal(ws[i].value, "v1");
    }
    buf_free(&out);
}

static void test_failed_fill_caches_nothing(void **state)
{
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL;
    struct cache_key a = key("a");
    uint32_t crc;
    assert_int_equal(cache_get(&a, 0, &out, &crc, &f, NULL), CACHE_MISS);
    struct waiter w = {{wake, NULL}, 0, 0, ""};
    struct cache_fill *g = NULL;
    assert_int_equal(cache_get(&a, 0, &out, &crc, &g, &w.w), CACHE_WAIT);
    struct cache_result r = {CACHE_FAILED, "{\"__type\":\"x#ThrottlingException\"}", 34, 0, 400};
    cache_fill_done(f, &r, 0);
    assert_int_equal(w.woken, 1);
    assert_int_equal(w.kind, CACHE_FAILED);
    assert_int_equal(get("a", 0, &out, &f), CACHE_MISS); /* the error was not cached */
    fill_with(f, NULL, 0);
    buf_free(&out);
}

static void test_too_big_for_budget_not_cached(void **state)
{
    static char big[600 * 1024];
    memset(big, 'b', sizeof(big));
    struct cache_key a = key("a");
    cache_put(&a, "small", 5, 0);
    cache_put(&a, big, sizeof(big), 0); /* cannot fit half of a 1 MiB shard */
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL;
    assert_int_equal(get("a", 0, &out, &f), CACHE_MISS); /* invalidated, not stale */
    fill_with(f, NULL, 0);
    buf_free(&out);
}

static void write_end(struct cache_fill *w, enum cache_write_outcome o, const char *v)
{
    cache_write_end(w, o, v, v ? strlen(v) : 0, 0);
}

static void test_write_lease_stores(void **state)
{
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL;
    struct cache_key a = key("a"), b = key("b");
    write_end(cache_write_begin(&a), CACHE_WRITE_STORE, "v1");
    assert_int_equal(get("a", 0, &out, &f), CACHE_HIT);
    assert_string_equal(out.data, "v1");
    write_end(cache_write_begin(&b), CACHE_WRITE_STORE, NULL); /* a delete */
    assert_int_equal(get("b", 0, &out, &f), CACHE_NEGATIVE);
    write_end(cache_write_begin(&a), CACHE_WRITE_UNCHANGED, NULL); /* refused: no change */
    assert_int_equal(get("a", 0, &out, &f), CACHE_HIT);
    assert_string_equal(out.data, "v1");
    write_end(cache_write_begin(&a), CACHE_WRITE_INVALIDATE, NULL);
    assert_int_equal(get("a", 0, &out, &f), CACHE_MISS);
    fill_with(f, NULL, 0);
    buf_free(&out);
}

static void test_overlapping_writes_store_nothing(void **state)
{
    /* two writes of one key in flight: the backend may apply them in either
     * order, whatever order the answers come in */
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL;
    struct cache_key a = key("a");
    cache_put(&a, "v0", 2, 0);
    struct cache_fill *w1 = cache_write_begin(&a), *w2 = cache_write_begin(&a);
    write_end(w2, CACHE_WRITE_STORE, "v2");
    assert_int_equal(get("a", 0, &out, &f), CACHE_MISS); /* forgotten, not v2 */
    write_end(w1, CACHE_WRITE_STORE, "v1");
    fill_with(f, "from-backend", 0); /* the read that started meanwhile: superseded */
    assert_int_equal(get("a", 0, &out, &f), CACHE_MISS);
    fill_with(f, "from-backend", 0);
    assert_int_equal(get("a", 0, &out, &f), CACHE_HIT);
    assert_string_equal(out.data, "from-backend");
    /* writes one after the other store as usual */
    write_end(cache_write_begin(&a), CACHE_WRITE_STORE, "v3");
    write_end(cache_write_begin(&a), CACHE_WRITE_STORE, "v4");
    assert_int_equal(get("a", 0, &out, &f), CACHE_HIT);
    assert_string_equal(out.data, "v4");
    buf_free(&out);
}

static void test_write_and_fill(void **state)
{
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL, *g = NULL;
    struct cache_key a = key("a");
    /* a fill that ends while the write is in flight may install; the write's
     * answer then replaces it */
    assert_int_equal(get("a", 0, &out, &f), CACHE_MISS);
    struct cache_fill *w = cache_write_begin(&a);
    fill_with(f, "old", 0);
    write_end(w, CACHE_WRITE_STORE, "new");
    assert_int_equal(get("a", 0, &out, &f), CACHE_HIT);
    assert_string_equal(out.data, "new");
    /* a fill that ends after the write's answer is refused */
    struct cache_key b = key("b");
    assert_int_equal(get("b", 0, &out, &g), CACHE_MISS);
    w = cache_write_begin(&b);
    write_end(w, CACHE_WRITE_STORE, "new");
    fill_with(g, "old", 0);
    assert_int_equal(get("b", 0, &out, &g), CACHE_HIT);
    assert_string_equal(out.data, "new");
    /* a consistent read or an invalidation during the write: the write forgets */
    w = cache_write_begin(&b);
    cache_invalidate(&b);
    write_end(w, CACHE_WRITE_STORE, "newer");
    assert_int_equal(get("b", 0, &out, &g), CACHE_MISS);
    fill_with(g, NULL, 0);
    buf_free(&out);
}

/* A peer's write of unknown outcome (cluster): the entry goes, a fill
 * running installs nothing, and the key stays uncached until the hold ends,
 * even against a successful write meanwhile; a hold extends, never shortens. */
static void test_hold_until(void **state)
{
    struct buf out = BUF_INIT;
    struct cache_key k = key("k");
    struct cache_fill *f = NULL;
    cache_put(&k, "old", 3, 0);
    assert_int_equal(get("k", 1, &out, NULL), CACHE_HIT);
    struct cache_fill *running = cache_lease(&k);
    cache_hold(&k, 5000, 10);
    fill_with(running, "old", 20); /* superseded: not installed */
    assert_int_equal(get("k", 30, &out, &f), CACHE_BYPASS);
    struct cache_fill *w = cache_write_begin(&k);
    cache_write_end(w, CACHE_WRITE_STORE, "new", 3, 40);
    assert_int_equal(get("k", 50, &out, &f), CACHE_BYPASS);
    cache_hold(&k, 1000, 60); /* shorter: the longer one stays */
    assert_int_equal(get("k", 4999, &out, &f), CACHE_BYPASS);
    assert_int_equal(get("k", 5000, &out, &f), CACHE_MISS);
    fill_with(f, "new", 5000);
    assert_int_equal(get("k", 5001, &out, &f), CACHE_HIT);
    cache_hold(&k, 0, 5002); /* no hold left: an invalidation */
    assert_int_equal(get("k", 5003, &out, &f), CACHE_MISS);
    fill_with(f, "new", 5003);
    buf_free(&out);
}

/* cache_peek: what is there and how long it lives, without a lease. */
static void test_peek(void **state)
{
    struct buf out = BUF_INIT;
    uint32_t crc = 0;
    uint64_t left = 0;
    struct cache_key k = key("k"), n = key("n");
    assert_int_equal(cache_peek(&k, 0, &out, &crc, &left), CACHE_MISS);
    struct cache_fill *f = NULL;
    assert_int_equal(get("k", 0, &out, &f), CACHE_MISS);
    /* a peek neither joins nor disturbs the fill */
    assert_int_equal(cache_peek(&k, 0, &out, &crc, &left), CACHE_MISS);
    fill_with(f, "{\"Item\":{}}", 100);
    buf_reset(&out);
    assert_int_equal(cache_peek(&k, 400, &out, &crc, &left), CACHE_HIT);
    assert_string_equal(out.data, "{\"Item\":{}}");
    assert_int_equal(crc, crc32_of(out.data, out.len));
    assert_int_equal(left, 700); /* ttl 1000, filled at 100 */
    k.epoch = 1;                 /* a reader of a newer epoch: stale */
    assert_int_equal(cache_peek(&k, 400, &out, &crc, &left), CACHE_MISS);
    k.epoch = 0;
    assert_int_equal(cache_peek(&k, 1100, &out, &crc, &left), CACHE_MISS); /* expired */
    cache_put(&n, NULL, 0, 0);
    assert_int_equal(cache_peek(&n, 100, &out, &crc, &left), CACHE_NEGATIVE);
    assert_int_equal(left, 400);
    buf_free(&out);
}

static void test_shards_chosen_from_memory(void **state)
{
    cache_teardown();
    assert_int_equal(cache_setup(256ull * MIB, 1000, 1000, 2000, 0), 0);
    struct cache_stats s;
    cache_get_stats(&s, 0);
    assert_int_equal(s.shards, 64);
    assert_int_equal(s.limit, 256ull * MIB);
    cache_teardown();
    assert_int_equal(cache_setup(4 * MIB, 1000, 1000, 2000, 0), 0);
    cache_get_stats(&s, 0);
    assert_int_equal(s.shards, 1);
    assert_int_equal(cache_setup(4 * MIB, 1000, 1000, 2000, 3), -1); /* not a power of two */
}

/* ---- references (cache_get_ref): the stored bytes outlive their entry ---- */

/* Takes a reference to k's value; asserts it is a HIT. */
static struct cache_ref *ref_of(const char *k, uint64_t now)
{
    struct cache_key ck = key(k);
    struct cache_ref *ref = NULL;
    struct cache_fill *f = NULL;
    assert_int_equal(cache_get_ref(&ck, now, &ref, &f, NULL), CACHE_HIT);
    assert_non_null(ref);
    assert_null(f);
    return ref;
}

/* Asserts the reference still reads value, with its CRC. */
static void assert_ref_reads(const struct cache_ref *ref, const char *value, size_t len)
{
    size_t got_len = 0;
    uint32_t crc = 0;
    const char *got = cache_ref_value(ref, &got_len, &crc);
    assert_int_equal(got_len, len);
    assert_memory_equal(got, value, len);
    assert_int_equal(crc, crc32_of(value, len));
}

static void test_ref_hit_release(void **state)
{
    struct cache_key k = key("a");
    cache_put(&k, "{\"Item\":{}}", 11, 0);
    struct cache_ref *r1 = ref_of("a", 1), *r2 = ref_of("a", 2);
    assert_ptr_equal(cache_ref_value(r1, &(size_t){0}, NULL),
                     cache_ref_value(r2, &(size_t){0}, NULL)); /* the stored bytes, not copies */
    assert_ref_reads(r1, "{\"Item\":{}}", 11);
    cache_ref_release(r1);
    assert_ref_reads(r2, "{\"Item\":{}}", 11);
    cache_ref_release(r2);
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL;
    assert_int_equal(get("a", 3, &out, &f), CACHE_HIT); /* the cache's own count is intact */
    assert_string_equal(out.data, "{\"Item\":{}}");
    buf_free(&out);
}

static void test_ref_kinds_other_than_hit(void **state)
{
    struct cache_key n = key("neg"), m = key("miss");
    cache_put(&n, NULL, 0, 0);
    struct cache_ref *ref = NULL;
    struct cache_fill *f = NULL;
    assert_int_equal(cache_get_ref(&n, 1, &ref, &f, NULL), CACHE_NEGATIVE);
    assert_null(ref);
    assert_int_equal(cache_get_ref(&m, 1, &ref, &f, NULL), CACHE_MISS);
    assert_null(ref);
    assert_non_null(f); /* a lease, as cache_get gives */
    fill_with(f, "M", 1);
    ref = ref_of("miss", 2);
    assert_ref_reads(ref, "M", 1);
    cache_ref_release(ref);
}

static void test_ref_outlives_replacement_and_invalidation(void **state)
{
    struct cache_key k = key("k");
    cache_put(&k, "old", 3, 0);
    struct cache_ref *old = ref_of("k", 1);
    cache_put(&k, "newer", 5, 2); /* replaced while referenced */
    struct cache_ref *newer = ref_of("k", 3);
    assert_ref_reads(old, "old", 3);
    assert_ref_reads(newer, "newer", 5);
    cache_invalidate(&k); /* invalidated while referenced */
    assert_ref_reads(newer, "newer", 5);
    struct cache_fill *w = cache_write_begin(&k);
    cache_write_end(w, CACHE_WRITE_STORE, "w", 1, 4);
    struct cache_ref *written = ref_of("k", 5);
    cache_hold(&k, 100, 6); /* forgotten and held while referenced */
    assert_ref_reads(written, "w", 1);
    cache_ref_release(old);
    cache_ref_release(newer);
    cache_ref_release(written);
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL;
    assert_int_equal(get("k", 7, &out, &f), CACHE_BYPASS);
    buf_free(&out);
}

static void test_ref_outlives_expiry(void **state)
{
    struct cache_key k = key("t");
    cache_put(&k, "ttl", 3, 0);
    struct cache_ref *ref = ref_of("t", 999);
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL;
    assert_int_equal(get("t", 1000, &out, &f), CACHE_MISS); /* expired and removed */
    fill_with(f, NULL, 1000);
    assert_ref_reads(ref, "ttl", 3);
    cache_ref_release(ref);
    buf_free(&out);
}

static void test_ref_outlives_eviction(void **state)
{
    /* 1 MiB budget, values of ~10 KB: the referenced one is pushed out */
    char value[10000], other[10000], name[32];
    memset(value, 'r', sizeof(value));
    memset(other, 'x', sizeof(other));
    struct cache_key k = key("victim");
    cache_put(&k, value, sizeof(value), 0);
    struct cache_ref *ref = ref_of("victim", 0);
    struct cache_stats before, after;
    cache_get_stats(&before, 0);
    for (int i = 0; i < 400; i++) {
        snprintf(name, sizeof(name), "filler%d", i);
        struct cache_key f = key(name);
        cache_put(&f, other, sizeof(other), 1);
    }
    struct buf out = BUF_INIT;
    struct cache_fill *f = NULL;
    assert_int_equal(get("victim", 2, &out, &f), CACHE_MISS);
    fill_with(f, NULL, 2);
    assert_ref_reads(ref, value, sizeof(value));
    cache_get_stats(&after, 2);
    assert_true(after.bytes <= after.limit); /* the referenced entry no longer counts */
    cache_ref_release(ref);
    buf_free(&out);
}

/* cache_patch never changes bytes a reference is being written from. */
static void test_no_patch_while_referenced(void **state)
{
    struct cache_key k = key("p");
    cache_put(&k, "seq=1;body", 10, 0);
    struct cache_ref *ref = ref_of("p", 1);
    assert_false(cache_patch(&k, "seq=1;body", 10, 4, "7", 1));
    assert_ref_reads(ref, "seq=1;body", 10);
    cache_ref_release(ref);
    assert_true(cache_patch(&k, "seq=1;body", 10, 4, "7", 1)); /* released: patched */
    ref = ref_of("p", 2);
    assert_ref_reads(ref, "seq=7;body", 10);
    cache_ref_release(ref);
}

static void test_ref_outlives_teardown(void **state)
{
    struct cache_key k = key("td");
    cache_put(&k, "kept", 4, 0);
    struct cache_ref *ref = ref_of("td", 1);
    cache_teardown();
    assert_ref_reads(ref, "kept", 4);
    cache_ref_release(ref);
    assert_int_equal(setup_small(state), 0); /* for the teardown that follows */
}

/* ---- threads: shards, leases and holds shared by several workers ---- */

#define THREADS 4
#define KEYS 64

struct waiter_box {
    struct cache_waiter w;
    int woken;
};

static void thread_wake(struct cache_waiter *w, const struct cache_result *r)
{
    struct waiter_box *box = container_of(w, struct waiter_box, w);
    __atomic_store_n(&box->woken, 1, __ATOMIC_RELEASE);
}

static void *hammer(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    struct buf out = BUF_INIT;
    char name[16];
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        snprintf(name, sizeof(name), "k%u", (seed >> 8) % KEYS);
        struct cache_key k = key_at(name, (seed >> 20) % 3);
        uint64_t now = (uint64_t)i;
        struct cache_fill *f = NULL;
        uint32_t crc;
        struct waiter_box box = {{thread_wake, NULL}, 0};
        buf_reset(&out);
        switch ((seed >> 4) % 6) {
        case 0: /* a read, filling its miss at once */
            if (cache_get(&k, now, &out, &crc, &f, NULL) == CACHE_MISS) fill_with(f, name, now);
            break;
        case 1: { /* a read that may wait: its fill is ended by whoever holds it */
            enum cache_kind kind = cache_get(&k, now, &out, &crc, &f, &box.w);
            if (kind == CACHE_MISS) fill_with(f, NULL, now);
            /* a WAIT is woken when the other thread's fill ends; box must
             * outlive it, so only the MISS path may return while queued */
            while (kind == CACHE_WAIT && !__atomic_load_n(&box.woken, __ATOMIC_ACQUIRE))
                sched_yield();
            break;
        }
        case 2: { /* a write */
            struct cache_fill *w = cache_write_begin(&k);
            cache_write_end(w, (seed >> 12) % 4 == 0 ? CACHE_WRITE_AMBIGUOUS : CACHE_WRITE_STORE,
                            "w", 1, now);
            break;
        }
        case 3: cache_invalidate(&k); break;
        case 4: { /* a consistent read */
            struct cache_fill *c = cache_lease(&k);
            fill_with(c, "c", now);
            break;
        }
        default: {
            struct cache_stats st;
            cache_get_stats(&st, now);
            break;
        }
        }
    }
    buf_free(&out);
    return NULL;
}

/* References taken and read on some threads while others replace, invalidate
 * and evict the same keys: every read sees a whole value of its key. */
static void *ref_reader(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    char name[16];
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        snprintf(name, sizeof(name), "k%u", (seed >> 8) % KEYS);
        struct cache_key k = key(name);
        struct cache_ref *ref = NULL;
        struct cache_fill *f = NULL;
        if (cache_get_ref(&k, 0, &ref, &f, NULL) == CACHE_HIT) {
            size_t len;
            uint32_t crc;
            const char *v = cache_ref_value(ref, &len, &crc);
            sched_yield(); /* let a writer replace or drop it meanwhile */
            if (len < strlen(name) || memcmp(v, name, strlen(name)) != 0 || crc != crc32_of(v, len))
                return (void *)1;
            cache_ref_release(ref);
        } else if (f) {
            fill_with(f, NULL, 0);
        }
    }
    return NULL;
}

static void *ref_writer(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    char name[16], value[3000];
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        snprintf(name, sizeof(name), "k%u", (seed >> 8) % KEYS);
        struct cache_key k = key(name);
        if ((seed >> 4) % 4 == 0) {
            cache_invalidate(&k);
            continue;
        }
        size_t len = 100 + (seed >> 12) % 2800; /* big enough to evict: 64 keys > 64 KiB */
        memset(value, 'v', len);
        memcpy(value, name, strlen(name));
        cache_put(&k, value, len, 0);
    }
    return NULL;
}

static void test_threads_share_refs(void **state)
{
    /* under ThreadSanitizer in CI (DDBX_TSAN): counts taken under the shard
     * lock, released outside it, the last release on any thread */
    cache_teardown();
    assert_int_equal(cache_setup(64 * 1024, 1000, 500, 2000, 2), 0);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, i % 2 ? ref_writer : ref_reader,
                                        (void *)(uintptr_t)(i + 1)),
                         0);
    for (int i = 0; i < THREADS; i++) {
        void *bad = NULL;
        pthread_join(th[i], &bad);
        assert_null(bad);
    }
}

/* cache_prefetch reads bucket arrays and slots without the lock while other
 * threads grow the arrays, link and unlink entries: under ASan/TSan (CI)
 * any read of freed memory or unordered access is reported. */
#define GROW_KEYS 20000
static atomic_bool growing_done;

static void *grower(void *arg)
{
    char name[24];
    for (int i = 0; i < GROW_KEYS; i++) {
        snprintf(name, sizeof(name), "g%lu-%d", (unsigned long)(uintptr_t)arg, i);
        struct cache_key k = key(name);
        cache_put(&k, name, strlen(name), 0);
        if (i % 7 == 0) cache_invalidate(&k);
    }
    return NULL;
}

static void *prefetcher(void *arg)
{
    char name[24];
    unsigned seed = 1;
    (void)arg;
    while (!atomic_load(&growing_done)) {
        seed = seed * 1103515245u + 12345u;
        snprintf(name, sizeof(name), "g%u-%u", 1 + (seed >> 30), (seed >> 8) % GROW_KEYS);
        struct cache_key k = key(name);
        cache_prefetch(&k, 0);
        cache_prefetch(&k, 1);
    }
    return NULL;
}

static void test_prefetch_while_growing(void **state)
{
    cache_teardown();
    assert_int_equal(cache_setup(64 * MIB, 1000, 500, 2000, 2), 0);
    atomic_store(&growing_done, false);
    pthread_t g[2], p[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&g[i], NULL, grower, (void *)(uintptr_t)(i + 1)), 0);
        assert_int_equal(pthread_create(&p[i], NULL, prefetcher, NULL), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(g[i], NULL);
    atomic_store(&growing_done, true);
    for (int i = 0; i < 2; i++)
        pthread_join(p[i], NULL);
    /* every entry is still found, with its value, after all that growth */
    struct buf out = BUF_INIT;
    char name[24];
    for (int t = 1; t <= 2; t++)
        for (int i = 0; i < GROW_KEYS; i++) {
            snprintf(name, sizeof(name), "g%d-%d", t, i);
            struct cache_fill *f = NULL;
            enum cache_kind kind = get(name, 0, &out, &f);
            if (i % 7 == 0) {
                assert_int_equal(kind, CACHE_MISS);
                fill_with(f, NULL, 0);
                continue;
            }
            assert_int_equal(kind, CACHE_HIT);
            assert_memory_equal(out.data, name, strlen(name));
        }
    buf_free(&out);
    /* outgrown arrays stay allocated until teardown, and are counted */
    struct cache_stats st;
    cache_get_stats(&st, 0);
    assert_true(st.bytes >= st.entries * sizeof(void *) * 2);
}

/* A shard starts with 64 buckets and doubles them when a 65th entry comes:
 * that insertion adds the new 128-slot array on top of the entry, and the
 * outgrown 64-slot array stays counted (retired, not freed). */
static void test_retired_buckets_counted(void **state)
{
    char name[32], value[100];
    memset(value, 'v', sizeof(value));
    uint64_t before = 0, delta[66] = {0};
    for (int i = 1; i <= 65; i++) {
        struct cache_stats st;
        cache_get_stats(&st, 0);
        before = st.bytes;
        snprintf(name, sizeof(name), "key-%06d", i); /* same length: same entry cost */
        struct cache_key k = key(name);
        cache_put(&k, value, sizeof(value), 0);
        cache_get_stats(&st, 0);
        assert_int_equal(st.entries, i);
        delta[i] = st.bytes - before;
    }
    assert_int_equal(delta[64], delta[63]); /* no growth: the entry alone */
    /* growth: the whole new array, the old one not given back */
    assert_true(delta[65] - delta[64] >= 128 * sizeof(void *));
}

static void test_threads_share_shards(void **state)
{
    /* run under ThreadSanitizer in CI (DDBX_TSAN): every shard structure,
     * fill list and hold list is touched from several threads at once */
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, (void *)(uintptr_t)(i + 1)), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    struct cache_stats st;
    cache_get_stats(&st, 0);
    assert_true(st.entries <= KEYS);
    assert_true(st.bytes <= st.limit);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_miss_fill_hit, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_threads_share_shards, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_threads_share_refs, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_prefetch_while_growing, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_retired_buckets_counted, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_ref_hit_release, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_ref_kinds_other_than_hit, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_ref_outlives_replacement_and_invalidation, setup_small,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ref_outlives_expiry, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_ref_outlives_eviction, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_ref_outlives_teardown, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_no_patch_while_referenced, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_crc_matches_value, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_ttl, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_across_32bit_wrap, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_long_expired_never_served, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_older_epoch_is_stale, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_no_join_across_epochs, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_write_covers_every_epoch, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_ambiguous_write_holds_key, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_fill_running_across_hold_not_installed, setup_small,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lru_eviction_order, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_memory_counted_honestly, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_bucket_growth_within_budget, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_fill_refused_after_write, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_fill_refused_after_invalidate, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_lease_supersedes_running_fills, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_coalescing, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_failed_fill_caches_nothing, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_too_big_for_budget_not_cached, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_write_lease_stores, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_overlapping_writes_store_nothing, setup_small,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_write_and_fill, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_hold_until, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_peek, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_shards_chosen_from_memory, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_patch_rewrites_only_the_value_read, setup_small,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
