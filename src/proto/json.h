/*
 * json.h: JSON in and out, on yajl (see docs/ARCHITECTURE.md for the choice).
 *
 * Parsing builds a read-only tree in a caller's arena: one bump allocation per
 * node, freed with the arena, strings unescaped and NUL-terminated. yajl does
 * the lexing and validation (UTF-8, no comments, no trailing garbage); this
 * module adds a depth cap and rejects duplicate object members, so ddbx and the
 * backend can never read different values from one request.
 *
 * Writing goes through yajl_gen into a struct buf.
 */
#ifndef DDBX_PROTO_JSON_H
#define DDBX_PROTO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/arena.h"
#include "util/buf.h"

enum json_type {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
};

struct json {
    enum json_type type;
    uint32_t len;    /* bytes of str (string, number) or number of children */
    const char *str; /* string value or number text; NUL-terminated */
    const char *key; /* member name when the parent is an object */
    uint32_t keylen;
    struct json *child; /* first child of an array or object */
    struct json *next;  /* next sibling */
};

/* Deepest nesting accepted. yajl_gen refuses to open a 128th level
 * (YAJL_MAX_DEPTH), and every tree the parser accepts must be writable by
 * jw_value(), so the cap stays below it. */
#define JSON_MAX_DEPTH 127

enum json_status { JSON_OK = 0, JSON_EINVALID = -1, JSON_EDEPTH = -2, JSON_EDUPLICATE = -3 };

/* Parses data[0..len) into a tree allocated in `a`. On error returns a
 * negative json_status and writes a message to err (may be NULL). The tree is
 * valid until the arena is reset. */
int json_parse(struct arena *a, const char *data, size_t len, struct json **out, char *err,
               size_t errlen);
/* Checks that data is one well-formed JSON object, without building a tree. */
int json_validate_object(const char *data, size_t len);
/* The two parsers json_parse uses, apart for fuzz_json's differential check:
 * the fast path for plain-ASCII documents (1 and *out set, or 0: not its
 * subset, nothing decided) and yajl's, which decides everything else. */
int json__parse_fast(struct arena *a, const char *data, size_t len, struct json **out);
int json__parse_yajl(struct arena *a, const char *data, size_t len, struct json **out, char *err,
                     size_t errlen);

/* Member `key` of an object, or NULL (also when obj is NULL or no object). */
const struct json *json_get(const struct json *obj, const char *key);
const struct json *json_getn(const struct json *obj, const char *key, size_t keylen);
static inline bool json_is_string(const struct json *v)
{
    return v && v->type == JSON_STRING;
}
static inline bool json_is_object(const struct json *v)
{
    return v && v->type == JSON_OBJECT;
}
static inline bool json_is_array(const struct json *v)
{
    return v && v->type == JSON_ARRAY;
}
static inline bool json_is_bool(const struct json *v)
{
    return v && (v->type == JSON_TRUE || v->type == JSON_FALSE);
}
/* True when v is a string equal to s, byte for byte: a JSON string may hold
 * NUL characters ("NONE\u0000junk"), so never compare ->str with strcmp. */
static inline bool json_str_is(const struct json *v, const char *s)
{
    size_t n = strlen(s);
    return json_is_string(v) && v->len == n && memcmp(v->str, s, n) == 0;
}
/* The same for an object member's name. */
static inline bool json_key_is(const struct json *member, const char *s)
{
    size_t n = strlen(s);
    return member->keylen == n && memcmp(member->key, s, n) == 0;
}
/* Deep equality of two values (object members compared regardless of order). */
bool json_equal(const struct json *a, const struct json *b);

/* Writer: appends compact JSON to `out`. Calls must nest correctly; a
 * misuse is a bug and aborts. */
struct json_writer {
    void *gen; /* yajl_gen */
    struct buf *out;
};

/* Appends s as a JSON string when it needs no escape (printable ASCII
 * other than '"' and '\\': what the writer would write, without setting one
 * up) and returns true; else appends nothing and returns false. */
bool json_append_plain_string(struct buf *out, const char *s, size_t len);
void jw_init(struct json_writer *w, struct buf *out);
void jw_free(struct json_writer *w);
void jw_object_begin(struct json_writer *w);
void jw_object_end(struct json_writer *w);
void jw_array_begin(struct json_writer *w);
void jw_array_end(struct json_writer *w);
void jw_string(struct json_writer *w, const char *s, size_t len);
void jw_cstr(struct json_writer *w, const char *s);
void jw_number_raw(struct json_writer *w, const char *s, size_t len);
void jw_double(struct json_writer *w, double d);
void jw_bool(struct json_writer *w, bool b);
/* Writes a whole parsed value (a subtree), members in their original order. */
void jw_value(struct json_writer *w, const struct json *v);
/* Writes a member name and then its value from the tree. */
void jw_member(struct json_writer *w, const struct json *member);

#endif
