/* limits.c: the limits table (proto/limits.tsv). */
#include "proto/limits.h"

static const struct ddb_limit_desc table[] = {
#define LIMIT(name, value, error, message) {#name, value##ull, DDB_##error, message},
#include "limits.def"
#undef LIMIT
};

_Static_assert(sizeof(table) / sizeof(table[0]) == DDB_LIMIT_COUNT, "one row per limit");

const struct ddb_limit_desc *ddb_limit_desc(enum ddb_limit l)
{
    return &table[l];
}
