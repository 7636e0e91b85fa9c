/*
 * partiql.h: what ddbx needs to know of a PartiQL statement: whether it
 * writes, and which table. ddbx relays every statement; this only decides
 * which cached entries a statement may make stale.
 */
#ifndef DDBX_PROTO_PARTIQL_H
#define DDBX_PROTO_PARTIQL_H

#include <stddef.h>

enum partiql_effect {
    PARTIQL_READS = 0,      /* SELECT: changes nothing */
    PARTIQL_WRITES = 1,     /* INSERT INTO t, UPDATE t, DELETE FROM t: *table names t */
    PARTIQL_WRITES_ANY = 2, /* anything else: it may write any table */
};

/* Reads the first words of statement s[0..len). On PARTIQL_WRITES, *table
 * and *table_len name the table (a slice of s, quotes removed). */
enum partiql_effect partiql_statement(const char *s, size_t len, const char **table,
                                      size_t *table_len);

#endif
