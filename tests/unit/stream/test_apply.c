/*
 * test_apply.c: what one stream record does (src/stream/apply.c): the item
 * is invalidated, never replaced; the query tags of the partitions of its
 * images are bumped (a KEYS_ONLY record: whole GSIs); a record of ddbx's own
 * write skips both when the write bumped every tag it would, and only the
 * first such record does; writes sent before the reader was positioned are
 * not noted; canonical image hashes; a key that cannot be read.
 */
#include "testutil.h"

#include "cache/cache.h"
#include "cache/tags.h"
#include "metrics/metrics.h"
#include "proto/invalidation.h"
#include "stream/stream.h"

/* table "s": hash b, range p; GSI g (rg) */
static const char *desc =
    "{\"TableName\":\"s\",\"KeySchema\":[{\"AttributeName\":\"b\",\"KeyType\":\"HASH\"},"
    "{\"AttributeName\":\"p\",\"KeyType\":\"RANGE\"}],"
    "\"AttributeDefinitions\":[{\"AttributeName\":\"b\",\"AttributeType\":\"S\"},"
    "{\"AttributeName\":\"p\",\"AttributeType\":\"S\"},"
    "{\"AttributeName\":\"rg\",\"AttributeType\":\"S\"}],"
    "\"GlobalSecondaryIndexes\":[{\"IndexName\":\"g\",\"KeySchema\":"
    "[{\"AttributeName\":\"rg\",\"KeyType\":\"HASH\"}],\"Projection\":{\"ProjectionType\":\"ALL\"}}"
    "],"
    "\"StreamSpecification\":{\"StreamEnabled\":true,\"StreamViewType\":\"NEW_AND_OLD_IMAGES\"},"
    "\"LatestStreamArn\":\"arn:aws:dynamodb:us-east-1:1:table/s/stream/x\"}";

static struct arena a;
static struct query_table t;

static int setup(void **state)
{
    metrics_setup();
    metrics_thread_register();
    arena_init(&a);
    struct json *doc;
    assert_int_equal(json_parse(&a, desc, strlen(desc), &doc, NULL, 0), JSON_OK);
    assert_int_equal(query_table_parse(doc, &t), QUERY_OK);
    assert_int_equal(cache_setup(4u << 20, 60000, 60000, 20000, 0), 0);
    assert_int_equal(tags_setup(1u << 20, 0, 60000, 0), 0);
    stream_own_setup(60000, 64);
    stream_own_reset("s", 1, true, 10);
    return 0;
}

static int teardown(void **state)
{
    stream_own_teardown();
    tags_teardown();
    cache_teardown();
    arena_free(&a);
    metrics_teardown();
    return 0;
}

static const struct json *parse(const char *s)
{
    struct json *doc;
    assert_int_equal(json_parse(&a, s, strlen(s), &doc, NULL, 0), JSON_OK);
    return doc;
}

/* A record: event, player p, the region of its old and new images ("" none). */
static struct stream_record record(enum stream_event e, const char *p, const char *old_rg,
                                   const char *new_rg, const char *seq)
{
    char b[512];
    struct stream_record r = {.event = e, .created_ms = -1};
    snprintf(b, sizeof(b), "{\"b\":{\"S\":\"b1\"},\"p\":{\"S\":\"%s\"}}", p);
    r.keys = parse(b);
    if (*old_rg) {
        snprintf(b, sizeof(b), "{\"b\":{\"S\":\"b1\"},\"p\":{\"S\":\"%s\"},\"rg\":{\"S\":\"%s\"}}",
                 p, old_rg);
        r.old_image = parse(b);
    }
    if (*new_rg) {
        snprintf(b, sizeof(b), "{\"rg\":{\"S\":\"%s\"},\"p\":{\"S\":\"%s\"},\"b\":{\"S\":\"b1\"}}",
                 new_rg, p);
        r.new_image = parse(b);
    }
    r.seq.s = seq;
    r.seq.len = strlen(seq);
    return r;
}

