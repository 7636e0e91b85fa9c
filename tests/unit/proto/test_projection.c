/*
 * test_projection.c: ProjectionExpression and AttributesToGet
 * (proto/projection.h): the projected item for names, #names, map paths
 * and list indexes on a rich item, and every expression ddbx must not
 * answer itself (PROJECTION_RELAY).
 */
#include "proto_test.h"

#include "proto/projection.h"

static const char ITEM[] = "{\"id\":{\"S\":\"i1\"},"
                           "\"title\":{\"S\":\"T\"},"
                           "\"n\":{\"N\":\"5\"},"
                           "\"tags\":{\"SS\":[\"a\",\"b\"]},"
                           "\"nums\":{\"NS\":[\"1\",\"2\"]},"
                           "\"bin\":{\"B\":\"QQ==\"},"
                           "\"m\":{\"M\":{\"a\":{\"S\":\"A\"},\"b\":{\"N\":\"2\"},"
                           "  \"c\":{\"M\":{\"d\":{\"BOOL\":true},\"e\":{\"NULL\":true}}},"
                           "  \"x\":{\"L\":[{\"S\":\"x0\"},{\"S\":\"x1\"}]}}},"
                           "\"l\":{\"L\":["
                           "  {\"M\":{\"x\":{\"S\":\"l0x\"},\"y\":{\"N\":\"0\"}}},"
                           "  {\"M\":{\"x\":{\"S\":\"l1x\"},\"z\":{\"S\":\"z1\"}}},"
                           "  {\"S\":\"l2\"},"
                           "  {\"L\":[{\"N\":\"30\"},{\"N\":\"31\"}]}]},"
                           "\"Safety.Warning\":{\"S\":\"helmet\"},"
                           "\"name\":{\"S\":\"reserved\"}}";

static const char L0[] = "{\"M\":{\"x\":{\"S\":\"l0x\"},\"y\":{\"N\":\"0\"}}}";
static const char L1[] = "{\"M\":{\"x\":{\"S\":\"l1x\"},\"z\":{\"S\":\"z1\"}}}";
static const char L2[] = "{\"S\":\"l2\"}";

static const struct json *names_of(struct arena *a, const char *names)
{
    return names ? json_lit(a, names) : NULL;
}

/* Applies p to item and compares the result with `expected`. */
static void assert_applies(struct arena *a, const struct projection *p, const char *item,
                           const char *expected)
{
    struct buf out = BUF_INIT;
    struct json_writer w;
    jw_init(&w, &out);
    projection_apply(p, item ? json_lit(a, item) : NULL, &w);
    jw_free(&w);
    assert_json_text(a, out.data, out.len, expected);
    buf_free(&out);
}

/* Parses expr (with names) and checks the projection of item. */
static void assert_projects(struct arena *a, const char *expr, const char *names, const char *item,
                            const char *expected)
{
    struct projection *p = NULL;
    int rc = projection_parse(a, expr, strlen(expr), names_of(a, names), &p);
    if (rc != PROJECTION_OK) print_error("\"%s\" relayed\n", expr);
    assert_int_equal(rc, PROJECTION_OK);
    assert_non_null(p);
    assert_applies(a, p, item, expected);
}

#define PROJECTS(a, expr, names, expected) assert_projects(a, expr, names, ITEM, expected)

static void assert_relays_n(struct arena *a, const char *expr, size_t len, const char *names)
{
    struct projection *p = NULL;
    int rc = projection_parse(a, expr, len, names_of(a, names), &p);
    if (rc != PROJECTION_RELAY)
        print_error("\"%.100s\" (names %s) not relayed\n", expr, names ? names : "none");
    assert_int_equal(rc, PROJECTION_RELAY);
}

static void assert_relays(struct arena *a, const char *expr, const char *names)
{
    assert_relays_n(a, expr, strlen(expr), names);
}

