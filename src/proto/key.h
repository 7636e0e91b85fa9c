/*
 * key.h: cache keys. A cache key is (table, canonical primary key): the
 * table's name, then each key attribute's type and bytes,
 * where numbers are canonical decimal values (proto/number.h) and binary
 * values their decoded bytes. So "1", "1.0" and "1E0" make one key.
 */
#ifndef DDBX_PROTO_KEY_H
#define DDBX_PROTO_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/attr.h"
#include "proto/json.h"
#include "util/buf.h"

#define KEY_HASH_MAX 2048  /* bytes of a partition key value */
#define KEY_RANGE_MAX 1024 /* bytes of a sort key value */

struct key_attr {
    const char *name;
    size_t len;
    char type; /* 'S', 'N' or 'B' */
};

struct key_schema {
    const char *table; /* the table's name (never an ARN) */
    size_t table_len;
    const char *account; /* from the table's ARN, or NULL when the backend gave none */
    size_t account_len;
    uint32_t epoch; /* changes whenever all the table's entries must go; not in key bytes */
    bool held;      /* a change of unknown outcome may still land: cache nothing now */
    int nattrs;     /* 1 (hash) or 2 (hash, range) */
    struct key_attr attr[2]; /* [0] HASH, [1] RANGE */
};

/* A Key as text, read without a tree (proto/params.h, ddb_scan_batch_get):
 * the object's JSON, and each member's name, type letter ('S' or 'N') and
 * string value, pointing into the request's body. */
struct key_text {
    const char *json; /* {...}, len bytes */
    uint32_t len;
    int nattrs; /* 1 or 2, with distinct names */
    struct {
        const char *name, *value;
        uint32_t name_len, value_len;
        char type;
    } attr[2];
};

enum key_status {
    KEY_OK = 0,
    KEY_EINVALID = -1,  /* a limit DynamoDB enforces: err says what to answer */
    KEY_EMISMATCH = -2, /* does not match the schema: let the backend answer */
};

/* From a Key parameter, which must hold exactly the schema's attributes.
 * Appends the cache key to out. Returns a key_status. */
int key_from_key(const struct key_schema *ks, const struct json *key, struct buf *out,
                 struct attr_error *err);
/* key_from_key for a Key read as text: KEY_OK with the bytes key_from_key
 * appends for the same Key, or KEY_EMISMATCH whenever key_from_key would not
 * return KEY_OK (or this cannot be sure it would): the caller then asks
 * key_from_key of the parsed Key for its answer. Nothing is appended then. */
int key_from_text(const struct key_schema *ks, const struct key_text *key, struct buf *out);
/* From an item: the key attributes are taken, the others ignored. */
int key_from_item(const struct key_schema *ks, const struct json *item, struct buf *out,
                  struct attr_error *err);
/* One key attribute's part of a cache key: its type, then its canonical
 * bytes (a number's key bytes, a binary's decoded bytes) with their length.
 * Used alone for partition values (proto/query.h). is_range selects the
 * 1024-byte sort key limit instead of 2048. Returns a key_status. */
int key_encode_value(const struct key_attr *ka, bool is_range, const struct json *value,
                     struct buf *out, struct attr_error *err);

#endif