/* The item cache key of player p of board b1 (as handler/item.c builds it). */
static struct cache_key item_key(const char *p, struct buf *b)
{
    struct key_schema ks = {.table = "s", .table_len = 1, .nattrs = 2};
    ks.attr[0] = t.index[0].hash;
    ks.attr[1] = t.index[0].range;
    char k[128];
    snprintf(k, sizeof(k), "{\"b\":{\"S\":\"b1\"},\"p\":{\"S\":\"%s\"}}", p);
    struct attr_error err;
    assert_int_equal(key_from_key(&ks, parse(k), b, &err), KEY_OK);
    struct cache_key ck;
    cache_key_init(&ck, b->data, b->len);
    return ck;
}

static bool cached(const char *p)
{
    struct buf kb = BUF_INIT, out = BUF_INIT;
    struct cache_key k = item_key(p, &kb);
    uint32_t crc;
    struct cache_fill *f = NULL;
    enum cache_kind kind = cache_get(&k, 100, &out, &crc, &f, NULL);
    if (f) cache_fill_done(f, &(struct cache_result){CACHE_FAILED, NULL, 0, 0, 0}, 100);
    buf_free(&kb);
    buf_free(&out);
    return kind == CACHE_HIT;
}

static void put_item(const char *p)
{
    struct buf kb = BUF_INIT;
    struct cache_key k = item_key(p, &kb);
    cache_put(&k, "{\"Item\":{}}", 11, 50);
    buf_free(&kb);
}

/* A snapshot of a Query page of partition v of index ix ("" base: board v). */
static struct tags_snapshot page(int ix, const char *v)
{
    char b[64];
    snprintf(b, sizeof(b), "{\"S\":\"%s\"}", v);
    struct buf kb = BUF_INIT;
    struct attr_error err;
    assert_int_equal(key_encode_value(&t.index[ix].hash, false, parse(b), &kb, &err), KEY_OK);
    struct query_partition p = {ix, arena_strndup(&a, kb.data, kb.len), kb.len};
    buf_free(&kb);
    struct invalidation_tags tags;
    invalidation_query_tags(&a, &t, &p, &tags);
    uint64_t h[TAGS_MAX_SNAPSHOT];
    for (int i = 0; i < tags.n; i++)
        h[i] = tags_hash(tags.tag[i].data, tags.tag[i].len);
    struct tags_snapshot s;
    tags_snapshot(&s, h, (unsigned)tags.n, 20);
    return s;
}

/* The tags a write of player p (regions old_rg -> new_rg) bumps. */
static unsigned write_tags(const char *p, const char *old_rg, const char *new_rg, uint64_t *h)
{
    struct stream_record r = record(STREAM_MODIFY, p, old_rg, new_rg, "1");
    struct invalidation_write w;
    struct invalidation_tags tags;
    stream_record_write(&r, &w);
    invalidation_write_tags(&a, &t, &w, &tags);
    for (int i = 0; i < tags.n; i++)
        h[i] = tags_hash(tags.tag[i].data, tags.tag[i].len);
    return (unsigned)tags.n;
}

static void note(const char *p, const char *old_rg, const char *new_rg, uint64_t sent)
{
    uint64_t h[INVALIDATION_MAX_TAGS];
    unsigned n = write_tags(p, old_rg, new_rg, h);
    struct stream_record r = record(STREAM_MODIFY, p, old_rg, new_rg, "1");
    struct buf kb = BUF_INIT;
    struct cache_key k = item_key(p, &kb);
    stream_own_note(&t, &k, r.new_image, h, n, sent, sent + 5);
    buf_free(&kb);
}

static void test_a_record_invalidates_the_item_and_bumps_its_partitions(void **state)
{
    put_item("x");
    put_item("y");
    struct tags_snapshot base1 = page(0, "b1"), base2 = page(0, "b2"), eu = page(1, "eu"),
                         us = page(1, "us"), asia = page(1, "asia");
    struct stream_record r = record(STREAM_MODIFY, "x", "eu", "us", "100");
    assert_int_equal(stream_apply(&a, &t, &r, 30), STREAM_APPLIED);
    assert_false(cached("x")); /* invalidated, not replaced from NewImage */
    assert_true(cached("y"));
    assert_false(tags_valid(&base1));
    assert_true(tags_valid(&base2));
    assert_false(tags_valid(&eu)); /* the old image's GSI partition */
    assert_false(tags_valid(&us)); /* the new image's */
    assert_true(tags_valid(&asia));
}

