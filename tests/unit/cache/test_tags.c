/*
 * test_tags.c: tag generations (cache/tags.h) on a fake clock: a snapshot
 * stays valid until one of its tags is bumped, the hot window after a bump,
 * dropping old tags within the memory budget without ever making a stale
 * snapshot valid, a leaderboard's partition tags from proto/invalidation.h,
 * notes kept with bumps (a ring per tag: overflow, bumps without notes, a
 * dropped tag and snapshots older than the ring read as unknown), and
 * threads bumping and validating at once (run it under ASan too).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cache/tags.h"
#include "proto/invalidation.h"

#define HOT_MS 500
#define RETAIN_MS 10000

static uint64_t h(const char *tag)
{
    return tags_hash(tag, strlen(tag));
}

static int snap(struct tags_snapshot *s, const char *a, const char *b, uint64_t now)
{
    uint64_t hashes[2] = {h(a), b ? h(b) : 0};
    return tags_snapshot(s, hashes, b ? 2 : 1, now);
}

static void bump(const char *tag, uint64_t now)
{
    uint64_t x = h(tag);
    tags_bump(&x, 1, now);
}

static int setup(void **state)
{
    return tags_setup(1 << 20, HOT_MS, RETAIN_MS, 4);
}

static int teardown(void **state)
{
    tags_teardown();
    return 0;
}

static void test_bump_makes_stale(void **state)
{
    struct tags_snapshot s;
    assert_int_equal(snap(&s, "P/b1", "T", 1000), TAGS_OK);
    assert_true(tags_valid(&s));
    bump("P/b2", 1001); /* another partition */
    assert_true(tags_valid(&s));
    bump("P/b1", 1002);
    assert_false(tags_valid(&s));
    /* any of the snapshot's tags */
    assert_int_equal(snap(&s, "P/b3", "T", 5000), TAGS_OK);
    bump("T", 5001);
    assert_false(tags_valid(&s));
}

static void test_snapshot_after_bump_is_valid(void **state)
{
    bump("P/b1", 1000);
    struct tags_snapshot s;
    /* after the hot window: cacheable, and valid until the next bump */
    assert_int_equal(snap(&s, "P/b1", NULL, 1000 + HOT_MS), TAGS_OK);
    assert_true(tags_valid(&s));
    bump("P/b1", 2000);
    assert_false(tags_valid(&s));
}

static void test_hot_window(void **state)
{
    struct tags_snapshot s;
    bump("I/by_score", 1000);
    assert_int_equal(snap(&s, "I/by_score", NULL, 1000), TAGS_HOT);
    assert_int_equal(snap(&s, "I/by_score", NULL, 1000 + HOT_MS - 1), TAGS_HOT);
    assert_int_equal(snap(&s, "I/by_score", NULL, 1000 + HOT_MS), TAGS_OK);
    /* one hot tag makes the snapshot hot */
    bump("P/b1", 3000);
    assert_int_equal(snap(&s, "T", "P/b1", 3100), TAGS_HOT);
    assert_int_equal(snap(&s, "T", "P/b2", 3100), TAGS_OK);
    /* a hot snapshot is filled in all the same */
    assert_int_equal(s.n, 2);
    assert_int_equal(s.hash[1], h("P/b2"));
    /* more tags than a snapshot keeps: never cacheable */
    uint64_t many[TAGS_MAX_SNAPSHOT + 1] = {0};
    assert_int_equal(tags_snapshot(&s, many, TAGS_MAX_SNAPSHOT + 1, 9000), TAGS_HOT);
}

static void test_no_hot_window(void **state)
{
    tags_teardown();
    assert_int_equal(tags_setup(1 << 20, 0, RETAIN_MS, 1), 0);
    struct tags_snapshot s;
    bump("P/b1", 1000);
    assert_int_equal(snap(&s, "P/b1", NULL, 1000), TAGS_OK);
    assert_true(tags_valid(&s));
}

/* Tags bumped longer ago than retain_ms are dropped for free: a snapshot
 * taken since stays valid, one taken before a dropped tag's bump that
 * depended on it stays stale. */
