/*
 * invalidation.c: tags of cached results and of writes. The proofs of each
 * rule are in docs/QUERY_CACHE.md; the comments here say which line of it a
 * branch implements.
 */
#include "proto/invalidation.h"

#include <string.h>

#include "util/buf.h"

static void put_part(struct buf *b, const char *s, size_t len)
{
    unsigned char l[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                          (unsigned char)(len >> 8), (unsigned char)len};
    buf_append(b, l, 4);
    buf_append(b, s, len);
}

struct invalidation_tag invalidation_tag(struct arena *a, const struct query_table *t,
                                         enum invalidation_tag_kind kind,
                                         const struct query_partition *p)
{
    struct buf b = BUF_INIT;
    buf_append_char(&b, (char)kind);
    put_part(&b, t->table, t->table_len);
    if (kind == INVALIDATION_INDEX || kind == INVALIDATION_PARTITION) {
        const struct query_index *ix = &t->index[p->index];
        put_part(&b, ix->name, ix->name_len);
    }
    if (kind == INVALIDATION_PARTITION) put_part(&b, p->key, p->key_len);
    struct invalidation_tag tag = {arena_strndup(a, b.data, b.len), b.len};
    buf_free(&b);
    return tag;
}

static void add(struct arena *a, const struct query_table *t, enum invalidation_tag_kind kind,
                const struct query_partition *p, struct invalidation_tags *out)
{
    out->kind[out->n] = kind;
    out->part[out->n] = p ? *p : (struct query_partition){0, NULL, 0};
    out->tag[out->n++] = invalidation_tag(a, t, kind, p);
}

/* A partition, or its whole index when the partition is unknown (key NULL). */
static void add_partition(struct arena *a, const struct query_table *t,
                          const struct query_partition *p, struct invalidation_tags *out)
{
    add(a, t, p->key ? INVALIDATION_PARTITION : INVALIDATION_INDEX, p, out);
}

void invalidation_query_tags(struct arena *a, const struct query_table *t,
                             const struct query_partition *p, struct invalidation_tags *out)
{
    out->n = 0;
    add(a, t, INVALIDATION_TABLE, NULL, out);
    /* only a GSI's partitions can be unknown to a write (its old image) */
    if (t->index[p->index].kind == QUERY_INDEX_GSI) add(a, t, INVALIDATION_INDEX, p, out);
    add_partition(a, t, p, out);
}

void invalidation_scan_tags(struct arena *a, const struct query_table *t,
                            struct invalidation_tags *out)
{
    out->n = 0;
    add(a, t, INVALIDATION_TABLE, NULL, out);
    add(a, t, INVALIDATION_SCAN, NULL, out);
}

void invalidation_table_tags(struct arena *a, const struct query_table *t,
                             struct invalidation_tags *out)
{
    out->n = 0;
    add(a, t, INVALIDATION_TABLE, NULL, out);
}