static void test_a_record_without_images_makes_the_whole_gsi_stale(void **state)
{
    struct tags_snapshot eu = page(1, "eu"), base2 = page(0, "b2");
    struct stream_record r = record(STREAM_MODIFY, "x", "", "", "100"); /* KEYS_ONLY */
    assert_int_equal(stream_apply(&a, &t, &r, 30), STREAM_APPLIED);
    assert_false(tags_valid(&eu));
    assert_true(tags_valid(&base2));
    /* a REMOVE with its old image names the partition it leaves */
    struct tags_snapshot us = page(1, "us"), asia = page(1, "asia");
    r = record(STREAM_REMOVE, "x", "us", "", "101");
    assert_int_equal(stream_apply(&a, &t, &r, 40), STREAM_APPLIED);
    assert_false(tags_valid(&us));
    assert_true(tags_valid(&asia));
}

static void test_the_record_of_an_own_write_changes_nothing_once(void **state)
{
    put_item("x");
    note("x", "eu", "us", 20);
    struct tags_snapshot us = page(1, "us");
    struct stream_record r = record(STREAM_MODIFY, "x", "eu", "us", "100");
    assert_int_equal(stream_apply(&a, &t, &r, 30), STREAM_APPLIED_OWN);
    assert_true(cached("x"));
    assert_true(tags_valid(&us));
    /* a later write of the same item to the same image is another write */
    r = record(STREAM_MODIFY, "x", "asia", "us", "101");
    assert_int_equal(stream_apply(&a, &t, &r, 40), STREAM_APPLIED);
    assert_false(cached("x"));
    assert_false(tags_valid(&us));
}

static void test_an_own_write_that_bumped_less_does_not_cover_its_record(void **state)
{
    /* the write knew the item's new region only (old image unknown would have
     * bumped the whole GSI); the record names an old region it did not bump */
    note("x", "us", "us", 20);
    struct tags_snapshot eu = page(1, "eu");
    struct stream_record r = record(STREAM_MODIFY, "x", "eu", "us", "100");
    assert_int_equal(stream_apply(&a, &t, &r, 30), STREAM_APPLIED);
    assert_false(tags_valid(&eu));
    /* ... and the note was used up: the next matching record is applied too */
    r = record(STREAM_MODIFY, "x", "us", "us", "101");
    assert_int_equal(stream_apply(&a, &t, &r, 40), STREAM_APPLIED);
}

static void test_a_record_seen_before_its_writes_answer_uses_up_the_note(void **state)
{
    struct stream_record r = record(STREAM_MODIFY, "x", "eu", "us", "100");
    assert_int_equal(stream_apply(&a, &t, &r, 30), STREAM_APPLIED);
    note("x", "eu", "us", 20); /* answered after its record went by: not noted */
    r = record(STREAM_MODIFY, "x", "eu", "us", "101");
    assert_int_equal(stream_apply(&a, &t, &r, 40), STREAM_APPLIED);
}

static void test_writes_sent_before_the_reader_was_positioned_are_not_noted(void **state)
{
    stream_own_reset("s", 1, true, 100); /* e.g. after a gap */
    note("x", "eu", "us", 90);
    struct stream_record r = record(STREAM_MODIFY, "x", "eu", "us", "100");
    assert_int_equal(stream_apply(&a, &t, &r, 120), STREAM_APPLIED);
    /* nor are writes of a table whose stream is not read with new images */
    stream_own_reset("s", 1, false, 130);
    note("x", "eu", "us", 140);
    r = record(STREAM_MODIFY, "x", "eu", "us", "101");
    assert_int_equal(stream_apply(&a, &t, &r, 150), STREAM_APPLIED);
}