static void test_names(void **state)
{
    struct arena *a = *state;
    PROJECTS(a, "id", NULL, "{\"id\":{\"S\":\"i1\"}}");
    PROJECTS(a, "id, n", NULL, "{\"id\":{\"S\":\"i1\"},\"n\":{\"N\":\"5\"}}");
    PROJECTS(a, "n,id", NULL, "{\"id\":{\"S\":\"i1\"},\"n\":{\"N\":\"5\"}}");
    PROJECTS(a, "tags, nums, bin", NULL,
             "{\"tags\":{\"SS\":[\"a\",\"b\"]},\"nums\":{\"NS\":[\"1\",\"2\"]},\"bin\":{\"B\":\"QQ="
             "=\"}}");
    PROJECTS(a, "#t", "{\"#t\":\"title\"}", "{\"title\":{\"S\":\"T\"}}");
    PROJECTS(a, "#n", "{\"#n\":\"name\"}", "{\"name\":{\"S\":\"reserved\"}}");
    PROJECTS(a, "#n, id", "{\"#n\":\"name\"}",
             "{\"name\":{\"S\":\"reserved\"},\"id\":{\"S\":\"i1\"}}");
    /* a #name stands for one whole name, dots and all */
    PROJECTS(a, "#sw", "{\"#sw\":\"Safety.Warning\"}", "{\"Safety.Warning\":{\"S\":\"helmet\"}}");
    PROJECTS(a, "#a_1, #B2", "{\"#a_1\":\"id\",\"#B2\":\"n\"}",
             "{\"id\":{\"S\":\"i1\"},\"n\":{\"N\":\"5\"}}");
    /* whole values, maps and lists included */
    PROJECTS(a, "m", NULL,
             "{\"m\":{\"M\":{\"a\":{\"S\":\"A\"},\"b\":{\"N\":\"2\"},"
             "\"c\":{\"M\":{\"d\":{\"BOOL\":true},\"e\":{\"NULL\":true}}},"
             "\"x\":{\"L\":[{\"S\":\"x0\"},{\"S\":\"x1\"}]}}}}");
    /* names are case-sensitive */
    PROJECTS(a, "ID, Title", NULL, "{}");
    /* whitespace around names and commas */
    PROJECTS(a, "  id ,n  ,\ttitle\r\n", NULL,
             "{\"id\":{\"S\":\"i1\"},\"n\":{\"N\":\"5\"},\"title\":{\"S\":\"T\"}}");
}

static void test_map_paths(void **state)
{
    struct arena *a = *state;
    PROJECTS(a, "m.a", NULL, "{\"m\":{\"M\":{\"a\":{\"S\":\"A\"}}}}");
    PROJECTS(a, "m.c.d", NULL, "{\"m\":{\"M\":{\"c\":{\"M\":{\"d\":{\"BOOL\":true}}}}}}");
    PROJECTS(a, "m.c", NULL,
             "{\"m\":{\"M\":{\"c\":{\"M\":{\"d\":{\"BOOL\":true},\"e\":{\"NULL\":true}}}}}}");
    /* paths under one parent are merged */
    PROJECTS(a, "m.a, m.b", NULL, "{\"m\":{\"M\":{\"a\":{\"S\":\"A\"},\"b\":{\"N\":\"2\"}}}}");
    PROJECTS(a, "m.b, m.a", NULL, "{\"m\":{\"M\":{\"a\":{\"S\":\"A\"},\"b\":{\"N\":\"2\"}}}}");
    PROJECTS(a, "m.c.e, id, m.a", NULL,
             "{\"id\":{\"S\":\"i1\"},"
             "\"m\":{\"M\":{\"a\":{\"S\":\"A\"},\"c\":{\"M\":{\"e\":{\"NULL\":true}}}}}}");
    PROJECTS(a, "m.x[1]", NULL, "{\"m\":{\"M\":{\"x\":{\"L\":[{\"S\":\"x1\"}]}}}}");
    PROJECTS(a, "#m.#a", "{\"#m\":\"m\",\"#a\":\"a\"}", "{\"m\":{\"M\":{\"a\":{\"S\":\"A\"}}}}");
    PROJECTS(a, "#m.a, #m.b", "{\"#m\":\"m\"}",
             "{\"m\":{\"M\":{\"a\":{\"S\":\"A\"},\"b\":{\"N\":\"2\"}}}}");
}

