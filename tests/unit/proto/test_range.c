/*
 * test_range.c: range-precise pages (proto/range.h): sort value order
 * (numbers by value: 1 = 1.0 < 10; strings and binaries by bytes), which
 * pages are range-precise (no filter, no consumed capacity, items carrying
 * the table's keys), the notes writes leave and the predicate (a)/(b) row
 * by row (ties, no LastEvaluatedKey, both directions, an item entering,
 * moving within, leaving the page, deletes, N leaving the index), and a
 * randomized model: a partition, random writes, and whenever the predicate
 * says "kept", the page computed again from the model is the same page.
 * The table is moto's "scores" (base board/player, GSI by_score on
 * board/score, GSI by_region, LSI by_when on board/when).
 */
#include "proto_test.h"

#include "proto/key.h"
#include "proto/range.h"
#include "testutil.h"

#define BASE 0
#define BY_SCORE 1
#define BY_REGION 2

static struct query_table *scores(struct arena *a)
{
    struct query_table *t = arena_alloc(a, sizeof(*t));
    const struct json *doc = json_file(a, "moto_describe_table.json");
    assert_int_equal(query_table_parse(json_get(doc, "Table"), t), QUERY_OK);
    return t;
}

/* key_encode_value() bytes of a sort value {"type": "text"}. */
static struct buf sortval(char type, const char *text)
{
    struct arena a;
    arena_init(&a);
    struct key_attr ka = {"x", 1, type};
    char av[256];
    snprintf(av, sizeof(av), "{\"%c\":\"%s\"}", type, text);
    struct buf b = BUF_INIT;
    struct attr_error err;
    assert_int_equal(key_encode_value(&ka, true, json_lit(&a, av), &b, &err), KEY_OK);
    arena_free(&a);
    return b;
}

static int cmp(char type, const char *x, const char *y)
{
    struct buf a = sortval(type, x), b = sortval(type, y);
    int c = range_compare(a.data, a.len, b.data, b.len);
    buf_free(&a);
    buf_free(&b);
    return c;
}

static void test_sort_values_compare_as_dynamodb_orders_them(void **state)
{
    assert_int_equal(cmp('N', "1", "1.0"), 0);
    assert_int_equal(cmp('N', "1", "10"), -1);
    assert_int_equal(cmp('N', "10", "9.99"), 1);
    assert_int_equal(cmp('N', "-1", "-1.5"), 1);
    assert_int_equal(cmp('N', "-10", "2"), -1);
    assert_int_equal(cmp('N', "0", "-0.001"), 1);
    assert_int_equal(cmp('N', "1E2", "100"), 0);
    assert_int_equal(cmp('S', "a", "ab"), -1);
    assert_int_equal(cmp('S', "b", "ab"), 1);
    assert_int_equal(cmp('S', "Z", "a"), -1); /* bytes, not collation */
    assert_int_equal(cmp('B', "AQ==", "Ag=="), -1);
    assert_int_equal(cmp('B', "/w==", "AQI="), 1); /* 0xff > 0x01 0x02 */
    /* different types or unreadable bytes: a tie (touching) */
    struct buf n = sortval('N', "1"), s = sortval('S', "1");
    assert_int_equal(range_compare(n.data, n.len, s.data, s.len), 0);
    assert_int_equal(range_compare("N", 1, n.data, n.len), 0);
    buf_free(&n);
    buf_free(&s);
}

/* ---- pages ---- */

static const char *item(struct arena *a, const char *board, const char *player, const char *score)
{
    return arena_printf(
        a, "{\"board\":{\"S\":\"%s\"},\"player\":{\"S\":\"%s\"},\"score\":{\"N\":\"%s\"}}", board,
        player, score);
}

/* A by_score page of b1: items "player:score,..." and L's score (or NULL). */
static const struct json *answer(struct arena *a, const char *items, const char *lek)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "{\"Items\":[");
    char copy[512];
    snprintf(copy, sizeof(copy), "%s", items);
    int n = 0;
    for (char *save, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        *colon = '\0';
        buf_printf(&b, "%s%s", n++ ? "," : "", item(a, "b1", tok, colon + 1));
    }
    buf_printf(&b, "],\"Count\":%d,\"ScannedCount\":%d", n, n);
    if (lek)
        buf_printf(&b,
                   ",\"LastEvaluatedKey\":{\"board\":{\"S\":\"b1\"},\"player\":{\"S\":\"x\"},"
                   "\"score\":{\"N\":\"%s\"}}",
                   lek);
    buf_printf(&b, "}");
    const struct json *doc = json_lit_n(a, b.data, b.len);
    buf_free(&b);
    return doc;
}

