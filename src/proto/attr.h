/*
 * attr.h: DynamoDB AttributeValues: the checks DynamoDB makes that test
 * backends (moto, dynalite) do not, item size as DynamoDB counts it, and
 * binary values.
 *
 * Checked here: numbers (38 digits, range, no NaN/Infinity/spaces), nesting
 * depth (32 levels), a JSON number or other non-string where a string
 * belongs (SerializationException), base64 of binary values, item size
 * (400 KB). Other malformed values are left for the backend to refuse, so
 * its own words reach the client.
 */
#ifndef DDBX_PROTO_ATTR_H
#define DDBX_PROTO_ATTR_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/errors.h"
#include "proto/json.h"

#define ATTR_MAX_DEPTH 32
#define ITEM_MAX_BYTES (400 * 1024)

struct attr_error {
    enum ddb_error code; /* DDB_ValidationException or DDB_SerializationException */
    char message[256];
};

struct attr_check {
    size_t size;    /* bytes as DynamoDB counts them (names + values) */
    bool canonical; /* every number and binary value is written as DynamoDB stores it */
};

/* Checks every attribute of an item (a JSON object of AttributeValues) and
 * measures it. Returns 0, or -1 with err filled. */
int attr_check_item(const struct json *item, struct attr_check *out, struct attr_error *err);
/* Checks one AttributeValue at nesting `depth` (0 for an attribute). */
int attr_check_value(const struct json *v, int depth, struct attr_check *out,
                     struct attr_error *err);
/* Fills err with DynamoDB's ValidationException for the number text
 * s[0..len) that number_parse() refused with `status`. DynamoDB quotes a
 * non-empty text it cannot convert ("...numeric value: abc"). */
void attr_number_error(struct attr_error *err, int status, const char *s, size_t len);
/* The single member of an AttributeValue ({"S":"x"} -> the "S" member), or
 * NULL if v is not an object with exactly one member. */
const struct json *attr_type_member(const struct json *v);
/* The decoded length of standard base64 text (padded), or -1 if invalid. */
long attr_base64_length(const char *s, size_t len);
/* True when s is valid base64 in its one canonical text (unused bits of the
 * last symbol zero): the only form ddbx keys or caches from a write. */
bool attr_base64_canonical(const char *s, size_t len);
/* Decodes standard base64 (with padding) into out (at least 3*len/4 + 3
 * bytes). Returns the decoded length, or -1 if s is not valid base64. */
long attr_base64_decode(const char *s, size_t len, unsigned char *out);

#endif
