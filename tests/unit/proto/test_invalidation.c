/*
 * test_invalidation.c: the invalidation rule (proto/invalidation.h), one
 * test per row of docs/QUERY_CACHE.md's table: which tags a cached result
 * depends on, and which tags each kind of write bumps, with every image
 * known, absent or unknown. The table is moto's "scores" (GSI by_score on
 * board/score, GSI by_region on region, LSI by_when on board/when).
 */
#include "proto_test.h"

#include "proto/invalidation.h"
#include "proto/stream.h"
#include "testutil.h"

static void scores(struct arena *a, struct query_table *t)
{
    const struct json *doc = json_file(a, "moto_describe_table.json");
    assert_int_equal(query_table_parse(json_get(doc, "Table"), t), QUERY_OK);
}

#define BASE 0
#define BY_SCORE 1
#define BY_REGION 2
#define BY_WHEN 3

/* The partition of index `index` for the string value `value`. */
static struct query_partition partition(struct arena *a, const struct query_table *t, int index,
                                        const char *value)
{
    struct buf b = BUF_INIT;
    struct attr_error err;
    const char *av = arena_printf(a, "{\"S\":\"%s\"}", value);
    assert_int_equal(key_encode_value(&t->index[index].hash, false, json_lit(a, av), &b, &err),
                     KEY_OK);
    struct query_partition p = {index, arena_strndup(a, b.data, b.len), b.len};
    buf_free(&b);
    return p;
}

/* Expected tags, written compactly: "S" scan, "T" table, "I1" index 1,
 * "P1=eu" partition of index 1 for the string value eu. */
static struct invalidation_tag expect(struct arena *a, const struct query_table *t,
                                      const char *spec)
{
    if (spec[0] == 'S' || spec[0] == 'T')
        return invalidation_tag(a, t, (enum invalidation_tag_kind)spec[0], NULL);
    struct query_partition p = {spec[1] - '0', NULL, 0};
    if (spec[0] == 'I') return invalidation_tag(a, t, INVALIDATION_INDEX, &p);
    p = partition(a, t, p.index, spec + 3);
    return invalidation_tag(a, t, INVALIDATION_PARTITION, &p);
}

static bool has_tag(const struct invalidation_tags *got, const struct invalidation_tag *want)
{
    for (int i = 0; i < got->n; i++)
        if (got->tag[i].len == want->len && memcmp(got->tag[i].data, want->data, want->len) == 0)
            return true;
    return false;
}

/* Asserts that got holds exactly the tags of specs (a NULL-terminated list). */
static void assert_tags(struct arena *a, const struct query_table *t,
                        const struct invalidation_tags *got, const char *const *specs)
{
    int n = 0;
    for (; specs[n]; n++) {
        struct invalidation_tag want = expect(a, t, specs[n]);
        if (!has_tag(got, &want)) fail_msg("tag %s missing", specs[n]);
    }
    if (got->n != n) fail_msg("%d tags, %d expected", got->n, n);
}

#define TAGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static const char new_item[] = "{\"board\":{\"S\":\"b1\"},\"player\":{\"S\":\"ann\"},\"score\":{"
                               "\"N\":\"12\"},\"region\":{\"S\":\"us\"},\"when\":{\"N\":\"2\"}}";
static const char old_item[] = "{\"board\":{\"S\":\"b1\"},\"player\":{\"S\":\"ann\"},\"score\":{"
                               "\"N\":\"10\"},\"region\":{\"S\":\"eu\"},\"when\":{\"N\":\"1\"}}";
static const char key_only[] = "{\"board\":{\"S\":\"b1\"},\"player\":{\"S\":\"ann\"}}";

static struct invalidation_write put(struct arena *a, const char *item, enum invalidation_image os,
                                     const char *old)
{
    struct invalidation_write w = {0};
    w.key = json_lit(a, item);
    w.new_state = INVALIDATION_KNOWN;
    w.new_image = w.key;
    w.old_state = os;
    w.old_image = old ? json_lit(a, old) : NULL;
    return w;
}

static void write_tags(struct arena *a, const struct query_table *t,
                       const struct invalidation_write *w, const char *const *specs)
{
    struct invalidation_tags got;
    invalidation_write_tags(a, t, w, &got);
    assert_tags(a, t, &got, specs);
}

