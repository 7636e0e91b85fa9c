/*
 * test_stream.c: DynamoDB Streams answers (proto/stream.h): DescribeStream,
 * GetShardIterator and GetRecords as moto serves them (captured by
 * tests/unit/proto/data/capture_moto.py), hand-made answers in DynamoDB's
 * shape for what moto does not do (closed shards, parents and children,
 * paging, TTL deletions, closed-shard ends), refused answers, error kinds
 * and sequence number order.
 */
#include "proto_test.h"

#include "proto/stream.h"
#include "testutil.h"

static bool str_eq(const struct stream_str *s, const char *want)
{
    return s->s && s->len == strlen(want) && memcmp(s->s, want, s->len) == 0;
}

#define assert_str(field, want) check_str(&(field), #field, want)

static void check_str(const struct stream_str *got, const char *what, const char *want)
{
    if (!str_eq(got, want))
        fail_msg("%s: \"%.*s\", expected \"%s\"", what, (int)got->len, got->s ? got->s : "", want);
}

/* ---- moto's answers ---- */

static void test_moto_describe(void **state)
{
    struct stream_description d;
    const struct json *doc = json_file(*state, "moto_describe_stream.json");
    assert_int_equal(stream_parse_describe(*state, doc, &d), STREAM_OK);
    assert_true(
        strncmp(d.arn.s, "arn:aws:dynamodb:us-east-1:123456789012:table/scores/stream/", 60) == 0);
    assert_str(d.table, "scores");
    assert_int_equal(d.state, STREAM_ENABLED);
    assert_int_equal(d.view, QUERY_STREAM_NEW_AND_OLD_IMAGES);
    assert_int_equal(d.nshards, 1);
    assert_str(d.shards[0].id, "shardId-00000001541626099285-f35f62ef");
    assert_null(d.shards[0].parent_id.s);
    assert_str(d.shards[0].start_seq, "1100000000017454423009");
    assert_null(d.shards[0].end_seq.s); /* open */
    assert_null(d.last_evaluated_shard_id.s);
    doc = json_file(*state, "moto_keys_only_describe_stream.json");
    assert_int_equal(stream_parse_describe(*state, doc, &d), STREAM_OK);
    assert_int_equal(d.view, QUERY_STREAM_KEYS_ONLY);
}

static void test_moto_iterator(void **state)
{
    struct stream_str it;
    const struct json *doc = json_file(*state, "moto_get_shard_iterator.json");
    assert_int_equal(stream_parse_iterator(doc, &it), STREAM_OK);
    assert_true(it.len > 100);
    assert_true(strncmp(it.s, "arn:aws:dynamodb:us-east-1:123456789012:table/scores/stream/", 60) ==
                0);
    assert_int_equal(stream_parse_iterator(json_lit(*state, "{}"), &it), STREAM_EINVALID);
    assert_int_equal(stream_parse_iterator(json_lit(*state, "{\"ShardIterator\":\"\"}"), &it),
                     STREAM_EINVALID);
}

static void assert_image_attr(const struct json *image, const char *name, const char *type,
                              const char *value)
{
    const struct json *v = json_get(json_get(image, name), type);
    if (!json_is_string(v) || strcmp(v->str, value) != 0)
        fail_msg("%s.%s is not %s", name, type, value);
}

static void test_moto_records(void **state)
{
    struct stream_records rs;
    const struct json *doc = json_file(*state, "moto_get_records.json");
    assert_int_equal(stream_parse_records(*state, doc, &rs), STREAM_OK);
    assert_int_equal(rs.n, 4);
    assert_non_null(rs.next_iterator.s); /* the shard is open */
    static const enum stream_event events[] = {STREAM_INSERT, STREAM_MODIFY, STREAM_INSERT,
                                               STREAM_REMOVE};
    for (int i = 0; i < 4; i++) {
        const struct stream_record *r = &rs.records[i];
        assert_int_equal(r->event, events[i]);
        assert_int_equal(r->view, QUERY_STREAM_NEW_AND_OLD_IMAGES);
        assert_int_equal(json_get(r->keys, "board") != NULL, 1);
        assert_int_equal(r->keys->len, 2);
        assert_true(r->created_ms > 1700000000000LL);
        assert_false(r->ttl_delete);
        assert_int_equal(r->event_id.len, 32);
    }
    assert_str(rs.records[0].seq, "1100000000017454423009");
    assert_str(rs.records[3].seq, "1100000000017454423012");
    assert_null(rs.records[0].old_image);
    assert_image_attr(rs.records[0].new_image, "score", "N", "10");
    assert_image_attr(rs.records[1].old_image, "score", "N", "10");
    assert_image_attr(rs.records[1].new_image, "score", "N", "12.50");
    assert_null(rs.records[3].new_image); /* REMOVE */
    assert_image_attr(rs.records[3].old_image, "player", "S", "ann");
    /* 1796037694.643 s */
    assert_int_equal(rs.records[0].created_ms, 1796037694643LL);
}

