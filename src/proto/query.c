/*
 * query.c: table descriptions, canonical Query/Scan keys, the partition a
 * Query reads and the partitions an item belongs to.
 *
 * The canonical key is written by hand because it is DynamoDB's notion of
 * "the same request" (numbers as decimal values, binaries as bytes, maps as
 * unordered): no JSON canonicalisation library knows AttributeValues. Each
 * piece is a tag byte and length-prefixed bytes, so no two different
 * requests can write the same key.
 */
#include "proto/query.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/attr.h"
#include "proto/number.h"
#include "proto/projection.h"
#include "util/common.h"

/* ---- table descriptions ---- */

/* The type AttributeDefinitions gives `name`, or 0. */
static char defined_type(const struct json *defs, const struct json *name)
{
    for (const struct json *d = defs->child; d; d = d->next) {
        const struct json *n = json_get(d, "AttributeName"), *t = json_get(d, "AttributeType");
        if (json_is_string(n) && json_is_string(t) && n->len == name->len &&
            memcmp(n->str, name->str, n->len) == 0 && t->len == 1 && strchr("SNB", t->str[0]))
            return t->str[0];
    }
    return 0;
}

static int parse_key_schema(const struct json *ks, const struct json *defs, struct query_index *ix)
{
    if (!json_is_array(ks) || ks->len < 1 || ks->len > 2) return QUERY_EINVALID;
    for (const struct json *k = ks->child; k; k = k->next) {
        const struct json *an = json_get(k, "AttributeName"), *kt = json_get(k, "KeyType");
        if (!json_is_string(an) || an->len == 0) return QUERY_EINVALID;
        struct key_attr *slot = json_str_is(kt, "HASH")    ? &ix->hash
                                : json_str_is(kt, "RANGE") ? &ix->range
                                                           : NULL;
        char type = defined_type(defs, an);
        if (!slot || slot->name || !type) return QUERY_EINVALID;
        slot->name = an->str;
        slot->len = an->len;
        slot->type = type;
    }
    return ix->hash.name ? QUERY_OK : QUERY_EINVALID;
}

static enum query_projection projection_type(const struct json *projection)
{
    const struct json *t = json_get(projection, "ProjectionType");
    if (json_str_is(t, "KEYS_ONLY")) return QUERY_PROJECT_KEYS_ONLY;
    if (json_str_is(t, "INCLUDE")) return QUERY_PROJECT_INCLUDE;
    return QUERY_PROJECT_ALL;
}

static int parse_indexes(const struct json *list, const struct json *defs,
                         enum query_index_kind kind, struct query_table *t)
{
    if (!list) return QUERY_OK;
    if (!json_is_array(list)) return QUERY_EINVALID;
    for (const struct json *d = list->child; d; d = d->next) {
        const struct json *name = json_get(d, "IndexName");
        if (!json_is_string(name) || name->len == 0 || t->nindexes == QUERY_MAX_INDEXES)
            return QUERY_EINVALID;
        if (query_table_index(t, name->str, name->len) >= 0) return QUERY_EINVALID;
        struct query_index *ix = &t->index[t->nindexes];
        memset(ix, 0, sizeof(*ix));
        ix->kind = kind;
        ix->name = name->str;
        ix->name_len = name->len;
        ix->projection = projection_type(json_get(d, "Projection"));
        if (parse_key_schema(json_get(d, "KeySchema"), defs, ix) != QUERY_OK) return QUERY_EINVALID;
        /* an LSI shares the table's partition key: the rule of
         * docs/QUERY_CACHE.md relies on it, so check rather than assume */
        const struct key_attr *base = &t->index[0].hash;
        if (kind == QUERY_INDEX_LSI &&
            (ix->hash.len != base->len || memcmp(ix->hash.name, base->name, base->len) != 0))
            return QUERY_EINVALID;
        t->nindexes++;
    }
    return QUERY_OK;
}

