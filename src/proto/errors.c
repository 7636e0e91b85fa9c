/* errors.c: the error and message tables and the composition of DynamoDB error bodies. */
#include "proto/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/json.h"
#include "util/common.h"

#define ERR_WRITE_unchanged DDB_WRITE_UNCHANGED
#define ERR_WRITE_invalidate DDB_WRITE_INVALIDATE
#define ERR_WRITE_ambiguous DDB_WRITE_AMBIGUOUS
#define ERR_TABLE_keep false
#define ERR_TABLE_forget true

static const struct ddb_error_desc table[] = {
#define ERR(name, status, write, tbl, ns, member, message)                                         \
    {#name, status, ERR_WRITE_##write, ERR_TABLE_##tbl, ns "#" #name, member, message},
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

int ddb_error_parse_type(struct arena *a, const char *body, size_t len, const char **name,
                         size_t *name_len)
{
    struct json *doc;
    if (!body || json_parse(a, body, len, &doc, NULL, 0) != JSON_OK) return DDBX_ERR;
    const struct json *t = json_get(doc, "__type");
    if (!json_is_string(t)) return DDBX_ERR;
    const char *hash = memchr(t->str, '#', t->len);
    *name = hash ? hash + 1 : t->str;
    *name_len = t->len - (size_t)(*name - t->str);
    return DDBX_OK;
}

bool ddb_error_is(const char *name, size_t name_len, enum ddb_error error)
{
    const char *want = table[error].name;
    return name && strlen(want) == name_len && memcmp(name, want, name_len) == 0;
}

const struct ddb_error_desc *ddb_error_find(const char *name, size_t name_len)
{
    for (int i = 0; i < DDB_ERROR_COUNT; i++)
        if (ddb_error_is(name, name_len, (enum ddb_error)i)) return &table[i];
    return NULL;
}
