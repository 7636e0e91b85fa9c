/*
 * limits.h: DynamoDB's limits ddbx enforces itself, from proto/limits.tsv:
 * each limit's value, the error DynamoDB answers past it and its message.
 */
#ifndef DDBX_PROTO_LIMITS_H
#define DDBX_PROTO_LIMITS_H

#include <stdint.h>

#include "proto/errors.h"

enum ddb_limit {
#define LIMIT(name, value, error, message) DDB_LIMIT_##name,
#include "limits.def"
#undef LIMIT
    DDB_LIMIT_COUNT
};

struct ddb_limit_desc {
    const char *name;     /* "batch_get_keys" */
    uint64_t value;       /* 100 */
    enum ddb_error error; /* what DynamoDB answers past it */
    const char *message;  /* DynamoDB's message */
};

const struct ddb_limit_desc *ddb_limit_desc(enum ddb_limit l);
static inline uint64_t ddb_limit(enum ddb_limit l)
{
    return ddb_limit_desc(l)->value;
}

#endif
