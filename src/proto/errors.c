/* errors.c: the error table and the composition of DynamoDB error bodies. */
#include "proto/errors.h"

#include "proto/json.h"

#include <string.h>

#include "util/common.h"

#define ERR_WRITE_unchanged DDB_WRITE_UNCHANGED
#define ERR_WRITE_invalidate DDB_WRITE_INVALIDATE
#define ERR_WRITE_ambiguous DDB_WRITE_AMBIGUOUS
#define ERR_TABLE_keep false
#define ERR_TABLE_forget true

static const struct ddb_error_desc table[] = {
#define ERR(name, status, write, tbl, ns, message)                                                 \
    {#name, status, ERR_WRITE_##write, ERR_TABLE_##tbl, ns "#" #name, message},
#include "errors.def"
#undef ERR
};

const struct ddb_error_desc *ddb_error_desc(enum ddb_error e)
{
    return &table[e];
}

void ddb_error_compose(struct buf *out, enum ddb_error e, const char *message)
{
    struct json_writer w;
    jw_init(&w, out);
    jw_object_begin(&w);
    jw_cstr(&w, "__type");
    jw_cstr(&w, table[e].type);
    if (message || e != DDB_UnknownOperationException) {
        jw_cstr(&w, "message");
        jw_cstr(&w, message ? message : table[e].message);
    }
    jw_object_end(&w);
    jw_free(&w);
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
