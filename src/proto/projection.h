/*
 * projection.h: ProjectionExpression and AttributesToGet, applied to a
 * cached item so a projected read is a cache hit too.
 *
 * Paths are names ("a", "#n"), map members ("a.b") and list elements
 * ("l[2]"), comma-separated. ddbx answers only expressions it is sure
 * DynamoDB accepts: anything else (a reserved word, an undefined or unused
 * #name, overlapping paths, odd characters) makes the parser say RELAY, and
 * the request goes to the backend, whose answer (or error) reaches the client.
 * Projecting missing paths yields nothing for them, as DynamoDB does.
 */
#ifndef DDBX_PROTO_PROJECTION_H
#define DDBX_PROTO_PROJECTION_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/json.h"
#include "util/arena.h"

#define EXPRESSION_MAX_BYTES 4096

struct projection;

enum projection_status { PROJECTION_OK = 0, PROJECTION_RELAY = -1 };

/* Parses expr with its ExpressionAttributeNames (`names`, may be NULL). The
 * plan lives in `a`. Returns a projection_status. */
int projection_parse(struct arena *a, const char *expr, size_t len, const struct json *names,
                     struct projection **out);
/* Builds a plan from an AttributesToGet array of names. */
int projection_from_names(struct arena *a, const struct json *list, struct projection **out);
/* Writes the projected item (an object of attributes) from `item`. */
void projection_apply(const struct projection *p, const struct json *item, struct json_writer *w);
/* True when the projection reaches inside attribute name[0..len) (a map
 * member "name.x" or a list element "name[i]"), which DynamoDB refuses for
 * key attributes. */
bool projection_inside(const struct projection *p, const char *name, size_t len);
/* True when s (case-insensitive) is a DynamoDB reserved word. */
bool projection_is_reserved(const char *s, size_t len);

#endif