static void test_when_memory_is_full_no_write_is_noted_for_a_while(void **state)
{
    char p[16];
    for (int i = 0; i < 64; i++) { /* 64 unmatched records fill the memory */
        snprintf(p, sizeof(p), "p%d", i);
        struct stream_record r = record(STREAM_MODIFY, p, "eu", "us", "100");
        stream_apply(&a, &t, &r, 30);
    }
    struct stream_record r = record(STREAM_MODIFY, "x", "eu", "us", "100");
    stream_apply(&a, &t, &r, 30); /* not remembered: notes are off for own_keep_ms */
    note("x", "eu", "us", 40);
    r = record(STREAM_MODIFY, "x", "eu", "us", "101");
    assert_int_equal(stream_apply(&a, &t, &r, 50), STREAM_APPLIED);
}

static void test_a_key_that_cannot_be_read_bumps_the_table(void **state)
{
    struct tags_snapshot base2 = page(0, "b2");
    struct stream_record r = record(STREAM_MODIFY, "x", "", "", "100");
    r.keys = parse("{\"b\":{\"N\":\"1\"},\"p\":{\"S\":\"x\"}}"); /* b is a string key */
    assert_int_equal(stream_apply(&a, &t, &r, 30), STREAM_UNKEYED);
    assert_false(tags_valid(&base2));
}

static void test_image_hashes_are_canonical(void **state)
{
    uint64_t h1, h2;
    assert_true(stream_image_hash(
        parse("{\"a\":{\"N\":\"1.50\"},\"s\":{\"SS\":[\"x\",\"y\"]},\"m\":{\"M\":{\"k\":{\"S\":"
              "\"v\"},"
              "\"n\":{\"NULL\":true}}},\"l\":{\"L\":[{\"BOOL\":true},{\"N\":\"2\"}]}}"),
        &h1));
    assert_true(stream_image_hash(
        parse(
            "{\"l\":{\"L\":[{\"BOOL\":true},{\"N\":\"2E0\"}]},\"m\":{\"M\":{\"n\":{\"NULL\":true},"
            "\"k\":{\"S\":\"v\"}}},\"s\":{\"SS\":[\"y\",\"x\"]},\"a\":{\"N\":\"1.5\"}}"),
        &h2));
    assert_true(h1 == h2);
    static const char *const other[] = {
        "{\"a\":{\"N\":\"1.51\"}}", "{\"a\":{\"S\":\"1.5\"}}",
        "{\"b\":{\"N\":\"1.5\"}}",  "{\"a\":{\"L\":[{\"N\":\"2\"},{\"BOOL\":true}]}}",
        "{\"a\":{\"BOOL\":false}}", "{\"a\":{\"NS\":[\"1.5\",\"2\"]}}",
    };
    assert_true(stream_image_hash(parse("{\"a\":{\"N\":\"1.5\"}}"), &h1));
    for (size_t i = 0; i < ARRAY_LEN(other); i++) {
        assert_true(stream_image_hash(parse(other[i]), &h2));
        assert_true(h1 != h2);
    }
    assert_false(stream_image_hash(parse("{\"a\":{\"N\":\"x\"}}"), &h1));
    assert_false(stream_image_hash(parse("{\"a\":{\"B\":\"QR==\"}}"), &h1)); /* not canonical */
    assert_false(stream_image_hash(parse("{\"a\":{\"Q\":\"1\"}}"), &h1));
}

int main(void)
{
#define A(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        A(test_a_record_invalidates_the_item_and_bumps_its_partitions),
        A(test_a_record_without_images_makes_the_whole_gsi_stale),
        A(test_the_record_of_an_own_write_changes_nothing_once),
        A(test_an_own_write_that_bumped_less_does_not_cover_its_record),
        A(test_a_record_seen_before_its_writes_answer_uses_up_the_note),
        A(test_writes_sent_before_the_reader_was_positioned_are_not_noted),
        A(test_when_memory_is_full_no_write_is_noted_for_a_while),
        A(test_a_key_that_cannot_be_read_bumps_the_table),
        A(test_image_hashes_are_canonical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
