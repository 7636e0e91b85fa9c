/* errors.c: the error table and the composition of DynamoDB error bodies. */
#include "proto/errors.h"

#include "proto/json.h"

#define ERR_RETRY_yes true
#define ERR_RETRY_no false

static const struct ddb_error_desc table[] = {
#define ERR(name, status, retryable, ns, message)                                                  \
    {#name, status, ERR_RETRY_##retryable, ns "#" #name, message},
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