static enum query_stream_view stream_view(const struct json *spec)
{
    static const char *const views[] = {"KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE",
                                        "NEW_AND_OLD_IMAGES"};
    const struct json *enabled = json_get(spec, "StreamEnabled");
    if (!enabled || enabled->type != JSON_TRUE) return QUERY_STREAM_NONE;
    const struct json *v = json_get(spec, "StreamViewType");
    for (size_t i = 0; i < ARRAY_SIZE(views); i++)
        if (json_str_is(v, views[i])) return (enum query_stream_view)(QUERY_STREAM_KEYS_ONLY + i);
    return QUERY_STREAM_NONE;
}

int query_table_parse(const struct json *d, struct query_table *t)
{
    memset(t, 0, sizeof(*t));
    const struct json *name = json_get(d, "TableName"), *defs = json_get(d, "AttributeDefinitions");
    if (!json_is_string(name) || name->len == 0 || !json_is_array(defs)) return QUERY_EINVALID;
    t->table = name->str;
    t->table_len = name->len;
    t->index[0].name = "";
    t->nindexes = 1;
    if (parse_key_schema(json_get(d, "KeySchema"), defs, &t->index[0]) != QUERY_OK ||
        parse_indexes(json_get(d, "GlobalSecondaryIndexes"), defs, QUERY_INDEX_GSI, t) ||
        parse_indexes(json_get(d, "LocalSecondaryIndexes"), defs, QUERY_INDEX_LSI, t))
        return QUERY_EINVALID;
    const struct json *arn = json_get(d, "LatestStreamArn");
    t->stream_view = stream_view(json_get(d, "StreamSpecification"));
    if (t->stream_view != QUERY_STREAM_NONE && json_is_string(arn) && arn->len) {
        t->stream_arn = arn->str;
        t->stream_arn_len = arn->len;
    } else {
        t->stream_view = QUERY_STREAM_NONE;
    }
    return QUERY_OK;
}

static const char *copy_str(struct arena *a, const char *s, size_t len)
{
    return s ? arena_strndup(a, s, len) : NULL;
}

void query_table_copy(struct arena *a, const struct query_table *src, struct query_table *dst)
{
    *dst = *src;
    dst->table = copy_str(a, src->table, src->table_len);
    dst->stream_arn = copy_str(a, src->stream_arn, src->stream_arn_len);
    for (int i = 0; i < src->nindexes; i++) {
        struct query_index *ix = &dst->index[i];
        ix->name = copy_str(a, ix->name, ix->name_len);
        ix->hash.name = copy_str(a, ix->hash.name, ix->hash.len);
        ix->range.name = copy_str(a, ix->range.name, ix->range.len);
    }
}

static bool same_attr(const struct key_attr *x, const struct key_attr *y)
{
    if (!x->name || !y->name) return !x->name && !y->name;
    return x->len == y->len && x->type == y->type && memcmp(x->name, y->name, x->len) == 0;
}

bool query_table_same_indexes(const struct query_table *a, const struct query_table *b)
{
    if (a->nindexes != b->nindexes) return false;
    for (int i = 0; i < a->nindexes; i++) {
        const struct query_index *x = &a->index[i], *y = &b->index[i];
        if (x->kind != y->kind || x->projection != y->projection || x->name_len != y->name_len ||
            memcmp(x->name, y->name, x->name_len) != 0 || !same_attr(&x->hash, &y->hash) ||
            !same_attr(&x->range, &y->range))
            return false;
    }
    return true;
}

int query_table_index(const struct query_table *t, const char *name, size_t len)
{
    for (int i = 0; i < t->nindexes; i++)
        if (t->index[i].name_len == len && memcmp(t->index[i].name, name, len) == 0) return i;
    return -1;
}

/* ---- canonical keys ---- */

static void put_len(struct buf *out, size_t n)
{
    unsigned char b[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};
    buf_append(out, b, 4);
}

static void put_bytes(struct buf *out, const char *s, size_t n)
{
    put_len(out, n);
    buf_append(out, s, n);
}

static int cmp_member(const void *x, const void *y)
{
    const struct json *a = *(const struct json *const *)x, *b = *(const struct json *const *)y;
    int c = memcmp(a->key, b->key, MIN(a->keylen, b->keylen));
    return c ? c : (a->keylen > b->keylen) - (a->keylen < b->keylen);
}

typedef int (*member_fn)(const struct json *member, struct buf *out, int depth);

/* Writes an object's members sorted by name: the count, then each name and
 * what fn writes for its value. */
