/*
 * messages.h: authentication failures as DynamoDB answers them: the __type
 * (a row of proto/errors.tsv) and the message text, from the table
 * proto/auth_messages.tsv (the texts live there, not in C).
 */
#ifndef DDBX_AUTH_MESSAGES_H
#define DDBX_AUTH_MESSAGES_H

#include "proto/errors.h"
#include "util/buf.h"

enum auth_msg {
#define AUTHMSG(id, error, nargs, source, message) AUTH_MSG_##id,
#include "auth_messages.def"
#undef AUTHMSG
    AUTH_MSG_COUNT
};

struct auth_msg_desc {
    const char *id;       /* "EXPIRED" */
    enum ddb_error error; /* the __type DynamoDB answers with */
    int nargs;            /* string arguments the format takes */
    const char *source;   /* "dynamodb", "aws" or "ddbx" (see the table) */
    const char *format;   /* printf format with %s / %N$s conversions only */
};

const struct auth_msg_desc *auth_msg_desc(enum auth_msg m);

/* Why a request was refused. Initialise with auth_failure_init, free with
 * auth_failure_free; the lead's handler answers ddb_error_compose(out,
 * f.error, f.message.data). */
struct auth_failure {
    enum auth_msg reason; /* the first reason found */
    enum ddb_error error; /* the __type of the answer */
    struct buf message;   /* owned: the whole message, NUL-terminated */
};

void auth_failure_init(struct auth_failure *f);
void auth_failure_free(struct auth_failure *f);

/* Records reason m, its __type and its text formatted with the m's nargs
 * NUL-terminated string arguments, replacing what f held. Returns -1, so
 * refusals read `return auth_fail(f, ...)`. */
int auth_fail(struct auth_failure *f, enum auth_msg m, ...);
/* Appends one more piece (a space, then m's text) to f's message, as
 * DynamoDB joins every missing part of a header into one message; when f
 * holds no reason yet, it is auth_fail. */
void auth_fail_more(struct auth_failure *f, enum auth_msg m, ...);
/* The AccessDeniedException for `user` calling operation `action` (e.g.
 * "GetItem") on `resource` (a table name or ARN; the caller decides which).
 * Returns -1. */
int auth_access_denied(struct auth_failure *f, const char *user, const char *action,
                       const char *resource);

#endif