static bool is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool same_name(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

bool invalidation_update_names(const struct invalidation_write *w, const char *attr, size_t len)
{
    const struct json *au = w->attribute_updates;
    if (au && (!json_is_object(au) || json_getn(au, attr, len))) return true;
    const char *s = w->update_expression;
    size_t n = s ? w->update_expression_len : 0;
    for (size_t i = 0; i < n;) {
        size_t start = i;
        bool sigil = s[i] == '#' || s[i] == ':';
        if (sigil) i++;
        while (i < n && is_word_char(s[i]))
            i++;
        if (i == start) {
            i++; /* punctuation, spaces */
            continue;
        }
        if (s[start] == ':') continue; /* a value */
        if (s[start] != '#') {
            if (same_name(s + start, i - start, attr, len)) return true;
            continue;
        }
        const struct json *name = json_getn(w->update_names, s + start, i - start);
        /* an undefined placeholder: the backend refuses the update, but say
         * "named" rather than guess */
        if (!json_is_string(name) || same_name(name->str, name->len, attr, len)) return true;
    }
    return false;
}

/* Where one image puts the item in index i: -1 unknown, 0 not in the index,
 * 1 in partition *p (key NULL: somewhere in the index). */
static int image_side(struct arena *a, const struct query_table *t, int i,
                      enum invalidation_image state, const struct json *image,
                      struct query_partition *p)
{
    if (state == INVALIDATION_ABSENT) return 0;
    if (state != INVALIDATION_KNOWN || !json_is_object(image)) return -1;
    return query_item_partition(a, t, i, image, p);
}

static bool same_partition(const struct query_partition *x, const struct query_partition *y)
{
    return x->key && y->key && x->key_len == y->key_len && memcmp(x->key, y->key, x->key_len) == 0;
}

static void add_whole_index(struct arena *a, const struct query_table *t, int i,
                            struct invalidation_tags *out)
{
    add(a, t, INVALIDATION_INDEX, &(struct query_partition){i, NULL, 0}, out);
}

/* An UpdateItem that does not name index i's partition key attribute leaves
 * its value, so the item's partition there, as it was: the known image's.
 * If it does not name the sort key either, the item is in the index after
 * exactly when it was before (QUERY_CACHE.md, "UpdateItem"). */
static void same_partition_tags(struct arena *a, const struct query_table *t, int i,
                                const struct invalidation_write *w, struct invalidation_tags *out)
{
    const struct query_index *ix = &t->index[i];
    const struct json *image = w->new_state == INVALIDATION_KNOWN   ? w->new_image
                               : w->old_state == INVALIDATION_KNOWN ? w->old_image
                                                                    : NULL;
    bool sort_kept =
        !ix->range.name || !invalidation_update_names(w, ix->range.name, ix->range.len);
    struct query_partition p;
    if (!json_is_object(image))
        add_whole_index(a, t, i, out); /* no image tells the value */
    else if (sort_kept ? query_item_partition(a, t, i, image, &p)
                       : query_hash_partition(a, t, i, image, &p))
        add_partition(a, t, &p, out);
    /* else: not in the index before or after */
}

/* One GSI: the partitions of the old and new images (QUERY_CACHE.md, "GSI"). */
static void gsi_tags(struct arena *a, const struct query_table *t, int i,
                     const struct invalidation_write *w, struct invalidation_tags *out)
{
    const struct query_index *ix = &t->index[i];
    struct query_partition np, op;
    int sn = image_side(a, t, i, w->new_state, w->new_image, &np);
    int so = image_side(a, t, i, w->old_state, w->old_image, &op);
    if (sn < 0 || so < 0) { /* an image unknown */
        if (w->update && !invalidation_update_names(w, ix->hash.name, ix->hash.len))
            same_partition_tags(a, t, i, w, out);
        else
            add_whole_index(a, t, i, out);
        return;
    }
    if (sn > 0) add_partition(a, t, &np, out);
    if (so > 0 && !(sn > 0 && same_partition(&np, &op))) add_partition(a, t, &op, out);
}

void invalidation_write_tags(struct arena *a, const struct query_table *t,
                             const struct invalidation_write *w, struct invalidation_tags *out)
{
    out->n = 0;
    struct query_partition base;
    if (!json_is_object(w->key) || query_item_partition(a, t, 0, w->key, &base) != 1 || !base.key) {
        add(a, t, INVALIDATION_TABLE, NULL, out); /* cannot say which partition: all */
        return;
    }
    add(a, t, INVALIDATION_SCAN, NULL, out);
    add(a, t, INVALIDATION_PARTITION, &base, out);
    for (int i = 1; i < t->nindexes; i++) {
        if (t->index[i].kind == QUERY_INDEX_LSI) {
            /* an LSI's partition key is the table's: the item's partition
             * there is the base one, whatever its images */
            struct query_partition lsi = base;
            lsi.index = i;
            add(a, t, INVALIDATION_PARTITION, &lsi, out);
        } else {
            gsi_tags(a, t, i, w, out);
        }
    }
}
