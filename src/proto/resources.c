/*
 * resources.c: walks a request's body along the paths proto/grants.tsv gives
 * its operation and lists the tables found there (see resources.h). The path
 * language is the table's own (a few characters: '.', [], *, {}), read here
 * because it is ddbx's; member names are matched case-insensitively, so a
 * spelling the backend might accept is never one ddbx overlooks.
 */
#include "proto/resources.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "proto/partiql.h"

static const struct {
    const char *name;
    const char *spec;
} rows[] = {
#define GRANT(name, resources) {#name, resources},
#include "grants.def"
#undef GRANT
};

static const char *spec_of[OP_COUNT];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void index_rows(void)
{
    for (int op = 0; op < OP_COUNT; op++)
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
            if (strcmp(rows[i].name, ops_get((enum op_id)op)->name) == 0)
                spec_of[op] = rows[i].spec;
}

const char *ddb_resources_spec(enum op_id op)
{
    pthread_once(&once, index_rows);
    return spec_of[op];
}

bool ddb_table_arn(const char *s, size_t len, size_t *len_out)
{
    const char *p = s, *end = s + len, *field[5];
    size_t flen[5];
    for (int i = 0; i < 5; i++) {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (!colon) return false;
        field[i] = p;
        flen[i] = (size_t)(colon - p);
        p = colon + 1;
    }
    if (flen[0] != 3 || memcmp(field[0], "arn", 3) != 0 || flen[1] == 0 || flen[2] != 8 ||
        memcmp(field[2], "dynamodb", 8) != 0)
        return false;
    if ((size_t)(end - p) <= 6 || memcmp(p, "table/", 6) != 0) return false;
    const char *name = p + 6, *slash = memchr(name, '/', (size_t)(end - name));
    const char *name_end = slash ? slash : end;
    if (name_end == name) return false;
    *len_out = (size_t)(name_end - s);
    return true;
}

/* ---- walking ---- */

enum kind { K_TABLE, K_ARN, K_PARTIQL, K_ITERATOR };

struct walk {
    struct arena *a;
    struct ddb_reached *out;
    int cap;
    bool unreadable;
};

static void add(struct walk *w, const char *s, size_t len, bool arn)
{
    if (w->out->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 8;
        struct ddb_table_ref *t = arena_alloc(w->a, (size_t)cap * sizeof(*t));
        if (w->out->n) memcpy(t, w->out->tables, (size_t)w->out->n * sizeof(*t));
        w->out->tables = t;
        w->cap = cap;
    }
    w->out->tables[w->out->n++] = (struct ddb_table_ref){s, len, arn};
}

static bool is_arn(const char *s, size_t len)
{
    return len >= 4 && memcmp(s, "arn:", 4) == 0;
}

/* A name as a TableName gives it: a plain name, or an ARN of the table. */
static void add_table(struct walk *w, const char *s, size_t len)
{
    size_t n;
    if (!is_arn(s, len))
        len ? add(w, s, len, false) : (void)(w->unreadable = true);
    else if (ddb_table_arn(s, len, &n))
        add(w, s, n, true);
    else
        w->unreadable = true;
}

static void add_value(struct walk *w, enum kind k, const char *s, size_t len)
{
    const char *t;
    size_t n;
    if (k == K_TABLE) {
        add_table(w, s, len);
    } else if (k == K_PARTIQL) {
        if (partiql_table(s, len, &t, &n) == 0)
            add_table(w, t, n);
        else
            w->unreadable = true;
    } else {
        const char *bar = k == K_ITERATOR ? memchr(s, '|', len) : NULL;
        if (bar) len = (size_t)(bar - s); /* an iterator starts with its stream's ARN */
        if (ddb_table_arn(s, len, &n))
            add(w, s, n, true);
        else
            w->unreadable = true;
    }
}

/* One segment of a path: the text up to the next '.' (or the end). */
struct seg {
    const char *p;
    size_t n;
};

static bool seg_next(const char **path, const char *end, struct seg *s)
{
    if (*path >= end) return false;
    const char *dot = memchr(*path, '.', (size_t)(end - *path));
    const char *e = dot ? dot : end;
    *s = (struct seg){*path, (size_t)(e - *path)};
    *path = dot ? dot + 1 : end;
    return true;
}

static bool seg_is(struct seg s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

static void walk(struct walk *w, const struct json *v, const char *path, const char *end,
                 enum kind k);

/* Every element of an array (anything else names nothing the backend accepts). */
static void walk_elements(struct walk *w, const struct json *v, const char *path, const char *end,
                          enum kind k)
{
    if (!json_is_array(v)) return;
    for (const struct json *e = v->child; e; e = e->next)
        walk(w, e, path, end, k);
}

static void walk(struct walk *w, const struct json *v, const char *path, const char *end,
                 enum kind k)
{
    struct seg s;
    if (!seg_next(&path, end, &s)) { /* the value itself names a table */
        if (json_is_string(v))
            add_value(w, k, v->str, v->len);
        else
            w->unreadable = true;
        return;
    }
    if (!json_is_object(v)) return;
    if (seg_is(s, "{}")) {
        for (const struct json *m = v->child; m; m = m->next)
            add_value(w, k, m->key, m->keylen);
        return;
    }
    bool each = s.n > 2 && memcmp(s.p + s.n - 2, "[]", 2) == 0;
    size_t name_len = each ? s.n - 2 : s.n;
    for (const struct json *m = v->child; m; m = m->next) {
        if (!seg_is(s, "*") && (m->keylen != name_len || strncasecmp(m->key, s.p, name_len) != 0 ||
                                memchr(m->key, '\0', m->keylen)))
            continue;
        if (each)
            walk_elements(w, m, path, end, k);
        else
            walk(w, m, path, end, k);
    }
}

static enum kind kind_of(const char *s, size_t n)
{
    static const struct {
        const char *name;
        enum kind k;
    } kinds[] = {{"arn", K_ARN}, {"partiql", K_PARTIQL}, {"iterator", K_ITERATOR}};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (n == strlen(kinds[i].name) && memcmp(s, kinds[i].name, n) == 0) return kinds[i].k;
    return K_TABLE;
}

int ddb_resources(struct arena *a, enum op_id op, const struct json *doc, struct ddb_reached *out)
{
    const char *spec = ddb_resources_spec(op);
    *out = (struct ddb_reached){NULL, 0};
    if (!spec) return DDB_REACH_UNREADABLE; /* a row missing from grants.tsv: a test catches it */
    if (strcmp(spec, "open") == 0) return DDB_REACH_OPEN;
    struct walk w = {a, out, 0, false};
    for (const char *p = spec; *p;) {
        const char *sp = strchr(p, ' '), *e = sp ? sp : p + strlen(p);
        const char *colon = memchr(p, ':', (size_t)(e - p));
        if (!(e - p == 1 && *p == '-'))
            walk(&w, doc, p, colon ? colon : e,
                 colon ? kind_of(colon + 1, (size_t)(e - colon - 1)) : K_TABLE);
        p = sp ? sp + 1 : e;
    }
    if (w.unreadable) {
        out->n = 0;
        return DDB_REACH_UNREADABLE;
    }
    return out->n ? DDB_REACH_TABLES : DDB_REACH_ACCOUNT;
}