static const struct json *request(struct arena *a, const char *extra)
{
    return json_lit(a, arena_printf(a,
                                    "{\"TableName\":\"scores\",\"IndexName\":\"by_score\","
                                    "\"KeyConditionExpression\":\"board = :b\","
                                    "\"ExpressionAttributeValues\":{\":b\":{\"S\":\"b1\"}}%s}",
                                    extra));
}

static struct range_page page(struct arena *a, const struct query_table *t, bool forward,
                              const char *items, const char *lek)
{
    struct range_page p;
    const char *dir = forward ? "" : ",\"ScanIndexForward\":false";
    assert_int_equal(range_page_read(a, t, BY_SCORE, request(a, dir), answer(a, items, lek), &p),
                     RANGE_OK);
    /* what the cached value keeps reads back the same */
    struct buf b = BUF_INIT;
    struct range_page back;
    range_page_compose(&b, &p);
    buf_append(&b, "body", 4);
    const char *stored = arena_strndup(a, b.data, b.len); /* parse borrows it */
    assert_int_equal(range_page_parse(a, stored, b.len, &back), b.len - 4);
    assert_int_equal(back.forward, p.forward);
    assert_int_equal(back.bounded, p.bounded);
    assert_int_equal(back.sorted, p.sorted);
    assert_int_equal(back.nkeys, p.nkeys);
    if (p.nkeys) assert_memory_equal(back.keys, p.keys, p.nkeys * sizeof(uint64_t));
    assert_int_equal(back.end_len, p.end_len);
    if (p.end_len) assert_memory_equal(back.end, p.end, p.end_len);
    buf_free(&b);
    return back;
}

static int imprecise(struct arena *a, const struct query_table *t, const char *extra,
                     const struct json *ans)
{
    struct range_page p;
    return range_page_read(a, t, BY_SCORE, request(a, extra), ans, &p);
}

static void test_which_pages_are_range_precise(void **state)
{
    struct arena *a = *state;
    const struct query_table *t = scores(a);
    const struct json *ok = answer(a, "ann:90,bob:80", "80");
    assert_int_equal(imprecise(a, t, "", ok), RANGE_OK);
    assert_int_equal(imprecise(a, t, ",\"ReturnConsumedCapacity\":\"NONE\"", ok), RANGE_OK);
    assert_int_equal(imprecise(a, t, ",\"FilterExpression\":\"x > :b\"", ok), RANGE_IMPRECISE);
    assert_int_equal(imprecise(a, t, ",\"QueryFilter\":{}", ok), RANGE_IMPRECISE);
    assert_int_equal(imprecise(a, t, ",\"ReturnConsumedCapacity\":\"TOTAL\"", ok), RANGE_IMPRECISE);
    assert_int_equal(imprecise(a, t, ",\"ScanIndexForward\":\"no\"", ok), RANGE_IMPRECISE);
    /* a projection without the table's keys: items cannot be told apart */
    assert_int_equal(imprecise(a, t, ",\"ProjectionExpression\":\"score\"",
                               json_lit(a, "{\"Items\":[{\"score\":{\"N\":\"9\"}}],\"Count\":1}")),
                     RANGE_IMPRECISE);
    /* Select COUNT: no items */
    assert_int_equal(
        imprecise(a, t, ",\"Select\":\"COUNT\"", json_lit(a, "{\"Count\":3,\"ScannedCount\":3}")),
        RANGE_IMPRECISE);
    /* an L without the index's sort key */
    assert_int_equal(
        imprecise(a, t, "",
                  json_lit(a, "{\"Items\":[],\"LastEvaluatedKey\":{\"board\":{\"S\":\"b1\"}}}")),
        RANGE_IMPRECISE);
    /* an empty page is precise: it holds nothing */
    assert_int_equal(imprecise(a, t, "", json_lit(a, "{\"Items\":[],\"Count\":0}")), RANGE_OK);
}

/* ---- notes and the predicate ---- */

static struct query_partition part(struct arena *a, const struct query_table *t, int index,
                                   const char *v)
{
    struct buf b = BUF_INIT;
    struct attr_error err;
    const struct json *av = json_lit(a, arena_printf(a, "{\"S\":\"%s\"}", v));
    assert_int_equal(key_encode_value(&t->index[index].hash, false, av, &b, &err), KEY_OK);
    struct query_partition p = {index, arena_strndup(a, b.data, b.len), b.len};
    buf_free(&b);
    return p;
}

/* Whether a put of `image` (a JSON item) of player's key keeps page p of
 * b1's by_score. */