static int put_sorted(const struct json *obj, member_fn fn, struct buf *out, int depth)
{
    if (!json_is_object(obj)) return QUERY_UNCACHEABLE;
    const struct json *stack[32], **m = obj->len <= 32 ? stack : xmalloc(obj->len * sizeof(*m));
    size_t n = 0;
    for (const struct json *c = obj->child; c; c = c->next)
        m[n++] = c;
    qsort(m, n, sizeof(*m), cmp_member);
    put_len(out, n);
    int rc = QUERY_OK;
    for (size_t i = 0; i < n && rc == QUERY_OK; i++) {
        put_bytes(out, m[i]->key, m[i]->keylen);
        rc = fn(m[i], out, depth);
    }
    if (m != stack) free(m);
    return rc;
}

static int put_av(const struct json *v, struct buf *out, int depth);

static int put_av_member(const struct json *m, struct buf *out, int depth)
{
    return put_av(m, out, depth + 1);
}

static int put_name_member(const struct json *m, struct buf *out, int depth)
{
    if (!json_is_string(m)) return QUERY_UNCACHEABLE;
    put_bytes(out, m->str, m->len);
    return QUERY_OK;
}

static int put_number(const struct json *v, struct buf *out)
{
    struct number n;
    if (!json_is_string(v) || number_parse(v->str, v->len, &n) != NUMBER_OK)
        return QUERY_UNCACHEABLE; /* the backend's error to give */
    uint8_t kb[NUMBER_KEY_MAX];
    size_t kl = number_key(&n, kb);
    put_bytes(out, (const char *)kb, kl);
    return QUERY_OK;
}

static int put_binary(const struct json *v, struct buf *out)
{
    /* a non-canonical text ("QR==") would share the key of the canonical
     * one whether or not DynamoDB accepts it: not cacheable (see key.c) */
    if (!json_is_string(v) || !attr_base64_canonical(v->str, v->len)) return QUERY_UNCACHEABLE;
    long n = attr_base64_length(v->str, v->len);
    put_len(out, (size_t)n);
    buf_reserve(out, (size_t)n + 4);
    attr_base64_decode(v->str, v->len, (unsigned char *)out->data + out->len);
    out->len += (size_t)n;
    return QUERY_OK;
}

static int put_scalar(char type, const struct json *v, struct buf *out)
{
    switch (type) {
    case 'S':
        if (!json_is_string(v)) return QUERY_UNCACHEABLE;
        put_bytes(out, v->str, v->len);
        return QUERY_OK;
    case 'N': return put_number(v, out);
    case 'B': return put_binary(v, out);
    }
    return QUERY_UNCACHEABLE;
}

/* A set (SS, NS, BS): its elements in the order given. Another order is
 * another key, which only costs a miss. */
static int put_set(char type, const struct json *v, struct buf *out)
{
    if (!json_is_array(v) || v->len == 0) return QUERY_UNCACHEABLE;
    put_len(out, v->len);
    for (const struct json *e = v->child; e; e = e->next)
        if (put_scalar(type, e, out) != QUERY_OK) return QUERY_UNCACHEABLE;
    return QUERY_OK;
}

static int put_list(const struct json *v, struct buf *out, int depth)
{
    if (!json_is_array(v)) return QUERY_UNCACHEABLE;
    put_len(out, v->len);
    for (const struct json *e = v->child; e; e = e->next)
        if (put_av(e, out, depth + 1) != QUERY_OK) return QUERY_UNCACHEABLE;
    return QUERY_OK;
}

/* One AttributeValue: a type letter (lower case for sets, so "S" and "SS"
 * stay apart), then its canonical bytes. */
