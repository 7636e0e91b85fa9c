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

/* The fast path's tokens, for json.c and for scanners that read one known
 * request shape without a tree (proto/params.c, ddb_scan_batch_get): what
 * they accept, json__parse_fast accepts as the same strings. */

/* p moved past JSON white space. */
static inline const char *json_skip_ws(const char *p, const char *end)
{
    /* most documents have no white space between tokens: one test for them */
    if (p < end && (unsigned char)*p > ' ') return p;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "json_plain_string reads 8-byte words");

/* The bytes of x that are a quote, a backslash, a control character or not
 * ASCII printable (0x7f and up), each marked by its high bit: one of them
 * ends a plain string or makes it not plain (bit tricks from "Bit Twiddling
 * Hacks", haszero/hasless: no library has them). A mark can be wrong only
 * above a true one (a borrow runs upwards), so the lowest mark is always the
 * first such byte. */
static inline uint64_t json__special8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
#define JSON__HASZERO(v) (((v)-ones) & ~(v)&highs)
    uint64_t quote = x ^ (ones * '"'), slash = x ^ (ones * '\\'), del = x ^ (ones * 0x7f);
    uint64_t below = (x - ones * 0x20) & ~x & highs; /* a byte under 0x20 */
    return JSON__HASZERO(quote) | JSON__HASZERO(slash) | JSON__HASZERO(del) | below | (x & highs);
#undef JSON__HASZERO
}

/* A string of printable ASCII without escapes at *p (its opening quote):
 * its bytes are [*start, *start + *len), and *p is moved past its closing
 * quote. False for any other string (escapes, UTF-8) or none. */
static inline bool json_plain_string(const char **p, const char *end, const char **start,
                                     size_t *len)
{
    const char *q = *p + 1;
    *start = q;
    for (;;) {
        if (end - q < 8) { /* the last bytes, one by one */
            while (q < end && (unsigned char)*q >= 0x20 && (unsigned char)*q <= 0x7e && *q != '"' &&
                   *q != '\\')
                q++;
            break;
        }
        uint64_t x;
        memcpy(&x, q, 8);
        uint64_t m = json__special8(x);
        if (m) { /* little-endian: the lowest mark is the first byte */
            q += __builtin_ctzll(m) >> 3;
            break;
        }
        q += 8;
    }
    if (q == end || *q != '"') return false;
    *len = (size_t)(q - *start);
    *p = q + 1;
    return true;
}

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