static bool put_keeps(struct arena *a, const struct query_table *t, const struct range_page *p,
                      const char *player, const char *image)
{
    struct query_partition b1 = part(a, t, BY_SCORE, "b1");
    struct invalidation_write w = {0};
    w.key = json_lit(
        a, arena_printf(a, "{\"board\":{\"S\":\"b1\"},\"player\":{\"S\":\"%s\"}}", player));
    w.new_state = image ? INVALIDATION_KNOWN : INVALIDATION_ABSENT;
    w.new_image = image ? json_lit(a, image) : NULL;
    unsigned char note[RANGE_NOTE_MAX];
    size_t len = range_note(a, t, &b1, &w, note);
    assert_true(len > 0);
    return range_keeps(p, note, len);
}

static bool score_keeps(struct arena *a, const struct query_table *t, const struct range_page *p,
                        const char *player, const char *score)
{
    return put_keeps(a, t, p, player, item(a, "b1", player, score));
}

static void test_top3_descending(void **state)
{
    struct arena *a = *state;
    const struct query_table *t = scores(a);
    struct range_page p = page(a, t, false, "ann:90,bob:80,cat:70", "70");
    assert_true(score_keeps(a, t, &p, "zed", "10"));   /* far below the top 3 */
    assert_true(score_keeps(a, t, &p, "zed", "69.9")); /* just below */
    assert_false(score_keeps(a, t, &p, "zed", "70"));  /* ties L: touching */
    assert_false(score_keeps(a, t, &p, "zed", "70.0"));
    assert_false(score_keeps(a, t, &p, "zed", "75")); /* enters */
    assert_false(score_keeps(a, t, &p, "zed", "95")); /* enters at the top */
    assert_false(score_keeps(a, t, &p, "bob", "85")); /* moves within */
    assert_false(score_keeps(a, t, &p, "bob", "80")); /* rewritten as it was: (a) */
    assert_false(score_keeps(a, t, &p, "cat", "10")); /* leaves */
    assert_false(put_keeps(a, t, &p, "ann", NULL));   /* deleted from the page */
    assert_true(put_keeps(a, t, &p, "zed", NULL));    /* deleted past L */
    /* into another board: not in Part(by_score, b1) */
    assert_true(put_keeps(a, t, &p, "zed", item(a, "b2", "zed", "99")));
    /* the score removed: out of the index */
    assert_true(
        put_keeps(a, t, &p, "zed", "{\"board\":{\"S\":\"b1\"},\"player\":{\"S\":\"zed\"}}"));
    assert_false(
        put_keeps(a, t, &p, "cat", "{\"board\":{\"S\":\"b1\"},\"player\":{\"S\":\"cat\"}}"));
}

static void test_ascending_and_numbers(void **state)
{
    struct arena *a = *state;
    const struct query_table *t = scores(a);
    struct range_page p = page(a, t, true, "ann:-5,bob:0,cat:1.0", "1.0");
    assert_true(score_keeps(a, t, &p, "zed", "10")); /* 10 > 1.0 */
    assert_true(score_keeps(a, t, &p, "zed", "1.01"));
    assert_false(score_keeps(a, t, &p, "zed", "1")); /* 1 = 1.0: a tie */
    assert_false(score_keeps(a, t, &p, "zed", "0.5"));
    assert_false(score_keeps(a, t, &p, "zed", "-100"));
    /* descending, L = 10: 1 is past it, 10.0 ties it */
    struct range_page d = page(a, t, false, "ann:50,bob:10", "10");
    assert_true(score_keeps(a, t, &d, "zed", "1"));
    assert_true(score_keeps(a, t, &d, "zed", "9.999"));
    assert_false(score_keeps(a, t, &d, "zed", "10.0"));
    assert_false(score_keeps(a, t, &d, "zed", "1E1"));
    assert_false(score_keeps(a, t, &d, "zed", "11"));
}

static void test_a_page_without_lek_covers_the_rest(void **state)
{
    struct arena *a = *state;
    const struct query_table *t = scores(a);
    struct range_page p = page(a, t, false, "ann:90,bob:80", NULL);
    assert_false(score_keeps(a, t, &p, "zed", "1")); /* any N in the partition */
    assert_true(put_keeps(a, t, &p, "zed", NULL));
    assert_true(put_keeps(a, t, &p, "zed", item(a, "b9", "zed", "1")));
    struct range_page empty = page(a, t, false, "", NULL);
    assert_false(score_keeps(a, t, &empty, "zed", "1"));
    assert_true(put_keeps(a, t, &empty, "zed", NULL));
}

