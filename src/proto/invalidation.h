/*
 * invalidation.h: which cached Query and Scan results a write can change,
 * as tags: the rule of docs/QUERY_CACHE.md written as code.
 *
 * A cached result depends on a few tags; a write bumps the tags of what it
 * may have changed (cache/tags.h keeps their generations). Tags are opaque
 * bytes built here:
 *   table      every result of the table (PartiQL writes, a stream gap)
 *   scan       every Scan of the table (any write)
 *   index      every Query of one GSI (an old image's partition unknown)
 *   partition  the Queries of one partition of one index
 * A Query result depends on {table, partition} (and {index} for a GSI); a
 * Scan result on {table, scan}.
 */
#ifndef DDBX_PROTO_INVALIDATION_H
#define DDBX_PROTO_INVALIDATION_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/json.h"
#include "proto/query.h"
#include "util/arena.h"

enum invalidation_tag_kind {
    INVALIDATION_TABLE = 'T',
    INVALIDATION_SCAN = 'S',
    INVALIDATION_INDEX = 'I',
    INVALIDATION_PARTITION = 'P',
};

struct invalidation_tag {
    const char *data; /* in the arena the tags were built in */
    size_t len;
};

/* A write's tags: scan, then per index at most two partitions or the index. */
#define INVALIDATION_MAX_TAGS (1 + 2 * QUERY_MAX_INDEXES)

struct invalidation_tags {
    int n;
    struct invalidation_tag tag[INVALIDATION_MAX_TAGS];
    /* what each tag is: its kind, and for PARTITION the partition (key in
     * the arena), so a write can note what it did there (proto/range.h) */
    enum invalidation_tag_kind kind[INVALIDATION_MAX_TAGS];
    struct query_partition part[INVALIDATION_MAX_TAGS];
};

/* The tag bytes of one kind: p is used by INDEX (p->index) and PARTITION
 * (p->index and p->key), ignored (may be NULL) for TABLE and SCAN. */
struct invalidation_tag invalidation_tag(struct arena *a, const struct query_table *t,
                                         enum invalidation_tag_kind kind,
                                         const struct query_partition *p);

/* The tags a cached Query result of partition p depends on. */
void invalidation_query_tags(struct arena *a, const struct query_table *t,
                             const struct query_partition *p, struct invalidation_tags *out);
/* The tags a cached Scan result of the table depends on (any index). */
void invalidation_scan_tags(struct arena *a, const struct query_table *t,
                            struct invalidation_tags *out);

/* What is known of an item image around a write. */
enum invalidation_image {
    INVALIDATION_UNKNOWN = 0, /* the item may or may not have existed; its attributes unknown */
    INVALIDATION_ABSENT,      /* known not to exist */
    INVALIDATION_KNOWN,       /* the image is given */
};

/* One item written: PutItem, UpdateItem, DeleteItem, one action of a batch
 * or a transaction, one stream record. Borrowed pointers. */
struct invalidation_write {
    const struct json *key; /* the primary key: a Key, an item or a record's Keys */
    enum invalidation_image old_state, new_state;
    const struct json *old_image, *new_image; /* when KNOWN */
    /* UpdateItem: an index whose partition key attribute the update does
     * not name keeps the item in the same partition of that index */
    bool update;
    const char *update_expression; /* UpdateExpression, or NULL */
    size_t update_expression_len;
    const struct json *update_names;      /* its ExpressionAttributeNames */
    const struct json *attribute_updates; /* legacy AttributeUpdates, or NULL */
};

/* The tags a successful (or possibly successful) write must bump, by the
 * rule of docs/QUERY_CACHE.md. A key that cannot be read gives the table
 * tag. Tags live in a. */
void invalidation_write_tags(struct arena *a, const struct query_table *t,
                             const struct invalidation_write *w, struct invalidation_tags *out);
/* The table tag alone: every cached result of the table (PartiQL, a gap in
 * the stream, anything not understood). */
void invalidation_table_tags(struct arena *a, const struct query_table *t,
                             struct invalidation_tags *out);

/* True when an UpdateItem may change attribute attr[0..len): its
 * UpdateExpression names it (bare or through a #placeholder of names) or its
 * AttributeUpdates has it. Conservative: any mention counts. */
bool invalidation_update_names(const struct invalidation_write *w, const char *attr, size_t len);

#endif
