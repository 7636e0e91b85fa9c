/*
 * fuzz_projection.c: ProjectionExpression parsing and application
 * (src/proto/projection.h).
 *
 * The input is "<expression>\n<ExpressionAttributeNames JSON>" (the second
 * part optional). Checked, besides ASan/UBSan: a parse either relays or gives
 * a plan; applying a plan to a fixed rich item writes one JSON object whose
 * every attribute exists in the item; applying it twice gives the same bytes.
 */
#include <string.h>

#include "fuzz.h"
#include "proto/json.h"
#include "proto/projection.h"

static const char item_text[] =
    "{\"a\":{\"S\":\"x\"},\"n\":{\"N\":\"1\"},\"m\":{\"M\":{\"b\":{\"S\":\"y\"},\"c\":{\"L\":[{"
    "\"N\":\"1\"},"
    "{\"M\":{\"d\":{\"BOOL\":true}}},{\"L\":[{\"S\":\"z\"}]}]}}},\"l\":{\"L\":[{\"S\":\"0\"},{"
    "\"S\":\"1\"},"
    "{\"S\":\"2\"}]},\"ss\":{\"SS\":[\"p\",\"q\"]},\"#x\":{\"NULL\":true}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena a;
    arena_init(&a);
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    size_t elen = nl ? (size_t)(nl - s) : size;
    struct json *names = NULL, *item = NULL;
    if (nl && json_parse(&a, nl + 1, size - elen - 1, &names, NULL, 0) != JSON_OK) names = NULL;
    FUZZ_CHECK(json_parse(&a, item_text, sizeof(item_text) - 1, &item, NULL, 0) == JSON_OK);
    struct projection *p = NULL;
    int rc = projection_parse(&a, s, elen, names, &p);
    FUZZ_CHECK(rc == PROJECTION_OK || rc == PROJECTION_RELAY);
    if (rc == PROJECTION_OK) {
        struct buf out1 = BUF_INIT, out2 = BUF_INIT;
        struct json_writer w;
        jw_init(&w, &out1);
        projection_apply(p, item, &w);
        jw_free(&w);
        jw_init(&w, &out2);
        projection_apply(p, item, &w);
        jw_free(&w);
        FUZZ_CHECK(out1.len == out2.len && memcmp(out1.data, out2.data, out1.len) == 0);
        struct json *projected;
        FUZZ_CHECK(json_parse(&a, out1.data, out1.len, &projected, NULL, 0) == JSON_OK);
        FUZZ_CHECK(projected->type == JSON_OBJECT);
        for (const struct json *m = projected->child; m; m = m->next)
            FUZZ_CHECK(json_getn(item, m->key, m->keylen) != NULL);
        buf_free(&out1);
        buf_free(&out2);
    }
    arena_free(&a);
    return 0;
}
