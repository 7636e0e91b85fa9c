/*
 * grant.c: per-table grants (see grant.h). The only place where a
 * principal's table list meets a request: handler_dispatch calls
 * handler_authorize before the operation's handler, so nothing is looked up
 * in the cache or sent to the backend for a refused request.
 */
#include "handler/grant.h"

#include "auth/credentials.h"
#include "auth/messages.h"
#include "metrics/metrics.h"
#include "proto/params.h"
#include "proto/resources.h"
#include "util/common.h"

/* Answers AccessDeniedException naming the resource (NUL-terminated). */
static int deny(struct request *r, const char *resource)
{
    struct auth_failure f;
    auth_failure_init(&f);
    auth_access_denied(&f, auth_principal_key_id(r->principal), r->op->name, resource);
    METRIC_INCR(access_denied);
    request_send_error(r, f.error, "%s", f.message.data);
    auth_failure_free(&f);
    return DDBX_ERR;
}

int handler_authorize(struct request *r)
{
    const struct auth_principal *p = r->principal;
    if (!p || auth_principal_table_count(p) == 0) return DDBX_OK;
    struct json *doc;
    struct attr_error err;
    if (ddb_parse_object(r->arena, r->body, r->body_len, &doc, &err) != DDB_PARAMS_OK) {
        request_send_error(r, err.code, NULL); /* DynamoDB's: no message */
        return DDBX_ERR;
    }
    struct ddb_reached reached;
    switch (ddb_resources(r->arena, r->op->id, doc, &reached)) {
    case DDB_REACH_OPEN: return DDBX_OK;
    case DDB_REACH_TABLES: break;
    default: return deny(r, "*"); /* the account's tables, or tables ddbx cannot read */
    }
    for (int i = 0; i < reached.n; i++) {
        const struct ddb_table_ref *t = &reached.tables[i];
        if (!auth_principal_allows(p, t->name, t->len))
            return deny(r, arena_strndup(r->arena, t->name, t->len));
    }
    return DDBX_OK;
}