static void test_strings_on_the_base_table(void **state)
{
    struct arena *a = *state;
    const struct query_table *t = scores(a);
    /* the base table's partition b1, sorted by player, L = "bob" */
    const struct json *req = json_lit(a, "{\"TableName\":\"scores\",\"KeyConditionExpression\":"
                                         "\"board = :b\",\"ExpressionAttributeValues\":{\":b\":"
                                         "{\"S\":\"b1\"}},\"Limit\":2}");
    const struct json *ans = json_lit(
        a, arena_printf(a,
                        "{\"Items\":[%s,%s],\"LastEvaluatedKey\":{\"board\":{\"S\":\"b1\"},"
                        "\"player\":{\"S\":\"bob\"}}}",
                        item(a, "b1", "ann", "1"), item(a, "b1", "bob", "2")));
    struct range_page p;
    assert_int_equal(range_page_read(a, t, BASE, req, ans, &p), RANGE_OK);
    struct query_partition b1 = part(a, t, BASE, "b1");
    const char *players[] = {"bobby", "c", "bo", "Zed", "bob", "ann"};
    const bool keeps[] = {true, true, false, false, false, false};
    for (size_t i = 0; i < ARRAY_LEN(players); i++) {
        struct invalidation_write w = {0};
        w.key = json_lit(a, item(a, "b1", players[i], "5"));
        w.new_state = INVALIDATION_KNOWN;
        w.new_image = w.key;
        unsigned char note[RANGE_NOTE_MAX];
        size_t len = range_note(a, t, &b1, &w, note);
        assert_true(len > 0);
        if (range_keeps(&p, note, len) != keeps[i]) fail_msg("player %s", players[i]);
    }
}

