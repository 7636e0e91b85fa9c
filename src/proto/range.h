/*
 * range.h: range-precise Query pages, the refinement of the partition rule
 * (docs/QUERY_CACHE.md, "Range-precise pages"): a write of item k from O to
 * N leaves an unfiltered page of Part(X, v), read from its start up to its
 * LastEvaluatedKey L, exactly as it is when
 *   (a) k is not among the page's items, and
 *   (b) N is not in Part(X, v), or N's sort key value is strictly past L's
 *       in the read order (a tie, or a page without L, counts as touching).
 *
 * A write's bump of P(X, v) carries a note (cache/tags.h keeps it): k's key
 * hash and where N lies: out of Part(X, v), or in it with its sort value. A
 * page keeps its items' key hashes and L's sort value; range_keeps() is the
 * predicate. Notes and pages are built here from JSON and compared here;
 * nothing here does I/O or takes a lock.
 */
#ifndef DDBX_PROTO_RANGE_H
#define DDBX_PROTO_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/invalidation.h"
#include "proto/json.h"
#include "proto/query.h"
#include "util/arena.h"
#include "util/buf.h"

#define RANGE_NOTE_MAX 64 /* bytes of a note (cache/tags.h keeps up to TAGS_NOTE_MAX) */

enum range_status {
    RANGE_OK = 0,
    RANGE_IMPRECISE = 1, /* the page is not range-precise: any bump of its tags drops it */
};

/* What a range-precise page keeps. */
struct range_page {
    bool forward;    /* ScanIndexForward */
    bool bounded;    /* the answer has a LastEvaluatedKey */
    bool sorted;     /* the index has a sort key (else every N in Part(X, v) ties) */
    const char *end; /* bounded and sorted: L's sort value (key_encode_value bytes) */
    size_t end_len;
    size_t nkeys;
    const uint64_t *keys; /* range_key_hash() of each item, in answer order */
};

/* The hash of item's (or a Key's) primary key under t, from its canonical
 * key bytes (equal numbers give equal hashes). false when obj lacks a
 * readable table key attribute. A collision can only make a page drop. */
bool range_key_hash(const struct query_table *t, const struct json *obj, uint64_t *out);

/* The page a Query request (parsed) of index `index` got as `answer`
 * (parsed), when it is range-precise: a Query (no Scan), no FilterExpression
 * or QueryFilter, ReturnConsumedCapacity NONE, an Items array whose items
 * all carry the table's key attributes, and L's sort value readable when
 * there is an L. Arrays live in a. Returns RANGE_OK or RANGE_IMPRECISE. */
int range_page_read(struct arena *a, const struct query_table *t, int index,
                    const struct json *request, const struct json *answer, struct range_page *out);

/* The page as bytes (for the cached value's header) and back; parse
 * borrows data (keys are copied into a: data may be unaligned). parse
 * returns the bytes read, or 0 when data does not hold a page. */
void range_page_compose(struct buf *out, const struct range_page *p);
size_t range_page_parse(struct arena *a, const char *data, size_t len, struct range_page *out);

/* The note of write w for its bump of partition p (p->key not NULL):
 * written to out, returns its length, or 0 when nothing can be said (N
 * unknown or unreadable, a key that cannot be read, a value too long for a
 * note): the bump is then unknown to every page. */
size_t range_note(struct arena *a, const struct query_table *t, const struct query_partition *p,
                  const struct invalidation_write *w, unsigned char out[RANGE_NOTE_MAX]);

/* True when the noted write leaves page p exactly as it is, by (a) and (b). */
bool range_keeps(const struct range_page *p, const unsigned char *note, size_t len);

/* Compares two sort values written by key_encode_value() of one attribute:
 * numbers by value, strings and binaries by bytes; <0, 0, >0. Values of
 * different types, or that cannot be read, compare equal (a tie: touching). */
int range_compare(const char *a, size_t alen, const char *b, size_t blen);

#endif
