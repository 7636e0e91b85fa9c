/*
 * stream.c: parsing DynamoDB Streams answers, and sequence number order.
 * Sequence numbers are compared by hand: they are decimal strings of up to
 * 40 digits, beyond any integer type and beyond a double's precision.
 */
#include "proto/stream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"

static bool str_is(const struct json *v, const char *s)
{
    return json_is_string(v) && v->len == strlen(s) && memcmp(v->str, s, v->len) == 0;
}

static struct stream_str str_of(const struct json *v)
{
    struct stream_str s = {NULL, 0};
    if (json_is_string(v)) s.s = v->str, s.len = v->len;
    return s;
}

/* An optional string member: absent or null is fine, another type is not. */
static int optional_str(const struct json *obj, const char *name, struct stream_str *out)
{
    const struct json *v = json_get(obj, name);
    *out = str_of(v);
    return !v || v->type == JSON_NULL || json_is_string(v) ? STREAM_OK : STREAM_EINVALID;
}

bool stream_seq_valid(const char *s, size_t len)
{
    if (!s || len == 0 || len > STREAM_SEQ_MAX) return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

int stream_seq_compare(const char *a, size_t alen, const char *b, size_t blen)
{
    while (alen > 1 && *a == '0')
        a++, alen--;
    while (blen > 1 && *b == '0')
        b++, blen--;
    if (alen != blen) return alen < blen ? -1 : 1;
    int c = memcmp(a, b, alen);
    return (c > 0) - (c < 0);
}

static bool seq_ok(const struct stream_str *s)
{
    return stream_seq_valid(s->s, s->len);
}

static enum query_stream_view view_of(const struct json *v)
{
    static const char *const views[] = {"KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE",
                                        "NEW_AND_OLD_IMAGES"};
    for (size_t i = 0; i < ARRAY_SIZE(views); i++)
        if (str_is(v, views[i])) return (enum query_stream_view)(QUERY_STREAM_KEYS_ONLY + i);
    return QUERY_STREAM_NONE;
}

/* ---- DescribeStream ---- */

static int parse_shard(const struct json *j, struct stream_shard *s)
{
    const struct json *range = json_get(j, "SequenceNumberRange");
    if (!json_is_object(j) || !json_is_object(range)) return STREAM_EINVALID;
    s->id = str_of(json_get(j, "ShardId"));
    s->start_seq = str_of(json_get(range, "StartingSequenceNumber"));
    if (!s->id.s || s->id.len == 0 || !seq_ok(&s->start_seq) ||
        optional_str(j, "ParentShardId", &s->parent_id) ||
        optional_str(range, "EndingSequenceNumber", &s->end_seq))
        return STREAM_EINVALID;
    if (s->end_seq.s && !seq_ok(&s->end_seq)) return STREAM_EINVALID;
    return STREAM_OK;
}

static enum stream_state state_of(const struct json *v)
{
    static const char *const states[] = {"ENABLING", "ENABLED", "DISABLING", "DISABLED"};
    for (size_t i = 0; i < ARRAY_SIZE(states); i++)
        if (str_is(v, states[i])) return (enum stream_state)(STREAM_ENABLING + i);
    return STREAM_STATE_UNKNOWN;
}

int stream_parse_describe(struct arena *a, const struct json *doc, struct stream_description *out)
{
    memset(out, 0, sizeof(*out));
    const struct json *d = json_get(doc, "StreamDescription");
    const struct json *shards = json_get(d, "Shards");
    if (!json_is_object(d) || (shards && !json_is_array(shards))) return STREAM_EINVALID;
    out->arn = str_of(json_get(d, "StreamArn"));
    out->label = str_of(json_get(d, "StreamLabel"));
    out->table = str_of(json_get(d, "TableName"));
    out->state = state_of(json_get(d, "StreamStatus"));
    out->view = view_of(json_get(d, "StreamViewType"));
    if (!out->arn.s || optional_str(d, "LastEvaluatedShardId", &out->last_evaluated_shard_id))
        return STREAM_EINVALID;
    uint32_t n = shards ? shards->len : 0;
    out->shards = arena_alloc(a, (n ? n : 1) * sizeof(*out->shards));
    memset(out->shards, 0, (n ? n : 1) * sizeof(*out->shards));
    for (const struct json *s = shards ? shards->child : NULL; s; s = s->next)
        if (parse_shard(s, &out->shards[out->nshards++]) != STREAM_OK) return STREAM_EINVALID;
    return STREAM_OK;
}

static bool same_str(const struct stream_str *x, const struct stream_str *y)
{
    return x->s && y->s && x->len == y->len && memcmp(x->s, y->s, x->len) == 0;
}

/* True when shard i's parent is among the shards not yet placed. */
static bool waits_for_parent(const struct stream_shard *s, const bool *placed, int n, int i)
{
    for (int j = 0; j < n; j++)
        if (j != i && !placed[j] && same_str(&s[i].parent_id, &s[j].id)) return true;
    return false;
}

void stream_shards_order(struct stream_shard *shards, int n)
{
    if (n < 2) return;
    bool *placed = xcalloc((size_t)n, sizeof(*placed));
    struct stream_shard *sorted = xmalloc((size_t)n * sizeof(*sorted));
    int done = 0;
    while (done < n) {
        int before = done;
        for (int i = 0; i < n; i++) {
            if (placed[i] || waits_for_parent(shards, placed, n, i)) continue;
            placed[i] = true;
            sorted[done++] = shards[i];
        }
        if (done == before) /* a cycle, which DynamoDB never sends: keep the order */
            for (int i = 0; i < n; i++)
                if (!placed[i]) placed[i] = true, sorted[done++] = shards[i];
    }
    memcpy(shards, sorted, (size_t)n * sizeof(*sorted));
    free(sorted);
    free(placed);
}

/* ---- GetShardIterator ---- */

int stream_parse_iterator(const struct json *doc, struct stream_str *it)
{
    *it = str_of(json_get(doc, "ShardIterator"));
    return it->s && it->len ? STREAM_OK : STREAM_EINVALID;
}

/* ---- GetRecords ---- */

/* ApproximateCreationDateTime: epoch seconds as a JSON number ("1.7E9",
 * "1796037694.643"). A timestamp, not a DynamoDB number: a double is fine. */
static int parse_time(const struct json *v, int64_t *ms)
{
    *ms = -1;
    if (!v) return STREAM_OK;
    if (v->type != JSON_NUMBER) return STREAM_EINVALID;
    double sec = strtod(v->str, NULL);
    if (!isfinite(sec) || sec < 0 || sec > 1e11) return STREAM_EINVALID;
    *ms = (int64_t)(sec * 1000.0 + 0.5);
    return STREAM_OK;
}

static int parse_event(const struct json *v, enum stream_event *e)
{
    *e = str_is(v, "INSERT")   ? STREAM_INSERT
         : str_is(v, "MODIFY") ? STREAM_MODIFY
         : str_is(v, "REMOVE") ? STREAM_REMOVE
                               : 0;
    return *e ? STREAM_OK : STREAM_EINVALID;
}

static const struct json *optional_object(const struct json *obj, const char *name, int *rc)
{
    const struct json *v = json_get(obj, name);
    if (v && !json_is_object(v)) *rc = STREAM_EINVALID;
    return json_is_object(v) ? v : NULL;
}

static int parse_record(const struct json *j, struct stream_record *r)
{
    const struct json *d = json_get(j, "dynamodb"), *who = json_get(j, "userIdentity");
    int rc = STREAM_OK;
    if (!json_is_object(j) || !json_is_object(d) ||
        parse_event(json_get(j, "eventName"), &r->event) ||
        optional_str(j, "eventID", &r->event_id) ||
        parse_time(json_get(d, "ApproximateCreationDateTime"), &r->created_ms))
        return STREAM_EINVALID;
    r->keys = json_get(d, "Keys");
    r->seq = str_of(json_get(d, "SequenceNumber"));
    r->new_image = optional_object(d, "NewImage", &rc);
    r->old_image = optional_object(d, "OldImage", &rc);
    r->view = view_of(json_get(d, "StreamViewType"));
    if (rc || !json_is_object(r->keys) || r->keys->len == 0 || !seq_ok(&r->seq))
        return STREAM_EINVALID;
    /* images an event cannot have mean the answer is not DynamoDB's */
    if ((r->event == STREAM_INSERT && r->old_image) || (r->event == STREAM_REMOVE && r->new_image))
        return STREAM_EINVALID;
    r->ttl_delete = r->event == STREAM_REMOVE && str_is(json_get(who, "type"), "Service") &&
                    str_is(json_get(who, "principalId"), "dynamodb.amazonaws.com");
    return STREAM_OK;
}

int stream_parse_records(struct arena *a, const struct json *doc, struct stream_records *out)
{
    memset(out, 0, sizeof(*out));
    const struct json *list = json_get(doc, "Records");
    if (!json_is_object(doc) || (list && !json_is_array(list)) ||
        optional_str(doc, "NextShardIterator", &out->next_iterator))
        return STREAM_EINVALID;
    uint32_t n = list ? list->len : 0;
    out->records = arena_alloc(a, (n ? n : 1) * sizeof(*out->records));
    memset(out->records, 0, (n ? n : 1) * sizeof(*out->records));
    for (const struct json *j = list ? list->child : NULL; j; j = j->next) {
        struct stream_record *r = &out->records[out->n];
        if (parse_record(j, r) != STREAM_OK) return STREAM_EINVALID;
        /* a shard's records come in sequence order: anything else would let
         * an older record be applied after a newer one */
        const struct stream_record *prev = out->n ? r - 1 : NULL;
        if (prev && stream_seq_compare(prev->seq.s, prev->seq.len, r->seq.s, r->seq.len) >= 0)
            return STREAM_EINVALID;
        out->n++;
    }
    return STREAM_OK;
}

static enum invalidation_image image_state(const struct json *image)
{
    return image ? INVALIDATION_KNOWN : INVALIDATION_UNKNOWN;
}

void stream_record_write(const struct stream_record *r, struct invalidation_write *w)
{
    memset(w, 0, sizeof(*w));
    w->key = r->keys;
    w->old_image = r->old_image;
    w->new_image = r->new_image;
    w->old_state = r->event == STREAM_INSERT ? INVALIDATION_ABSENT : image_state(r->old_image);
    w->new_state = r->event == STREAM_REMOVE ? INVALIDATION_ABSENT : image_state(r->new_image);
}

/* ---- errors ---- */

enum stream_error stream_parse_error(const struct json *doc)
{
    static const struct {
        const char *name;
        enum stream_error kind;
    } kinds[] = {
        {"ExpiredIteratorException", STREAM_ERROR_EXPIRED_ITERATOR},
        {"TrimmedDataAccessException", STREAM_ERROR_TRIMMED},
        {"ResourceNotFoundException", STREAM_ERROR_NOT_FOUND},
        {"LimitExceededException", STREAM_ERROR_LIMIT},
        {"ThrottlingException", STREAM_ERROR_LIMIT},
        {"ProvisionedThroughputExceededException", STREAM_ERROR_LIMIT},
    };
    const struct json *t = json_get(doc, "__type");
    if (!json_is_string(t)) return STREAM_ERROR_OTHER;
    const char *hash = memchr(t->str, '#', t->len);
    const char *name = hash ? hash + 1 : t->str;
    size_t len = t->len - (size_t)(name - t->str);
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
        if (strlen(kinds[i].name) == len && memcmp(kinds[i].name, name, len) == 0)
            return kinds[i].kind;
    return STREAM_ERROR_OTHER;
}
