/*
 * query.h: the pure pieces of the Query and Scan cache.
 *
 * - struct query_table: a table's key schemas with its indexes (base table,
 *   GSIs, LSIs), parsed from a DescribeTable TableDescription.
 * - query_cache_key(): the canonical cache key of an eventually consistent
 *   Query or Scan: every member that changes the result, in a fixed order,
 *   with numbers canonical and binaries decoded; JSON member order does not
 *   matter. Anything it does not know makes the request not cacheable.
 * - query_read_partition(): which index partition a Query reads, from its
 *   KeyConditionExpression (or legacy KeyConditions).
 * - query_item_partitions(): the partitions an item image belongs to, one
 *   per index whose key attributes it has (sparse indexes skip the others).
 *
 * Which writes make which cached results stale is proto/invalidation.h and
 * docs/QUERY_CACHE.md. Nothing here does I/O or takes a lock.
 */
#ifndef DDBX_PROTO_QUERY_H
#define DDBX_PROTO_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/json.h"
#include "proto/key.h"
#include "util/arena.h"
#include "util/buf.h"

/* DynamoDB allows 20 GSIs (a quota that can be raised) and 5 LSIs; the base
 * table is index 0. A description with more is refused (not cacheable). */
#define QUERY_MAX_INDEXES 48

enum query_status {
    QUERY_OK = 0,
    QUERY_UNCACHEABLE = 1, /* relay the request, cache nothing */
    QUERY_EINVALID = -1,   /* a description or image that is not what DynamoDB sends */
};

enum query_index_kind { QUERY_INDEX_TABLE = 0, QUERY_INDEX_GSI, QUERY_INDEX_LSI };
enum query_projection { QUERY_PROJECT_ALL = 0, QUERY_PROJECT_KEYS_ONLY, QUERY_PROJECT_INCLUDE };
enum query_stream_view {
    QUERY_STREAM_NONE = 0, /* no stream enabled */
    QUERY_STREAM_KEYS_ONLY,
    QUERY_STREAM_NEW_IMAGE,
    QUERY_STREAM_OLD_IMAGE,
    QUERY_STREAM_NEW_AND_OLD_IMAGES,
};

struct query_index {
    enum query_index_kind kind;
    const char *name; /* IndexName; "" for the base table */
    size_t name_len;
    struct key_attr hash;
    struct key_attr range; /* range.name NULL when the index has no sort key */
    enum query_projection projection;
};

/* A table's key schemas. The schema registry (handler/schema.c) keeps one per
 * table; every string points into the description it was parsed from (or the
 * registry's copy of it). */
struct query_table {
    const char *table;
    size_t table_len;
    uint32_t epoch; /* the registry's schema epoch, part of every cache key */
    /* LatestStreamArn when StreamSpecification.StreamEnabled, else NULL */
    const char *stream_arn;
    size_t stream_arn_len;
    enum query_stream_view stream_view;
    int nindexes;                                /* index[0] is the base table */
    struct query_index index[QUERY_MAX_INDEXES]; /* then GSIs, then LSIs */
};

/* Parses a TableDescription (the "Table" member of a DescribeTable answer,
 * "TableDescription" of CreateTable's) into out: KeySchema and
 * AttributeDefinitions, GlobalSecondaryIndexes, LocalSecondaryIndexes,
 * LatestStreamArn and StreamSpecification. out borrows the description's
 * strings. epoch is left 0 for the caller. Returns QUERY_OK or QUERY_EINVALID
 * (missing key schema, an attribute without a definition, too many indexes). */
int query_table_parse(const struct json *description, struct query_table *out);
/* Copies src into dst with every string copied into a, so dst lives as
 * long as a (the schema registry keeps one per table this way). */
void query_table_copy(struct arena *a, const struct query_table *src, struct query_table *dst);
/* True when a and b have the same indexes: kinds, names, key attributes and
 * projections, in the same order (the stream and epoch are not compared). */
bool query_table_same_indexes(const struct query_table *a, const struct query_table *b);
/* The position of the index named name[0..len) in t, 0 for len 0 (the base
 * table), or -1 when the table has no such index. */
int query_table_index(const struct query_table *t, const char *name, size_t len);

enum query_op { QUERY_OP_QUERY = 'Q', QUERY_OP_SCAN = 'S' };

/* Appends to out the canonical cache key of a Query or Scan request (the
 * parsed body), for a table whose schema epoch is `epoch`. Two requests get
 * one key exactly when they ask for the same result: member order, number
 * spelling ("1", "1.0", "1E0"), ExpressionAttributeValues and
 * ExpressionAttributeNames order, and defaults spelt out (ConsistentRead
 * false, ScanIndexForward true, ReturnConsumedCapacity NONE) do not matter;
 * every other difference does (Limit, ExclusiveStartKey, Segment, ...).
 * Returns QUERY_OK, or QUERY_UNCACHEABLE (out then holds garbage) for
 * ConsistentRead true, a member unknown to the operation, a value of the
 * wrong JSON type or an AttributeValue ddbx cannot read with certainty. */
int query_cache_key(enum query_op op, uint32_t epoch, const struct json *request, struct buf *out);

/* A partition of one index: the index's position in the query_table and the
 * canonical bytes of its partition key value (key_encode_value()). key NULL
 * means "the whole index": the item's partition there cannot be known. */
struct query_partition {
    int index;
    const char *key;
    size_t key_len;
};

/* The partition a Query request reads, from its IndexName and its
 * KeyConditionExpression (with ExpressionAttributeNames/Values) or legacy
 * KeyConditions. The key bytes live in a. Returns QUERY_OK, or
 * QUERY_UNCACHEABLE when the condition cannot be read with certainty (an
 * unknown index, a malformed or unsupported expression, an undefined
 * placeholder, a value of the wrong type). */
int query_read_partition(struct arena *a, const struct query_table *t, const struct json *request,
                         struct query_partition *out);

/* The KeyConditionExpression grammar alone: finds the `hash = :v` condition
 * on ix's partition key (`pk = :v`, `#n = :v`, `:v = pk`), allowing one
 * sort key condition joined by AND (=, <, <=, >, >=, BETWEEN :a AND :b,
 * begins_with(sk, :v)) on ix's sort key, parentheses and keywords in any
 * case. *value is the partition key's AttributeValue from `values`.
 * Returns QUERY_OK or QUERY_UNCACHEABLE. */
int query_key_condition(const char *expr, size_t len, const struct json *names,
                        const struct json *values, const struct query_index *ix,
                        const struct json **value);

/* The partitions item (an object of AttributeValues) belongs to: the base
 * table's, then one per index whose key attributes the item has (all of
 * them: sparse indexes skip items without their hash or sort key). An index
 * key attribute present but unreadable (wrong type, empty, too long) gives
 * that index a whole-index entry (key NULL). out has room for
 * QUERY_MAX_INDEXES; *n is set. Key bytes live in a. Returns QUERY_OK, or
 * QUERY_EINVALID when the item lacks a readable base table key. */
int query_item_partitions(struct arena *a, const struct query_table *t, const struct json *item,
                          struct query_partition *out, int *n);
/* One index's part of query_item_partitions(): 1 with *out set (key NULL:
 * unreadable), or 0 when the item is not in the index. */
int query_item_partition(struct arena *a, const struct query_table *t, int index,
                         const struct json *item, struct query_partition *out);
/* The partition of the index's partition key value in item, whether or not
 * the item has the index's sort key: 1 with *out set (key NULL: unreadable),
 * or 0 when the item has no such attribute. */
int query_hash_partition(struct arena *a, const struct query_table *t, int index,
                         const struct json *item, struct query_partition *out);

#endif
