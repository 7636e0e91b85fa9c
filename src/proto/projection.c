/*
 * projection.c: parsing projection expressions into a tree of paths, and
 * writing the projected item. Hand-written because the expression grammar is
 * DynamoDB's own; only its document-path subset is handled.
 *
 * The tree: each node is a map member (name) or a list element (index);
 * `whole` marks the end of a path, which takes the whole value there.
 */
#include "proto/projection.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/attr.h"
#include "util/common.h"

struct pnode {
    const char *name; /* NULL for a list element */
    size_t len;
    long index;
    bool whole;
    struct pnode *children; /* kept sorted by index for list elements */
    struct pnode *next;
};

struct projection {
    struct pnode root;
};

static const char *reserved[] = {
#define WORD(w) w,
#include "reserved_words.def"
#undef WORD
};
static pthread_once_t reserved_once = PTHREAD_ONCE_INIT;

static int cmp_word(const void *a, const void *b)
{
    return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

static void sort_reserved(void)
{
    qsort(reserved, ARRAY_SIZE(reserved), sizeof(reserved[0]), cmp_word);
}

bool projection_inside(const struct projection *p, const char *name, size_t len)
{
    for (const struct pnode *c = p ? p->root.children : NULL; c; c = c->next)
        if (c->name && c->len == len && memcmp(c->name, name, len) == 0) return c->children != NULL;
    return false;
}

bool projection_is_reserved(const char *s, size_t len)
{
    char word[64];
    if (len >= sizeof(word)) return false;
    memcpy(word, s, len);
    word[len] = '\0';
    const char *key = word;
    pthread_once(&reserved_once, sort_reserved);
    return bsearch(&key, reserved, ARRAY_SIZE(reserved), sizeof(reserved[0]), cmp_word) != NULL;
}

/* Finds or adds a child; returns NULL when the paths overlap or conflict. */
static struct pnode *child(struct arena *a, struct pnode *parent, const char *name, size_t len,
                           long index)
{
    if (parent->whole) return NULL; /* a path ends above this one: overlap */
    struct pnode **link = &parent->children;
    for (; *link; link = &(*link)->next) {
        struct pnode *c = *link;
        if ((c->name == NULL) != (name == NULL)) return NULL; /* map and list: conflict */
        if (name && c->len == len && memcmp(c->name, name, len) == 0) return c;
        if (!name && c->index == index) return c;
        if (!name && c->index > index) break;
    }
    struct pnode *n = arena_alloc(a, sizeof(*n));
    memset(n, 0, sizeof(*n));
    n->name = name;
    n->len = len;
    n->index = index;
    n->next = *link;
    *link = n;
    return n;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

struct parser {
    struct arena *a;
    const char *s;
    size_t len, pos;
    const struct json *names;
    bool *used; /* per member of names */
};

/* Reads a name token (bare or #placeholder); sets name and len. */
static int read_name(struct parser *p, const char **name, size_t *len)
{
    size_t start = p->pos;
    if (p->pos < p->len && p->s[p->pos] == '#') {
        p->pos++;
        while (p->pos < p->len &&
               (is_alpha(p->s[p->pos]) || is_digit(p->s[p->pos]) || p->s[p->pos] == '_'))
            p->pos++;
        if (p->pos - start < 2) return PROJECTION_RELAY;
        int i = 0;
        for (const struct json *m = p->names ? p->names->child : NULL; m; m = m->next, i++) {
            if (m->keylen == p->pos - start && memcmp(m->key, p->s + start, m->keylen) == 0) {
                if (m->type != JSON_STRING || m->len == 0) return PROJECTION_RELAY;
                p->used[i] = true;
                *name = m->str;
                *len = m->len;
                return PROJECTION_OK;
            }
        }
        return PROJECTION_RELAY; /* undefined #name: the backend's error */
    }
    if (p->pos >= p->len || !is_alpha(p->s[p->pos])) return PROJECTION_RELAY;
    while (p->pos < p->len &&
           (is_alpha(p->s[p->pos]) || is_digit(p->s[p->pos]) || p->s[p->pos] == '_'))
        p->pos++;
    *name = p->s + start;
    *len = p->pos - start;
    return projection_is_reserved(*name, *len) ? PROJECTION_RELAY : PROJECTION_OK;
}

static int read_path(struct parser *p, struct pnode *root)
{
    const char *name;
    size_t len;
    if (read_name(p, &name, &len) != PROJECTION_OK) return PROJECTION_RELAY;
    struct pnode *node = child(p->a, root, name, len, -1);
    while (node && p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == '.') {
            p->pos++;
            if (read_name(p, &name, &len) != PROJECTION_OK) return PROJECTION_RELAY;
            node = child(p->a, node, name, len, -1);
        } else if (c == '[') {
            p->pos++;
            long idx = 0;
            size_t digits = 0;
            while (p->pos < p->len && is_digit(p->s[p->pos]) && digits < 9)
                idx = idx * 10 + (p->s[p->pos++] - '0'), digits++;
            if (!digits || p->pos >= p->len || p->s[p->pos] != ']') return PROJECTION_RELAY;
            p->pos++;
            node = child(p->a, node, NULL, 0, idx);
        } else {
            break;
        }
    }
    if (!node || node->whole || node->children) return PROJECTION_RELAY; /* overlap */
    node->whole = true;
    return PROJECTION_OK;
}

int projection_parse(struct arena *a, const char *expr, size_t len, const struct json *names,
                     struct projection **out)
{
    if (len == 0 || len > EXPRESSION_MAX_BYTES) return PROJECTION_RELAY;
    if (names && (names->type != JSON_OBJECT || names->len == 0)) return PROJECTION_RELAY;
    struct projection *proj = arena_alloc(a, sizeof(*proj));
    memset(proj, 0, sizeof(*proj));
    struct parser p = {a, expr, len, 0, names, NULL};
    size_t nnames = names ? names->len : 0;
    p.used = arena_alloc(a, nnames + 1);
    memset(p.used, 0, nnames + 1);
    for (;;) {
        while (p.pos < len && is_space(expr[p.pos]))
            p.pos++;
        if (read_path(&p, &proj->root) != PROJECTION_OK) return PROJECTION_RELAY;
        while (p.pos < len && is_space(expr[p.pos]))
            p.pos++;
        if (p.pos == len) break;
        if (expr[p.pos++] != ',') return PROJECTION_RELAY;
    }
    for (size_t i = 0; i < nnames; i++)
        if (!p.used[i]) return PROJECTION_RELAY; /* unused #name: the backend's error */
    *out = proj;
    return PROJECTION_OK;
}

int projection_from_names(struct arena *a, const struct json *list, struct projection **out)
{
    if (!json_is_array(list) || list->len == 0) return PROJECTION_RELAY;
    struct projection *proj = arena_alloc(a, sizeof(*proj));
    memset(proj, 0, sizeof(*proj));
    for (const struct json *e = list->child; e; e = e->next) {
        if (e->type != JSON_STRING || e->len == 0) return PROJECTION_RELAY;
        struct pnode *n = child(a, &proj->root, e->str, e->len, -1);
        if (!n || n->whole) return PROJECTION_RELAY; /* duplicate name: the backend's error */
        n->whole = true;
    }
    *out = proj;
    return PROJECTION_OK;
}

/* ---- applying ---- */

static const struct json *nth(const struct json *list, long i)
{
    const struct json *e = list->child;
    while (e && i-- > 0)
        e = e->next;
    return e;
}

/* True when some path under `node` exists in the AttributeValue `v`. */
static bool matches(const struct pnode *node, const struct json *v)
{
    if (node->whole) return true;
    const struct json *m = attr_type_member(v);
    if (!m) return false;
    for (const struct pnode *c = node->children; c; c = c->next) {
        const struct json *sub = NULL;
        if (c->name && m->keylen == 1 && m->key[0] == 'M' && m->type == JSON_OBJECT)
            sub = json_getn(m, c->name, c->len);
        else if (!c->name && m->keylen == 1 && m->key[0] == 'L' && m->type == JSON_ARRAY)
            sub = nth(m, c->index);
        if (sub && matches(c, sub)) return true;
    }
    return false;
}

static void write_value(const struct pnode *node, const struct json *v, struct json_writer *w)
{
    if (node->whole) {
        jw_value(w, v);
        return;
    }
    const struct json *m = attr_type_member(v);
    jw_object_begin(w);
    jw_string(w, m->key, m->keylen);
    if (m->key[0] == 'M') {
        jw_object_begin(w);
        /* members in the item's order, as the whole-value case keeps them */
        for (const struct json *e = m->child; e; e = e->next)
            for (const struct pnode *c = node->children; c; c = c->next)
                if (c->len == e->keylen && memcmp(c->name, e->key, c->len) == 0 && matches(c, e)) {
                    jw_string(w, e->key, e->keylen);
                    write_value(c, e, w);
                }
        jw_object_end(w);
    } else {
        jw_array_begin(w);
        for (const struct pnode *c = node->children; c; c = c->next) {
            const struct json *e = nth(m, c->index);
            if (e && matches(c, e)) write_value(c, e, w);
        }
        jw_array_end(w);
    }
    jw_object_end(w);
}

void projection_apply(const struct projection *p, const struct json *item, struct json_writer *w)
{
    jw_object_begin(w);
    for (const struct json *a = item ? item->child : NULL; a; a = a->next)
        for (const struct pnode *c = p->root.children; c; c = c->next)
            if (c->len == a->keylen && memcmp(c->name, a->key, c->len) == 0 && matches(c, a)) {
                jw_string(w, a->key, a->keylen);
                write_value(c, a, w);
            }
    jw_object_end(w);
}
