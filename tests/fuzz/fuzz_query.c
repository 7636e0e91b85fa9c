/*
 * fuzz_query.c: the Query cache's parsers (src/proto/query.h,
 * src/proto/invalidation.h): the KeyConditionExpression grammar, canonical
 * cache keys, partitions of a request and of an item, and write tags.
 *
 * The input is "<expression>\n<JSON>" (the second part optional). The JSON,
 * when it is an object, is the ExpressionAttributeNames/Values holder, the
 * Query or Scan request, the item image and the UpdateItem's names; the
 * expression is the key condition and the update expression. The table is
 * fixed: hash S + range N, a GSI (hash N), a GSI (hash S + range S), an LSI.
 * Checked, besides ASan/UBSan: every call answers OK or "not cacheable"; an
 * accepted key condition's value is one of the given values; a cache key
 * does not depend on member order (the request with every object's members
 * reversed has the same key) and is the same when computed twice; read and
 * item partitions name real indexes and carry key bytes; write tags stay
 * within INVALIDATION_MAX_TAGS. Range-precise pages (src/proto/range.h): the
 * JSON as both request and answer of each index; an accepted page reads
 * back the same from its bytes, and a write of one of its own items never
 * keeps it; the expression's bytes as a stored page never read past their
 * end.
 */
#include <string.h>

#include "fuzz.h"
#include "proto/invalidation.h"
#include "proto/json.h"
#include "proto/query.h"
#include "proto/range.h"

static const char table_text[] =
    "{\"TableName\":\"t\",\"AttributeDefinitions\":[{\"AttributeName\":\"pk\",\"AttributeType\":"
    "\"S\"},{\"AttributeName\":\"sk\",\"AttributeType\":\"N\"},{\"AttributeName\":\"g\","
    "\"AttributeType\":\"N\"},{\"AttributeName\":\"h\",\"AttributeType\":\"S\"},{"
    "\"AttributeName\":\"l\",\"AttributeType\":\"B\"}],\"KeySchema\":[{\"AttributeName\":\"pk\","
    "\"KeyType\":\"HASH\"},{\"AttributeName\":\"sk\",\"KeyType\":\"RANGE\"}],"
    "\"GlobalSecondaryIndexes\":[{\"IndexName\":\"g1\",\"KeySchema\":[{\"AttributeName\":\"g\","
    "\"KeyType\":\"HASH\"}]},{\"IndexName\":\"g2\",\"KeySchema\":[{\"AttributeName\":\"h\","
    "\"KeyType\":\"HASH\"},{\"AttributeName\":\"pk\",\"KeyType\":\"RANGE\"}]}],"
    "\"LocalSecondaryIndexes\":[{\"IndexName\":\"l1\",\"KeySchema\":[{\"AttributeName\":\"pk\","
    "\"KeyType\":\"HASH\"},{\"AttributeName\":\"l\",\"KeyType\":\"RANGE\"}]}]}";

/* A copy of v with the members of every object in reverse order. */
static struct json *reversed(struct arena *a, const struct json *v)
{
    struct json *c = arena_alloc(a, sizeof(*c));
    *c = *v;
    c->next = NULL;
    c->child = NULL;
    struct json **tail = &c->child;
    for (const struct json *k = v->child; k; k = k->next) {
        struct json *kc = reversed(a, k);
        if (v->type == JSON_OBJECT) {
            kc->next = c->child;
            c->child = kc;
        } else {
            *tail = kc;
            tail = &kc->next;
        }
    }
    return c;
}

static void check_cache_key(struct arena *a, enum query_op op, const struct json *req)
{
    struct buf k1 = BUF_INIT, k2 = BUF_INIT;
    int rc = query_cache_key(op, 1, req, &k1);
    FUZZ_CHECK(rc == QUERY_OK || rc == QUERY_UNCACHEABLE);
    FUZZ_CHECK(query_cache_key(op, 1, reversed(a, req), &k2) == rc);
    if (rc == QUERY_OK) FUZZ_CHECK(k1.len == k2.len && memcmp(k1.data, k2.data, k1.len) == 0);
    buf_free(&k1);
    buf_free(&k2);
}

static void check_key_condition(const struct query_table *t, const char *expr, size_t len,
                                const struct json *doc)
{
    const struct json *names = json_get(doc, "ExpressionAttributeNames");
    const struct json *values = json_get(doc, "ExpressionAttributeValues");
    for (int i = 0; i < t->nindexes; i++) {
        const struct json *v = NULL, *again = NULL;
        int rc = query_key_condition(expr, len, names, values, &t->index[i], &v);
        FUZZ_CHECK(rc == QUERY_OK || rc == QUERY_UNCACHEABLE);
        FUZZ_CHECK(query_key_condition(expr, len, names, values, &t->index[i], &again) == rc);
        if (rc != QUERY_OK) continue;
        bool found = false;
        for (const struct json *m = values->child; m; m = m->next)
            found = found || m == v;
        FUZZ_CHECK(found && again == v);
    }
}

