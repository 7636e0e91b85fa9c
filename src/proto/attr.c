/*
 * attr.c: AttributeValue checks and sizes, in DynamoDB's order.
 *
 * DynamoDB deserializes a whole request before it validates anything, so an
 * item is walked twice:
 *   1. shapes: the JSON type of every member against what its type name
 *      holds (a string for "S", a list for "SS", ...). The first misfit in
 *      document order is DynamoDB's SerializationException, whose exact text
 *      (proto/messages.tsv) depends only on the type name and the JSON type.
 *   2. meaning: the limits test backends do not enforce (numbers, nesting
 *      depth, item size) are answered here; everything else DynamoDB refuses
 *      or rewrites (empty values, several types, unknown members, nulls, empty
 *      or duplicate sets, NULL:false, "true" for a BOOL) is marked `relay`:
 *      the request goes to the backend, whose own answer reaches the client,
 *      and nothing of it is cached.
 * Wherever DynamoDB's wording is not certain (a JSON null where a value
 * belongs, a decimal token with an integral value, base64 with foreign
 * characters or a non-canonical last symbol, two misfits in one value) the
 * walk stops and marks the item `relay` instead of guessing.
 *
 * Sizes follow the DynamoDB Developer Guide's rules (item size calculation):
 * strings by UTF-8 bytes, numbers about one byte per two significant digits
 * plus one, binary by decoded bytes, one byte for BOOL and NULL, three bytes
 * plus one per element for M and L.
 */
#include "proto/attr.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/number.h"
#include "util/common.h"

/* What a member of an AttributeValue holds, as DynamoDB's deserializer sees it. */
enum shape {
    SH_VALUE,   /* an AttributeValue (an item's attribute, an L element, an M value) */
    SH_STRING,  /* S, N, and the elements of SS and NS */
    SH_BINARY,  /* B and the elements of BS: base64 text */
    SH_BOOLEAN, /* BOOL, NULL */
    SH_LIST,    /* SS, NS, BS, L */
    SH_MAP,     /* M, and an item */
};

static const struct type {
    const char *name;
    size_t len; /* of name */
    enum shape shape;
    enum shape element; /* of a list or a map */
} types[] = {
#define T(name, shape, element)                                                                    \
    {                                                                                              \
        name, sizeof(name) - 1, shape, element                                                     \
    }
    T("S", SH_STRING, SH_VALUE),     T("N", SH_STRING, SH_VALUE),     T("B", SH_BINARY, SH_VALUE),
    T("BOOL", SH_BOOLEAN, SH_VALUE), T("NULL", SH_BOOLEAN, SH_VALUE), T("SS", SH_LIST, SH_STRING),
    T("NS", SH_LIST, SH_STRING),     T("BS", SH_LIST, SH_BINARY),     T("L", SH_LIST, SH_VALUE),
    T("M", SH_MAP, SH_VALUE),
#undef T
};

/* SH_* results besides 0 and -1: the walk stops, the item is relayed. */
#define UNSURE 1

int attr_fail(struct attr_error *err, enum ddb_msg m, ...)
{
    va_list ap;
    va_start(ap, m);
    vsnprintf(err->message, sizeof(err->message), ddb_msg_text(m), ap);
    va_end(ap);
    err->code = ddb_msg_error(m);
    return -1;
}

int attr_fail_limit(struct attr_error *err, enum ddb_limit l)
{
    const struct ddb_limit_desc *d = ddb_limit_desc(l);
    snprintf(err->message, sizeof(err->message), "%s", d->message);
    err->code = d->error;
    return -1;
}

static const struct type *type_named(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (types[i].len == len && memcmp(types[i].name, name, len) == 0) return &types[i];
    return NULL;
}

long attr_base64_length(const char *s, size_t len)
{
    if (len % 4) return -1;
    size_t pad = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '=' && i >= len - 2) {
            pad++;
            continue;
        }
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/';
        if (!ok || pad) return -1; /* no data after padding */
    }
    return (long)(len / 4 * 3 - pad);
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : 63;
}

bool attr_base64_canonical(const char *s, size_t len)
{
    if (attr_base64_length(s, len) < 0) return false;
    if (len == 0 || s[len - 1] != '=') return true;
    /* the bits padding leaves unused must be zero, else another text decodes
     * to the same bytes ("QR==" and "QQ==") */
    bool two = s[len - 2] == '=';
    int last = b64_value(s[len - (two ? 3 : 2)]);
    return (last & (two ? 0x0f : 0x03)) == 0;
}