static void test_list_paths(void **state)
{
    struct arena *a = *state;
    char want[512];
    snprintf(want, sizeof(want), "{\"l\":{\"L\":[%s]}}", L0);
    PROJECTS(a, "l[0]", NULL, want);
    snprintf(want, sizeof(want), "{\"l\":{\"L\":[%s]}}", L2);
    PROJECTS(a, "l[2]", NULL, want);
    /* selected elements, in index order, without gaps */
    snprintf(want, sizeof(want), "{\"l\":{\"L\":[%s,%s]}}", L0, L2);
    PROJECTS(a, "l[2], l[0]", NULL, want);
    PROJECTS(a, "l[0], l[2]", NULL, want);
    snprintf(want, sizeof(want), "{\"l\":{\"L\":[%s,%s,%s]}}", L0, L1, L2);
    PROJECTS(a, "l[1], l[2], l[0]", NULL, want);
    PROJECTS(a, "l[1].x", NULL, "{\"l\":{\"L\":[{\"M\":{\"x\":{\"S\":\"l1x\"}}}]}}");
    PROJECTS(a, "l[0].x, l[1].z", NULL,
             "{\"l\":{\"L\":[{\"M\":{\"x\":{\"S\":\"l0x\"}}},{\"M\":{\"z\":{\"S\":\"z1\"}}}]}}");
    PROJECTS(a, "l[1].x, l[1].z", NULL,
             "{\"l\":{\"L\":[{\"M\":{\"x\":{\"S\":\"l1x\"},\"z\":{\"S\":\"z1\"}}}]}}");
    /* only the elements where the path exists */
    PROJECTS(a, "l[0].z, l[1].z", NULL, "{\"l\":{\"L\":[{\"M\":{\"z\":{\"S\":\"z1\"}}}]}}");
    PROJECTS(a, "l[0].x, l[2].x", NULL, "{\"l\":{\"L\":[{\"M\":{\"x\":{\"S\":\"l0x\"}}}]}}");
    PROJECTS(a, "l[3][1]", NULL, "{\"l\":{\"L\":[{\"L\":[{\"N\":\"31\"}]}]}}");
    snprintf(want, sizeof(want), "{\"l\":{\"L\":[%s]}}", L1);
    PROJECTS(a, "l[1], l[7]", NULL, want);
    PROJECTS(a, "#l[1].#x", "{\"#l\":\"l\",\"#x\":\"x\"}",
             "{\"l\":{\"L\":[{\"M\":{\"x\":{\"S\":\"l1x\"}}}]}}");
}

static void test_missing_paths(void **state)
{
    struct arena *a = *state;
    PROJECTS(a, "nothing", NULL, "{}");
    PROJECTS(a, "m.zz", NULL, "{}");
    PROJECTS(a, "m.c.zz, m.zz.d", NULL, "{}");
    PROJECTS(a, "l[9]", NULL, "{}");
    PROJECTS(a, "l[1].y", NULL, "{}");
    PROJECTS(a, "id, nothing, m.zz, l[4]", NULL, "{\"id\":{\"S\":\"i1\"}}");
    /* values that are not maps or lists do not match a path below them */
    PROJECTS(a, "id.x", NULL, "{}");
    PROJECTS(a, "id[0]", NULL, "{}");
    PROJECTS(a, "n.x", NULL, "{}");
    PROJECTS(a, "l.x", NULL, "{}");     /* a list is no map */
    PROJECTS(a, "m[0]", NULL, "{}");    /* a map is no list */
    PROJECTS(a, "tags[0]", NULL, "{}"); /* nor is a set */
    PROJECTS(a, "l[2].x", NULL, "{}");
    PROJECTS(a, "m.a.b", NULL, "{}");
    PROJECTS(a, "m.x.y", NULL, "{}");
    PROJECTS(a, "l[3].x", NULL, "{}");
    /* an empty item, and no item */
    assert_projects(a, "id, m.a, l[0]", NULL, "{}", "{}");
    assert_projects(a, "id", NULL, NULL, "{}");
    /* an AttributeValue without a single type matches only as a whole */
    assert_projects(a, "v.a", NULL, "{\"v\":{}}", "{}");
    assert_projects(a, "v", NULL, "{\"v\":{}}", "{\"v\":{}}");
}

static void test_relay_reserved_words(void **state)
{
    struct arena *a = *state;
    const char *bare[] = {"name", "status",   "Data",   "DATA",        "data",     "NaMe",
                          "size", "id, name", "m.name", "l[0].status", "m.c.Year", "#i, comment"};
    for (size_t i = 0; i < sizeof(bare) / sizeof(bare[0]); i++)
        assert_relays(a, bare[i], strchr(bare[i], '#') ? "{\"#i\":\"id\"}" : NULL);
    /* through #names they are fine */
    PROJECTS(a, "#d", "{\"#d\":\"data\"}", "{}");
    PROJECTS(a, "m.#s", "{\"#s\":\"status\"}", "{}");
    PROJECTS(a, "#n", "{\"#n\":\"name\"}", "{\"name\":{\"S\":\"reserved\"}}");
    /* a word that contains a reserved word is no reserved word */
    PROJECTS(a, "nameplate, statuses, named, title", NULL, "{\"title\":{\"S\":\"T\"}}");
}