static int put_av(const struct json *v, struct buf *out, int depth)
{
    const struct json *m = attr_type_member(v);
    if (!m || depth > ATTR_MAX_DEPTH) return QUERY_UNCACHEABLE;
    const char *t = m->key;
    if (m->keylen == 1 && strchr("SNB", t[0])) {
        buf_append_char(out, t[0]);
        return put_scalar(t[0], m, out);
    }
    if (m->keylen == 2 && t[1] == 'S' && strchr("SNB", t[0])) {
        buf_append_char(out, (char)(t[0] - 'A' + 'a'));
        return put_set(t[0], m, out);
    }
    if (m->keylen == 4 && memcmp(t, "BOOL", 4) == 0 && json_is_bool(m)) {
        buf_append_char(out, m->type == JSON_TRUE ? 'T' : 'F');
        return QUERY_OK;
    }
    if (m->keylen == 4 && memcmp(t, "NULL", 4) == 0 && m->type == JSON_TRUE) {
        buf_append_char(out, 'Z');
        return QUERY_OK;
    }
    if (m->keylen == 1 && t[0] == 'L') {
        buf_append_char(out, 'L');
        return put_list(m, out, depth);
    }
    if (m->keylen == 1 && t[0] == 'M') {
        buf_append_char(out, 'M');
        return put_sorted(m, put_av_member, out, depth);
    }
    return QUERY_UNCACHEABLE;
}

/* A legacy Condition: {"ComparisonOperator": "EQ", "AttributeValueList": [...]}. */
static int put_condition(const struct json *c, struct buf *out, int depth)
{
    if (!json_is_object(c)) return QUERY_UNCACHEABLE;
    const struct json *op = json_get(c, "ComparisonOperator"),
                      *list = json_get(c, "AttributeValueList");
    if (!json_is_string(op) || (list && !json_is_array(list)) || c->len != 1u + (list != NULL))
        return QUERY_UNCACHEABLE;
    put_bytes(out, op->str, op->len);
    if (list) return put_list(list, out, depth);
    put_len(out, 0); /* NULL, NOT_NULL: no values */
    return QUERY_OK;
}

enum field_kind {
    F_STRING,       /* a string, as written */
    F_DEFAULT_NONE, /* a string; "NONE" is the same as leaving it out */
    F_NAMES,        /* ExpressionAttributeNames: sorted, string values */
    F_VALUES,       /* an object of AttributeValues, sorted */
    F_CONDITIONS,   /* legacy KeyConditions, QueryFilter, ScanFilter */
    F_NAME_LIST,    /* AttributesToGet */
    F_COUNT,        /* Limit, TotalSegments: a JSON integer >= 1 */
    F_SEGMENT,      /* Segment: a JSON integer >= 0 */
    F_FORWARD,      /* ScanIndexForward: true is the default */
    F_CONSISTENT,   /* ConsistentRead: false is the default, true is never cached */
};

struct field {
    const char *name;
    enum field_kind kind;
    unsigned ops; /* 1: Query, 2: Scan */
};

#define QRY 1u
#define SCN 2u

/* Every member a Query or Scan may carry, in key order (ids are positions). */
static const struct field fields[] = {
    {"TableName", F_STRING, QRY | SCN},
    {"IndexName", F_STRING, QRY | SCN},
    {"Select", F_STRING, QRY | SCN},
    {"KeyConditionExpression", F_STRING, QRY},
    {"FilterExpression", F_STRING, QRY | SCN},
    {"ProjectionExpression", F_STRING, QRY | SCN},
    {"ExpressionAttributeNames", F_NAMES, QRY | SCN},
    {"ExpressionAttributeValues", F_VALUES, QRY | SCN},
    {"Limit", F_COUNT, QRY | SCN},
    {"ExclusiveStartKey", F_VALUES, QRY | SCN},
    {"ScanIndexForward", F_FORWARD, QRY},
    {"Segment", F_SEGMENT, SCN},
    {"TotalSegments", F_COUNT, SCN},
    {"ReturnConsumedCapacity", F_DEFAULT_NONE, QRY | SCN},
    {"ConsistentRead", F_CONSISTENT, QRY | SCN},
    {"KeyConditions", F_CONDITIONS, QRY},
    {"QueryFilter", F_CONDITIONS, QRY},
    {"ScanFilter", F_CONDITIONS, SCN},
    {"ConditionalOperator", F_STRING, QRY | SCN},
    {"AttributesToGet", F_NAME_LIST, QRY | SCN},
};

/* A JSON integer written plainly (no sign, fraction or exponent: what SDKs
 * send); anything else is left to the backend to judge. */
