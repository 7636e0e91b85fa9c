/*
 * json.c: the arena tree built from yajl's callbacks, and the yajl_gen writer.
 */
#include "proto/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#include "util/common.h"
#include "util/log.h"

_Static_assert(JSON_MAX_DEPTH < YAJL_MAX_DEPTH, "jw_value must be able to write any parsed tree");

struct frame {
    struct json *node;
    struct json *last; /* last child so far */
};

struct builder {
    struct arena *arena;
    struct json *root;
    struct frame stack[JSON_MAX_DEPTH];
    int depth;
    const char *key; /* pending member name */
    size_t keylen;
    int error; /* a json_status when a callback stopped the parse */
};

static int has_duplicate(const struct json *obj, const char *key, size_t keylen)
{
    /* Objects in DynamoDB requests are small; items have at most a few hundred
     * attributes, where a linear check per member stays cheaper than hashing. */
    for (const struct json *c = obj->child; c; c = c->next)
        if (c->keylen == keylen && memcmp(c->key, key, keylen) == 0) return 1;
    return 0;
}

static struct json *add_node(struct builder *b, enum json_type type)
{
    struct json *n = arena_alloc(b->arena, sizeof(*n));
    memset(n, 0, sizeof(*n));
    n->type = type;
    if (b->depth == 0) {
        b->root = n;
        return n;
    }
    struct frame *f = &b->stack[b->depth - 1];
    if (f->node->type == JSON_OBJECT) {
        if (has_duplicate(f->node, b->key, b->keylen)) {
            b->error = JSON_EDUPLICATE;
            return NULL;
        }
        n->key = b->key;
        n->keylen = (uint32_t)b->keylen;
    }
    if (f->last)
        f->last->next = n;
    else
        f->node->child = n;
    f->last = n;
    f->node->len++;
    return n;
}

static int on_scalar(struct builder *b, enum json_type type, const char *s, size_t len)
{
    struct json *n = add_node(b, type);
    if (!n) return 0;
    if (s) {
        n->str = arena_strndup(b->arena, s, len);
        n->len = (uint32_t)len;
    }
    return 1;
}

static int cb_null(void *ctx)
{
    return on_scalar(ctx, JSON_NULL, NULL, 0);
}
static int cb_bool(void *ctx, int v)
{
    return on_scalar(ctx, v ? JSON_TRUE : JSON_FALSE, NULL, 0);
}
static int cb_number(void *ctx, const char *s, size_t len)
{
    return on_scalar(ctx, JSON_NUMBER, s, len);
}
static int cb_string(void *ctx, const unsigned char *s, size_t len)
{
    return on_scalar(ctx, JSON_STRING, (const char *)s, len);
}

static int open_container(struct builder *b, enum json_type type)
{
    if (b->depth == JSON_MAX_DEPTH) {
        b->error = JSON_EDEPTH;
        return 0;
    }
    struct json *n = add_node(b, type);
    if (!n) return 0;
    b->stack[b->depth++] = (struct frame){n, NULL};
    return 1;
}

static int cb_start_map(void *ctx)
{
    return open_container(ctx, JSON_OBJECT);
}
static int cb_start_array(void *ctx)
{
    return open_container(ctx, JSON_ARRAY);
}
static int cb_end(void *ctx)
{
    ((struct builder *)ctx)->depth--;
    return 1;
}
static int cb_map_key(void *ctx, const unsigned char *s, size_t len)
{
    struct builder *b = ctx;
    b->key = arena_strndup(b->arena, (const char *)s, len);
    b->keylen = len;
    return 1;
}

static const yajl_callbacks tree_callbacks = {cb_null,   cb_bool,        NULL,         NULL,
                                              cb_number, cb_string,      cb_start_map, cb_map_key,
                                              cb_end,    cb_start_array, cb_end};

/* ---- the fast path ----
 *
 * Most documents ddbx parses are plain ASCII without escapes (requests,
 * items, the backend's answers). For those a hand-written scanner builds the
 * same tree as the yajl path at a fraction of the cost (yajl was the largest
 * user-space cost of a 25-key BatchGetItem). It accepts only a strict subset
 * of JSON: strings of printable ASCII without backslashes, numbers in JSON's
 * grammar, the three literals, white space, nesting within JSON_MAX_DEPTH and
 * no duplicate member. Anything else (escapes, UTF-8, an error of any kind)
 * makes it give up, and yajl parses the document from the start and has the
 * last word, errors and messages included. fuzz_json checks that whatever
 * the fast path accepts, yajl accepts as the same tree. */

struct scan {
    struct arena *arena; /* NULL: validate only, build nothing */
    const char *p, *end;
    int depth;
    const char *key; /* the member name of the next node (NULL: none) */
    size_t keylen;
};

