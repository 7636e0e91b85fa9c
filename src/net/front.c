/*
 * front.c: DynamoDB's judging order at the HTTP front (see front.h), and the
 * answers it composes from proto/front.tsv. Mirrors what DynamoDB does, as
 * dynalite (which copies DynamoDB) and the AWS documentation describe it:
 * tests/integration/test_conformance.py compares the two.
 */
#include "net/front.h"

#include <string.h>

#include "proto/errors.h"
#include "proto/json.h"

#define FRONT(name, text) const char front_##name[] = text;
#include "front.def"
#undef FRONT

/* True when s[0..len) is `word`. */
static bool is(const char *s, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(s, word, len) == 0;
}

/* The media type of a Content-Type value: what precedes any ';', without
 * surrounding blanks. DynamoDB compares it case-sensitively. */
static const char *media_type(const char *v, size_t vlen, size_t *len)
{
    const char *semi = memchr(v, ';', vlen);
    const char *end = semi ? semi : v + vlen;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *len = (size_t)(end - v);
    return v;
}

/* A body no handler will read must still be JSON, as DynamoDB parses every
 * body before it looks at the target. Any JSON value passes, as there. */
bool front_body_is_json(const char *body, size_t len, struct arena *arena)
{
    struct json *doc;
    return len == 0 || json_parse(arena, body, len, &doc, NULL, 0) != JSON_EINVALID;
}

void front_judge(const char *method, const struct http_header *headers, int nheaders,
                 const char *body, size_t body_len, struct arena *arena,
                 struct front_judgement *out)
{
    size_t len = 0;
    const char *origin = http_header_find(headers, nheaders, "origin", &len);
    *out = (struct front_judgement){FRONT_OPERATION, NULL, "", origin && len > 0};
    if (out->cors && strcmp(method, "OPTIONS") == 0) {
        out->verdict = FRONT_PREFLIGHT;
        return;
    }
    if (strcmp(method, "GET") == 0) {
        out->verdict = FRONT_HEALTH;
        return;
    }
    const char *ct = http_header_find(headers, nheaders, "content-type", &len);
    const char *type = ct ? media_type(ct, len, &len) : "";
    bool amz = ct && is(type, len, front_content_type_amz_json);
    if (strcmp(method, "POST") != 0 ||
        (body_len > 0 && !amz && !(ct && is(type, len, front_content_type_json)))) {
        out->verdict = FRONT_NOT_FOUND;
        return;
    }
    out->content_type = amz ? front_content_type_amz_json : front_content_type_json;
    const char *target = http_header_find(headers, nheaders, "x-amz-target", &len);
    out->op = target ? ops_lookup(target, len) : NULL;
    /* every other operation's handler parses its body and answers the same
     * SerializationException itself: no second parse on the request path */
    if ((!out->op || out->op->cls == OPC_local) && !front_body_is_json(body, body_len, arena))
        out->verdict = FRONT_NOT_JSON;
    else if (!out->op)
        out->verdict = FRONT_UNKNOWN_OP;
    /* authentication comes next (net/trust.h, called by the worker): after the
     * target, before the operation's own validation */
}

int front_answer(const struct front_judgement *j, const char *region, struct buf *body)
{
    switch (j->verdict) {
    case FRONT_HEALTH: buf_printf(body, front_health_body, region); return 200;
    case FRONT_NOT_FOUND: buf_append_str(body, front_not_found_body); return 404;
    case FRONT_NOT_JSON:
        ddb_error_compose(body, DDB_SerializationException, NULL);
        return ddb_error_desc(DDB_SerializationException)->status;
    case FRONT_UNKNOWN_OP:
        ddb_error_compose(body, DDB_UnknownOperationException, NULL);
        return ddb_error_desc(DDB_UnknownOperationException)->status;
    case FRONT_PREFLIGHT:
    case FRONT_OPERATION: break;
    }
    return 200; /* a preflight's answer is empty */
}
