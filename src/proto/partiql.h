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

/* The table statement s[0..len) reads or writes, for grants: SELECT ... FROM
 * t, INSERT INTO t, UPDATE t, DELETE FROM t, EXISTS(SELECT ... FROM t ...),
 * where t is a bare word of letters, digits and '_' or a "quoted" name,
 * optionally followed by ."index". Returns 0 with *table a slice of s (quotes
 * removed), or -1 when ddbx cannot be sure which table the backend would
 * read: any other form, a comment, a quoted name with an escaped quote, a
 * bare name with other characters, or a second SELECT or FROM. */
int partiql_table(const char *s, size_t len, const char **table, size_t *table_len);

#endif
