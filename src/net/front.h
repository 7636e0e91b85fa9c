/*
 * front.h: how the DynamoDB API port judges a request before any operation
 * sees it, in DynamoDB's own order, and the constant answers it composes
 * (texts from proto/front.tsv). No I/O: tests call it directly.
 *
 *   body over 16 MiB             413, before the body is read (net/http.c)
 *   OPTIONS with an Origin       FRONT_PREFLIGHT   200, empty, CORS preflight headers
 *   GET (any path)               FRONT_HEALTH      200 "healthy: dynamodb.<region>.amazonaws.com "
 *   a method other than POST,    FRONT_NOT_FOUND   404 "<UnknownOperationException/>\n"
 *   or a body whose content type
 *   (before any ';') is neither
 *   JSON type
 *   a body that is not JSON      FRONT_NOT_JSON    400 SerializationException, no text
 *   an unknown X-Amz-Target      FRONT_UNKNOWN_OP  400 UnknownOperationException
 *   authentication               (net/trust.h, the worker's: DynamoDB's refusals)
 *   anything else                FRONT_OPERATION   the operation's handler validates the rest
 *
 * Every answer is in the content type the request came in (application/json
 * or application/x-amz-json-1.0; JSON when it named neither), and carries
 * Access-Control-Allow-Origin: * when the request had an Origin header.
 */
#ifndef DDBX_NET_FRONT_H
#define DDBX_NET_FRONT_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/ops.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/http_header.h"

enum front_verdict {
    FRONT_OPERATION = 0, /* the operation's handler serves it */
    FRONT_PREFLIGHT,
    FRONT_HEALTH,
    FRONT_NOT_FOUND,
    FRONT_NOT_JSON,
    FRONT_UNKNOWN_OP,
};

struct front_judgement {
    enum front_verdict verdict;
    const struct op *op;      /* FRONT_OPERATION: the operation named by X-Amz-Target */
    const char *content_type; /* of the answer; "" where DynamoDB sends none (the
                               * health, 404 and preflight answers); static storage */
    bool cors;                /* the request has an Origin: answer with
                               * Access-Control-Allow-Origin (and, for a
                               * preflight, Access-Control-Max-Age and the
                               * echoes of what it asked) */
};

/* The texts of proto/front.tsv: front_health_body, front_cors_max_age, ... */
#define FRONT(name, text) extern const char front_##name[];
#include "front.def"
#undef FRONT

/* Judges a request: its method, headers and body (borrowed). The body is
 * parsed only where no handler will parse it (unknown targets, operations
 * ddbx answers itself), into `arena`. */
void front_judge(const char *method, const struct http_header *headers, int nheaders,
                 const char *body, size_t body_len, struct arena *arena,
                 struct front_judgement *out);

/* True when body is JSON (any value; an empty body passes), which DynamoDB
 * checks before the target and the authentication: a request refused for
 * its authentication whose body is not JSON is answered FRONT_NOT_JSON's
 * SerializationException instead, as DynamoDB does. */
bool front_body_is_json(const char *body, size_t len, struct arena *arena);

/* For any verdict but FRONT_OPERATION: appends DynamoDB's answer body to
 * `body` and returns its HTTP status. `region` names the health answer's
 * endpoint. */
int front_answer(const struct front_judgement *j, const char *region, struct buf *body);

#endif
