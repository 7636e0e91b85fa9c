/* errors.c: the error and message tables and the composition of DynamoDB error bodies. */
#include "proto/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/json.h"

#define ERR_RETRY_yes true
#define ERR_RETRY_no false

static const struct ddb_error_desc table[] = {
#define ERR(name, status, retryable, ns, member, message)                                          \
    {#name, status, ERR_RETRY_##retryable, ns "#" #name, member, message},
#include "errors.def"
#undef ERR
};

static const struct {
    enum ddb_error error;
    const char *text;
} messages[] = {
#define MSG(name, error, text) {DDB_##error, text},
#include "messages.def"
#undef MSG
};

const struct ddb_error_desc *ddb_error_desc(enum ddb_error e)
{
    return &table[e];
}

/* The table's default text, or NULL where it says "-" (DynamoDB sends none). */
static const char *default_message(enum ddb_error e)
{
    return strcmp(table[e].message, "-") == 0 ? NULL : table[e].message;
}

void ddb_error_compose(struct buf *out, enum ddb_error e, const char *message)
{
    if (!message) message = default_message(e);
    struct json_writer w;
    jw_init(&w, out);
    jw_object_begin(&w);
    jw_cstr(&w, "__type");
    jw_cstr(&w, table[e].type);
    if (message) {
        jw_cstr(&w, table[e].member);
        jw_cstr(&w, message);
    }
    jw_object_end(&w);
    jw_free(&w);
}

enum ddb_error ddb_msg_error(enum ddb_msg m)
{
    return messages[m].error;
}

const char *ddb_msg_text(enum ddb_msg m)
{
    return messages[m].text;
}

enum ddb_error ddb_msg_format(char *out, size_t outlen, enum ddb_msg m, ...)
{
    va_list ap;
    va_start(ap, m);
    vsnprintf(out, outlen, messages[m].text, ap);
    va_end(ap);
    return messages[m].error;
}

void ddb_msg_compose(struct buf *out, enum ddb_msg m, ...)
{
    struct buf text = BUF_INIT; /* a text may quote a whole request (batch_write_table_requests) */
    va_list ap;
    va_start(ap, m);
    buf_vprintf(&text, messages[m].text, ap);
    va_end(ap);
    ddb_error_compose(out, messages[m].error, text.data ? text.data : "");
    buf_free(&text);
}