static void skip_ws(struct scan *s)
{
    s->p = json_skip_ws(s->p, s->end);
}

/* A string at s->p ('"'): its bytes are [*start, *start + *len). */
static bool scan_string(struct scan *s, const char **start, size_t *len)
{
    return json_plain_string(&s->p, s->end, start, len);
}

static bool scan_digits(struct scan *s)
{
    const char *p = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > p;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool scan_number(struct scan *s)
{
    if (s->p < s->end && *s->p == '-') s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (!(s->p < s->end && *s->p >= '1' && *s->p <= '9') || !scan_digits(s))
        return false;
    if (s->p < s->end && *s->p == '.' && (s->p++, !scan_digits(s))) return false;
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-')) s->p++;
        if (!scan_digits(s)) return false;
    }
    return true;
}

static bool scan_literal(struct scan *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) return false;
    s->p += n;
    return true;
}

/* Copies len bytes and a NUL to *at; returns the copy and moves *at on. */
static char *put_text(char **at, const char *text, size_t len)
{
    char *copy = *at;
    memcpy(copy, text, len);
    copy[len] = '\0';
    *at += len + 1;
    return copy;
}

/* A node, in one arena allocation with its member name (s->key, taken) and,
 * for a string or number, its text (len bytes at text); both NUL-terminated. */
static struct json *scan_node(struct scan *s, enum json_type type, const char *text, size_t len)
{
    const char *key = s->key;
    s->key = NULL;
    if (!s->arena) return NULL;
    size_t extra = (key ? s->keylen + 1 : 0) + (text ? len + 1 : 0);
    struct json *n = arena_alloc(s->arena, sizeof(*n) + extra);
    *n = (struct json){.type = type};
    char *at = (char *)(n + 1);
    if (key) {
        n->key = put_text(&at, key, s->keylen);
        n->keylen = (uint32_t)s->keylen;
    }
    if (text) {
        n->str = put_text(&at, text, len);
        n->len = (uint32_t)len;
    }
    return n;
}

static bool scan_value(struct scan *s, struct json **out);

/* Members or elements up to the closing bracket; s->p is past the opening one. */
static bool scan_container(struct scan *s, struct json *n, bool object)
{
    struct json *last = NULL;
    uint32_t count = 0;
    skip_ws(s);
    if (s->p < s->end && *s->p == (object ? '}' : ']')) {
        s->p++;
        return true;
    }
    for (;;) {
        const char *key = NULL;
        size_t keylen = 0;
        if (object) {
            if (s->p >= s->end || *s->p != '"' || !scan_string(s, &key, &keylen)) return false;
            if (n && has_duplicate(n, key, keylen)) return false;
            skip_ws(s);
            if (s->p >= s->end || *s->p++ != ':') return false;
        }
        struct json *v;
        s->key = object ? key : NULL; /* scan_node stores it with the value */
        s->keylen = keylen;
        if (!scan_value(s, &v)) return false;
        if (n) {
            if (last)
                last->next = v;
            else
                n->child = v;
            last = v;
            n->len = ++count;
        }
        skip_ws(s);
        if (s->p >= s->end) return false;
        char c = *s->p++;
        if (c == (object ? '}' : ']')) return true;
        if (c != ',') return false;
        skip_ws(s);
    }
}

static bool scan_value(struct scan *s, struct json **out)
{
    skip_ws(s);
    *out = NULL;
    if (s->p >= s->end) return false;
    const char *start = s->p;
    size_t len;
    switch (*s->p) {
    case '{':
    case '[': {
        bool object = *s->p == '{';
        if (s->depth == JSON_MAX_DEPTH) return false;
        s->p++;
        s->depth++;
        *out = scan_node(s, object ? JSON_OBJECT : JSON_ARRAY, NULL, 0);
        bool ok = scan_container(s, *out, object);
        s->depth--;
        return ok;
    }
    case '"':
        if (!scan_string(s, &start, &len)) return false;
        *out = scan_node(s, JSON_STRING, start, len);
        return true;
    case 't': *out = scan_node(s, JSON_TRUE, NULL, 0); return scan_literal(s, "true", 4);
    case 'f': *out = scan_node(s, JSON_FALSE, NULL, 0); return scan_literal(s, "false", 5);
    case 'n': *out = scan_node(s, JSON_NULL, NULL, 0); return scan_literal(s, "null", 4);
    default:
        if (!scan_number(s)) return false;
        *out = scan_node(s, JSON_NUMBER, start, (size_t)(s->p - start));
        return true;
    }
}