static void test_moto_records_empty_and_keys_only(void **state)
{
    struct stream_records rs;
    const struct json *doc = json_file(*state, "moto_get_records_empty.json");
    assert_int_equal(stream_parse_records(*state, doc, &rs), STREAM_OK);
    assert_int_equal(rs.n, 0);
    assert_non_null(rs.next_iterator.s);
    doc = json_file(*state, "moto_keys_only_get_records.json");
    assert_int_equal(stream_parse_records(*state, doc, &rs), STREAM_OK);
    assert_int_equal(rs.n, 2);
    assert_int_equal(rs.records[0].view, QUERY_STREAM_KEYS_ONLY);
    assert_null(rs.records[0].new_image);
    assert_null(rs.records[0].old_image);
    assert_non_null(json_get(rs.records[1].keys, "id"));
    assert_int_equal(rs.records[1].event, STREAM_REMOVE);
}

/* ---- DynamoDB's shapes moto does not produce ---- */

/* A stream whose first shard closed and split into a chain, one page of it:
 * shapes from the DynamoDB documentation's DescribeStream example. */
static const char paged_describe[] =
    "{\"StreamDescription\":{\"StreamArn\":\"arn:aws:dynamodb:us-west-2:111122223333:table/Forum/"
    "stream/2015-05-20T20:51:10.252\",\"StreamLabel\":\"2015-05-20T20:51:10.252\","
    "\"StreamStatus\":\"ENABLED\",\"StreamViewType\":\"NEW_AND_OLD_IMAGES\","
    "\"CreationRequestDateTime\":1.432155070252E9,\"TableName\":\"Forum\","
    "\"KeySchema\":[{\"AttributeName\":\"ForumName\",\"KeyType\":\"HASH\"}],"
    "\"Shards\":["
    "{\"ShardId\":\"shardId-00000001414576573621-f55eea83\",\"ParentShardId\":"
    "\"shardId-00000001414562045508-2bac9cd2\",\"SequenceNumberRange\":{"
    "\"StartingSequenceNumber\":\"820400000000000001192334\",\"EndingSequenceNumber\":"
    "\"820400000000000001192334\"}},"
    "{\"ShardId\":\"shardId-00000001414562045508-2bac9cd2\",\"SequenceNumberRange\":{"
    "\"StartingSequenceNumber\":\"20500000000000000910398\",\"EndingSequenceNumber\":"
    "\"20500000000000000910398\"}},"
    "{\"ShardId\":\"shardId-00000001414592258131-674fd923\",\"ParentShardId\":"
    "\"shardId-00000001414576573621-f55eea83\",\"SequenceNumberRange\":{"
    "\"StartingSequenceNumber\":\"1683700000000000001135967\"}},"
    "{\"ShardId\":\"shardId-00000001414592258131-aaaaaaaa\",\"ParentShardId\":"
    "\"shardId-00000001414000000000-trimmed0\",\"SequenceNumberRange\":{"
    "\"StartingSequenceNumber\":\"1683700000000000001135968\"}}],"
    "\"LastEvaluatedShardId\":\"shardId-00000001414592258131-aaaaaaaa\"}}";

/* Every shard whose parent is in the list comes after it. */
static void assert_parents_first(const struct stream_shard *s, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (s[i].parent_id.s && s[i].parent_id.len == s[j].id.len &&
                memcmp(s[i].parent_id.s, s[j].id.s, s[j].id.len) == 0)
                fail_msg("shard %d comes before its parent %d", i, j);
}