static int put_int(const struct json *v, bool zero_ok, struct buf *out)
{
    if (!v || v->type != JSON_NUMBER || v->len == 0 || v->len > 10) return QUERY_UNCACHEABLE;
    for (uint32_t i = 0; i < v->len; i++)
        if (v->str[i] < '0' || v->str[i] > '9') return QUERY_UNCACHEABLE;
    if (v->str[0] == '0' && (v->len > 1 || !zero_ok)) return QUERY_UNCACHEABLE;
    put_bytes(out, v->str, v->len);
    return QUERY_OK;
}

static int put_name_list(const struct json *v, struct buf *out)
{
    if (!json_is_array(v)) return QUERY_UNCACHEABLE;
    put_len(out, v->len);
    for (const struct json *e = v->child; e; e = e->next)
        if (put_name_member(e, out, 0) != QUERY_OK) return QUERY_UNCACHEABLE;
    return QUERY_OK;
}

/* Writes one field's id and value; defaults write nothing. */
static int put_field(size_t id, const struct json *v, struct buf *out)
{
    enum field_kind kind = fields[id].kind;
    if (kind == F_CONSISTENT || kind == F_FORWARD) {
        if (!json_is_bool(v)) return QUERY_UNCACHEABLE;
        bool is_default = (v->type == JSON_TRUE) == (kind == F_FORWARD);
        if (is_default) return QUERY_OK;
        if (kind == F_CONSISTENT) return QUERY_UNCACHEABLE; /* strong reads: the backend */
        buf_append_char(out, (char)('a' + id));
        return QUERY_OK;
    }
    if (kind == F_DEFAULT_NONE && json_str_is(v, "NONE")) return QUERY_OK;
    buf_append_char(out, (char)('a' + id));
    switch (kind) {
    case F_STRING:
    case F_DEFAULT_NONE:
        if (!json_is_string(v)) return QUERY_UNCACHEABLE;
        put_bytes(out, v->str, v->len);
        return QUERY_OK;
    case F_NAMES: return put_sorted(v, put_name_member, out, 0);
    case F_VALUES: return put_sorted(v, put_av_member, out, 0);
    case F_CONDITIONS: return put_sorted(v, put_condition, out, 0);
    case F_NAME_LIST: return put_name_list(v, out);
    case F_COUNT: return put_int(v, false, out);
    case F_SEGMENT: return put_int(v, true, out);
    default: return QUERY_UNCACHEABLE;
    }
}

static long field_id(const struct json *m, unsigned op_bit)
{
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
        if (strlen(fields[i].name) == m->keylen && memcmp(fields[i].name, m->key, m->keylen) == 0)
            return (fields[i].ops & op_bit) ? (long)i : -1;
    return -1;
}

int query_cache_key(enum query_op op, uint32_t epoch, const struct json *request, struct buf *out)
{
    if (!json_is_object(request)) return QUERY_UNCACHEABLE;
    unsigned op_bit = op == QUERY_OP_QUERY ? QRY : SCN;
    const struct json *by_id[ARRAY_SIZE(fields)] = {NULL};
    for (const struct json *m = request->child; m; m = m->next) {
        long id = field_id(m, op_bit);
        if (id < 0) return QUERY_UNCACHEABLE; /* unknown to us: relay */
        by_id[id] = m;
    }
    if (!json_is_string(by_id[0])) return QUERY_UNCACHEABLE; /* no TableName */
    buf_append_char(out, (char)op);
    unsigned char e[4] = {(unsigned char)(epoch >> 24), (unsigned char)(epoch >> 16),
                          (unsigned char)(epoch >> 8), (unsigned char)epoch};
    buf_append(out, e, 4);
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
        if (by_id[i] && put_field(i, by_id[i], out) != QUERY_OK) return QUERY_UNCACHEABLE;
    return QUERY_OK;
}

/* ---- KeyConditionExpression ----
 * Hand-written: the grammar is DynamoDB's own (no parser library knows it)
 * and only the small subset key conditions allow is accepted; the parser
 * must be sure which partition is read, so anything else is "not cacheable"
 * and the backend judges the expression. */

enum tok_kind { T_END, T_NAME, T_VALUE, T_LPAREN, T_RPAREN, T_COMMA, T_CMP, T_AND, T_BETWEEN };

