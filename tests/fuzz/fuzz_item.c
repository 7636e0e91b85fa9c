/*
 * fuzz_item.c: what ddbx checks in an item before writing it through, and
 * the cache key it builds (src/proto/attr.h, src/proto/key.h).
 *
 * The input is a JSON document; when it parses, its "Item" member (or the
 * document itself) is checked with attr_check_item and keyed with two
 * schemas (hash S; hash N + range B). Checked, besides ASan/UBSan: a refusal
 * has a ValidationException or SerializationException and a message; an item
 * marked relay is not canonical (never cached); a key built from an item is
 * the key built from the item's key attributes alone.
 */
#include <string.h>

#include "fuzz.h"
#include "proto/attr.h"
#include "proto/json.h"
#include "proto/key.h"

static void check_key(struct arena *a, const struct key_schema *ks, const struct json *item)
{
    struct buf k1 = BUF_INIT, k2 = BUF_INIT;
    struct attr_error err;
    int rc = key_from_item(ks, item, &k1, &err);
    if (rc == KEY_EINVALID)
        FUZZ_CHECK(
            (err.code == DDB_ValidationException || err.code == DDB_SerializationException) &&
            err.message[0]);
    if (rc == KEY_OK) {
        /* the key attributes alone, as a Key parameter, give the same bytes */
        struct buf key = BUF_INIT;
        struct json_writer w;
        jw_init(&w, &key);
        jw_object_begin(&w);
        for (int i = 0; i < ks->nattrs; i++)
            jw_member(&w, json_getn(item, ks->attr[i].name, ks->attr[i].len));
        jw_object_end(&w);
        jw_free(&w);
        struct json *kdoc;
        FUZZ_CHECK(json_parse(a, key.data, key.len, &kdoc, NULL, 0) == JSON_OK);
        FUZZ_CHECK(key_from_key(ks, kdoc, &k2, &err) == KEY_OK);
        FUZZ_CHECK(k1.len == k2.len && memcmp(k1.data, k2.data, k1.len) == 0);
        buf_free(&key);
    }
    buf_free(&k1);
    buf_free(&k2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena a;
    arena_init(&a);
    struct json *doc;
    if (json_parse(&a, (const char *)data, size, &doc, NULL, 0) == JSON_OK) {
        const struct json *item = json_get(doc, "Item");
        if (!item) item = doc;
        struct attr_check chk;
        struct attr_error err;
        if (attr_check_item(item, &chk, &err) < 0)
            FUZZ_CHECK(
                (err.code == DDB_ValidationException || err.code == DDB_SerializationException) &&
                err.message[0]);
        else if (!chk.relay)
            FUZZ_CHECK(chk.size <= ITEM_MAX_BYTES);
        else /* an item left to the backend is never cached as written */
            FUZZ_CHECK(!chk.canonical);
        struct key_schema s1 = {
            .table = "t", .table_len = 1, .epoch = 1, .nattrs = 1, .attr = {{"pk", 2, 'S'}, {0}}};
        struct key_schema s2 = {.table = "t2",
                                .table_len = 2,
                                .epoch = 7,
                                .nattrs = 2,
                                .attr = {{"id", 2, 'N'}, {"b", 1, 'B'}}};
        if (json_is_object(item)) {
            check_key(&a, &s1, item);
            check_key(&a, &s2, item);
        }
    }
    arena_free(&a);
    return 0;
}