static void test_relay_names(void **state)
{
    struct arena *a = *state;
    assert_relays(a, "#u", NULL);                           /* undefined */
    assert_relays(a, "#u, #v", "{\"#u\":\"id\"}");          /* one undefined */
    assert_relays(a, "#U", "{\"#u\":\"id\"}");              /* case-sensitive */
    assert_relays(a, "#u", "{\"#u\":\"id\",\"#v\":\"n\"}"); /* #v unused */
    assert_relays(a, "id", "{\"#u\":\"id\"}");              /* unused */
    assert_relays(a, "id", "{}");                           /* empty names */
    assert_relays(a, "#u", "{\"#u\":5}");                   /* not a string */
    assert_relays(a, "#u", "{\"#u\":\"\"}");                /* empty name */
    assert_relays(a, "#u", "[\"#u\"]");                     /* not an object */
    assert_relays(a, "#", "{\"#\":\"id\"}");
    assert_relays(a, "#-", "{\"#-\":\"id\"}");
    /* using one #name twice is no reason to relay, overlapping is */
    PROJECTS(a, "#m.a, #m.b", "{\"#m\":\"m\"}",
             "{\"m\":{\"M\":{\"a\":{\"S\":\"A\"},\"b\":{\"N\":\"2\"}}}}");
    assert_relays(a, "#u, #u", "{\"#u\":\"id\"}");
    assert_relays(a, "#u, id", "{\"#u\":\"id\"}");
    assert_relays(a, "#m.a, m", "{\"#m\":\"m\"}");
}

static void test_relay_overlaps(void **state)
{
    struct arena *a = *state;
    const char *overlap[] = {"m, m.a", "m.a, m", "m, m", "id, id", "m.a, m.a", "m.c, m.c.d",
                             "m.c.d, m.c", "m.c.d, m", "l, l[0]", "l[0], l", "l[0], l[0]",
                             "l[0], l[0].x", "l[0].x, l[0]", "l[3], l[3][1]", "id, n, m.a, id",
                             /* a map member and a list element of one value */
                             "l[0], l.x", "l.x, l[0]", "m.a, m[0]", "l[0].x, l[0][1]"};
    for (size_t i = 0; i < sizeof(overlap) / sizeof(overlap[0]); i++)
        assert_relays(a, overlap[i], NULL);
    /* siblings are fine */
    PROJECTS(a, "m.c.d, m.c.e", NULL,
             "{\"m\":{\"M\":{\"c\":{\"M\":{\"d\":{\"BOOL\":true},\"e\":{\"NULL\":true}}}}}}");
}