static void test_expiry(void **state)
{
    struct tags_snapshot before_a, after_a;
    assert_int_equal(snap(&before_a, "A", NULL, 0), TAGS_OK);
    bump("A", 100);
    assert_int_equal(snap(&after_a, "C", "A", 1000), TAGS_OK);
    struct tags_stats st;
    tags_get_stats(&st);
    assert_int_equal(st.tags, 1);
    /* every shard sees a bump long after A's: A is dropped where it lives */
    for (int i = 0; i < 64; i++) {
        char tag[16];
        snprintf(tag, sizeof(tag), "later%d", i);
        bump(tag, 100 + RETAIN_MS + 1);
    }
    tags_get_stats(&st);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.evicted, 0);
    assert_int_equal(st.tags, 64);
    assert_false(tags_valid(&before_a)); /* A was bumped after it */
    assert_true(tags_valid(&after_a));   /* nothing it depends on moved */
}

/* A tiny budget: tags are dropped early, memory stays bounded, and no
 * snapshot taken before a tag's bump ever becomes valid again. */
static void test_budget(void **state)
{
    tags_teardown();
    assert_int_equal(tags_setup(8192, HOT_MS, RETAIN_MS, 1), 0);
    enum { N = 2000 };
    static struct tags_snapshot s[N];
    for (int i = 0; i < N; i++) {
        char tag[16];
        snprintf(tag, sizeof(tag), "t%d", i);
        snap(&s[i], tag, NULL, (uint64_t)i); /* 1 ms apart: nothing expires */
        bump(tag, (uint64_t)i);
    }
    struct tags_stats st;
    tags_get_stats(&st);
    assert_true(st.bytes <= st.limit);
    assert_true(st.tags < N);
    assert_true(st.evicted > 0);
    for (int i = 0; i < N; i++)
        if (tags_valid(&s[i])) fail_msg("snapshot %d valid after its tag's bump", i);
    /* a snapshot taken now is valid, dropped tags or not */
    struct tags_snapshot now;
    assert_int_equal(snap(&now, "t0", "t1999", (uint64_t)N + HOT_MS), TAGS_OK);
    assert_true(tags_valid(&now));
}

/* A hot tag dropped early leaves its shard hot until it would have cooled. */
static void test_budget_hot(void **state)
{
    tags_teardown();
    assert_int_equal(tags_setup(4096, HOT_MS, RETAIN_MS, 1), 0);
    bump("first", 1000);
    for (int i = 0; i < 500; i++) {
        char tag[16];
        snprintf(tag, sizeof(tag), "t%d", i);
        bump(tag, 1000);
    }
    struct tags_stats st;
    tags_get_stats(&st);
    assert_true(st.evicted > 0);
    struct tags_snapshot s;
    assert_int_equal(snap(&s, "first", NULL, 1001), TAGS_HOT);
    assert_int_equal(snap(&s, "never-bumped", NULL, 1001), TAGS_HOT); /* conservative */
    assert_int_equal(snap(&s, "first", NULL, 1000 + HOT_MS), TAGS_OK);
}

static void test_setup_refused(void **state)
{
    tags_teardown();
    assert_int_equal(tags_setup(1 << 20, HOT_MS, RETAIN_MS, 3), -1); /* not a power of two */
    assert_int_equal(tags_setup(1024, HOT_MS, RETAIN_MS, 1), -1);    /* too small */
    assert_int_equal(tags_setup(1 << 20, HOT_MS, RETAIN_MS, 0), 0);  /* default */
}

static void bump_write(struct arena *a, const struct query_table *t,
                       const struct invalidation_write *w, uint64_t now)
{
    struct invalidation_tags tags;
    invalidation_write_tags(a, t, w, &tags);
    uint64_t hashes[INVALIDATION_MAX_TAGS];
    for (int i = 0; i < tags.n; i++)
        hashes[i] = tags_hash(tags.tag[i].data, tags.tag[i].len);
    tags_bump(hashes, (unsigned)tags.n, now);
}

/* A fill after the hot window: a new snapshot of the same tags. */
static void resnapshot(struct tags_snapshot *s, uint64_t now)
{
    struct tags_snapshot old = *s;
    assert_int_equal(tags_snapshot(s, old.hash, old.n, now), TAGS_OK);
}