long attr_base64_decode(const char *s, size_t len, unsigned char *out)
{
    long n = attr_base64_length(s, len);
    if (n <= 0) return n;
    /* EVP_DecodeBlock counts the padding as zero bytes; drop them */
    return EVP_DecodeBlock(out, (const unsigned char *)s, (int)len) < 0 ? -1 : n;
}

void attr_number_error(struct attr_error *err, int status, const char *s, size_t len)
{
    switch (status) {
    case NUMBER_EDIGITS: attr_fail(err, MSG_number_digits); break;
    case NUMBER_EOVERFLOW: attr_fail(err, MSG_number_overflow); break;
    case NUMBER_EUNDERFLOW: attr_fail(err, MSG_number_underflow); break;
    default: /* DynamoDB quotes a non-empty text it cannot convert */
        if (len > 0)
            attr_fail(err, MSG_number_invalid_text, (int)len, s);
        else
            attr_fail(err, MSG_number_invalid);
    }
}

/* ---- pass 1: shapes ---- */

static int shape_of(const struct json *v, enum shape sh, enum shape element,
                    struct attr_error *err);

/* A JSON number where a string or a boolean belongs. DynamoDB names an
 * integer token NUMBER_VALUE and a fraction DECIMAL_VALUE; a decimal token
 * with a whole value ("5.0", "1e3") is where its parser and dynalite's may
 * disagree, so that one is relayed. */
static int number_token(const struct json *v, enum ddb_msg integer, enum ddb_msg decimal,
                        struct attr_error *err)
{
    if (!memchr(v->str, '.', v->len) && !memchr(v->str, 'e', v->len) &&
        !memchr(v->str, 'E', v->len))
        return attr_fail(err, integer);
    struct number n;
    if (number_parse(v->str, v->len, &n) != NUMBER_OK) return UNSURE;
    if (n.ndigits == 0 || n.exp >= n.ndigits - 1) return UNSURE; /* a whole value */
    return attr_fail(err, decimal);
}

static int shape_binary(const struct json *v, struct attr_error *err)
{
    for (size_t i = 0; i < v->len; i++)
        if ((unsigned char)v->str[i] >= 0x80) return UNSURE; /* counted in UTF-16 units there */
    if (v->len % 4) return attr_fail(err, MSG_value_base64_length, (size_t)v->len);
    /* foreign characters and misplaced padding: DynamoDB's wording is not known */
    if (attr_base64_length(v->str, v->len) < 0) return UNSURE;
    /* a last symbol with unused bits set ("QR=="): dynalite refuses it with
     * value_base64_last, DynamoDB's decoder may not; the backend says */
    if (!attr_base64_canonical(v->str, v->len)) return UNSURE;
    return 0;
}