static void test_result_tags(void **state)
{
    struct query_table t;
    scores(*state, &t);
    struct invalidation_tags got;
    struct query_partition p = partition(*state, &t, BASE, "b1");
    invalidation_query_tags(*state, &t, &p, &got);
    assert_tags(*state, &t, &got, TAGS("T", "P0=b1"));
    p = partition(*state, &t, BY_SCORE, "b1");
    invalidation_query_tags(*state, &t, &p, &got);
    assert_tags(*state, &t, &got, TAGS("T", "I1", "P1=b1"));
    p = partition(*state, &t, BY_WHEN, "b1");
    invalidation_query_tags(*state, &t, &p, &got);
    assert_tags(*state, &t, &got, TAGS("T", "P3=b1"));
    invalidation_scan_tags(*state, &t, &got);
    assert_tags(*state, &t, &got, TAGS("T", "S"));
    invalidation_table_tags(*state, &t, &got);
    assert_tags(*state, &t, &got, TAGS("T"));
}

/* The partition tags of different indexes or values never coincide. */
static void test_tags_distinct(void **state)
{
    struct query_table t;
    scores(*state, &t);
    const char *const specs[] = {"T", "S", "I1", "I2", "P0=b1", "P0=b2", "P1=b1", "P3=b1"};
    for (size_t i = 0; i < ARRAY_LEN(specs); i++)
        for (size_t j = i + 1; j < ARRAY_LEN(specs); j++) {
            struct invalidation_tag x = expect(*state, &t, specs[i]),
                                    y = expect(*state, &t, specs[j]);
            assert_false(x.len == y.len && memcmp(x.data, y.data, x.len) == 0);
        }
}

/* PutItem, old image unknown: base and LSI partitions from the key, the new
 * image's GSI partitions are not enough: the old one could be anywhere. */
static void test_put_old_unknown(void **state)
{
    struct query_table t;
    scores(*state, &t);
    struct invalidation_write w = put(*state, new_item, INVALIDATION_UNKNOWN, NULL);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "I1", "I2", "P3=b1"));
}

/* PutItem with ReturnValues ALL_OLD: both images' partitions. */
static void test_put_old_known(void **state)
{
    struct query_table t;
    scores(*state, &t);
    struct invalidation_write w = put(*state, new_item, INVALIDATION_KNOWN, old_item);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P1=b1", "P2=us", "P2=eu", "P3=b1"));
}

/* PutItem with ALL_OLD and no Attributes: there was no item before. */
static void test_put_old_absent(void **state)
{
    struct query_table t;
    scores(*state, &t);
    struct invalidation_write w = put(*state, new_item, INVALIDATION_ABSENT, NULL);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P1=b1", "P2=us", "P3=b1"));
    /* an item in no GSI replacing none: no GSI tag at all */
    w = put(*state, key_only, INVALIDATION_ABSENT, NULL);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P3=b1"));
    /* ... replacing an old item that was in by_region */
    w = put(*state, key_only, INVALIDATION_KNOWN,
            "{\"board\":{\"S\":\"b1\"},\"player\":{\"S\":\"ann\"},\"region\":{\"S\":\"eu\"}}");
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P2=eu", "P3=b1"));
}

static struct invalidation_write del(struct arena *a, enum invalidation_image os, const char *old)
{
    struct invalidation_write w = {0};
    w.key = json_lit(a, key_only);
    w.new_state = INVALIDATION_ABSENT;
    w.old_state = os;
    w.old_image = old ? json_lit(a, old) : NULL;
    return w;
}

static void test_delete(void **state)
{
    struct query_table t;
    scores(*state, &t);
    struct invalidation_write w = del(*state, INVALIDATION_KNOWN, old_item);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P1=b1", "P2=eu", "P3=b1"));
    w = del(*state, INVALIDATION_UNKNOWN, NULL);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "I1", "I2", "P3=b1"));
    w = del(*state, INVALIDATION_ABSENT, NULL);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P3=b1"));
}

static struct invalidation_write update(struct arena *a, const char *expr, const char *names,
                                        enum invalidation_image ns, const char *new_image)
{
    struct invalidation_write w = {0};
    w.key = json_lit(a, key_only);
    w.update = true;
    w.update_expression = expr;
    w.update_expression_len = expr ? strlen(expr) : 0;
    w.update_names = names ? json_lit(a, names) : NULL;
    w.new_state = ns;
    w.new_image = new_image ? json_lit(a, new_image) : NULL;
    w.old_state = INVALIDATION_UNKNOWN;
    return w;
}