/* The leaderboard: a score written on board b1 makes b1's cached top-5 (a
 * Query of GSI by_score) stale and leaves board b2's valid. Tags built by
 * proto/invalidation.h for moto's table shape. */
static void test_leaderboard(void **state)
{
    static const char description[] =
        "{\"TableName\":\"scores\",\"AttributeDefinitions\":[{\"AttributeName\":\"board\","
        "\"AttributeType\":\"S\"},{\"AttributeName\":\"player\",\"AttributeType\":\"S\"},{"
        "\"AttributeName\":\"score\",\"AttributeType\":\"N\"}],\"KeySchema\":[{"
        "\"AttributeName\":\"board\",\"KeyType\":\"HASH\"},{\"AttributeName\":\"player\","
        "\"KeyType\":\"RANGE\"}],\"GlobalSecondaryIndexes\":[{\"IndexName\":\"by_score\","
        "\"KeySchema\":[{\"AttributeName\":\"board\",\"KeyType\":\"HASH\"},{\"AttributeName\":"
        "\"score\",\"KeyType\":\"RANGE\"}],\"Projection\":{\"ProjectionType\":\"ALL\"}}]}";
    struct arena a;
    arena_init(&a);
    struct json *doc;
    assert_int_equal(json_parse(&a, description, sizeof(description) - 1, &doc, NULL, 0), 0);
    struct query_table t;
    assert_int_equal(query_table_parse(doc, &t), QUERY_OK);
    struct tags_snapshot top5[2];
    for (int b = 0; b < 2; b++) {
        char req[256];
        snprintf(req, sizeof(req),
                 "{\"TableName\":\"scores\",\"IndexName\":\"by_score\",\"KeyConditionExpression\":"
                 "\"board = :b\",\"ExpressionAttributeValues\":{\":b\":{\"S\":\"b%d\"}},"
                 "\"ScanIndexForward\":false,\"Limit\":5}",
                 b + 1);
        struct json *q;
        assert_int_equal(json_parse(&a, req, strlen(req), &q, NULL, 0), 0);
        struct query_partition p;
        assert_int_equal(query_read_partition(&a, &t, q, &p), QUERY_OK);
        struct invalidation_tags tags;
        invalidation_query_tags(&a, &t, &p, &tags);
        uint64_t hashes[TAGS_MAX_SNAPSHOT];
        for (int i = 0; i < tags.n; i++)
            hashes[i] = tags_hash(tags.tag[i].data, tags.tag[i].len);
        assert_int_equal(tags_snapshot(&top5[b], hashes, (unsigned)tags.n, 1000), TAGS_OK);
    }
    /* UpdateItem SET score = :s on b1/ann, ALL_NEW: score is by_score's sort
     * key, board its partition key: only board b1's results go */
    static const char item[] = "{\"board\":{\"S\":\"b1\"},\"player\":{\"S\":\"ann\"},\"score\":{"
                               "\"N\":\"99\"}}";
    struct json *image;
    assert_int_equal(json_parse(&a, item, sizeof(item) - 1, &image, NULL, 0), 0);
    struct invalidation_write w = {0};
    w.key = image;
    w.update = true;
    w.update_expression = "SET score = :s";
    w.update_expression_len = strlen(w.update_expression);
    w.new_state = INVALIDATION_KNOWN;
    w.new_image = image;
    w.old_state = INVALIDATION_UNKNOWN;
    bump_write(&a, &t, &w, 2000);
    assert_false(tags_valid(&top5[0]));
    assert_true(tags_valid(&top5[1])); /* the other board stays a hit */
    resnapshot(&top5[0], 3000);
    /* a PutItem whose old image is unknown (no ALL_OLD): the old item may
     * have been on any board, so every by_score result goes */
    memset(&w, 0, sizeof(w));
    w.key = w.new_image = image;
    w.new_state = INVALIDATION_KNOWN;
    w.old_state = INVALIDATION_UNKNOWN;
    bump_write(&a, &t, &w, 4000);
    assert_false(tags_valid(&top5[0]));
    assert_false(tags_valid(&top5[1]));
    resnapshot(&top5[0], 5000);
    resnapshot(&top5[1], 5000);
    /* with ALL_OLD: the same board before, so only b1 */
    w.old_state = INVALIDATION_KNOWN;
    w.old_image = image;
    bump_write(&a, &t, &w, 6000);
    assert_false(tags_valid(&top5[0]));
    assert_true(tags_valid(&top5[1]));
    arena_free(&a);
}