/* The six strings DynamoDB reads as a boolean (it stores them as true/false). */
static bool boolean_word(const struct json *v)
{
    static const char *const words[] = {"true", "false", "yes", "no", "1", "0"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (v->len == strlen(words[i]) && strncasecmp(v->str, words[i], v->len) == 0) return true;
    return false;
}

static int shape_scalar(const struct json *v, enum shape sh, struct attr_error *err)
{
    static const enum ddb_msg lists[] = {[SH_STRING] = MSG_value_list_for_string,
                                         [SH_BINARY] = MSG_value_list_for_binary,
                                         [SH_BOOLEAN] = MSG_value_list_for_boolean};
    if (v->type == JSON_OBJECT) return attr_fail(err, MSG_value_structure);
    if (v->type == JSON_ARRAY) return attr_fail(err, lists[sh]);
    if (sh == SH_BINARY)
        return v->type == JSON_STRING ? shape_binary(v, err) : attr_fail(err, MSG_value_not_binary);
    if (sh == SH_STRING) {
        if (v->type == JSON_NUMBER)
            return number_token(v, MSG_value_number_to_string, MSG_value_decimal_to_string, err);
        if (v->type == JSON_TRUE) return attr_fail(err, MSG_value_true_to_string);
        if (v->type == JSON_FALSE) return attr_fail(err, MSG_value_false_to_string);
        return 0;
    }
    if (v->type == JSON_NUMBER)
        return number_token(v, MSG_value_number_to_boolean, MSG_value_decimal_to_boolean, err);
    if (v->type == JSON_STRING && !boolean_word(v)) return attr_fail(err, MSG_value_boolean_token);
    return 0;
}

/* The members of an AttributeValue object: unknown names and nulls are
 * dropped by DynamoDB's deserializer (pass 2 relays them). Two misfits in
 * one value: which one DynamoDB names first is not certain. */
static int shape_members(const struct json *v, struct attr_error *err)
{
    int found = 0;
    struct attr_error first;
    for (const struct json *m = v->child; m; m = m->next) {
        const struct type *t = type_named(m->key, m->keylen);
        if (!t || m->type == JSON_NULL) continue;
        int rc = shape_of(m, t->shape, t->element, found ? &first : err);
        if (rc == UNSURE || (rc < 0 && found)) return UNSURE;
        if (rc < 0) found = 1;
    }
    return found ? -1 : 0;
}

/* Elements of a list or values of a map. */
static int shape_children(const struct json *v, enum shape element, struct attr_error *err)
{
    for (const struct json *e = v->child; e; e = e->next) {
        int rc = shape_of(e, element, SH_VALUE, err);
        if (rc != 0) return rc;
    }
    return 0;
}

static int shape_of(const struct json *v, enum shape sh, enum shape element, struct attr_error *err)
{
    if (v->type == JSON_NULL) return UNSURE; /* dynalite fails on it; DynamoDB's answer unknown */
    bool scalar = v->type != JSON_OBJECT && v->type != JSON_ARRAY;
    switch (sh) {
    case SH_VALUE:
        if (scalar) return attr_fail(err, MSG_value_scalar_for_value);
        if (v->type == JSON_ARRAY) return attr_fail(err, MSG_value_list_for_value);
        return shape_members(v, err);
    case SH_LIST:
        if (scalar) return attr_fail(err, MSG_value_scalar_for_field);
        if (v->type == JSON_OBJECT) return attr_fail(err, MSG_value_structure);
        return shape_children(v, element, err);
    case SH_MAP:
        if (scalar) return attr_fail(err, MSG_value_scalar_for_field);
        if (v->type == JSON_ARRAY) return attr_fail(err, MSG_value_list_for_map);
        return shape_children(v, SH_VALUE, err);
    default: return shape_scalar(v, sh, err);
    }
}

int attr_check_shape(const struct json *v, struct attr_error *err)
{
    if (!v) return attr_fail(err, MSG_value_scalar_for_value);
    int rc = shape_of(v, SH_VALUE, SH_VALUE, err);
    return rc == UNSURE ? ATTR_RELAY : rc;
}

/* ---- pass 2: meaning and size ---- */

struct walk {
    struct attr_check *out;
    struct attr_error *err;
    bool failed; /* err holds the first limit exceeded */
};

static void limit(struct walk *w, enum ddb_limit l)
{
    if (!w->failed) attr_fail_limit(w->err, l);
    w->failed = true;
}

static void relay(struct walk *w)
{
    w->out->relay = true;
    w->out->canonical = false; /* a handler that does not relay must not cache it */
}

/* A number's limits and size; false when it is not a valid number. */
static bool number(struct walk *w, const struct json *v, struct number *n)
{
    int rc = number_parse(v->str, v->len, n);
    if (rc != NUMBER_OK) {
        if (!w->failed) attr_number_error(w->err, rc, v->str, v->len);
        w->failed = true;
        return false;
    }
    if (!number_is_canonical_text(v->str, v->len)) w->out->canonical = false;
    w->out->size += (size_t)(n->ndigits + 1) / 2 + 1;
    return true;
}

static int cmp_text(const void *a, const void *b)
{
    const struct json *x = *(const struct json *const *)a, *y = *(const struct json *const *)b;
    int c = memcmp(x->str, y->str, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int cmp_number(const void *a, const void *b)
{
    return number_compare(a, b);
}

/* True when two members of a set are equal: sorted, then compared with their
 * neighbours (NS by value; canonical base64 texts are equal exactly when
 * their bytes are). */
static bool has_duplicates(void *members, size_t count, size_t size,
                           int (*cmp)(const void *, const void *))
{
    qsort(members, count, size, cmp);
    for (size_t i = 1; i < count; i++)
        if (cmp((char *)members + (i - 1) * size, (char *)members + i * size) == 0) return true;
    return false;
}

/* A set's members: sizes and numbers; empty and duplicate sets are DynamoDB's to refuse. */
static void set(struct walk *w, const struct json *v, char type)
{
    if (v->len == 0) {
        relay(w);
        return;
    }
    bool dup;
    if (type == 'N') {
        struct number *nums = xmalloc(sizeof(*nums) * v->len);
        size_t count = 0;
        for (const struct json *e = v->child; e; e = e->next)
            count += number(w, e, &nums[count]);
        dup = has_duplicates(nums, count, sizeof(*nums), cmp_number);
        free(nums);
    } else {
        const struct json **texts = xmalloc(sizeof(*texts) * v->len);
        size_t count = 0;
        for (const struct json *e = v->child; e; e = e->next) {
            texts[count++] = e;
            w->out->size += type == 'B' ? (size_t)attr_base64_length(e->str, e->len) : e->len;
        }
        dup = has_duplicates(texts, count, sizeof(*texts), cmp_text);
        free(texts);
    }
    if (dup) relay(w);
}

static void meaning(struct walk *w, const struct json *v, int depth);

static void children(struct walk *w, const struct json *v, int depth, bool map)
{
    w->out->size += 3;
    for (const struct json *e = v->child; e; e = e->next) {
        w->out->size += 1 + (map ? e->keylen : 0);
        meaning(w, e, depth + 1);
    }
}

static void meaning(struct walk *w, const struct json *v, int depth)
{
    /* depth 0 (an attribute's own value) is DynamoDB's level 1: 32 levels
     * are depths 0..31, so a scalar inside 31 maps or lists is the deepest */
    if (depth >= ATTR_MAX_DEPTH) {
        limit(w, DDB_LIMIT_attr_depth);
        return;
    }
    const struct json *m = attr_type_member(v);
    const struct type *t = m ? type_named(m->key, m->keylen) : NULL;
    if (!t || m->type == JSON_NULL) { /* empty, several types, unknown or null members */
        relay(w);
        return;
    }
    switch (t->name[0]) {
    case 'S':
        if (t->name[1])
            set(w, m, 'S');
        else
            w->out->size += m->len;
        break;
    case 'N':
        if (t->name[1] == 'S') {
            set(w, m, 'N');
        } else if (t->name[1] == 'U') { /* NULL: only true; "yes" and friends are converted */
            if (m->type != JSON_TRUE) relay(w);
            w->out->size += 1;
        } else {
            struct number n;
            number(w, m, &n);
        }
        break;
    case 'B':
        if (t->name[1] == 'S')
            set(w, m, 'B');
        else if (t->name[1] == 'O') { /* BOOL: a string is converted, not stored as sent */
            if (m->type == JSON_STRING) relay(w);
            w->out->size += 1;
        } else
            w->out->size += (size_t)attr_base64_length(m->str, m->len);
        break;
    case 'L': children(w, m, depth, false); break;
    case 'M': children(w, m, depth, true); break;
    }
}

int attr_check_value(const struct json *v, int depth, struct attr_check *out,
                     struct attr_error *err)
{
    int rc = attr_check_shape(v, err);
    if (rc == ATTR_RELAY) {
        out->relay = true;
        out->canonical = false;
    }
    if (rc != 0) return rc < 0 ? -1 : 0;
    return attr_check_meaning(v, depth, out, err);
}

int attr_check_meaning(const struct json *v, int depth, struct attr_check *out,
                       struct attr_error *err)
{
    struct walk w = {out, err, false};
    meaning(&w, v, depth);
    return w.failed && !out->relay ? -1 : 0;
}

int attr_check_item(const struct json *item, struct attr_check *out, struct attr_error *err)
{
    out->size = 0;
    out->canonical = true;
    out->relay = false;
    if (!item) return attr_fail(err, MSG_value_scalar_for_field);
    int rc = shape_of(item, SH_MAP, SH_VALUE, err);
    if (rc < 0) return -1;
    struct walk w = {out, err, false};
    if (rc == UNSURE) {
        relay(&w);
        return 0;
    }
    for (const struct json *a = item->child; a; a = a->next) {
        out->size += a->keylen;
        meaning(&w, a, 0);
    }
    if (out->relay) return 0; /* DynamoDB refuses or rewrites it: its own answer decides */
    if (!w.failed && out->size > ITEM_MAX_BYTES) limit(&w, DDB_LIMIT_item_bytes);
    return w.failed ? -1 : 0;
}