static void test_describe_paged_and_closed(void **state)
{
    struct stream_description d;
    assert_int_equal(stream_parse_describe(*state, json_lit(*state, paged_describe), &d),
                     STREAM_OK);
    assert_int_equal(d.nshards, 4);
    assert_str(d.last_evaluated_shard_id, "shardId-00000001414592258131-aaaaaaaa");
    assert_str(d.shards[0].parent_id, "shardId-00000001414562045508-2bac9cd2");
    assert_str(d.shards[0].end_seq, "820400000000000001192334"); /* closed */
    assert_null(d.shards[2].end_seq.s);                          /* open */
    /* parents first; a parent not in the list (trimmed) holds nothing back */
    stream_shards_order(d.shards, d.nshards);
    assert_parents_first(d.shards, d.nshards);
    assert_str(d.shards[0].id, "shardId-00000001414562045508-2bac9cd2");
    assert_str(d.shards[1].id, "shardId-00000001414592258131-aaaaaaaa");
    assert_str(d.shards[2].id, "shardId-00000001414576573621-f55eea83");
    assert_str(d.shards[3].id, "shardId-00000001414592258131-674fd923");
    /* the last page */
    assert_int_equal(stream_parse_describe(*state,
                                           json_lit(*state, "{\"StreamDescription\":{\"StreamArn\":"
                                                            "\"arn:x\",\"StreamStatus\":"
                                                            "\"DISABLED\",\"Shards\":[],"
                                                            "\"LastEvaluatedShardId\":null}}"),
                                           &d),
                     STREAM_OK);
    assert_int_equal(d.nshards, 0);
    assert_int_equal(d.state, STREAM_DISABLED);
    assert_null(d.last_evaluated_shard_id.s);
}

static void test_shards_order_cycle(void **state)
{
    /* a cycle DynamoDB never sends: the order is kept, nothing hangs */
    struct stream_shard s[3] = {
        {{"a", 1}, {"b", 1}, {"1", 1}, {NULL, 0}},
        {{"b", 1}, {"a", 1}, {"1", 1}, {NULL, 0}},
        {{"c", 1}, {"b", 1}, {"1", 1}, {NULL, 0}},
    };
    stream_shards_order(s, 3);
    assert_str(s[0].id, "a");
    assert_str(s[1].id, "b");
    assert_str(s[2].id, "c");
}

static void test_records_closed_shard(void **state)
{
    struct stream_records rs;
    /* no NextShardIterator, or null: the shard is closed and read to its end */
    assert_int_equal(stream_parse_records(*state, json_lit(*state, "{\"Records\":[]}"), &rs),
                     STREAM_OK);
    assert_null(rs.next_iterator.s);
    assert_int_equal(
        stream_parse_records(*state,
                             json_lit(*state, "{\"Records\":[],\"NextShardIterator\":null}"), &rs),
        STREAM_OK);
    assert_null(rs.next_iterator.s);
}

/* DynamoDB's wire form: exponent timestamps; a REMOVE by TTL expiry with an
 * old image and no new one. */
static const char ttl_records[] =
    "{\"Records\":[{\"eventID\":\"1\",\"eventName\":\"REMOVE\",\"eventVersion\":\"1.1\","
    "\"eventSource\":\"aws:dynamodb\",\"awsRegion\":\"us-west-2\",\"userIdentity\":{\"type\":"
    "\"Service\",\"principalId\":\"dynamodb.amazonaws.com\"},\"dynamodb\":{"
    "\"ApproximateCreationDateTime\":1.571849028E9,\"Keys\":{\"Artist\":{\"S\":\"Acme Band\"}},"
    "\"OldImage\":{\"Artist\":{\"S\":\"Acme Band\"},\"ttl\":{\"N\":\"1571849000\"}},"
    "\"SequenceNumber\":\"700000000013256296913\",\"SizeBytes\":119,\"StreamViewType\":"
    "\"NEW_AND_OLD_IMAGES\"}},{\"eventID\":\"2\",\"eventName\":\"REMOVE\",\"dynamodb\":{"
    "\"Keys\":{\"Artist\":{\"S\":\"Other\"}},\"SequenceNumber\":\"1000000000013256296913\","
    "\"StreamViewType\":\"KEYS_ONLY\"}}]}";

static void test_records_ttl_remove(void **state)
{
    struct stream_records rs;
    assert_int_equal(stream_parse_records(*state, json_lit(*state, ttl_records), &rs), STREAM_OK);
    assert_int_equal(rs.n, 2);
    assert_true(rs.records[0].ttl_delete);
    assert_int_equal(rs.records[0].created_ms, 1571849028000LL);
    assert_null(rs.records[0].new_image);
    assert_non_null(rs.records[0].old_image);
    assert_false(rs.records[1].ttl_delete); /* no userIdentity: a user's delete */
    assert_int_equal(rs.records[1].created_ms, -1);
    assert_null(rs.records[1].old_image);
    assert_null(rs.next_iterator.s); /* and the shard closed after them */
}