/* ---- threads ---- */

enum { THREADS = 4, ROUNDS = 200000, NTAGS = 2048 };

static _Atomic unsigned long writer_done;
static _Atomic int failures;

/* Each thread: a snapshot, a bump of one of its tags, then the snapshot
 * must be stale, whatever the other threads bumped or dropped meanwhile. */
static void *own_bumps(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        uint64_t x[2] = {(uint64_t)(rand_r(&seed) % NTAGS) * 0x9E3779B97F4A7C15ull,
                         (uint64_t)(rand_r(&seed) % NTAGS) * 0x9E3779B97F4A7C15ull};
        struct tags_snapshot s;
        tags_snapshot(&s, x, 2, (uint64_t)i);
        tags_bump(&x[rand_r(&seed) % 2], 1, (uint64_t)i);
        if (tags_valid(&s)) atomic_fetch_add(&failures, 1);
    }
    return NULL;
}

/* One writer bumps a tag and counts; a reader's snapshot must be stale once
 * a bump that started after it has ended (two counts later). */
static void *writer(void *arg)
{
    uint64_t x = 42;
    for (unsigned long i = 1; i <= ROUNDS; i++) {
        tags_bump(&x, 1, i);
        atomic_store(&writer_done, i);
    }
    return NULL;
}

static void *reader(void *arg)
{
    uint64_t x = 42;
    for (;;) {
        struct tags_snapshot s;
        tags_snapshot(&s, &x, 1, 0);
        unsigned long seen = atomic_load(&writer_done);
        if (seen + 2 > ROUNDS) return NULL;
        while (atomic_load(&writer_done) < seen + 2)
            ;
        if (tags_valid(&s)) atomic_fetch_add(&failures, 1);
    }
}

/* ---- notes ---- */

/* A note of one byte: 'k' (the result is kept) or 'x' (it changes). */
static void bump_note(const char *tag, char what, uint64_t now)
{
    uint64_t x = h(tag);
    struct tags_note n = {.len = 1};
    n.data[0] = (unsigned char)what;
    tags_bump_noted(&x, &n, 1, now);
}

static int calls;

static bool keeps_k(const struct tags_note *n, void *ctx)
{
    (void)ctx;
    calls++;
    return n->len == 1 && n->data[0] == 'k';
}

static bool noted_valid(const struct tags_snapshot *s, uint64_t *seq)
{
    uint64_t ignored;
    return tags_valid_noted(s, keeps_k, NULL, seq ? seq : &ignored);
}

static void test_notes_keep_a_snapshot_valid(void **state)
{
    struct tags_snapshot s;
    snap(&s, "P/b1", "T", 1000);
    calls = 0;
    assert_true(noted_valid(&s, NULL)); /* nothing moved: no note is read */
    assert_int_equal(calls, 0);
    bump_note("P/b1", 'k', 1001);
    bump_note("P/b1", 'k', 1002);
    assert_false(tags_valid(&s));
    assert_true(noted_valid(&s, NULL));
    assert_int_equal(calls, 2);
    bump_note("P/b1", 'x', 1003); /* a note that changes the result */
    assert_false(noted_valid(&s, NULL));
    /* a later snapshot sees only the notes after it */
    snap(&s, "P/b1", "T", 1004);
    bump_note("P/b1", 'k', 1005);
    assert_true(noted_valid(&s, NULL));
    /* a note on another tag of the snapshot counts the same way */
    bump_note("T", 'k', 1006);
    assert_true(noted_valid(&s, NULL));
    bump_note("T", 'x', 1007);
    assert_false(noted_valid(&s, NULL));
}

