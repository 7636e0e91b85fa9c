/*
 * stream.h: DynamoDB Streams answers, parsed (no I/O): DescribeStream,
 * GetShardIterator, GetRecords and the errors a reader must tell apart.
 *
 * Sequence numbers are decimal strings of up to 40 digits (real ones have
 * 21 to 40); they are compared as decimal numbers, by length and then digit
 * by digit, never through a double or a 64-bit integer.
 *
 * Every parse borrows strings and JSON subtrees from the parsed answer (the
 * tree's strings are NUL-terminated); arrays it makes live in the arena.
 * A parser is strict: an answer that is not what DynamoDB sends (a record
 * without keys or sequence number, records out of order, an unknown event)
 * is refused as a whole, and the reader treats it as a gap.
 */
#ifndef DDBX_PROTO_STREAM_H
#define DDBX_PROTO_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/invalidation.h"
#include "proto/json.h"
#include "proto/query.h"
#include "util/arena.h"

#define STREAM_SEQ_MAX 40 /* digits of a sequence number */

enum stream_status { STREAM_OK = 0, STREAM_EINVALID = -1 };

struct stream_str {
    const char *s; /* NULL when absent */
    size_t len;
};

enum stream_state {
    STREAM_STATE_UNKNOWN = 0,
    STREAM_ENABLING,
    STREAM_ENABLED,
    STREAM_DISABLING,
    STREAM_DISABLED,
};

struct stream_shard {
    struct stream_str id;
    struct stream_str parent_id; /* s NULL: no parent */
    struct stream_str start_seq;
    struct stream_str end_seq; /* s NULL: the shard is open */
};

struct stream_description {
    struct stream_str arn, label, table;
    enum stream_state state;
    enum query_stream_view view;
    int nshards;
    struct stream_shard *shards;               /* in the arena */
    struct stream_str last_evaluated_shard_id; /* s NULL: this was the last page */
};

/* Parses a DescribeStream answer (the whole body). Returns a stream_status. */
int stream_parse_describe(struct arena *a, const struct json *doc, struct stream_description *out);
/* Orders shards so that every parent in the list comes before its children
 * (a parent missing from the list, trimmed or on another page, does not
 * hold its children back): in rounds, each taking in the given order the
 * shards whose parents are placed. */
void stream_shards_order(struct stream_shard *shards, int n);

/* Parses a GetShardIterator answer: *it is its ShardIterator. */
int stream_parse_iterator(const struct json *doc, struct stream_str *it);

enum stream_event { STREAM_INSERT = 1, STREAM_MODIFY, STREAM_REMOVE };

struct stream_record {
    enum stream_event event;
    struct stream_str event_id;
    struct stream_str seq;
    const struct json *keys;      /* an object of AttributeValues */
    const struct json *new_image; /* NULL when absent (REMOVE, KEYS_ONLY, OLD_IMAGE) */
    const struct json *old_image; /* NULL when absent (INSERT, KEYS_ONLY, NEW_IMAGE) */
    int64_t created_ms;           /* ApproximateCreationDateTime, -1 when absent */
    enum query_stream_view view;  /* QUERY_STREAM_NONE when absent */
    bool ttl_delete;              /* a REMOVE made by DynamoDB's TTL expiry */
};

struct stream_records {
    int n;
    struct stream_record *records;   /* in the arena, in sequence order */
    struct stream_str next_iterator; /* s NULL: the shard is closed and fully read */
};

/* Parses a GetRecords answer. Returns a stream_status. */
int stream_parse_records(struct arena *a, const struct json *doc, struct stream_records *out);

/* What a record tells of the item it changed, as proto/invalidation.h wants
 * it: INSERT had no old item, REMOVE leaves none, images as the view gives. */
void stream_record_write(const struct stream_record *r, struct invalidation_write *w);

/* Errors a stream reader handles differently. */
enum stream_error {
    STREAM_ERROR_OTHER = 0,
    STREAM_ERROR_EXPIRED_ITERATOR, /* ExpiredIteratorException: get a new iterator */
    STREAM_ERROR_TRIMMED,          /* TrimmedDataAccessException: records lost, a gap */
    STREAM_ERROR_NOT_FOUND,        /* ResourceNotFoundException: stream or shard gone */
    STREAM_ERROR_LIMIT,            /* LimitExceededException, throttling: back off */
};
/* Classifies an error answer by its __type (the part after '#'). */
enum stream_error stream_parse_error(const struct json *doc);

/* True when s[0..len) is 1 to 40 decimal digits. */
bool stream_seq_valid(const char *s, size_t len);
/* Compares two valid sequence numbers as decimal numbers: <0, 0, >0. */
int stream_seq_compare(const char *a, size_t alen, const char *b, size_t blen);

#endif