/* UpdateItem naming no index key attribute, ALL_NEW known: the item stays
 * in its partitions, so the new image's are the only ones. */
static void test_update_keys_untouched(void **state)
{
    struct query_table t;
    scores(*state, &t);
    struct invalidation_write w =
        update(*state, "SET nick = :n, visits = visits + :one", NULL, INVALIDATION_KNOWN, new_item);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P1=b1", "P2=us", "P3=b1"));
    /* the new image in no GSI: the old one was in none either */
    w = update(*state, "SET nick = :n", NULL, INVALIDATION_KNOWN, key_only);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P3=b1"));
    /* LSI sort key changed: still the base partition of the LSI */
    w = update(*state, "SET #w = :w", "{\"#w\":\"when\"}", INVALIDATION_KNOWN, new_item);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P1=b1", "P2=us", "P3=b1"));
}

/* ... with no image at all: each GSI whole. */
static void test_update_keys_untouched_no_image(void **state)
{
    struct query_table t;
    scores(*state, &t);
    struct invalidation_write w = update(*state, "SET nick = :n", NULL, INVALIDATION_UNKNOWN, NULL);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "I1", "I2", "P3=b1"));
    /* an existing old image (ALL_OLD) tells the same partitions */
    w.old_state = INVALIDATION_KNOWN;
    w.old_image = json_lit(*state, old_item);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P1=b1", "P2=eu", "P3=b1"));
    /* but an old item known to be absent does not tell the new one's */
    w.old_state = INVALIDATION_ABSENT;
    w.old_image = NULL;
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "I1", "I2", "P3=b1"));
}

/* UpdateItem naming an index's partition key attribute: that index's old
 * partition is unknown. Naming only its sort key keeps the partition: a
 * leaderboard's score update stays within its board. */
static void test_update_keys_named(void **state)
{
    struct query_table t;
    scores(*state, &t);
    /* score is by_score's sort key: still board b1's partition */
    struct invalidation_write w =
        update(*state, "SET score = :s", NULL, INVALIDATION_KNOWN, new_item);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P1=b1", "P2=us", "P3=b1"));
    /* ... even when the item enters the index with it (old image unknown) */
    w = update(*state, "SET score = :s", NULL, INVALIDATION_KNOWN,
               "{\"board\":{\"S\":\"b1\"},\"player\":{\"S\":\"ann\"},\"score\":{\"N\":\"1\"}}");
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P1=b1", "P3=b1"));
    /* ... or leaves it: REMOVE score, the new image without it */
    w = update(*state, "REMOVE score", NULL, INVALIDATION_KNOWN, key_only);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P1=b1", "P3=b1"));
    /* region is by_region's partition key: the whole index */
    w = update(*state, "SET #s = :s REMOVE #r", "{\"#s\":\"score\",\"#r\":\"region\"}",
               INVALIDATION_KNOWN, new_item);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P1=b1", "I2", "P3=b1"));
    /* legacy AttributeUpdates */
    w = update(*state, NULL, NULL, INVALIDATION_KNOWN, new_item);
    w.attribute_updates =
        json_lit(*state, "{\"region\":{\"Action\":\"PUT\",\"Value\":{\"S\":\"us\"}}}");
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P1=b1", "I2", "P3=b1"));
    /* both images known (a stream record, say): precise even when named */
    w = update(*state, "SET region = :r", NULL, INVALIDATION_KNOWN, new_item);
    w.old_state = INVALIDATION_KNOWN;
    w.old_image = json_lit(*state, old_item);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P1=b1", "P2=us", "P2=eu", "P3=b1"));
}

static void test_update_names(void **state)
{
    static const struct {
        const char *expr, *names, *attr;
        bool named;
    } rows[] = {
        {"SET score = :s", NULL, "score", true},
        {"SET a = :a, b = b + :one", NULL, "b", true},
        {"SET a = :a, b = b + :one", NULL, "c", false},
        {"SET #x = :v", "{\"#x\":\"score\"}", "score", true},
        {"SET #x = :v", "{\"#x\":\"other\",\"#y\":\"score\"}", "score", false},
        {"REMOVE score", NULL, "score", true},
        {"ADD score :v", NULL, "score", true},
        {"DELETE tags :t", NULL, "score", false},
        {"SET a = :score", NULL, "score", false},
        {"SET a = if_not_exists(score, :z)", NULL, "score", true},
        {"SET scores = :s", NULL, "score", false},
        {"SET a.score = :s", NULL, "score", true},
        {"SET #undefined = :s", "{}", "score", true},
        {"SET l[0] = :v", NULL, "l", true},
        {"", NULL, "score", false},
    };
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        struct invalidation_write w = {0};
        w.update = true;
        w.update_expression = rows[i].expr;
        w.update_expression_len = strlen(rows[i].expr);
        w.update_names = rows[i].names ? json_lit(*state, rows[i].names) : NULL;
        if (invalidation_update_names(&w, rows[i].attr, strlen(rows[i].attr)) != rows[i].named)
            fail_msg("%s names %s: expected %d", rows[i].expr, rows[i].attr, rows[i].named);
    }
}