static void test_records_refused(void **state)
{
    static const char *const bad[] = {
        "[]",
        "{\"Records\":{}}",
        "{\"Records\":[],\"NextShardIterator\":7}",
        /* a record without keys, with empty keys, without a sequence number */
        "{\"Records\":[{\"eventName\":\"INSERT\",\"dynamodb\":{\"SequenceNumber\":\"1\"}}]}",
        "{\"Records\":[{\"eventName\":\"INSERT\",\"dynamodb\":{\"Keys\":{},\"SequenceNumber\":"
        "\"1\"}}]}",
        "{\"Records\":[{\"eventName\":\"INSERT\",\"dynamodb\":{\"Keys\":{\"k\":{\"S\":\"a\"}}}}]}",
        /* sequence numbers that are not 1 to 40 digits */
        "{\"Records\":[{\"eventName\":\"INSERT\",\"dynamodb\":{\"Keys\":{\"k\":{\"S\":\"a\"}},"
        "\"SequenceNumber\":\"12a\"}}]}",
        "{\"Records\":[{\"eventName\":\"INSERT\",\"dynamodb\":{\"Keys\":{\"k\":{\"S\":\"a\"}},"
        "\"SequenceNumber\":\"12345678901234567890123456789012345678901\"}}]}",
        "{\"Records\":[{\"eventName\":\"INSERT\",\"dynamodb\":{\"Keys\":{\"k\":{\"S\":\"a\"}},"
        "\"SequenceNumber\":123}}]}",
        /* an unknown event, no dynamodb member */
        "{\"Records\":[{\"eventName\":\"UPSERT\",\"dynamodb\":{\"Keys\":{\"k\":{\"S\":\"a\"}},"
        "\"SequenceNumber\":\"1\"}}]}",
        "{\"Records\":[{\"eventName\":\"INSERT\"}]}",
        /* images an event cannot have, or images that are not objects */
        "{\"Records\":[{\"eventName\":\"REMOVE\",\"dynamodb\":{\"Keys\":{\"k\":{\"S\":\"a\"}},"
        "\"NewImage\":{\"k\":{\"S\":\"a\"}},\"SequenceNumber\":\"1\"}}]}",
        "{\"Records\":[{\"eventName\":\"INSERT\",\"dynamodb\":{\"Keys\":{\"k\":{\"S\":\"a\"}},"
        "\"OldImage\":{\"k\":{\"S\":\"a\"}},\"SequenceNumber\":\"1\"}}]}",
        "{\"Records\":[{\"eventName\":\"MODIFY\",\"dynamodb\":{\"Keys\":{\"k\":{\"S\":\"a\"}},"
        "\"NewImage\":[],\"SequenceNumber\":\"1\"}}]}",
        /* a timestamp that is not a number */
        "{\"Records\":[{\"eventName\":\"INSERT\",\"dynamodb\":{\"Keys\":{\"k\":{\"S\":\"a\"}},"
        "\"SequenceNumber\":\"1\",\"ApproximateCreationDateTime\":\"yesterday\"}}]}",
        /* records out of sequence order, or repeated */
        "{\"Records\":[{\"eventName\":\"INSERT\",\"dynamodb\":{\"Keys\":{\"k\":{\"S\":\"a\"}},"
        "\"SequenceNumber\":\"10\"}},{\"eventName\":\"MODIFY\",\"dynamodb\":{\"Keys\":{\"k\":{"
        "\"S\":\"a\"}},\"SequenceNumber\":\"9\"}}]}",
        "{\"Records\":[{\"eventName\":\"INSERT\",\"dynamodb\":{\"Keys\":{\"k\":{\"S\":\"a\"}},"
        "\"SequenceNumber\":\"10\"}},{\"eventName\":\"MODIFY\",\"dynamodb\":{\"Keys\":{\"k\":{"
        "\"S\":\"a\"}},\"SequenceNumber\":\"010\"}}]}",
    };
    struct stream_records rs;
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        if (stream_parse_records(*state, json_lit(*state, bad[i]), &rs) != STREAM_EINVALID)
            fail_msg("accepted: %s", bad[i]);
}

static void test_describe_refused(void **state)
{
    static const char *const bad[] = {
        "{}",
        "{\"StreamDescription\":{\"Shards\":[]}}", /* no ARN */
        "{\"StreamDescription\":{\"StreamArn\":\"a\",\"Shards\":{}}}",
        "{\"StreamDescription\":{\"StreamArn\":\"a\",\"Shards\":[{\"ShardId\":\"s\"}]}}",
        "{\"StreamDescription\":{\"StreamArn\":\"a\",\"Shards\":[{\"ShardId\":\"s\","
        "\"SequenceNumberRange\":{}}]}}",
        "{\"StreamDescription\":{\"StreamArn\":\"a\",\"Shards\":[{\"SequenceNumberRange\":{"
        "\"StartingSequenceNumber\":\"1\"}}]}}",
        "{\"StreamDescription\":{\"StreamArn\":\"a\",\"Shards\":[{\"ShardId\":\"s\","
        "\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"1\",\"EndingSequenceNumber\":"
        "\"x\"}}]}}",
        "{\"StreamDescription\":{\"StreamArn\":\"a\",\"Shards\":[{\"ShardId\":\"s\","
        "\"ParentShardId\":5,\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"1\"}}]}}",
        "{\"StreamDescription\":{\"StreamArn\":\"a\",\"LastEvaluatedShardId\":[]}}",
    };
    struct stream_description d;
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        if (stream_parse_describe(*state, json_lit(*state, bad[i]), &d) != STREAM_EINVALID)
            fail_msg("accepted: %s", bad[i]);
}

