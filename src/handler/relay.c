/*
 * relay.c: operations ddbx forwards unchanged (table administration, Query,
 * Scan, Streams, ...), and DescribeEndpoints, which ddbx answers itself.
 *
 * A relayed body must be a JSON object: anything else is refused with
 * SerializationException before it reaches the backend, as DynamoDB would.
 * An answer that describes a table (proto/operations.tsv's "describes"
 * column: DescribeTable, CreateTable, UpdateTable) teaches ddbx the table's
 * key schema on its way to the client.
 */
#include <string.h>

#include "handler/handler.h"
#include "handler/schema.h"
#include "handler/throttle.h"
#include "proto/json.h"
#include "util/common.h"

int handler_relay_take(struct backend_result *res, struct request *r)
{
    struct json *doc;
    if (r->op->describes && res->outcome == BACKEND_ANSWERED && res->status == 200 &&
        json_parse(r->arena, res->body.data, res->body.len, &doc, NULL, 0) == JSON_OK)
        schema_learn(json_get(doc, r->op->describes));
    return request_backend_take(r, res);
}

void handler_relay_done(struct backend_result *res, void *arg)
{
    struct request *r = arg;
    CHECK_MAGIC(r, REQUEST_MAGIC);
    request_send(r, handler_relay_take(res, r));
}

void handler_call(struct request *r, const char *target, struct buf *body, backend_cb cb, void *arg)
{
    throttle_call(r, target, body, cb, arg); /* --max-backend-inflight */
}

void handler_forward(struct request *r, const char *body, size_t len, backend_cb cb, void *arg)
{
    struct buf copy = BUF_INIT;
    buf_append(&copy, body, len);
    handler_call(r, r->op->target, &copy, cb, arg);
}

void handler_relay(struct request *r)
{
    if (json_validate_object(r->body, r->body_len) != JSON_OK) {
        request_send_error(r, DDB_SerializationException, NULL);
        return;
    }
    handler_forward(r, r->body, r->body_len, handler_relay_done, r);
}

/* Endpoint discovery: point SDKs back at ddbx, never past it to DynamoDB. */
void handler_describe_endpoints(struct request *r)
{
    size_t len = 0;
    const char *host = request_header(r, "host", &len);
    struct json_writer w;
    jw_init(&w, &r->reply);
    jw_object_begin(&w);
    jw_cstr(&w, "Endpoints");
    jw_array_begin(&w);
    jw_object_begin(&w);
    jw_cstr(&w, "Address");
    jw_string(&w, host ? host : "localhost", host ? len : strlen("localhost"));
    jw_cstr(&w, "CachePeriodInMinutes");
    jw_number_raw(&w, "1440", 4);
    jw_object_end(&w);
    jw_array_end(&w);
    jw_object_end(&w);
    jw_free(&w);
    request_send(r, 200);
}