/* A key that cannot be read: every result of the table. */
static void test_unreadable_key(void **state)
{
    struct query_table t;
    scores(*state, &t);
    struct invalidation_write w = {0};
    w.key = json_lit(*state, "{\"board\":{\"N\":\"1\"},\"player\":{\"S\":\"a\"}}");
    write_tags(*state, &t, &w, TAGS("T"));
    w.key = json_lit(*state, "{\"board\":{\"S\":\"b1\"}}");
    write_tags(*state, &t, &w, TAGS("T"));
    w.key = NULL;
    write_tags(*state, &t, &w, TAGS("T"));
}

/* A write to board b1 leaves every tag of board b2 alone: a leaderboard's
 * other boards stay cached. */
static void test_other_partition_untouched(void **state)
{
    struct query_table t;
    scores(*state, &t);
    struct invalidation_write w = put(*state, new_item, INVALIDATION_KNOWN, old_item);
    struct invalidation_tags got;
    invalidation_write_tags(*state, &t, &w, &got);
    const char *const others[] = {"T", "I1", "I2", "P0=b2", "P1=b2", "P3=b2"};
    for (size_t i = 0; i < ARRAY_LEN(others); i++) {
        struct invalidation_tag tag = expect(*state, &t, others[i]);
        if (has_tag(&got, &tag)) fail_msg("a write of b1 bumps %s", others[i]);
    }
}

/* Stream records: INSERT had no item, REMOVE leaves none, images per view. */
static struct invalidation_write record(struct arena *a, enum stream_event ev,
                                        const char *new_image, const char *old_image)
{
    struct stream_record r = {0};
    r.event = ev;
    r.keys = json_lit(a, key_only);
    r.new_image = new_image ? json_lit(a, new_image) : NULL;
    r.old_image = old_image ? json_lit(a, old_image) : NULL;
    struct invalidation_write w;
    stream_record_write(&r, &w);
    return w;
}

static void test_stream_records(void **state)
{
    struct query_table t;
    scores(*state, &t);
    struct invalidation_write w;
    /* NEW_AND_OLD_IMAGES */
    w = record(*state, STREAM_INSERT, new_item, NULL);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P1=b1", "P2=us", "P3=b1"));
    w = record(*state, STREAM_MODIFY, new_item, old_item);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P1=b1", "P2=us", "P2=eu", "P3=b1"));
    w = record(*state, STREAM_REMOVE, NULL, old_item);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "P1=b1", "P2=eu", "P3=b1"));
    /* NEW_IMAGE: a MODIFY or REMOVE does not say where the item was */
    w = record(*state, STREAM_MODIFY, new_item, NULL);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "I1", "I2", "P3=b1"));
    w = record(*state, STREAM_REMOVE, NULL, NULL);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "I1", "I2", "P3=b1"));
    /* OLD_IMAGE: an INSERT does not say where the item went */
    w = record(*state, STREAM_INSERT, NULL, NULL);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "I1", "I2", "P3=b1"));
    /* KEYS_ONLY MODIFY */
    w = record(*state, STREAM_MODIFY, NULL, NULL);
    write_tags(*state, &t, &w, TAGS("S", "P0=b1", "I1", "I2", "P3=b1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ARENA_TEST(test_result_tags),           ARENA_TEST(test_tags_distinct),
        ARENA_TEST(test_put_old_unknown),       ARENA_TEST(test_put_old_known),
        ARENA_TEST(test_put_old_absent),        ARENA_TEST(test_delete),
        ARENA_TEST(test_update_keys_untouched), ARENA_TEST(test_update_keys_untouched_no_image),
        ARENA_TEST(test_update_keys_named),     ARENA_TEST(test_update_names),
        ARENA_TEST(test_unreadable_key),        ARENA_TEST(test_other_partition_untouched),
        ARENA_TEST(test_stream_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