/* The whole document: one value and white space. */
static bool scan_document(struct scan *s, struct json **root)
{
    if (!scan_value(s, root)) return false;
    skip_ws(s);
    return s->p == s->end;
}

int json__parse_fast(struct arena *a, const char *data, size_t len, struct json **out)
{
    struct scan s = {a, data, data + len, 0};
    return scan_document(&s, out) ? 1 : 0;
}

static void describe_error(yajl_handle h, const char *data, size_t len, int status, char *err,
                           size_t errlen)
{
    if (!err || !errlen) return;
    if (status == JSON_EDEPTH) {
        snprintf(err, errlen, "JSON nesting deeper than %d levels", JSON_MAX_DEPTH);
    } else if (status == JSON_EDUPLICATE) {
        snprintf(err, errlen, "Duplicate field name in JSON object");
    } else {
        unsigned char *msg = yajl_get_error(h, 0, (const unsigned char *)data, len);
        snprintf(err, errlen, "%s", msg ? (const char *)msg : "invalid JSON");
        /* yajl ends its message with a newline */
        size_t n = strlen(err);
        while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
            err[--n] = '\0';
        if (msg) yajl_free_error(h, msg);
    }
}

/* yajl's own allocations come from the arena too, so a parse calls malloc
 * only when the arena grows. Each block records its size for realloc. */
static void *arena_malloc(void *ctx, size_t n)
{
    size_t *p = arena_alloc(ctx, n + sizeof(size_t) * 2);
    p[0] = n;
    return p + 2;
}

static void *arena_realloc(void *ctx, void *old, size_t n)
{
    void *p = arena_malloc(ctx, n);
    if (old) memcpy(p, old, MIN(n, ((size_t *)old)[-2]));
    return p;
}

static void arena_nofree(void *ctx, void *p) {}

int json_parse(struct arena *a, const char *data, size_t len, struct json **out, char *err,
               size_t errlen)
{
    if (json__parse_fast(a, data, len, out)) return JSON_OK;
    return json__parse_yajl(a, data, len, out, err, errlen);
}

int json__parse_yajl(struct arena *a, const char *data, size_t len, struct json **out, char *err,
                     size_t errlen)
{
    struct builder *b = arena_alloc(a, sizeof(*b));
    memset(b, 0, sizeof(*b));
    b->arena = a;
    yajl_alloc_funcs afs = {arena_malloc, arena_realloc, arena_nofree, a};
    yajl_handle h = yajl_alloc(&tree_callbacks, &afs, b);
    yajl_status st = yajl_parse(h, (const unsigned char *)data, len);
    if (st == yajl_status_ok) st = yajl_complete_parse(h);
    int rc = JSON_OK;
    if (st != yajl_status_ok) {
        rc = b->error ? b->error : JSON_EINVALID;
        describe_error(h, data, len, rc, err, errlen);
    } else if (!b->root) {
        rc = JSON_EINVALID;
        if (err) snprintf(err, errlen, "empty document");
    }
    yajl_free(h);
    *out = rc == JSON_OK ? b->root : NULL;
    return rc;
}

struct validator {
    int depth;
    int top; /* type of the top-level value: 1 object, 2 other */
};

static int v_scalar(struct validator *v)
{
    if (v->depth == 0) v->top = 2;
    return 1;
}
static int v_null(void *c)
{
    return v_scalar(c);
}
static int v_bool(void *c, int b)
{
    return v_scalar(c);
}
static int v_num(void *c, const char *s, size_t l)
{
    return v_scalar(c);
}
static int v_str(void *c, const unsigned char *s, size_t l)
{
    return v_scalar(c);
}
static int v_key(void *c, const unsigned char *s, size_t l)
{
    return 1;
}
static int v_open(struct validator *v, int is_map)
{
    if (v->depth == 0) v->top = is_map ? 1 : 2;
    return ++v->depth <= JSON_MAX_DEPTH;
}
static int v_map(void *c)
{
    return v_open(c, 1);
}
static int v_arr(void *c)
{
    return v_open(c, 0);
}
static int v_end(void *c)
{
    ((struct validator *)c)->depth--;
    return 1;
}

static const yajl_callbacks validate_callbacks = {v_null, v_bool, NULL,  NULL,  v_num, v_str,
                                                  v_map,  v_key,  v_end, v_arr, v_end};

