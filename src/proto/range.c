/*
 * range.c: range-precise pages and the notes writes leave on partition tags
 * (range.h; the proof is docs/QUERY_CACHE.md, "Range-precise pages").
 *
 * A note is a kind byte, the written item's key hash (8 bytes, host order:
 * notes never leave the process), then for RANGE_IN the new image's sort
 * value as key_encode_value() wrote it. The order of DynamoDB sort values
 * (numbers by value, strings and binaries by their bytes) is DynamoDB's own
 * rule, so it is written here on top of proto/number.h.
 */
#include "proto/range.h"

#include <string.h>
#include <xxhash.h>

#include "proto/key.h"
#include "proto/number.h"

enum { NOTE_OUT = 'O', NOTE_IN = 'I' };
#define NOTE_HEAD (1 + sizeof(uint64_t))

/* Appends key_encode_value's bytes of obj's attribute ka; false if absent
 * or unreadable. */
static bool encode_attr(const struct key_attr *ka, bool is_range, const struct json *obj,
                        struct buf *out)
{
    const struct json *v = json_getn(obj, ka->name, ka->len);
    struct attr_error err;
    return v && key_encode_value(ka, is_range, v, out, &err) == KEY_OK;
}

bool range_key_hash(const struct query_table *t, const struct json *obj, uint64_t *out)
{
    const struct query_index *base = &t->index[0];
    struct buf b = BUF_INIT;
    bool ok = json_is_object(obj) && encode_attr(&base->hash, false, obj, &b) &&
              (!base->range.name || encode_attr(&base->range, true, obj, &b));
    if (ok) *out = XXH3_64bits(b.data, b.len);
    buf_free(&b);
    return ok;
}

/* ---- comparing sort values ---- */

/* A key_encode_value() value: its type and its bytes. */
static bool split_value(const char *v, size_t len, char *type, const char **bytes, size_t *n)
{
    if (len < 3) return false;
    size_t l = (size_t)(unsigned char)v[1] << 8 | (unsigned char)v[2];
    if (l != len - 3) return false;
    *type = v[0];
    *bytes = v + 3;
    *n = l;
    return true;
}

int range_compare(const char *a, size_t alen, const char *b, size_t blen)
{
    char ta, tb;
    const char *xa, *xb;
    size_t na, nb;
    if (!split_value(a, alen, &ta, &xa, &na) || !split_value(b, blen, &tb, &xb, &nb) || ta != tb)
        return 0;
    if (ta == 'N') {
        struct number x, y;
        if (number_from_key((const uint8_t *)xa, na, &x) != NUMBER_OK ||
            number_from_key((const uint8_t *)xb, nb, &y) != NUMBER_OK)
            return 0;
        return number_compare(&x, &y);
    }
    int c = memcmp(xa, xb, na < nb ? na : nb); /* S: UTF-8 bytes; B: decoded bytes */
    if (c != 0) return c < 0 ? -1 : 1;
    return na < nb ? -1 : na > nb;
}

/* ---- pages ---- */

/* A member that is absent or says what its default says. */
static bool absent_or(const struct json *req, const char *name, const char *value)
{
    const struct json *m = json_get(req, name);
    return !m || json_str_is(m, value);
}

int range_page_read(struct arena *a, const struct query_table *t, int index,
                    const struct json *request, const struct json *answer, struct range_page *out)
{
    const struct query_index *ix = &t->index[index];
    const struct json *items = json_get(answer, "Items"),
                      *fwd = json_get(request, "ScanIndexForward");
    memset(out, 0, sizeof(*out));
    if (json_get(request, "FilterExpression") || json_get(request, "QueryFilter") ||
        !absent_or(request, "ReturnConsumedCapacity", "NONE") || !json_is_array(items) ||
        (fwd && fwd->type != JSON_TRUE && fwd->type != JSON_FALSE))
        return RANGE_IMPRECISE;
    out->forward = !fwd || fwd->type == JSON_TRUE;
    out->sorted = ix->range.name != NULL;
    uint64_t *keys = arena_alloc(a, (items->len ? items->len : 1) * sizeof(*keys));
    for (const struct json *it = items->child; it; it = it->next)
        if (!range_key_hash(t, it, &keys[out->nkeys++])) return RANGE_IMPRECISE;
    out->keys = keys;
    const struct json *lek = json_get(answer, "LastEvaluatedKey");
    out->bounded = lek != NULL;
    if (!lek || !out->sorted) return RANGE_OK;
    struct buf b = BUF_INIT;
    bool ok = json_is_object(lek) && encode_attr(&ix->range, true, lek, &b);
    out->end = ok ? arena_strndup(a, b.data, b.len) : NULL;
    out->end_len = ok ? b.len : 0;
    buf_free(&b);
    return ok ? RANGE_OK : RANGE_IMPRECISE;
}

