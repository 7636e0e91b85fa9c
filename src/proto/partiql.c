/*
 * partiql.c: the first words of a PartiQL statement. DynamoDB's PartiQL
 * starts every statement with its verb and names one table right after it
 * (INSERT INTO t, UPDATE t, DELETE FROM t, SELECT ... FROM t), so a word
 * reader is enough; no library parses DynamoDB's PartiQL dialect in C.
 * Anything it cannot read is "may write any table", the safe answer.
 */
#include "proto/partiql.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* The next word of s at *pos: letters, digits, _ - . or a "quoted" name. */
static bool next_word(const char *s, size_t len, size_t *pos, const char **w, size_t *wl)
{
    size_t i = *pos;
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    if (i < len && s[i] == '"') {
        size_t start = ++i;
        while (i < len && s[i] != '"')
            i++;
        if (i >= len) return false;
        *w = s + start;
        *wl = i - start;
        *pos = i + 1;
        return *wl > 0;
    }
    size_t start = i;
    while (i < len && (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-' || s[i] == '.'))
        i++;
    *w = s + start;
    *wl = i - start;
    *pos = i;
    return *wl > 0;
}

static bool word_is(const char *w, size_t wl, const char *kw)
{
    return strlen(kw) == wl && strncasecmp(w, kw, wl) == 0;
}

enum partiql_effect partiql_statement(const char *s, size_t len, const char **table,
                                      size_t *table_len)
{
    size_t pos = 0, n;
    const char *w;
    if (!next_word(s, len, &pos, &w, &n)) return PARTIQL_WRITES_ANY;
    if (word_is(w, n, "SELECT")) return PARTIQL_READS;
    bool ok = false;
    if (word_is(w, n, "INSERT") || word_is(w, n, "DELETE")) {
        const char *joiner = word_is(w, n, "INSERT") ? "INTO" : "FROM";
        ok = next_word(s, len, &pos, &w, &n) && word_is(w, n, joiner) &&
             next_word(s, len, &pos, &w, &n);
    } else if (word_is(w, n, "UPDATE")) {
        ok = next_word(s, len, &pos, &w, &n);
    }
    if (!ok) return PARTIQL_WRITES_ANY;
    *table = w;
    *table_len = n;
    return PARTIQL_WRITES;
}