static void test_relay_syntax(void **state)
{
    struct arena *a = *state;
    const char *bad[] = {"",
                         " ",
                         "\t\n",
                         ",",
                         "id,",
                         "id, ",
                         ",id",
                         "id,,n",
                         "id n",
                         "1abc",
                         "9",
                         "l[]",
                         "l[",
                         "l[0",
                         "l[a]",
                         "l[-1]",
                         "l[ 0]",
                         "l[0 ]",
                         "l]0[",
                         "[0]",
                         "l[0]x",
                         "l[0]]",
                         "m.",
                         "m..a",
                         ".m",
                         "m. a",
                         "m .a",
                         "id-x",
                         "id+1",
                         "a=b",
                         "id;",
                         "\"id\"",
                         "m.1a",
                         "l[0].",
                         "l[1234567890]",
                         "l[0][",
                         "id\x01",
                         "#",
                         "\xc3\xa9t\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_relays(a, bad[i], NULL);
    struct projection *p = NULL;
    assert_int_equal(projection_parse(a, "id", 0, NULL, &p), PROJECTION_RELAY);
}

static void test_expression_length(void **state)
{
    struct arena *a = *state;
    /* "id" and spaces: the limit is on the raw text */
    char *spaces = repeat_char(' ', EXPRESSION_MAX_BYTES + 1);
    memcpy(spaces, "id", 2);
    struct projection *p = NULL;
    assert_int_equal(projection_parse(a, spaces, EXPRESSION_MAX_BYTES, NULL, &p), PROJECTION_OK);
    assert_applies(a, p, ITEM, "{\"id\":{\"S\":\"i1\"}}");
    assert_relays_n(a, spaces, EXPRESSION_MAX_BYTES + 1, NULL);
    free(spaces);
    /* one long name */
    char *q = repeat_char('q', EXPRESSION_MAX_BYTES + 1);
    assert_int_equal(projection_parse(a, q, EXPRESSION_MAX_BYTES, NULL, &p), PROJECTION_OK);
    assert_applies(a, p, ITEM, "{}");
    assert_relays_n(a, q, EXPRESSION_MAX_BYTES + 1, NULL);
    free(q);
}

static int from_names(struct arena *a, const char *list, struct projection **p)
{
    *p = NULL;
    return projection_from_names(a, list ? json_lit(a, list) : NULL, p);
}

static void test_attributes_to_get(void **state)
{
    struct arena *a = *state;
    struct projection *p;
    assert_int_equal(from_names(a, "[\"id\",\"n\"]", &p), PROJECTION_OK);
    assert_applies(a, p, ITEM, "{\"id\":{\"S\":\"i1\"},\"n\":{\"N\":\"5\"}}");
    /* reserved words are fine, and names are taken literally */
    assert_int_equal(
        from_names(a, "[\"name\",\"Safety.Warning\",\"m.a\",\"l[0]\",\"nothing\"]", &p),
        PROJECTION_OK);
    assert_applies(a, p, ITEM,
                   "{\"name\":{\"S\":\"reserved\"},\"Safety.Warning\":{\"S\":\"helmet\"}}");
    assert_int_equal(from_names(a, "[\"m\"]", &p), PROJECTION_OK);
    assert_applies(a, p, "{\"m\":{\"M\":{\"k\":{\"L\":[]}}},\"o\":{\"S\":\"x\"}}",
                   "{\"m\":{\"M\":{\"k\":{\"L\":[]}}}}");
    assert_int_equal(from_names(a, "[\"nothing\"]", &p), PROJECTION_OK);
    assert_applies(a, p, ITEM, "{}");
    /* what DynamoDB refuses goes to the backend */
    assert_int_equal(from_names(a, "[\"id\",\"id\"]", &p), PROJECTION_RELAY);
    assert_int_equal(from_names(a, "[\"id\",\"n\",\"id\"]", &p), PROJECTION_RELAY);
    assert_int_equal(from_names(a, "[]", &p), PROJECTION_RELAY);
    assert_int_equal(from_names(a, "[\"\"]", &p), PROJECTION_RELAY);
    assert_int_equal(from_names(a, "[\"id\",5]", &p), PROJECTION_RELAY);
    assert_int_equal(from_names(a, "{\"id\":\"id\"}", &p), PROJECTION_RELAY);
    assert_int_equal(from_names(a, "\"id\"", &p), PROJECTION_RELAY);
    assert_int_equal(from_names(a, NULL, &p), PROJECTION_RELAY);
}

static bool reserved(const char *s)
{
    return projection_is_reserved(s, strlen(s));
}

static void test_reserved_words(void **state)
{
    const char *yes[] = {"name",  "NAME",   "Name",  "status", "Data", "data",
                         "ABORT", "abort",  "zone",  "YEAR",   "size", "Timestamp",
                         "user",  "values", "count", "key",    "names"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_true(reserved(yes[i]));
    const char *no[] = {"id",     "nameplate", "nam",   "",      "title", "Safety", "abortx",
                        "xabort", "name ",     " name", "na me", "n",     "userid", "#name"};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        if (reserved(no[i])) print_error("\"%s\" reserved?\n", no[i]);
        assert_false(reserved(no[i]));
    }
    /* only len bytes count */
    assert_true(projection_is_reserved("names", 4));
    assert_false(projection_is_reserved("name", 3));
    char *long_word = repeat_char('a', 200);
    assert_false(reserved(long_word));
    free(long_word);
    /* every word of proto/reserved_words.txt, in any case */
    static const char *const words[] = {
#define WORD(w) w,
#include "reserved_words.def"
#undef WORD
    };
    assert_true(sizeof(words) / sizeof(words[0]) > 500);
    char buf[64];
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        size_t n = strlen(words[i]);
        assert_true(n < sizeof(buf) - 1);
        assert_true(reserved(words[i]));
        for (size_t j = 0; j < n; j++)
            buf[j] = (char)(words[i][j] | 0x20);
        buf[n] = '\0';
        assert_true(reserved(buf));
        for (size_t j = 0; j < n; j++)
            buf[j] = (char)(j % 2 ? words[i][j] | 0x20 : words[i][j] & ~0x20);
        assert_true(reserved(buf));
        buf[n] = '_';
        buf[n + 1] = '\0';
        assert_false(reserved(buf));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ARENA_TEST(test_names),
        ARENA_TEST(test_map_paths),
        ARENA_TEST(test_list_paths),
        ARENA_TEST(test_missing_paths),
        ARENA_TEST(test_relay_reserved_words),
        ARENA_TEST(test_relay_names),
        ARENA_TEST(test_relay_overlaps),
        ARENA_TEST(test_relay_syntax),
        ARENA_TEST(test_expression_length),
        ARENA_TEST(test_attributes_to_get),
        cmocka_unit_test(test_reserved_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