struct tok {
    enum tok_kind kind;
    const char *s; /* T_NAME: the attribute name (resolved); T_VALUE: ":v" */
    size_t len;
    bool begins_with; /* a bare begins_with (a function if "(" follows) */
    char cmp;         /* T_CMP: '=', '<', 'l' (<=), '>', 'g' (>=) */
};

struct kc_parser {
    const char *s;
    size_t len, pos;
    const struct json *names;
    struct tok tok; /* the current token */
    int failed;
};

/* A condition on one key attribute. */
struct kc_cond {
    const char *attr;
    size_t attr_len;
    bool eq; /* attr = value */
    struct tok value;
};

static bool is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool word_is(const char *s, size_t len, const char *w)
{
    return strlen(w) == len && strncasecmp(s, w, len) == 0;
}

/* Resolves "#n" through ExpressionAttributeNames; false if undefined. */
static bool resolve_name(struct kc_parser *p, struct tok *t)
{
    const struct json *n = json_getn(p->names, t->s, t->len);
    if (!json_is_string(n) || n->len == 0) return false;
    t->s = n->str;
    t->len = n->len;
    return true;
}

static void scan_word(struct kc_parser *p, struct tok *t)
{
    size_t start = p->pos;
    while (p->pos < p->len && is_word_char(p->s[p->pos]))
        p->pos++;
    t->s = p->s + start;
    t->len = p->pos - start;
}

static void next(struct kc_parser *p)
{
    struct tok *t = &p->tok;
    memset(t, 0, sizeof(*t));
    while (p->pos < p->len && is_space(p->s[p->pos]))
        p->pos++;
    if (p->pos >= p->len) return; /* T_END */
    char c = p->s[p->pos];
    if (c == '(' || c == ')' || c == ',') {
        t->kind = c == '(' ? T_LPAREN : c == ')' ? T_RPAREN : T_COMMA;
        p->pos++;
    } else if (c == '=' || c == '<' || c == '>') {
        p->pos++;
        bool eq_follows = c != '=' && p->pos < p->len && p->s[p->pos] == '=';
        if (eq_follows) p->pos++;
        if (c == '<' && p->pos < p->len && p->s[p->pos] == '>') p->failed = 1; /* <> */
        t->kind = T_CMP;
        t->cmp = eq_follows ? (c == '<' ? 'l' : 'g') : c;
    } else if (c == '#' || c == ':') {
        p->pos++;
        scan_word(p, t);
        t->s--, t->len++; /* keep the sigil: names and values are looked up with it */
        t->kind = c == '#' ? T_NAME : T_VALUE;
        if (t->len < 2 || (c == '#' && !resolve_name(p, t))) p->failed = 1;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        scan_word(p, t);
        t->kind = T_NAME;
        if (word_is(t->s, t->len, "AND")) {
            t->kind = T_AND;
        } else if (word_is(t->s, t->len, "BETWEEN")) {
            t->kind = T_BETWEEN;
        } else if (t->len == 11 && memcmp(t->s, "begins_with", 11) == 0) {
            t->begins_with = true;
        } else if (projection_is_reserved(t->s, t->len)) {
            p->failed = 1; /* DynamoDB refuses reserved words as names */
        }
    } else {
        p->failed = 1; /* '.', '[', '-', a second sigil...: not a key condition */
    }
}

static bool accept(struct kc_parser *p, enum tok_kind kind)
{
    if (p->failed || p->tok.kind != kind) return false;
    next(p);
    return !p->failed;
}

/* operand: a name or a value; copied into *out. */
static bool operand(struct kc_parser *p, struct tok *out)
{
    if (p->failed || (p->tok.kind != T_NAME && p->tok.kind != T_VALUE)) return false;
    *out = p->tok;
    next(p);
    return !p->failed;
}

static bool make_cond(const struct tok *a, const struct tok *b, bool eq, struct kc_cond *c)
{
    if (a->kind == b->kind) return false; /* two names or two values */
    const struct tok *name = a->kind == T_NAME ? a : b, *value = a->kind == T_NAME ? b : a;
    c->attr = name->s;
    c->attr_len = name->len;
    c->eq = eq;
    c->value = *value;
    return true;
}

/* True when the next token is "(" (begins_with is then a function, else an
 * attribute of that name). */
