/*
 * ops.h: the DynamoDB operations ddbx knows, from proto/operations.tsv.
 * The dispatcher finds an operation by its X-Amz-Target; the handler layer
 * maps each operation's index to its handler function.
 */
#ifndef DDBX_PROTO_OPS_H
#define DDBX_PROTO_OPS_H

#include <stddef.h>

enum op_class {
    OPC_relay,           /* forwarded unchanged */
    OPC_cached_read,     /* answered from the item cache */
    OPC_write_through,   /* written to the backend, then the cache is updated */
    OPC_consistent_read, /* always the backend; may refresh the cache */
    OPC_schema_change,   /* relayed; the table's schema and entries are forgotten */
    OPC_partiql,         /* relayed; writing statements forget their tables */
    OPC_local,           /* answered by ddbx itself */
};

enum op_id {
#define OP(prefix, name, cls, handler, describes, note) OP_##prefix##_##name,
#include "operations.def"
#undef OP
    OP_COUNT
};

struct op {
    enum op_id id;
    const char *name;   /* "GetItem" */
    const char *target; /* "DynamoDB_20120810.GetItem" */
    enum op_class cls;
    const char *describes; /* answer member holding a TableDescription, or NULL */
    const char *note;
};

/* The operation with that X-Amz-Target value, or NULL. */
const struct op *ops_lookup(const char *target, size_t len);
const struct op *ops_get(enum op_id id);
/* Operation names indexed by op_id (for metric labels). */
extern const char *const ops_names[OP_COUNT];

#define OP_GetItem OP_DynamoDB_20120810_GetItem
#define OP_BatchGetItem OP_DynamoDB_20120810_BatchGetItem
#define OP_DescribeTable OP_DynamoDB_20120810_DescribeTable

#endif
