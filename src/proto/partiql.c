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

/* ---- the table a statement names, for grants ---- */

enum ptok { PT_END, PT_WORD, PT_QUOTED, PT_STRING, PT_PUNCT, PT_BAD };

struct pscan {
    const char *s;
    size_t len, pos;
    const char *tok; /* the token (a quoted name without its quotes) */
    size_t toklen;
};

static bool word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* The next token. Comments, backticks, a quoted name holding an escaped
 * quote and an unterminated quote are PT_BAD: ddbx reads none of them. */
static enum ptok pnext(struct pscan *p)
{
    const char *s = p->s;
    size_t i = p->pos;
    while (i < p->len && isspace((unsigned char)s[i]))
        i++;
    if (i == p->len) return PT_END;
    char c = s[i];
    if (c == '"' || c == '\'') {
        size_t start = ++i;
        for (;; i++) {
            if (i >= p->len) return PT_BAD;
            if (s[i] != c) continue;
            if (i + 1 < p->len && s[i + 1] == c) { /* an escaped quote */
                if (c == '"') return PT_BAD;
                i++;
                continue;
            }
            break;
        }
        p->tok = s + start;
        p->toklen = i - start;
        p->pos = i + 1;
        return c == '"' ? (p->toklen ? PT_QUOTED : PT_BAD) : PT_STRING;
    }
    if (c == '`' || (c == '-' && i + 1 < p->len && s[i + 1] == '-') ||
        (c == '/' && i + 1 < p->len && s[i + 1] == '*'))
        return PT_BAD;
    p->tok = s + i;
    if (word_char(c)) {
        while (i < p->len && word_char(s[i]))
            i++;
    } else {
        i++;
    }
    p->toklen = (size_t)(s + i - p->tok);
    p->pos = i;
    return word_char(c) ? PT_WORD : PT_PUNCT;
}

static bool tok_is(const struct pscan *p, enum ptok t, const char *kw)
{
    return t == PT_WORD && word_is(p->tok, p->toklen, kw);
}

/* True when the name just read ends where a name may end: a bare name
 * followed at once by '-' or '$' (my-table) might be one name to the
 * backend and another to ddbx. */
static bool name_ends(const struct pscan *p)
{
    if (p->pos == p->len) return true;
    char c = p->s[p->pos];
    return isspace((unsigned char)c) || c == '.' || c == ')' || c == ';';
}

/* After the table's name: an optional ."index" or .index. */
static bool skip_index(struct pscan *p)
{
    if (!name_ends(p)) return false;
    size_t save = p->pos;
    enum ptok t = pnext(p);
    if (t != PT_PUNCT || p->tok[0] != '.') {
        p->pos = save;
        return true;
    }
    t = pnext(p);
    return (t == PT_WORD || t == PT_QUOTED) && name_ends(p) &&
           (p->pos == p->len || p->s[p->pos] != '.');
}

int partiql_table(const char *s, size_t len, const char **table, size_t *table_len)
{
    struct pscan p = {s, len, 0, NULL, 0};
    enum ptok t = pnext(&p);
    if (tok_is(&p, t, "EXISTS")) { /* ExecuteTransaction's condition check */
        t = pnext(&p);
        if (t != PT_PUNCT || p.tok[0] != '(') return -1;
        t = pnext(&p);
    }
    const char *stop = NULL; /* the word before the table */
    if (tok_is(&p, t, "SELECT")) {
        while ((t = pnext(&p)) != PT_END && t != PT_BAD && !tok_is(&p, t, "FROM"))
            if (tok_is(&p, t, "SELECT")) return -1;
        stop = "FROM";
    } else if (tok_is(&p, t, "INSERT")) {
        t = pnext(&p);
        stop = "INTO";
    } else if (tok_is(&p, t, "DELETE")) {
        t = pnext(&p);
        stop = "FROM";
    } else if (tok_is(&p, t, "UPDATE")) {
        stop = "UPDATE";
    }
    if (!stop || !tok_is(&p, t, stop)) return -1;
    t = pnext(&p);
    if (t != PT_WORD && t != PT_QUOTED) return -1;
    *table = p.tok;
    *table_len = p.toklen;
    if (!skip_index(&p)) return -1;
    /* the rest may hold no second statement or table */
    while ((t = pnext(&p)) != PT_END)
        if (t == PT_BAD || tok_is(&p, t, "SELECT") || tok_is(&p, t, "FROM") ||
            tok_is(&p, t, "INTO"))
            return -1;
    return 0;
}