static void test_a_bump_without_a_note_is_unknown(void **state)
{
    struct tags_snapshot s;
    snap(&s, "P/b1", NULL, 1000);
    bump_note("P/b1", 'k', 1001);
    bump("P/b1", 1002); /* tags_bump: no note */
    bump_note("P/b1", 'k', 1003);
    assert_false(noted_valid(&s, NULL));
    /* an empty note is no note */
    snap(&s, "P/b1", NULL, 1004);
    uint64_t x = h("P/b1");
    struct tags_note empty = {.len = 0};
    tags_bump_noted(&x, &empty, 1, 1005);
    assert_false(noted_valid(&s, NULL));
    /* a snapshot after the unknown bump is judged by the notes after it */
    snap(&s, "P/b1", NULL, 1006);
    bump_note("P/b1", 'k', 1007);
    assert_true(noted_valid(&s, NULL));
}

static void test_the_ring_keeps_the_last_notes(void **state)
{
    struct tags_snapshot s;
    snap(&s, "P/b1", NULL, 1000);
    for (int i = 0; i < TAGS_NOTES; i++)
        bump_note("P/b1", 'k', 1001 + (uint64_t)i);
    assert_true(noted_valid(&s, NULL)); /* exactly the ring */
    /* one more pushes out a note the snapshot needs: unknown */
    bump_note("P/b1", 'k', 1100);
    assert_false(noted_valid(&s, NULL));
    /* a snapshot taken after the pushed-out note still finds all of its own */
    struct tags_snapshot later;
    snap(&later, "P/b1", NULL, 1101);
    for (int i = 0; i < TAGS_NOTES; i++)
        bump_note("P/b1", 'k', 1102 + (uint64_t)i);
    assert_true(noted_valid(&later, NULL));
    /* a changing note anywhere in the ring is found */
    snap(&later, "P/b1", NULL, 1200);
    bump_note("P/b1", 'x', 1201);
    for (int i = 0; i < TAGS_NOTES - 1; i++)
        bump_note("P/b1", 'k', 1202 + (uint64_t)i);
    assert_false(noted_valid(&later, NULL));
}

static void test_restamped_snapshots_see_later_bumps(void **state)
{
    struct tags_snapshot s;
    snap(&s, "P/b1", "T", 1000);
    bump_note("P/b1", 'k', 1001);
    uint64_t seq;
    assert_true(noted_valid(&s, &seq));
    s.seq = seq; /* re-stamped: plainly valid */
    assert_true(tags_valid(&s));
    bump_note("P/b1", 'x', 1002);
    assert_false(tags_valid(&s));
    assert_false(noted_valid(&s, &seq));
}

static void test_a_dropped_tag_has_no_notes(void **state)
{
    tags_teardown();
    assert_int_equal(tags_setup(4096, 0, RETAIN_MS, 1), 0);
    struct tags_snapshot s;
    snap(&s, "P/b1", NULL, 1000);
    bump_note("P/b1", 'k', 1001);
    assert_true(noted_valid(&s, NULL));
    /* enough other tags to push P/b1 out of the 4 KiB budget */
    char name[32];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "P/other%d", i);
        bump_note(name, 'k', 1002 + (uint64_t)i);
    }
    struct tags_stats st;
    tags_get_stats(&st);
    assert_true(st.evicted > 0);
    assert_true(st.bytes <= st.limit + 2048); /* a ring may land after the budget check */
    assert_false(noted_valid(&s, NULL));      /* absent: the floor is above the snapshot */
    bump_note("P/b1", 'k', 2000);             /* made again: its old bumps are unknown */
    assert_false(noted_valid(&s, NULL));
}

static bool hot_noted(const char *tag, uint64_t at)
{
    uint64_t x = h(tag);
    return tags_hot_noted(&x, 1, at, keeps_k, NULL);
}

