/*
 * params.h: the parameters ddbx reads from each operation's request, parsed
 * and validated once, here, so that handlers only decide (cache, backend,
 * answer) and never look at JSON text.
 *
 * Every parser takes the request body and returns:
 *   DDB_PARAMS_OK       *out is filled; the request is one ddbx serves itself
 *   DDB_PARAMS_RELAY    ddbx cannot be sure how DynamoDB judges the request
 *                       (an unusual parameter, a projection it does not handle,
 *                       a value of the wrong shape): relay it, and the
 *                       backend's own answer or error reaches the client
 *   DDB_PARAMS_INVALID  a check DynamoDB makes and test backends do not
 *                       (proto/limits.tsv, attribute values): *err says what
 *                       DynamoDB answers
 * Parsed nodes point into the tree, which lives in the arena given.
 */
#ifndef DDBX_PROTO_PARAMS_H
#define DDBX_PROTO_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/attr.h"
#include "proto/json.h"
#include "proto/key.h"
#include "proto/projection.h"
#include "util/arena.h"

enum ddb_params_status { DDB_PARAMS_OK = 0, DDB_PARAMS_RELAY = -1, DDB_PARAMS_INVALID = -2 };

/* ReturnConsumedCapacity */
enum ddb_rcc { DDB_RCC_NONE, DDB_RCC_TOTAL, DDB_RCC_INDEXES };

/* ReturnValues */
enum ddb_return_values {
    DDB_RV_NONE,
    DDB_RV_ALL_OLD,
    DDB_RV_UPDATED_OLD,
    DDB_RV_ALL_NEW,
    DDB_RV_UPDATED_NEW
};

struct ddb_get_item {
    const struct json *doc;   /* the whole request */
    const struct json *table; /* TableName as sent: a name or an ARN */
    const struct json *key;
    bool consistent;
    enum ddb_rcc rcc;
    struct projection *proj; /* NULL: the whole item */
};
int ddb_parse_get_item(struct arena *a, const char *body, size_t len, struct ddb_get_item *out,
                       struct attr_error *err);

struct ddb_batch_get_table {
    const struct json *name;     /* the RequestItems member's name, as a string node */
    const struct json *params;   /* the member: Keys, ConsistentRead, projection */
    const struct json *keys;     /* the Keys array, or NULL: */
    const struct key_text *text; /* ddb_scan_batch_get's keys, as text */
    int nkeys;
    bool consistent;
    struct projection *proj;
};
struct ddb_batch_get {
    struct ddb_batch_get_table *tables;
    int ntables;
    enum ddb_rcc rcc;
};
int ddb_parse_batch_get(struct arena *a, const char *body, size_t len, struct ddb_batch_get *out,
                        struct attr_error *err);
/* The shape SDKs send most, read without a tree: RequestItems whose tables
 * hold only Keys, each Key one or two members {"S"|"N":"..."} of plain
 * strings (json_plain_string), and ReturnConsumedCapacity. True with *out
 * what ddb_parse_batch_get would give with DDB_PARAMS_OK, the keys as text
 * (params an empty object, keys NULL); false for anything else, which
 * ddb_parse_batch_get is then to read (it decides every error). Parsing a
 * key's text gives the node ddb_parse_batch_get would have built. */
bool ddb_scan_batch_get(struct arena *a, const char *body, size_t len, struct ddb_batch_get *out);

enum ddb_write_kind {
    DDB_WRITE_PUT,    /* obj is the item written */
    DDB_WRITE_DELETE, /* obj is the key deleted */
    DDB_WRITE_UPDATE, /* obj is the key updated */
    DDB_WRITE_CHECK,  /* obj is the key a transaction's ConditionCheck reads */
};

/* One item a write names. */
struct ddb_write_req {
    const struct json *table; /* a name or an ARN, as a string node */
    const struct json *obj;   /* the Item (PUT) or the Key */
    enum ddb_write_kind kind;
    bool canonical; /* PUT: every number and binary in the form DynamoDB stores */
};

/* PutItem, UpdateItem, DeleteItem (one request), BatchWriteItem (up to 25),
 * TransactWriteItems (up to 100). */
struct ddb_write {
    const struct json *doc;
    struct ddb_write_req *reqs;
    int nreqs;
    enum ddb_return_values return_values;    /* UpdateItem's */
    const struct json *return_values_member; /* NULL when absent */
};
int ddb_parse_put_item(struct arena *a, const char *body, size_t len, struct ddb_write *out,
                       struct attr_error *err);
int ddb_parse_update_item(struct arena *a, const char *body, size_t len, struct ddb_write *out,
                          struct attr_error *err);
int ddb_parse_delete_item(struct arena *a, const char *body, size_t len, struct ddb_write *out,
                          struct attr_error *err);
int ddb_parse_batch_write(struct arena *a, const char *body, size_t len, struct ddb_write *out,
                          struct attr_error *err);
int ddb_parse_transact_write(struct arena *a, const char *body, size_t len, struct ddb_write *out,
                             struct attr_error *err);

struct ddb_transact_get_item {
    const struct json *table;
    const struct json *key;
    bool whole; /* no projection: the answer holds the whole item */
};
struct ddb_transact_get {
    struct ddb_transact_get_item *items;
    int n;
};
int ddb_parse_transact_get(struct arena *a, const char *body, size_t len,
                           struct ddb_transact_get *out, struct attr_error *err);

/* The read capacity units DynamoDB charges for reading one item of
 * item_bytes (as attr_check_item counts them; 0: not found) with an eventually
 * consistent or a consistent read: 4 KB units, rounded up, halved when
 * eventually consistent. */
double ddb_read_units(size_t item_bytes, bool consistent);

/* Table administration and PartiQL: the body must be a JSON object; the table
 * a table operation names (TableName, TargetTableName or
 * TableCreationParameters.TableName; NULL when none) and the statements a
 * PartiQL operation runs. */
struct ddb_table_op {
    const struct json *doc;
    const struct json *table;
    const struct json **statements; /* Statement strings (PartiQL) */
    int nstatements;
};
int ddb_parse_table_op(struct arena *a, const char *body, size_t len, struct ddb_table_op *out,
                       struct attr_error *err);

/* The whole body, which must be a JSON object (SerializationException when
 * not: DynamoDB judges that before anything else). */
int ddb_parse_object(struct arena *a, const char *body, size_t len, struct json **doc,
                     struct attr_error *err);

#endif