static void test_what_has_no_note(void **state)
{
    struct arena *a = *state;
    const struct query_table *t = scores(a);
    struct query_partition b1 = part(a, t, BY_SCORE, "b1");
    unsigned char note[RANGE_NOTE_MAX];
    struct invalidation_write w = {0};
    w.key = json_lit(a, "{\"board\":{\"S\":\"b1\"},\"player\":{\"S\":\"zed\"}}");
    w.new_state = INVALIDATION_UNKNOWN; /* an update without its new image */
    assert_int_equal(range_note(a, t, &b1, &w, note), 0);
    w.new_state = INVALIDATION_KNOWN; /* a score ddbx cannot read */
    w.new_image = json_lit(a, item(a, "b1", "zed", "x1"));
    assert_int_equal(range_note(a, t, &b1, &w, note), 0);
    w.key = json_lit(a, "{\"board\":{\"S\":\"b1\"}}"); /* a key without its sort key */
    w.new_image = json_lit(a, item(a, "b1", "zed", "1"));
    assert_int_equal(range_note(a, t, &b1, &w, note), 0);
    struct query_partition whole = {BY_SCORE, NULL, 0}; /* the whole index: no partition */
    w.key = w.new_image;
    assert_int_equal(range_note(a, t, &whole, &w, note), 0);
    /* a string sort value too long for a note: the base table sorted by player */
    char longname[80];
    memset(longname, 'p', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    w.key = w.new_image = json_lit(a, item(a, "b1", longname, "1"));
    struct query_partition base = part(a, t, BASE, "b1");
    assert_int_equal(range_note(a, t, &base, &w, note), 0);
    /* notes that are not notes keep nothing */
    struct range_page p = page(a, t, false, "ann:90", "90");
    assert_false(range_keeps(&p, (const unsigned char *)"O", 1));
    assert_false(range_keeps(&p, (const unsigned char *)"X12345678", 9));
}

/* ---- a randomized model ---- */

#define PLAYERS 24
#define LIMIT 5

struct model {
    bool present[PLAYERS];
    int board[PLAYERS]; /* 0: b1 (the page's), 1: b2 */
    int score[PLAYERS]; /* -1: no score (not in the index) */
};

/* The page DynamoDB may answer: b1's items with a score, by score (ties
 * by player), top LIMIT descending or first LIMIT ascending; n items, and
 * L's score when LIMIT items were read (DynamoDB answers an L then, whether
 * or not items are left). */
static int model_page(const struct model *m, bool forward, int out[LIMIT], int *lek)
{
    int n = 0, total = 0;
    bool used[PLAYERS] = {0};
    for (int i = 0; i < PLAYERS; i++)
        total += m->present[i] && m->board[i] == 0 && m->score[i] >= 0;
    while (n < LIMIT && n < total) {
        int best = -1;
        for (int i = 0; i < PLAYERS; i++) {
            if (used[i] || !m->present[i] || m->board[i] != 0 || m->score[i] < 0) continue;
            if (best < 0 || (forward ? m->score[i] < m->score[best] : m->score[i] > m->score[best]))
                best = i;
        }
        used[best] = true;
        out[n++] = best;
    }
    *lek = n == LIMIT ? m->score[out[n - 1]] : -1; /* DynamoDB: Limit reached */
    return n;
}

static const char *model_answer(struct arena *a, const struct model *m, bool forward)
{
    int ids[LIMIT], lek;
    int n = model_page(m, forward, ids, &lek);
    struct buf b = BUF_INIT;
    buf_printf(&b, "{\"Items\":[");
    for (int i = 0; i < n; i++) {
        char name[16], sc[16];
        snprintf(name, sizeof(name), "p%02d", ids[i]);
        snprintf(sc, sizeof(sc), "%d", m->score[ids[i]]);
        buf_printf(&b, "%s%s", i ? "," : "", item(a, "b1", name, sc));
    }
    buf_printf(&b, "],\"Count\":%d", n);
    if (lek >= 0)
        buf_printf(&b,
                   ",\"LastEvaluatedKey\":{\"board\":{\"S\":\"b1\"},\"player\":{\"S\":\"p%02d\"},"
                   "\"score\":{\"N\":\"%d\"}}",
                   ids[n - 1], lek);
    buf_printf(&b, "}");
    const char *s = arena_strndup(a, b.data, b.len);
    buf_free(&b);
    return s;
}

static void test_random_writes_against_a_model(void **state)
{
    struct arena *a = *state;
    const struct query_table *t = scores(a);
    struct query_partition b1 = part(a, t, BY_SCORE, "b1");
    srand(12);
    int kept = 0, dropped = 0;
    for (int round = 0; round < 40; round++) {
        struct model m = {0};
        bool forward = round % 2;
        for (int i = 0; i < PLAYERS; i++) {
            m.present[i] = rand() % 4 != 0;
            m.board[i] = rand() % 3 == 0;
            m.score[i] = rand() % 5 == 0 ? -1 : rand() % 40;
        }
        const char *dir = forward ? "" : ",\"ScanIndexForward\":false";
        const char *cached = model_answer(a, &m, forward);
        struct range_page p;
        assert_int_equal(range_page_read(a, t, BY_SCORE, request(a, dir), json_lit(a, cached), &p),
                         RANGE_OK);
        for (int step = 0; step < 60; step++) {
            int k = rand() % PLAYERS;
            char name[16];
            snprintf(name, sizeof(name), "p%02d", k);
            struct invalidation_write w = {0};
            w.key = json_lit(a, item(a, "b1", name, "0"));
            if (rand() % 5 == 0) { /* a delete */
                m.present[k] = false;
                w.new_state = INVALIDATION_ABSENT;
            } else {
                m.present[k] = true;
                m.board[k] = rand() % 4 == 0;
                m.score[k] = rand() % 6 == 0 ? -1 : rand() % 40;
                const char *img =
                    m.score[k] < 0
                        ? arena_printf(a, "{\"board\":{\"S\":\"b%d\"},\"player\":{\"S\":\"%s\"}}",
                                       m.board[k] + 1, name)
                        : arena_printf(a,
                                       "{\"board\":{\"S\":\"b%d\"},\"player\":{\"S\":\"%s\"},"
                                       "\"score\":{\"N\":\"%d\"}}",
                                       m.board[k] + 1, name, m.score[k]);
                w.new_state = INVALIDATION_KNOWN;
                w.new_image = json_lit(a, img);
            }
            unsigned char note[RANGE_NOTE_MAX];
            size_t len = range_note(a, t, &b1, &w, note);
            assert_true(len > 0);
            const char *truth = model_answer(a, &m, forward);
            if (range_keeps(&p, note, len)) {
                kept++;
                if (strcmp(cached, truth) != 0)
                    fail_msg("kept a changed page:\n  cached %s\n  truth  %s", cached, truth);
            } else { /* dropped: read again */
                dropped++;
                cached = truth;
                assert_int_equal(
                    range_page_read(a, t, BY_SCORE, request(a, dir), json_lit(a, cached), &p),
                    RANGE_OK);
            }
        }
    }
    /* the predicate must not be trivially false */
    assert_true(kept > 400);
    assert_true(dropped > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ARENA_TEST(test_sort_values_compare_as_dynamodb_orders_them),
        ARENA_TEST(test_which_pages_are_range_precise),
        ARENA_TEST(test_top3_descending),
        ARENA_TEST(test_ascending_and_numbers),
        ARENA_TEST(test_a_page_without_lek_covers_the_rest),
        ARENA_TEST(test_strings_on_the_base_table),
        ARENA_TEST(test_what_has_no_note),
        ARENA_TEST(test_random_writes_against_a_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