int json_validate_object(const char *data, size_t len)
{
    struct scan s = {NULL, data, data + len, 0};
    const char *first = data;
    while (first < s.end && (*first == ' ' || *first == '\n' || *first == '\r' || *first == '\t'))
        first++;
    struct json *ignored;
    if (first < s.end && *first == '{' && scan_document(&s, &ignored)) return JSON_OK;
    struct validator v = {0, 0};
    yajl_handle h = yajl_alloc(&validate_callbacks, NULL, &v);
    yajl_status st = yajl_parse(h, (const unsigned char *)data, len);
    if (st == yajl_status_ok) st = yajl_complete_parse(h);
    yajl_free(h);
    return st == yajl_status_ok && v.top == 1 ? JSON_OK : JSON_EINVALID;
}

const struct json *json_getn(const struct json *obj, const char *key, size_t keylen)
{
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    for (const struct json *c = obj->child; c; c = c->next)
        if (c->keylen == keylen && memcmp(c->key, key, keylen) == 0) return c;
    return NULL;
}

const struct json *json_get(const struct json *obj, const char *key)
{
    return json_getn(obj, key, strlen(key));
}

bool json_equal(const struct json *a, const struct json *b)
{
    if (!a || !b) return a == b;
    if (a->type != b->type || a->len != b->len) return false;
    switch (a->type) {
    case JSON_NULL:
    case JSON_TRUE:
    case JSON_FALSE: return true;
    case JSON_NUMBER:
    case JSON_STRING: return memcmp(a->str, b->str, a->len) == 0;
    case JSON_ARRAY:
        for (a = a->child, b = b->child; a && b; a = a->next, b = b->next)
            if (!json_equal(a, b)) return false;
        return true;
    case JSON_OBJECT:
        for (const struct json *c = a->child; c; c = c->next)
            if (!json_equal(c, json_getn(b, c->key, c->keylen))) return false;
        return true;
    }
    return false;
}

/* ---- writer ---- */

static void print_cb(void *ctx, const char *s, size_t len)
{
    buf_append(ctx, s, len);
}

static void check(yajl_gen_status st)
{
    if (st != yajl_gen_status_ok) {
        log_error("json writer misuse (yajl_gen status %d)", (int)st);
        abort();
    }
}

bool json_append_plain_string(struct buf *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\') return false;
    buf_reserve(out, len + 2);
    buf_append_char(out, '"');
    buf_append(out, s, len);
    buf_append_char(out, '"');
    return true;
}

void jw_init(struct json_writer *w, struct buf *out)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    yajl_gen_config(g, yajl_gen_print_callback, print_cb, out);
    w->gen = g;
    w->out = out;
}

void jw_free(struct json_writer *w)
{
    if (w->gen) yajl_gen_free(w->gen);
    w->gen = NULL;
}

void jw_object_begin(struct json_writer *w)
{
    check(yajl_gen_map_open(w->gen));
}
void jw_object_end(struct json_writer *w)
{
    check(yajl_gen_map_close(w->gen));
}
void jw_array_begin(struct json_writer *w)
{
    check(yajl_gen_array_open(w->gen));
}
void jw_array_end(struct json_writer *w)
{
    check(yajl_gen_array_close(w->gen));
}
void jw_string(struct json_writer *w, const char *s, size_t len)
{
    check(yajl_gen_string(w->gen, (const unsigned char *)s, len));
}
void jw_cstr(struct json_writer *w, const char *s)
{
    jw_string(w, s, strlen(s));
}
void jw_number_raw(struct json_writer *w, const char *s, size_t len)
{
    check(yajl_gen_number(w->gen, s, len));
}
void jw_double(struct json_writer *w, double d)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%.17g", d);
    /* DynamoDB writes capacity units as 0.5, 1.0: keep a decimal point */
    if (!strpbrk(tmp, ".eE")) n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, ".0");
    jw_number_raw(w, tmp, (size_t)n);
}
void jw_bool(struct json_writer *w, bool b)
{
    check(yajl_gen_bool(w->gen, b));
}

void jw_value(struct json_writer *w, const struct json *v)
{
    switch (v->type) {
    case JSON_NULL: check(yajl_gen_null(w->gen)); break;
    case JSON_TRUE: jw_bool(w, true); break;
    case JSON_FALSE: jw_bool(w, false); break;
    case JSON_NUMBER: jw_number_raw(w, v->str, v->len); break;
    case JSON_STRING: jw_string(w, v->str, v->len); break;
    case JSON_ARRAY:
        jw_array_begin(w);
        for (const struct json *c = v->child; c; c = c->next)
            jw_value(w, c);
        jw_array_end(w);
        break;
    case JSON_OBJECT:
        jw_object_begin(w);
        for (const struct json *c = v->child; c; c = c->next)
            jw_member(w, c);
        jw_object_end(w);
        break;
    }
}

void jw_member(struct json_writer *w, const struct json *member)
{
    jw_string(w, member->key, member->keylen);
    jw_value(w, member);
}