static void test_errors(void **state)
{
    static const struct {
        const char *body;
        enum stream_error kind;
    } rows[] = {
        {"{\"__type\":\"com.amazonaws.dynamodb.v20120810#ExpiredIteratorException\","
         "\"message\":\"Iterator expired\"}",
         STREAM_ERROR_EXPIRED_ITERATOR},
        {"{\"__type\":\"com.amazonaws.dynamodb.v20120810#TrimmedDataAccessException\"}",
         STREAM_ERROR_TRIMMED},
        {"{\"__type\":\"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException\"}",
         STREAM_ERROR_NOT_FOUND},
        {"{\"__type\":\"com.amazonaws.dynamodb.v20120810#LimitExceededException\"}",
         STREAM_ERROR_LIMIT},
        {"{\"__type\":\"ThrottlingException\"}", STREAM_ERROR_LIMIT},
        {"{\"__type\":\"com.amazonaws.dynamodb.v20120810#InternalServerError\"}",
         STREAM_ERROR_OTHER},
        {"{\"__type\":\"com.amazonaws.dynamodb.v20120810#ExpiredIteratorExceptionX\"}",
         STREAM_ERROR_OTHER},
        {"{\"message\":\"no type\"}", STREAM_ERROR_OTHER},
        {"[]", STREAM_ERROR_OTHER},
    };
    for (size_t i = 0; i < ARRAY_LEN(rows); i++)
        if (stream_parse_error(json_lit(*state, rows[i].body)) != rows[i].kind)
            fail_msg("%s: kind %d expected", rows[i].body, rows[i].kind);
}

static void test_seq_order(void **state)
{
    static const struct {
        const char *a, *b;
        int sign;
    } rows[] = {
        {"1", "2", -1},
        {"9", "10", -1}, /* shorter is smaller: not string order */
        {"10", "9", 1},
        {"0010", "10", 0},
        {"0", "000", 0},
        {"4000000000000642977831", "757400000000005655171150", -1},
        {"99999999999999999999", "100000000000000000000", -1},
        /* 40 digits, differing in the last one: beyond a double */
        {"1234567890123456789012345678901234567890", "1234567890123456789012345678901234567891",
         -1},
        {"1234567890123456789012345678901234567891", "1234567890123456789012345678901234567890", 1},
        {"1100000000017454423009", "1100000000017454423009", 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        assert_true(stream_seq_valid(rows[i].a, strlen(rows[i].a)));
        int c = stream_seq_compare(rows[i].a, strlen(rows[i].a), rows[i].b, strlen(rows[i].b));
        if ((c > 0) - (c < 0) != rows[i].sign)
            fail_msg("%s vs %s: %d, expected %d", rows[i].a, rows[i].b, c, rows[i].sign);
    }
    assert_false(stream_seq_valid("", 0));
    assert_false(stream_seq_valid("-1", 2));
    assert_false(stream_seq_valid("1.5", 3));
    assert_false(stream_seq_valid("1e5", 3));
    assert_false(stream_seq_valid(" 1", 2));
    assert_false(stream_seq_valid("12345678901234567890123456789012345678901", 41));
    assert_true(stream_seq_valid("1234567890123456789012345678901234567890", 40));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ARENA_TEST(test_moto_describe),
        ARENA_TEST(test_moto_iterator),
        ARENA_TEST(test_moto_records),
        ARENA_TEST(test_moto_records_empty_and_keys_only),
        ARENA_TEST(test_describe_paged_and_closed),
        ARENA_TEST(test_shards_order_cycle),
        ARENA_TEST(test_records_closed_shard),
        ARENA_TEST(test_records_ttl_remove),
        ARENA_TEST(test_records_refused),
        ARENA_TEST(test_describe_refused),
        ARENA_TEST(test_errors),
        ARENA_TEST(test_seq_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