static bool peek_lparen(const struct kc_parser *p)
{
    size_t i = p->pos;
    while (i < p->len && is_space(p->s[i]))
        i++;
    return i < p->len && p->s[i] == '(';
}

/* cond := begins_with ( name , value ) | name BETWEEN value AND value
 *       | operand cmp operand */
static bool condition(struct kc_parser *p, struct kc_cond *c)
{
    struct tok a, b, lo, hi;
    if (p->tok.kind == T_NAME && p->tok.begins_with && peek_lparen(p)) {
        next(p); /* ( */
        next(p);
        return operand(p, &a) && a.kind == T_NAME && accept(p, T_COMMA) && operand(p, &b) &&
               b.kind == T_VALUE && accept(p, T_RPAREN) && make_cond(&a, &b, false, c);
    }
    if (!operand(p, &a)) return false;
    if (p->tok.kind == T_BETWEEN) {
        next(p);
        return a.kind == T_NAME && operand(p, &lo) && lo.kind == T_VALUE && accept(p, T_AND) &&
               operand(p, &hi) && hi.kind == T_VALUE && make_cond(&a, &lo, false, c);
    }
    if (p->failed || p->tok.kind != T_CMP) return false;
    bool eq = p->tok.cmp == '=';
    next(p);
    return operand(p, &b) && make_cond(&a, &b, eq, c);
}

/* expr := term (AND term)* ; term := ( expr ) | cond. At most 2 conditions. */
static bool expression(struct kc_parser *p, struct kc_cond *conds, int *n, int depth);

static bool term(struct kc_parser *p, struct kc_cond *conds, int *n, int depth)
{
    if (p->tok.kind == T_LPAREN) {
        next(p);
        return expression(p, conds, n, depth + 1) && accept(p, T_RPAREN);
    }
    if (*n == 2) return false;
    return condition(p, &conds[(*n)++]);
}

static bool expression(struct kc_parser *p, struct kc_cond *conds, int *n, int depth)
{
    if (depth > 8 || !term(p, conds, n, depth)) return false;
    while (!p->failed && p->tok.kind == T_AND) {
        next(p);
        if (!term(p, conds, n, depth)) return false;
    }
    return !p->failed;
}

static bool cond_on(const struct kc_cond *c, const struct key_attr *ka)
{
    return ka->name && c->attr_len == ka->len && memcmp(c->attr, ka->name, ka->len) == 0;
}

int query_key_condition(const char *expr, size_t len, const struct json *names,
                        const struct json *values, const struct query_index *ix,
                        const struct json **value)
{
    if (!expr || len == 0 || len > EXPRESSION_MAX_BYTES || !json_is_object(values))
        return QUERY_UNCACHEABLE;
    if (names && !json_is_object(names)) return QUERY_UNCACHEABLE;
    struct kc_parser p = {expr, len, 0, names, {0}, 0};
    struct kc_cond conds[2];
    int n = 0;
    next(&p);
    if (!expression(&p, conds, &n, 0) || p.tok.kind != T_END) return QUERY_UNCACHEABLE;
    int hash = -1;
    for (int i = 0; i < n; i++) {
        if (cond_on(&conds[i], &ix->hash) && conds[i].eq && hash < 0)
            hash = i;
        else if (!cond_on(&conds[i], &ix->range))
            return QUERY_UNCACHEABLE; /* not a key condition DynamoDB accepts */
    }
    if (hash < 0) return QUERY_UNCACHEABLE;
    const struct tok *v = &conds[hash].value;
    *value = json_getn(values, v->s, v->len);
    return *value ? QUERY_OK : QUERY_UNCACHEABLE;
}

/* ---- partitions ---- */

/* Encodes v as the partition key value of index ix into a. */
static int encode_partition(struct arena *a, const struct query_index *ix, int index,
                            const struct json *v, struct query_partition *out)
{
    struct buf b = BUF_INIT;
    struct attr_error err;
    int rc = key_encode_value(&ix->hash, false, v, &b, &err);
    out->index = index;
    out->key = rc == KEY_OK ? arena_strndup(a, b.data, b.len) : NULL;
    out->key_len = rc == KEY_OK ? b.len : 0;
    buf_free(&b);
    return rc == KEY_OK ? QUERY_OK : QUERY_UNCACHEABLE;
}

