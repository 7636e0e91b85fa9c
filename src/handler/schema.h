/*
 * schema.h: the tables ddbx has seen: their key schemas, learnt from
 * DescribeTable (and from CreateTable/DescribeTable answers passing through),
 * their account (from the table's ARN), and their epochs. Shared by all threads.
 *
 * A table's epoch travels with every cache key of the table (cache/cache.h):
 * when everything cached of the table must go (a PartiQL write, a write ddbx
 * could not key, a schema change), the epoch changes and every older entry is
 * stale at once. Epochs only grow, across tables too, so a table that is
 * forgotten and learnt again never reuses an old epoch. With a spill tier
 * (spill/spill.h) they are kept across a clean restart in its named values:
 * schema_setup (after spill_setup) takes them back, and a table learnt again
 * that is the same table gets its old epoch, so its spilled items serve.
 *
 * A table is (account, region, name). A TableName may be an ARN: one of the
 * account and region ddbx serves names the table of that name; any other ARN
 * is another table, relayed and never cached (the schema callbacks get NULL).
 *
 * Beside the key schema, each table has its indexes and stream (a struct
 * query_table, about 3 KB): an immutable snapshot, replaced whole when a new
 * description differs, and handed out by reference (schema_indexes_get /
 * schema_indexes_put), never copied per request. A change of the index list
 * changes the table's epoch too, so no Query result cached under the old
 * indexes is served under the new ones.
 */
#ifndef DDBX_HANDLER_SCHEMA_H
#define DDBX_HANDLER_SCHEMA_H

#include "handler/request.h"
#include "proto/json.h"
#include "proto/key.h"
#include "proto/query.h"

/* Called with the schema (copied into r->arena), or NULL when the table
 * cannot be cached (unknown, another account's or region's ARN, a backend
 * failure): relay then. */
typedef void (*schema_cb)(struct request *r, const struct key_schema *ks, void *arg);

void schema_setup(void);
void schema_teardown(void);
/* Gets the schema of the table a TableName (a JSON string: name or ARN) names:
 * at once when known, else after a DescribeTable. When the backend gives no
 * answer at all, the request is answered with that failure and cb is not
 * called. */
void schema_get(struct request *r, const struct json *table, schema_cb cb, void *arg);
/* Called once every table's schema was looked for: ks[i] for tables[i], NULL
 * where a table cannot be cached. */
typedef void (*schema_all_cb)(struct request *r, const struct key_schema **ks, void *arg);
/* Gets the schemas of n tables (JSON strings: names or ARNs), one after another. */
void schema_get_all(struct request *r, const struct json **tables, int n, schema_all_cb cb,
                    void *arg);
/* The schema of a table (a plain name) if known (copied into r->arena), else
 * NULL; never calls the backend. */
const struct key_schema *schema_peek(struct request *r, const char *table, size_t len);
/* The plain name a TableName refers to: the name itself, or the NAME of a
 * table ARN "arn:...:table/NAME" whatever its account and region (for
 * invalidation, where touching a namesake is harmless). False if `table` is
 * not a string or an ARN of something other than a table. */
bool schema_table_name(const struct json *table, const char **name, size_t *len);
/* Learns from a TableDescription object (TableName, TableArn, KeySchema,
 * AttributeDefinitions, TableStatus: a table being deleted is not learnt). */
void schema_learn(const struct json *description);
/* Forgets a table (it was deleted or re-created): the next use describes it
 * again and gets a new epoch. */
void schema_forget(const char *table, size_t len);
/* Everything cached of the table must go: its epoch changes. With hold_until
 * (ms on item_now()'s clock; 0: none), nothing of the table is cached until
 * then either (a change of unknown outcome may still land), even if the
 * table is only learnt later. */
void schema_invalidate(const char *table, size_t len, uint64_t hold_until);
/* The same for every table (a statement ddbx cannot read). */
void schema_invalidate_all(uint64_t hold_until);
void schema_forget_all(void);
/* A new epoch for every table without a stream (every table when `streams`
 * is false: no stream is read): what a cluster node drops when a peer goes
 * down (proto/peer-protocol.md 12.2), since writes made through that peer
 * may not have reached it, and nothing else will tell it of them. */
void schema_invalidate_unstreamed(bool streams);
/* True when the table's last description named a stream. */
bool schema_has_stream(const char *table, size_t len);

/* What a request needs to know of a table at one instant. */
struct schema_state {
    uint32_t epoch;
    bool held;       /* a change of unknown outcome may still land: cache nothing */
    bool query_held; /* a write of unknown outcome: cache no Query or Scan result */
};
/* A reference to the table's indexes and stream (a plain name), or NULL when
 * the table is unknown or its description had none ddbx can use (too many
 * indexes). *st (may be NULL) gets the table's state at the same instant.
 * Release the reference with schema_indexes_put(); it stays valid until then
 * whatever the registry learns or forgets meanwhile. */
const struct query_table *schema_indexes_get(const char *table, size_t len,
                                             struct schema_state *st);
void schema_indexes_put(const struct query_table *t);
/* A write to the table has an unknown outcome: no Query or Scan result of it
 * is cached until `until` (ms on item_now()'s clock), while it may still land. */
void schema_hold_queries(const char *table, size_t len, uint64_t until);
/* Called (on the learning thread, outside any lock) with each table whose
 * description is new or changed; the reference is valid during the call only.
 * The stream readers (stream/stream.h) watch tables this way. NULL: nobody. */
typedef void (*schema_watch_fn)(const struct query_table *t);
void schema_set_watcher(schema_watch_fn fn);
/* A warm restart with stream readers: a table learnt with an epoch of an
 * earlier process (spilled entries) and a stream is held (its reads go to
 * the backend, nothing is cached) until schema_stream_ready: its spilled
 * entries may predate writes that bypassed ddbx while it was stopped, and
 * the reader applies those first (stream/stream.h: `ready`). */
void schema_wait_for_streams(bool on);
void schema_stream_ready(const char *table, size_t len);

#endif
