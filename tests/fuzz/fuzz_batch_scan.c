/*
 * fuzz_batch_scan.c: BatchGetItem read without a tree (ddb_scan_batch_get,
 * src/proto/params.h) against the tree (ddb_parse_batch_get), and cache keys
 * built from a Key's text (key_from_text, src/proto/key.h) against those
 * built from its tree (key_from_key).
 *
 * The input is a request body. Whenever the scan accepts it: the tree
 * accepts it too, with the same tables (names, key counts, no projection,
 * not consistent, no parameter but Keys) and ReturnConsumedCapacity; each
 * key's text parses to the tree's node for it; and for three schemas (hash
 * S; hash S + range N; hash N) key_from_text succeeds exactly when
 * key_from_key does, with the same bytes.
 */
#include <string.h>

#include "fuzz.h"
#include "proto/json.h"
#include "proto/key.h"
#include "proto/params.h"

static void check_keys(const struct key_schema *ks, const struct key_text *text,
                       const struct json *node)
{
    struct buf k1 = BUF_INIT, k2 = BUF_INIT;
    struct attr_error err;
    int t = key_from_text(ks, text, &k1);
    int n = key_from_key(ks, node, &k2, &err);
    FUZZ_CHECK(t == KEY_OK || t == KEY_EMISMATCH);
    FUZZ_CHECK((t == KEY_OK) == (n == KEY_OK));
    if (t == KEY_OK) FUZZ_CHECK(k1.len == k2.len && memcmp(k1.data, k2.data, k1.len) == 0);
    if (t != KEY_OK) FUZZ_CHECK(k1.len == 0); /* nothing left behind */
    buf_free(&k1);
    buf_free(&k2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct key_schema schemas[] = {
        {.table = "t", .table_len = 1, .nattrs = 1, .attr = {{"pk", 2, 'S'}, {0}}},
        {.table = "t2", .table_len = 2, .nattrs = 2, .attr = {{"pk", 2, 'S'}, {"sk", 2, 'N'}}},
        {.table = "t3", .table_len = 2, .nattrs = 1, .attr = {{"id", 2, 'N'}, {0}}},
    };
    struct arena a;
    arena_init(&a);
    struct ddb_batch_get scan, tree;
    struct attr_error err;
    if (ddb_scan_batch_get(&a, (const char *)data, size, &scan)) {
        FUZZ_CHECK(ddb_parse_batch_get(&a, (const char *)data, size, &tree, &err) == DDB_PARAMS_OK);
        FUZZ_CHECK(scan.ntables == tree.ntables && scan.rcc == tree.rcc);
        for (int ti = 0; ti < scan.ntables; ti++) {
            const struct ddb_batch_get_table *s = &scan.tables[ti], *t = &tree.tables[ti];
            FUZZ_CHECK(s->name->len == t->name->len &&
                       memcmp(s->name->str, t->name->str, s->name->len) == 0);
            FUZZ_CHECK(s->nkeys == t->nkeys && !s->consistent && !t->consistent && !s->proj &&
                       !t->proj && s->text && !s->keys && json_is_object(s->params) &&
                       s->params->len == 0 && t->params->len == 1);
            const struct json *node = t->keys->child;
            for (int i = 0; i < s->nkeys; i++, node = node->next) {
                struct json *parsed;
                FUZZ_CHECK(json_parse(&a, s->text[i].json, s->text[i].len, &parsed, NULL, 0) ==
                           JSON_OK);
                FUZZ_CHECK(json_equal(parsed, node));
                for (size_t k = 0; k < sizeof(schemas) / sizeof(schemas[0]); k++)
                    check_keys(&schemas[k], &s->text[i], node);
            }
        }
    }
    arena_free(&a);
    return 0;
}