/* Legacy KeyConditions: {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [v]}}. */
static const struct json *legacy_partition_value(const struct json *kc,
                                                 const struct query_index *ix)
{
    if (!json_is_object(kc) || kc->len > (ix->range.name ? 2u : 1u)) return NULL;
    for (const struct json *m = kc->child; m; m = m->next) {
        bool on_range = ix->range.name && m->keylen == ix->range.len &&
                        memcmp(m->key, ix->range.name, m->keylen) == 0;
        bool on_hash = m->keylen == ix->hash.len && memcmp(m->key, ix->hash.name, m->keylen) == 0;
        if (!on_hash && !on_range) return NULL;
    }
    const struct json *c = json_getn(kc, ix->hash.name, ix->hash.len);
    const struct json *list = json_get(c, "AttributeValueList");
    if (!json_str_is(json_get(c, "ComparisonOperator"), "EQ") || !json_is_array(list) ||
        list->len != 1)
        return NULL;
    return list->child;
}

int query_read_partition(struct arena *a, const struct query_table *t, const struct json *request,
                         struct query_partition *out)
{
    const struct json *index_name = json_get(request, "IndexName");
    if (index_name && !json_is_string(index_name)) return QUERY_UNCACHEABLE;
    int index = index_name ? query_table_index(t, index_name->str, index_name->len) : 0;
    if (index < 0 || (index_name && index_name->len == 0)) return QUERY_UNCACHEABLE;
    const struct query_index *ix = &t->index[index];
    const struct json *kce = json_get(request, "KeyConditionExpression"),
                      *legacy = json_get(request, "KeyConditions"), *value = NULL;
    if (legacy && !kce) {
        value = legacy_partition_value(legacy, ix);
    } else if (json_is_string(kce) && !legacy) {
        const struct json *names = json_get(request, "ExpressionAttributeNames"),
                          *values = json_get(request, "ExpressionAttributeValues");
        if (query_key_condition(kce->str, kce->len, names, values, ix, &value) != QUERY_OK)
            value = NULL;
    }
    if (!value) return QUERY_UNCACHEABLE;
    return encode_partition(a, ix, index, value, out);
}

static bool value_readable(const struct key_attr *ka, const struct json *v)
{
    struct buf b = BUF_INIT;
    struct attr_error err;
    bool ok = key_encode_value(ka, true, v, &b, &err) == KEY_OK;
    buf_free(&b);
    return ok;
}

int query_hash_partition(struct arena *a, const struct query_table *t, int index,
                         const struct json *item, struct query_partition *out)
{
    const struct query_index *ix = &t->index[index];
    const struct json *hv = json_getn(item, ix->hash.name, ix->hash.len);
    if (!hv) return 0;
    if (encode_partition(a, ix, index, hv, out) != QUERY_OK) out->key = NULL, out->key_len = 0;
    return 1;
}

int query_item_partition(struct arena *a, const struct query_table *t, int index,
                         const struct json *item, struct query_partition *out)
{
    const struct query_index *ix = &t->index[index];
    const struct json *rv = ix->range.name ? json_getn(item, ix->range.name, ix->range.len) : NULL;
    if (ix->range.name && !rv) return 0; /* sparse: not in this index */
    if (!query_hash_partition(a, t, index, item, out)) return 0;
    /* there but unreadable (a wrong type, empty, too long): such an item is
     * either refused or left out of the index by DynamoDB; the whole index
     * covers both */
    if (rv && !value_readable(&ix->range, rv)) out->key = NULL, out->key_len = 0;
    return 1;
}

int query_item_partitions(struct arena *a, const struct query_table *t, const struct json *item,
                          struct query_partition *out, int *n)
{
    *n = 0;
    if (!json_is_object(item)) return QUERY_EINVALID;
    for (int i = 0; i < t->nindexes; i++) {
        if (!query_item_partition(a, t, i, item, &out[*n])) {
            if (i == 0) return QUERY_EINVALID; /* an item without its primary key */
            continue;
        }
        if (i == 0 && !out[0].key) return QUERY_EINVALID;
        (*n)++;
    }
    return QUERY_OK;
}
