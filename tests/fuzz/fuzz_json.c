/*
 * fuzz_json.c: the JSON parser, validator and writer (src/proto/json.h).
 *
 * Checked, besides ASan/UBSan/leaks:
 * - a parsed tree is written by jw_value() and parsed again to an equal
 *   tree (json_equal), and writing that tree gives the same bytes;
 * - every object member is found by json_getn() under its own name;
 * - json_validate_object() agrees with json_parse(): it accepts exactly the
 *   inputs json_parse accepts whose top level is an object. The one
 *   deliberate difference: the validator does not look for duplicate member
 *   names (relayed bodies are the backend's to judge), so inputs json_parse
 *   refuses as JSON_EDUPLICATE are not compared;
 * - a refusal always comes with a message;
 * - the fast path (json__parse_fast), whenever it accepts, builds the tree
 *   yajl builds (json__parse_yajl): the same values, member order and bytes
 *   when written.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/json.h"

static void check_members(const struct json *v, int depth)
{
    if (v->type == JSON_OBJECT || v->type == JSON_ARRAY) FUZZ_CHECK(depth <= JSON_MAX_DEPTH);
    uint32_t n = 0;
    for (const struct json *c = v->child; c; c = c->next, n++) {
        if (v->type == JSON_OBJECT) {
            FUZZ_CHECK(c->key != NULL && c->key[c->keylen] == '\0');
            FUZZ_CHECK(json_getn(v, c->key, c->keylen) == c);
        } else {
            FUZZ_CHECK(c->key == NULL);
        }
        check_members(c, depth + 1);
    }
    if (v->type == JSON_OBJECT || v->type == JSON_ARRAY)
        FUZZ_CHECK(n == v->len);
    else
        FUZZ_CHECK(v->child == NULL);
    if (v->type == JSON_STRING || v->type == JSON_NUMBER)
        FUZZ_CHECK(v->str != NULL && v->str[v->len] == '\0');
}

static void write_tree(const struct json *v, struct buf *out)
{
    struct json_writer w;
    jw_init(&w, out);
    jw_value(&w, v);
    jw_free(&w);
}

/* What the fast path accepts, yajl accepts as the same tree. */
static void check_fast_path(struct arena *a, const uint8_t *data, size_t size)
{
    struct json *fast = NULL, *slow = NULL;
    if (!json__parse_fast(a, (const char *)data, size, &fast)) return;
    FUZZ_CHECK(fast != NULL);
    FUZZ_CHECK(json__parse_yajl(a, (const char *)data, size, &slow, NULL, 0) == JSON_OK);
    check_members(fast, 1);
    FUZZ_CHECK(json_equal(fast, slow) && json_equal(slow, fast));
    struct buf f = BUF_INIT, s = BUF_INIT;
    write_tree(fast, &f);
    write_tree(slow, &s);
    FUZZ_CHECK(f.len == s.len && memcmp(f.data, s.data, f.len) == 0);
    buf_free(&f);
    buf_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena a;
    arena_init(&a);
    struct json *root = NULL;
    char err[256] = "";
    int rc = json_parse(&a, (const char *)data, size, &root, err, sizeof(err));
    int valid_object = json_validate_object((const char *)data, size);

    if (rc == JSON_OK) {
        FUZZ_CHECK(root != NULL);
        FUZZ_CHECK((root->type == JSON_OBJECT) == (valid_object == JSON_OK));
        check_members(root, 1);

        struct buf first = BUF_INIT, second = BUF_INIT;
        write_tree(root, &first);
        struct json *again = NULL;
        int rc2 = json_parse(&a, first.data, first.len, &again, err, sizeof(err));
        FUZZ_CHECK(rc2 == JSON_OK);
        FUZZ_CHECK(json_equal(root, again) && json_equal(again, root));
        write_tree(again, &second);
        FUZZ_CHECK(first.len == second.len && memcmp(first.data, second.data, first.len) == 0);
        FUZZ_CHECK(json_validate_object(first.data, first.len) == valid_object);
        buf_free(&first);
        buf_free(&second);
    } else {
        FUZZ_CHECK(root == NULL);
        FUZZ_CHECK(rc == JSON_EINVALID || rc == JSON_EDEPTH || rc == JSON_EDUPLICATE);
        FUZZ_CHECK(err[0] != '\0');
        if (rc != JSON_EDUPLICATE) FUZZ_CHECK(valid_object != JSON_OK);
    }
    check_fast_path(&a, data, size);
    arena_free(&a);
    return 0;
}
