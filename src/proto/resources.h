/*
 * resources.h: the tables a DynamoDB request reaches, read from its body by
 * the paths of proto/grants.tsv, so per-table grants (handler/grant.c) are
 * judged before any cache lookup or backend call. No decisions here: this
 * lists what a request names; the caller decides what is granted.
 *
 * Every table comes out in one of two spellings, never converted into the
 * other (whether a name and an ARN are the same table depends on the
 * backend's account, which ddbx cannot know before it calls the backend):
 *   a plain name, "Music", as a TableName, a RequestItems member or a
 *     PartiQL statement names it;
 *   a table ARN, "arn:P:dynamodb:R:A:table/Music", from a TableName that is
 *     an ARN or from any resource ARN of the table (its index, stream,
 *     backup, export or import ARN, a shard iterator's stream ARN), cut
 *     after the table's name.
 */
#ifndef DDBX_PROTO_RESOURCES_H
#define DDBX_PROTO_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/json.h"
#include "proto/ops.h"
#include "util/arena.h"

enum ddb_reach {
    DDB_REACH_TABLES = 0,      /* the tables listed, and nothing else */
    DDB_REACH_OPEN = -1,       /* no table and nothing of one (DescribeEndpoints) */
    DDB_REACH_ACCOUNT = -2,    /* no table named: the account's tables as a whole */
    DDB_REACH_UNREADABLE = -3, /* a table position ddbx cannot read: what it
                                * reaches is unknown */
};

struct ddb_table_ref {
    const char *name; /* a plain name or a table ARN (see above); not NUL-terminated */
    size_t len;
    bool arn;
};

struct ddb_reached {
    struct ddb_table_ref *tables; /* in the arena; repeats kept */
    int n;
};

/* Lists the tables operation `op`'s request `doc` (a parsed JSON object)
 * reaches, into `a`. Returns a ddb_reach: DDB_REACH_TABLES with out filled
 * (n >= 1), or a negative with out->n 0. */
int ddb_resources(struct arena *a, enum op_id op, const struct json *doc, struct ddb_reached *out);

/* The table ARN a resource ARN s[0..len) belongs to
 * ("arn:P:dynamodb:R:A:table/NAME[/...]" cut after NAME): sets *len_out and
 * returns true, or false when s is not the ARN of a DynamoDB table or of
 * something of one. */
bool ddb_table_arn(const char *s, size_t len, size_t *len_out);

/* The resources column of proto/grants.tsv for op (for tests and docs). */
const char *ddb_resources_spec(enum op_id op);

#endif
