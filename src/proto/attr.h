/*
 * attr.h: DynamoDB AttributeValues: DynamoDB's answers to malformed values,
 * the limits DynamoDB enforces that test backends (moto) do not, item size as
 * DynamoDB counts it, and binary values.
 *
 * Answered here, with DynamoDB's exact texts (proto/messages.tsv):
 *  - a value of the wrong JSON type for its type name ({"S": 5}, {"L": {}},
 *    {"BOOL": "x"}, ...): SerializationException, checked over the whole
 *    item first, as DynamoDB deserializes before it validates;
 *  - numbers (38 digits, range, no NaN/Infinity/spaces), nesting depth (32
 *    levels), item size (400 KB): ValidationException.
 * Marked `relay` (struct attr_check): what DynamoDB refuses or rewrites with
 * words ddbx cannot be sure of (empty values, several or unknown type names,
 * nulls, empty or duplicate sets, NULL false, BOOL "true", base64 with
 * foreign characters, ...). The caller sends such an item to the backend and
 * returns its answer, and caches nothing of it.
 */
#ifndef DDBX_PROTO_ATTR_H
#define DDBX_PROTO_ATTR_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/errors.h"
#include "proto/json.h"
#include "proto/limits.h"

#define ATTR_MAX_DEPTH 32
#define ITEM_MAX_BYTES (400 * 1024)

/* attr_check_shape's result besides 0 and -1. */
#define ATTR_RELAY 1

struct attr_error {
    enum ddb_error code; /* DDB_ValidationException or DDB_SerializationException */
    char message[1024];
};

struct attr_check {
    size_t size;    /* bytes as DynamoDB counts them (names + values) */
    bool canonical; /* every number and binary value is written as DynamoDB stores it */
    bool relay;     /* malformed in a way only the backend words: relay, cache nothing
                     * (canonical is then false too, so a caller that writes anyway
                     * does not cache it) */
};

/* Checks every attribute of an item (a JSON object of AttributeValues) and
 * measures it. Returns 0 (out->relay tells whether to relay), or -1 with err
 * filled: DynamoDB's own answer. */
int attr_check_item(const struct json *item, struct attr_check *out, struct attr_error *err);
/* The same for one AttributeValue at nesting `depth` (0 for an attribute);
 * adds to *out (relay, canonical and size accumulate). */
int attr_check_value(const struct json *v, int depth, struct attr_check *out,
                     struct attr_error *err);
/* attr_check_value's second pass alone, for a value attr_check_shape passed
 * (returned 0): its meaning and size. */
int attr_check_meaning(const struct json *v, int depth, struct attr_check *out,
                       struct attr_error *err);
/* Only the first pass, on one AttributeValue: 0 when every member has the
 * JSON type its name calls for, -1 with DynamoDB's SerializationException in
 * err, or ATTR_RELAY when DynamoDB refuses it with words ddbx is not sure of.
 * For keys (proto/key.c), where nothing else applies. */
int attr_check_shape(const struct json *v, struct attr_error *err);
/* Fills err with message m of proto/messages.tsv (formatted with the
 * arguments it takes) and the error it is sent as. Returns -1. */
int attr_fail(struct attr_error *err, enum ddb_msg m, ...);
/* Fills err with the error and message DynamoDB answers past limit l
 * (proto/limits.tsv). Returns -1. */
int attr_fail_limit(struct attr_error *err, enum ddb_limit l);
/* Fills err with DynamoDB's ValidationException for the number text
 * s[0..len) that number_parse() refused with `status`. DynamoDB quotes a
 * non-empty text it cannot convert ("...numeric value: abc"). */
void attr_number_error(struct attr_error *err, int status, const char *s, size_t len);
/* The single member of an AttributeValue ({"S":"x"} -> the "S" member), or
 * NULL if v is not an object with exactly one member. */
static inline const struct json *attr_type_member(const struct json *v)
{
    if (!v || v->type != JSON_OBJECT || v->len != 1) return NULL;
    return v->child;
}
/* The decoded length of standard base64 text (padded), or -1 if invalid. */
long attr_base64_length(const char *s, size_t len);
/* True when s is valid base64 in its one canonical text (unused bits of the
 * last symbol zero): the only form ddbx keys or caches from a write. */
bool attr_base64_canonical(const char *s, size_t len);
/* Decodes standard base64 (with padding) into out (at least 3*len/4 + 3
 * bytes). Returns the decoded length, or -1 if s is not valid base64. */
long attr_base64_decode(const char *s, size_t len, unsigned char *out);

#endif