static void check_partitions(struct arena *a, const struct query_table *t, const struct json *doc)
{
    struct query_partition p, parts[QUERY_MAX_INDEXES];
    int rc = query_read_partition(a, t, doc, &p);
    FUZZ_CHECK(rc == QUERY_OK || rc == QUERY_UNCACHEABLE);
    if (rc == QUERY_OK) FUZZ_CHECK(p.index >= 0 && p.index < t->nindexes && p.key && p.key_len);
    int n = -1;
    rc = query_item_partitions(a, t, doc, parts, &n);
    FUZZ_CHECK(rc == QUERY_OK || rc == QUERY_EINVALID);
    if (rc == QUERY_OK) {
        FUZZ_CHECK(n >= 1 && n <= t->nindexes && parts[0].index == 0 && parts[0].key);
        for (int i = 1; i < n; i++)
            FUZZ_CHECK(parts[i].index > parts[i - 1].index && parts[i].index < t->nindexes);
    }
}

static void check_write_tags(struct arena *a, const struct query_table *t, const char *expr,
                             size_t len, const struct json *doc)
{
    struct invalidation_write w = {0};
    w.key = doc;
    w.new_state = INVALIDATION_KNOWN;
    w.new_image = doc;
    w.old_state = INVALIDATION_UNKNOWN;
    w.update = true;
    w.update_expression = expr;
    w.update_expression_len = len;
    w.update_names = json_get(doc, "ExpressionAttributeNames");
    struct invalidation_tags tags;
    invalidation_write_tags(a, t, &w, &tags);
    FUZZ_CHECK(tags.n >= 1 && tags.n <= INVALIDATION_MAX_TAGS);
    for (int i = 0; i < tags.n; i++)
        FUZZ_CHECK(tags.tag[i].data && tags.tag[i].len > 5);
}

static void check_range(struct arena *a, const struct query_table *t, const struct json *doc)
{
    const struct json *items = json_get(doc, "Items");
    for (int i = 0; i < t->nindexes; i++) {
        struct range_page p, back;
        if (range_page_read(a, t, i, doc, doc, &p) != RANGE_OK) continue;
        FUZZ_CHECK(json_is_array(items) && p.nkeys == items->len);
        FUZZ_CHECK(!p.bounded || !p.sorted || p.end_len > 3);
        struct buf b = BUF_INIT;
        range_page_compose(&b, &p);
        FUZZ_CHECK(range_page_parse(a, b.data, b.len, &back) == b.len);
        FUZZ_CHECK(back.nkeys == p.nkeys && back.end_len == p.end_len &&
                   back.forward == p.forward && back.bounded == p.bounded);
        FUZZ_CHECK(!p.nkeys || memcmp(back.keys, p.keys, p.nkeys * sizeof(uint64_t)) == 0);
        buf_free(&b);
        /* an item of the page rewritten as it is: (a) says touching */
        struct invalidation_write w = {0};
        w.key = w.new_image = items->child;
        w.new_state = INVALIDATION_KNOWN;
        struct query_partition part;
        unsigned char note[RANGE_NOTE_MAX];
        if (!items->child || query_item_partition(a, t, i, items->child, &part) != 1 || !part.key)
            continue;
        size_t len = range_note(a, t, &part, &w, note);
        FUZZ_CHECK(len <= RANGE_NOTE_MAX);
        if (len) FUZZ_CHECK(!range_keeps(&p, note, len));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena a;
    arena_init(&a);
    struct json *tdoc = NULL, *doc = NULL;
    struct query_table t;
    FUZZ_CHECK(json_parse(&a, table_text, sizeof(table_text) - 1, &tdoc, NULL, 0) == JSON_OK);
    FUZZ_CHECK(query_table_parse(tdoc, &t) == QUERY_OK && t.nindexes == 4);
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    size_t elen = nl ? (size_t)(nl - s) : size;
    /* the expression as its own NUL-free copy (the parser takes a length) */
    char *expr = arena_strndup(&a, s, elen);
    if (nl && json_parse(&a, nl + 1, size - elen - 1, &doc, NULL, 0) != JSON_OK) doc = NULL;
    if (json_is_object(doc)) {
        check_key_condition(&t, expr, elen, doc);
        check_cache_key(&a, QUERY_OP_QUERY, doc);
        check_cache_key(&a, QUERY_OP_SCAN, doc);
        check_partitions(&a, &t, doc);
        check_write_tags(&a, &t, expr, elen, doc);
        check_range(&a, &t, doc);
    } else {
        const struct json *v;
        int rc = query_key_condition(expr, elen, NULL, NULL, &t.index[0], &v);
        FUZZ_CHECK(rc == QUERY_UNCACHEABLE); /* no values: nothing to read */
    }
    struct range_page stored;
    FUZZ_CHECK(range_page_parse(&a, expr, elen, &stored) <= elen);
    arena_free(&a);
    return 0;
}
