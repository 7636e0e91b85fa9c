/*
 * errors.h: the DynamoDB errors ddbx composes itself, from proto/errors.tsv,
 * and the texts it sends them with, from proto/messages.tsv (libuv's
 * UV_ERRNO_MAP pattern: the enums, the status, the __type string and every
 * text come from tables; no error text is a literal in C).
 */
#ifndef DDBX_PROTO_ERRORS_H
#define DDBX_PROTO_ERRORS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

enum ddb_error {
#define ERR(name, status, write, table, ns, member, message) DDB_##name,
#include "errors.def"
#undef ERR
    DDB_ERROR_COUNT
};

/* What an error a write got from the backend means for the cache. */
enum ddb_write_effect {
    DDB_WRITE_UNCHANGED,  /* refused: nothing was written */
    DDB_WRITE_INVALIDATE, /* not written, but the cached copy may be stale */
    DDB_WRITE_AMBIGUOUS,  /* may have been written, or may still be */
};

struct ddb_error_desc {
    const char *name;            /* "ValidationException" */
    int status;                  /* HTTP status */
    enum ddb_write_effect write; /* for a write that got it from the backend */
    bool forgets_table;          /* the table is gone: forget it */
    const char *type;            /* full __type: "com.amazon.coral.validate#ValidationException" */
    const char *member;          /* the member the text goes in: "message" ("Message" for some) */
    const char *message;         /* default message; "-" where DynamoDB sends none */
};

const struct ddb_error_desc *ddb_error_desc(enum ddb_error e);
/* Appends {"__type":"...","<member>":"..."} to out. message NULL: the
 * table's default, and no text at all where the table has none
 * (SerializationException and UnknownOperationException, as DynamoDB). */
void ddb_error_compose(struct buf *out, enum ddb_error e, const char *message);

/* The texts of proto/messages.tsv: MSG_<name>. */
enum ddb_msg {
#define MSG(name, error, text) MSG_##name,
#include "messages.def"
#undef MSG
    DDB_MSG_COUNT
};

/* The error a message is sent as. */
enum ddb_error ddb_msg_error(enum ddb_msg m);
/* The message's text: a printf format (see proto/messages.tsv for the
 * arguments each one takes). Static storage. */
const char *ddb_msg_text(enum ddb_msg m);
/* Formats message m with its arguments into out[0..outlen) (truncated,
 * always NUL-terminated). Returns the error it is sent as. */
enum ddb_error ddb_msg_format(char *out, size_t outlen, enum ddb_msg m, ...);
/* Appends the whole error body of message m, formatted with its arguments. */
void ddb_msg_compose(struct buf *out, enum ddb_msg m, ...);

/* The error name of a DynamoDB error body: the text after '#' in its
 * "__type" ("ConditionalCheckFailedException"), parsed into arena `a`.
 * Returns DDBX_OK with *name (NUL-terminated) and *len, or DDBX_ERR when the
 * body is not a JSON object with a string __type. */
struct arena;
int ddb_error_parse_type(struct arena *a, const char *body, size_t len, const char **name,
                         size_t *name_len);
/* True when `name` (from ddb_error_parse_type, may be NULL) is `error`. */
bool ddb_error_is(const char *name, size_t name_len, enum ddb_error error);
/* The known error of that name, or NULL. */
const struct ddb_error_desc *ddb_error_find(const char *name, size_t name_len);

#endif