enum { PAGE_FORWARD = 1, PAGE_BOUNDED = 2, PAGE_SORTED = 4 };

void range_page_compose(struct buf *out, const struct range_page *p)
{
    uint8_t flags = (uint8_t)((p->forward ? PAGE_FORWARD : 0) | (p->bounded ? PAGE_BOUNDED : 0) |
                              (p->sorted ? PAGE_SORTED : 0));
    uint32_t n = (uint32_t)p->nkeys, e = (uint32_t)p->end_len;
    buf_append(out, &flags, 1);
    buf_append(out, &n, sizeof(n));
    buf_append(out, p->keys, p->nkeys * sizeof(uint64_t));
    buf_append(out, &e, sizeof(e));
    buf_append(out, p->end, p->end_len);
}

size_t range_page_parse(struct arena *a, const char *data, size_t len, struct range_page *out)
{
    uint32_t n, e;
    size_t at = 1 + sizeof(n);
    memset(out, 0, sizeof(*out));
    if (len < at) return 0;
    memcpy(&n, data + 1, sizeof(n));
    if ((len - at) / sizeof(uint64_t) < n || len - at - n * sizeof(uint64_t) < sizeof(e)) return 0;
    uint64_t *keys = arena_alloc(a, (n ? n : 1) * sizeof(*keys));
    memcpy(keys, data + at, n * sizeof(uint64_t));
    at += n * sizeof(uint64_t);
    memcpy(&e, data + at, sizeof(e));
    at += sizeof(e);
    if (len - at < e) return 0;
    out->forward = data[0] & PAGE_FORWARD;
    out->bounded = data[0] & PAGE_BOUNDED;
    out->sorted = data[0] & PAGE_SORTED;
    out->keys = keys;
    out->nkeys = n;
    out->end = data + at;
    out->end_len = e;
    return at + e;
}

/* ---- notes ---- */

size_t range_note(struct arena *a, const struct query_table *t, const struct query_partition *p,
                  const struct invalidation_write *w, unsigned char out[RANGE_NOTE_MAX])
{
    uint64_t key;
    struct query_partition np;
    if (!p->key || w->new_state == INVALIDATION_UNKNOWN || !range_key_hash(t, w->key, &key))
        return 0;
    memcpy(out + 1, &key, sizeof(key));
    int in = 0;
    if (w->new_state == INVALIDATION_KNOWN) {
        if (!json_is_object(w->new_image)) return 0;
        in = query_item_partition(a, t, p->index, w->new_image, &np);
        if (in && !np.key) return 0; /* there, unreadable: cannot say where */
        in = in && np.key_len == p->key_len && memcmp(np.key, p->key, p->key_len) == 0;
    }
    out[0] = in ? NOTE_IN : NOTE_OUT;
    const struct query_index *ix = &t->index[p->index];
    if (!in || !ix->range.name) return NOTE_HEAD;
    struct buf b = BUF_INIT;
    bool ok =
        encode_attr(&ix->range, true, w->new_image, &b) && b.len <= RANGE_NOTE_MAX - NOTE_HEAD;
    if (ok) memcpy(out + NOTE_HEAD, b.data, b.len);
    size_t len = ok ? NOTE_HEAD + b.len : 0;
    buf_free(&b);
    return len;
}

bool range_keeps(const struct range_page *p, const unsigned char *note, size_t len)
{
    uint64_t key;
    if (len < NOTE_HEAD || (note[0] != NOTE_OUT && note[0] != NOTE_IN)) return false;
    memcpy(&key, note + 1, sizeof(key));
    for (size_t i = 0; i < p->nkeys; i++) /* (a): k is not one of the page's items */
        if (p->keys[i] == key) return false;
    if (note[0] == NOTE_OUT) return true; /* (b): N is not in Part(X, v) */
    /* (b): N is in it; it leaves the page only strictly past L */
    if (!p->bounded || !p->sorted || len == NOTE_HEAD) return false;
    int c = range_compare((const char *)note + NOTE_HEAD, len - NOTE_HEAD, p->end, p->end_len);
    return p->forward ? c > 0 : c < 0;
}
