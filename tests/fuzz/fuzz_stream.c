/*
 * fuzz_stream.c: DynamoDB Streams answers (src/proto/stream.h).
 *
 * The input is a JSON document, parsed as a GetRecords, a DescribeStream, a
 * GetShardIterator and an error answer. Checked, besides ASan/UBSan: an
 * accepted GetRecords has records with a known event, keys, a valid
 * sequence number, strictly increasing, and images its event allows;
 * sequence number comparison is antisymmetric; stream_record_write says
 * INSERT had no old item and REMOVE leaves none; an accepted DescribeStream
 * has shards with ids and valid sequence numbers, and ordering them keeps
 * every shard exactly once.
 */
#include <string.h>

#include "fuzz.h"
#include "proto/json.h"
#include "proto/stream.h"

static void check_records(struct arena *a, const struct json *doc)
{
    struct stream_records rs;
    if (stream_parse_records(a, doc, &rs) != STREAM_OK) return;
    for (int i = 0; i < rs.n; i++) {
        const struct stream_record *r = &rs.records[i];
        FUZZ_CHECK(r->event >= STREAM_INSERT && r->event <= STREAM_REMOVE);
        FUZZ_CHECK(json_is_object(r->keys) && r->keys->len > 0);
        FUZZ_CHECK(stream_seq_valid(r->seq.s, r->seq.len));
        FUZZ_CHECK(!(r->event == STREAM_INSERT && r->old_image));
        FUZZ_CHECK(!(r->event == STREAM_REMOVE && r->new_image));
        FUZZ_CHECK(stream_seq_compare(r->seq.s, r->seq.len, r->seq.s, r->seq.len) == 0);
        if (i) {
            const struct stream_str *p = &rs.records[i - 1].seq;
            FUZZ_CHECK(stream_seq_compare(p->s, p->len, r->seq.s, r->seq.len) < 0);
            FUZZ_CHECK(stream_seq_compare(r->seq.s, r->seq.len, p->s, p->len) > 0);
        }
        struct invalidation_write w;
        stream_record_write(r, &w);
        FUZZ_CHECK(w.key == r->keys);
        if (r->event == STREAM_INSERT) FUZZ_CHECK(w.old_state == INVALIDATION_ABSENT);
        if (r->event == STREAM_REMOVE) FUZZ_CHECK(w.new_state == INVALIDATION_ABSENT);
        if (r->new_image) FUZZ_CHECK(w.new_state == INVALIDATION_KNOWN);
    }
}

static void check_describe(struct arena *a, const struct json *doc)
{
    struct stream_description d;
    if (stream_parse_describe(a, doc, &d) != STREAM_OK) return;
    FUZZ_CHECK(d.arn.s);
    uint64_t ids = 0; /* a sum of the id pointers: the same set after ordering */
    for (int i = 0; i < d.nshards; i++) {
        const struct stream_shard *s = &d.shards[i];
        FUZZ_CHECK(s->id.s && s->id.len > 0 && stream_seq_valid(s->start_seq.s, s->start_seq.len));
        FUZZ_CHECK(!s->end_seq.s || stream_seq_valid(s->end_seq.s, s->end_seq.len));
        ids += (uintptr_t)s->id.s;
    }
    stream_shards_order(d.shards, d.nshards);
    for (int i = 0; i < d.nshards; i++)
        ids -= (uintptr_t)d.shards[i].id.s;
    FUZZ_CHECK(ids == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena a;
    arena_init(&a);
    struct json *doc = NULL;
    if (json_parse(&a, (const char *)data, size, &doc, NULL, 0) == JSON_OK) {
        check_records(&a, doc);
        check_describe(&a, doc);
        struct stream_str it;
        if (stream_parse_iterator(doc, &it) == STREAM_OK) FUZZ_CHECK(it.s && it.len);
        enum stream_error e = stream_parse_error(doc);
        FUZZ_CHECK(e >= STREAM_ERROR_OTHER && e <= STREAM_ERROR_LIMIT);
    }
    arena_free(&a);
    return 0;
}