static void test_hot_bumps_with_notes(void **state)
{
    struct tags_snapshot s;
    assert_true(hot_noted("P/b1", 1000)); /* never bumped: not hot */
    bump_note("P/b1", 'k', 1000);
    assert_int_equal(snap(&s, "P/b1", NULL, 1100), TAGS_HOT);
    assert_true(hot_noted("P/b1", 1100));
    bump_note("P/b1", 'x', 1200); /* a hot bump that changes the result */
    assert_false(hot_noted("P/b1", 1300));
    assert_true(hot_noted("P/b1", 1200 + HOT_MS)); /* its window closed */
    bump("P/b1", 2000);                            /* no note */
    bump_note("P/b1", 'k', 2100);
    assert_false(hot_noted("P/b1", 2200));
    assert_true(hot_noted("P/b1", 2000 + HOT_MS)); /* only 2100's note is hot then: kept */
    /* a note pushed out of the ring while still hot: unknown */
    for (int i = 0; i < TAGS_NOTES + 1; i++)
        bump_note("P/b2", 'k', 5000 + (uint64_t)i);
    assert_false(hot_noted("P/b2", 5100));
    assert_true(hot_noted("P/b2", 5000 + HOT_MS)); /* the pushed-out bump cooled */
}

/* Threads: one writer bumps a tag with notes, 'x' every 16th bump and
 * counts those; a reader re-stamps its snapshot whenever the notes keep it,
 * and once an 'x' bump that started after its snapshot has ended (two
 * counts later), no re-stamp may have hidden it. */
enum { NOTED_ROUNDS = 50000 };
static _Atomic unsigned long x_done;
static _Atomic int noted_writer_running;

static void *noted_writer(void *arg)
{
    (void)arg;
    for (unsigned long i = 1; i <= NOTED_ROUNDS; i++) {
        bump_note("P/hot", i % 16 ? 'k' : 'x', i);
        if (i % 16 == 0) atomic_fetch_add(&x_done, 1);
    }
    atomic_store(&noted_writer_running, 0);
    return NULL;
}

static void *noted_reader(void *arg)
{
    (void)arg;
    uint64_t x = h("P/hot");
    while (atomic_load(&noted_writer_running)) {
        struct tags_snapshot s;
        tags_snapshot(&s, &x, 1, 0);
        unsigned long seen = atomic_load(&x_done);
        uint64_t seq;
        while (atomic_load(&x_done) < seen + 2 && atomic_load(&noted_writer_running))
            if (tags_valid_noted(&s, keeps_k, NULL, &seq)) s.seq = seq;
        if (atomic_load(&x_done) >= seen + 2 && tags_valid_noted(&s, keeps_k, NULL, &seq))
            atomic_fetch_add(&failures, 1);
    }
    return NULL;
}

static void test_threads_with_notes(void **state)
{
    atomic_store(&failures, 0);
    atomic_store(&x_done, 0);
    atomic_store(&noted_writer_running, 1);
    pthread_t w, r;
    pthread_create(&w, NULL, noted_writer, NULL);
    pthread_create(&r, NULL, noted_reader, NULL);
    pthread_join(w, NULL);
    pthread_join(r, NULL);
    assert_int_equal(atomic_load(&failures), 0);
    assert_int_equal(atomic_load(&x_done), NOTED_ROUNDS / 16);
}

static void test_threads(void **state)
{
    tags_teardown();
    /* a small budget and a short retention, so that tags are evicted and
     * expire while other threads validate */
    assert_int_equal(tags_setup(16 * 4096, 0, 1000, 16), 0);
    pthread_t th[THREADS + 2];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, own_bumps, (void *)(uintptr_t)(i + 1));
    atomic_store(&writer_done, 0);
    pthread_create(&th[THREADS], NULL, writer, NULL);
    pthread_create(&th[THREADS + 1], NULL, reader, NULL);
    for (int i = 0; i < THREADS + 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&failures), 0);
    struct tags_stats st;
    tags_get_stats(&st);
    assert_true(st.bytes <= st.limit);
    assert_true(st.evicted > 0);
    assert_true(st.expired > 0);
    assert_true(st.seq > (uint64_t)THREADS * ROUNDS + ROUNDS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bump_makes_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_after_bump_is_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hot_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_hot_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_hot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setup_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leaderboard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notes_keep_a_snapshot_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_bump_without_a_note_is_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_ring_keeps_the_last_notes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restamped_snapshots_see_later_bumps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_dropped_tag_has_no_notes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hot_bumps_with_notes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_with_notes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
