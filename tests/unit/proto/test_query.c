/*
 * test_query.c: the Query and Scan cache's pure pieces (proto/query.h):
 * DescribeTable answers captured from moto (tests/unit/proto/data) and
 * hand-made ones, canonical cache keys (member order and number spelling
 * do not matter, every result-changing member does, unknown members and
 * strong reads are refused), the KeyConditionExpression table of accepted
 * and refused expressions, and the partitions an item belongs to.
 */
#include "proto_test.h"

#include "proto/key.h"
#include "proto/query.h"
#include "testutil.h"

/* ---- table descriptions ---- */

/* The moto table "scores": board/player, GSI by_score (board, score), GSI
 * by_region (region), LSI by_when (board, when), NEW_AND_OLD_IMAGES. */
static void scores_table(struct arena *a, struct query_table *t)
{
    const struct json *doc = json_file(a, "moto_describe_table.json");
    assert_int_equal(query_table_parse(json_get(doc, "Table"), t), QUERY_OK);
}

static void assert_attr(const struct key_attr *ka, const char *name, char type)
{
    assert_non_null(ka->name);
    assert_int_equal(ka->len, strlen(name));
    assert_memory_equal(ka->name, name, ka->len);
    assert_int_equal(ka->type, type);
}

static void test_table_moto_indexes(void **state)
{
    struct query_table t;
    scores_table(*state, &t);
    assert_int_equal(t.table_len, 6);
    assert_memory_equal(t.table, "scores", 6);
    assert_int_equal(t.nindexes, 4);
    assert_int_equal(t.index[0].kind, QUERY_INDEX_TABLE);
    assert_int_equal(t.index[0].name_len, 0);
    assert_attr(&t.index[0].hash, "board", 'S');
    assert_attr(&t.index[0].range, "player", 'S');
    assert_int_equal(t.index[1].kind, QUERY_INDEX_GSI);
    assert_memory_equal(t.index[1].name, "by_score", 8);
    assert_attr(&t.index[1].hash, "board", 'S');
    assert_attr(&t.index[1].range, "score", 'N');
    assert_int_equal(t.index[1].projection, QUERY_PROJECT_ALL);
    assert_int_equal(t.index[2].kind, QUERY_INDEX_GSI);
    assert_attr(&t.index[2].hash, "region", 'S');
    assert_null(t.index[2].range.name);
    assert_int_equal(t.index[2].projection, QUERY_PROJECT_KEYS_ONLY);
    assert_int_equal(t.index[3].kind, QUERY_INDEX_LSI);
    assert_attr(&t.index[3].range, "when", 'N');
    assert_int_equal(t.index[3].projection, QUERY_PROJECT_INCLUDE);
    assert_int_equal(t.stream_view, QUERY_STREAM_NEW_AND_OLD_IMAGES);
    assert_non_null(t.stream_arn);
    assert_true(strncmp(t.stream_arn,
                        "arn:aws:dynamodb:us-east-1:123456789012:table/scores/stream/", 60) == 0);
    assert_int_equal(query_table_index(&t, "by_when", 7), 3);
    assert_int_equal(query_table_index(&t, "", 0), 0);
    assert_int_equal(query_table_index(&t, "by_nothing", 10), -1);
}

static void test_table_moto_plain_and_keys_only(void **state)
{
    struct query_table t;
    const struct json *doc = json_file(*state, "moto_describe_table_plain.json");
    assert_int_equal(query_table_parse(json_get(doc, "Table"), &t), QUERY_OK);
    assert_int_equal(t.nindexes, 1); /* empty index lists */
    assert_attr(&t.index[0].hash, "n", 'N');
    assert_null(t.index[0].range.name);
    assert_null(t.stream_arn);
    assert_int_equal(t.stream_view, QUERY_STREAM_NONE);
    doc = json_file(*state, "moto_keys_only_describe_table.json");
    assert_int_equal(query_table_parse(json_get(doc, "Table"), &t), QUERY_OK);
    assert_attr(&t.index[0].hash, "id", 'B');
    assert_int_equal(t.stream_view, QUERY_STREAM_KEYS_ONLY);
    assert_non_null(t.stream_arn);
}

/* The shape of DynamoDB's own answer (API reference, DescribeTable), with a
 * stream that was disabled: LatestStreamArn stays, and is not a stream to read. */
static const char thread_table[] =
    "{\"AttributeDefinitions\":[{\"AttributeName\":\"ForumName\",\"AttributeType\":\"S\"},"
    "{\"AttributeName\":\"LastPostDateTime\",\"AttributeType\":\"S\"},"
    "{\"AttributeName\":\"Subject\",\"AttributeType\":\"S\"}],"
    "\"CreationDateTime\":1.363729002358E9,\"ItemCount\":0,"
    "\"KeySchema\":[{\"AttributeName\":\"ForumName\",\"KeyType\":\"HASH\"},"
    "{\"AttributeName\":\"Subject\",\"KeyType\":\"RANGE\"}],"
    "\"LocalSecondaryIndexes\":[{\"IndexName\":\"LastPostIndex\",\"IndexSizeBytes\":0,"
    "\"ItemCount\":0,\"KeySchema\":[{\"AttributeName\":\"ForumName\",\"KeyType\":\"HASH\"},"
    "{\"AttributeName\":\"LastPostDateTime\",\"KeyType\":\"RANGE\"}],"
    "\"Projection\":{\"ProjectionType\":\"KEYS_ONLY\"}}],"
    "\"ProvisionedThroughput\":{\"NumberOfDecreasesToday\":0,\"ReadCapacityUnits\":5,"
    "\"WriteCapacityUnits\":5},\"TableName\":\"Thread\",\"TableSizeBytes\":0,"
    "\"TableStatus\":\"ACTIVE\",\"StreamSpecification\":{\"StreamEnabled\":false},"
    "\"LatestStreamArn\":\"arn:aws:dynamodb:us-west-2:123456789012:table/Thread/stream/"
    "2015-05-20T20:51:10.252\",\"LatestStreamLabel\":\"2015-05-20T20:51:10.252\"}";

static void test_table_aws_shape(void **state)
{
    struct query_table t;
    assert_int_equal(query_table_parse(json_lit(*state, thread_table), &t), QUERY_OK);
    assert_int_equal(t.nindexes, 2);
    assert_int_equal(t.index[1].kind, QUERY_INDEX_LSI);
    assert_attr(&t.index[1].hash, "ForumName", 'S');
    assert_attr(&t.index[1].range, "LastPostDateTime", 'S');
    assert_null(t.stream_arn); /* StreamEnabled false */
    assert_int_equal(t.stream_view, QUERY_STREAM_NONE);
}

static void test_table_refused(void **state)
{
    static const char *const bad[] = {
        /* no key schema */
        "{\"TableName\":\"t\",\"AttributeDefinitions\":[]}",
        /* a key attribute without a definition */
        "{\"TableName\":\"t\",\"AttributeDefinitions\":[],"
        "\"KeySchema\":[{\"AttributeName\":\"k\",\"KeyType\":\"HASH\"}]}",
        /* two HASH keys */
        "{\"TableName\":\"t\",\"AttributeDefinitions\":[{\"AttributeName\":\"k\","
        "\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":\"k\",\"KeyType\":\"HASH\"},"
        "{\"AttributeName\":\"k\",\"KeyType\":\"HASH\"}]}",
        /* only a RANGE key */
        "{\"TableName\":\"t\",\"AttributeDefinitions\":[{\"AttributeName\":\"k\","
        "\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":\"k\",\"KeyType\":\"RANGE\"}]"
        "}",
        /* a type DynamoDB has no keys of */
        "{\"TableName\":\"t\",\"AttributeDefinitions\":[{\"AttributeName\":\"k\","
        "\"AttributeType\":\"BOOL\"}],\"KeySchema\":[{\"AttributeName\":\"k\",\"KeyType\":\"HASH\"}"
        "]}",
        /* an LSI whose partition key is not the table's */
        "{\"TableName\":\"t\",\"AttributeDefinitions\":[{\"AttributeName\":\"k\","
        "\"AttributeType\":\"S\"},{\"AttributeName\":\"o\",\"AttributeType\":\"S\"}],"
        "\"KeySchema\":[{\"AttributeName\":\"k\",\"KeyType\":\"HASH\"}],"
        "\"LocalSecondaryIndexes\":[{\"IndexName\":\"l\",\"KeySchema\":[{\"AttributeName\":\"o\","
        "\"KeyType\":\"HASH\"},{\"AttributeName\":\"k\",\"KeyType\":\"RANGE\"}]}]}",
        /* two indexes of one name */
        "{\"TableName\":\"t\",\"AttributeDefinitions\":[{\"AttributeName\":\"k\","
        "\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":\"k\",\"KeyType\":\"HASH\"}],"
        "\"GlobalSecondaryIndexes\":[{\"IndexName\":\"g\",\"KeySchema\":[{\"AttributeName\":\"k\","
        "\"KeyType\":\"HASH\"}]},{\"IndexName\":\"g\",\"KeySchema\":[{\"AttributeName\":\"k\","
        "\"KeyType\":\"HASH\"}]}]}",
        /* an index without a name */
        "{\"TableName\":\"t\",\"AttributeDefinitions\":[{\"AttributeName\":\"k\","
        "\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":\"k\",\"KeyType\":\"HASH\"}],"
        "\"GlobalSecondaryIndexes\":[{\"KeySchema\":[{\"AttributeName\":\"k\","
        "\"KeyType\":\"HASH\"}]}]}",
        "[]",
        "{\"AttributeDefinitions\":[],\"KeySchema\":[]}",
    };
    struct query_table t;
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        if (query_table_parse(json_lit(*state, bad[i]), &t) != QUERY_EINVALID)
            fail_msg("accepted: %s", bad[i]);
    }
}

static void test_table_too_many_indexes(void **state)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "{\"TableName\":\"t\",\"AttributeDefinitions\":[{\"AttributeName\":\"k\","
                   "\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":\"k\","
                   "\"KeyType\":\"HASH\"}],\"GlobalSecondaryIndexes\":[");
    for (int i = 0; i < QUERY_MAX_INDEXES; i++)
        buf_printf(&b,
                   "%s{\"IndexName\":\"g%d\",\"KeySchema\":[{\"AttributeName\":\"k\","
                   "\"KeyType\":\"HASH\"}]}",
                   i ? "," : "", i);
    buf_append_str(&b, "]}");
    struct query_table t;
    assert_int_equal(query_table_parse(json_lit(*state, b.data), &t), QUERY_EINVALID);
    buf_free(&b);
}

/* ---- canonical keys ---- */

static int key_of(struct arena *a, enum query_op op, const char *request, struct buf *out)
{
    buf_reset(out);
    return query_cache_key(op, 7, json_lit(a, request), out);
}

static bool same_key(struct arena *a, enum query_op op, const char *r1, const char *r2)
{
    struct buf b1 = BUF_INIT, b2 = BUF_INIT;
    if (key_of(a, op, r1, &b1) != QUERY_OK) fail_msg("not cacheable: %s", r1);
    if (key_of(a, op, r2, &b2) != QUERY_OK) fail_msg("not cacheable: %s", r2);
    bool same = b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0;
    buf_free(&b1);
    buf_free(&b2);
    return same;
}

#define assert_same_key(a, op, r1, r2)                                                             \
    do {                                                                                           \
        if (!same_key(a, op, r1, r2)) fail_msg("different keys:\n  %s\n  %s", r1, r2);             \
    } while (0)

static void test_key_member_order(void **state)
{
    assert_same_key(
        *state, QUERY_OP_QUERY,
        "{\"TableName\":\"scores\",\"IndexName\":\"by_score\","
        "\"KeyConditionExpression\":\"board = :b AND score > :s\","
        "\"FilterExpression\":\"#r = :r\",\"ExpressionAttributeNames\":{\"#r\":\"region\","
        "\"#p\":\"player\"},\"ProjectionExpression\":\"#p, score\","
        "\"ExpressionAttributeValues\":{\":b\":{\"S\":\"b1\"},\":s\":{\"N\":\"10\"},"
        "\":r\":{\"S\":\"eu\"}},\"Limit\":5,\"ScanIndexForward\":false}",
        "{\"ScanIndexForward\":false,\"Limit\":5,\"ExpressionAttributeValues\":{"
        "\":r\":{\"S\":\"eu\"},\":s\":{\"N\":\"10\"},\":b\":{\"S\":\"b1\"}},"
        "\"ProjectionExpression\":\"#p, score\",\"ExpressionAttributeNames\":{"
        "\"#p\":\"player\",\"#r\":\"region\"},\"FilterExpression\":\"#r = :r\","
        "\"KeyConditionExpression\":\"board = :b AND score > :s\","
        "\"IndexName\":\"by_score\",\"TableName\":\"scores\"}");
    /* map members inside values and the start key, in any order */
    assert_same_key(
        *state, QUERY_OP_SCAN,
        "{\"TableName\":\"t\",\"ExclusiveStartKey\":{\"a\":{\"S\":\"1\"},\"b\":{\"N\":"
        "\"2\"}},\"FilterExpression\":\"m = :m\",\"ExpressionAttributeValues\":{\":m\":{"
        "\"M\":{\"x\":{\"N\":\"1\"},\"y\":{\"L\":[{\"M\":{\"p\":{\"BOOL\":true},\"q\":{"
        "\"NULL\":true}}}]}}}}}",
        "{\"ExpressionAttributeValues\":{\":m\":{\"M\":{\"y\":{\"L\":[{\"M\":{\"q\":{"
        "\"NULL\":true},\"p\":{\"BOOL\":true}}}]},\"x\":{\"N\":\"1\"}}}},"
        "\"FilterExpression\":\"m = :m\",\"ExclusiveStartKey\":{\"b\":{\"N\":\"2\"},"
        "\"a\":{\"S\":\"1\"}},\"TableName\":\"t\"}");
}

static void test_key_equivalent_numbers(void **state)
{
    static const char *const spellings[] = {"1", "1.0", "01", "1E0", "10E-1", "0.1e1", "+1"};
    const char *fmt = "{\"TableName\":\"t\",\"KeyConditionExpression\":\"n = :v\","
                      "\"ExpressionAttributeValues\":{\":v\":{\"N\":\"%s\"},\":l\":{\"L\":[{\"N\":"
                      "\"%s\"}]},\":s\":{\"NS\":[\"%s\",\"2\"]}},\"ExclusiveStartKey\":{\"n\":{"
                      "\"N\":\"%s\"}},\"FilterExpression\":\"contains(:l, x) OR x IN (:s)\"}";
    const char *first = arena_printf(*state, fmt, "1", "1", "1", "1");
    for (size_t i = 1; i < ARRAY_LEN(spellings); i++) {
        const char *s = spellings[i];
        assert_same_key(*state, QUERY_OP_QUERY, first, arena_printf(*state, fmt, s, s, s, s));
    }
    /* a different value is a different key */
    assert_false(
        same_key(*state, QUERY_OP_QUERY, first, arena_printf(*state, fmt, "1.5", "1", "1", "1")));
}

static void test_key_defaults(void **state)
{
    const char *bare = "{\"TableName\":\"t\",\"KeyConditionExpression\":\"k = :k\","
                       "\"ExpressionAttributeValues\":{\":k\":{\"S\":\"a\"}}}";
    const char *spelt = "{\"TableName\":\"t\",\"KeyConditionExpression\":\"k = :k\","
                        "\"ExpressionAttributeValues\":{\":k\":{\"S\":\"a\"}},"
                        "\"ConsistentRead\":false,\"ScanIndexForward\":true,"
                        "\"ReturnConsumedCapacity\":\"NONE\"}";
    assert_same_key(*state, QUERY_OP_QUERY, bare, spelt);
}

/* Every member that changes the result changes the key: each variant of a
 * base request differs from every other. */
static void test_key_each_field_matters(void **state)
{
    static const char *const query_variants[] = {
        "",
        ",\"IndexName\":\"g\"",
        ",\"Select\":\"COUNT\"",
        ",\"Select\":\"ALL_PROJECTED_ATTRIBUTES\"",
        ",\"FilterExpression\":\"x > :k\"",
        ",\"ProjectionExpression\":\"x\"",
        ",\"ProjectionExpression\":\"y\"",
        ",\"ExpressionAttributeNames\":{\"#x\":\"x\"}",
        ",\"ExpressionAttributeNames\":{\"#x\":\"y\"}",
        ",\"Limit\":1",
        ",\"Limit\":2",
        ",\"Limit\":10",
        ",\"ExclusiveStartKey\":{\"k\":{\"S\":\"a\"},\"s\":{\"N\":\"1\"}}",
        ",\"ExclusiveStartKey\":{\"k\":{\"S\":\"a\"},\"s\":{\"N\":\"2\"}}",
        ",\"ExclusiveStartKey\":{\"k\":{\"S\":\"a\"},\"s\":{\"S\":\"1\"}}",
        ",\"ScanIndexForward\":false",
        ",\"ReturnConsumedCapacity\":\"TOTAL\"",
        ",\"ReturnConsumedCapacity\":\"INDEXES\"",
        ",\"QueryFilter\":{\"x\":{\"ComparisonOperator\":\"NOT_NULL\"}}",
        ",\"ConditionalOperator\":\"OR\"",
        ",\"AttributesToGet\":[\"x\"]",
        ",\"AttributesToGet\":[\"x\",\"y\"]",
    };
    size_t n = ARRAY_LEN(query_variants);
    struct buf *keys = calloc(n + 2, sizeof(*keys));
    for (size_t i = 0; i < n; i++) {
        const char *r = arena_printf(*state,
                                     "{\"TableName\":\"t\",\"KeyConditionExpression\":\"k = :k\","
                                     "\"ExpressionAttributeValues\":{\":k\":{\"S\":\"a\"}}%s}",
                                     query_variants[i]);
        if (key_of(*state, QUERY_OP_QUERY, r, &keys[i]) != QUERY_OK) fail_msg("refused: %s", r);
    }
    /* other values, other table, same body as a Scan, another epoch */
    key_of(*state, QUERY_OP_QUERY,
           "{\"TableName\":\"u\",\"KeyConditionExpression\":\"k = :k\","
           "\"ExpressionAttributeValues\":{\":k\":{\"S\":\"a\"}}}",
           &keys[n]);
    key_of(*state, QUERY_OP_QUERY,
           "{\"TableName\":\"t\",\"KeyConditionExpression\":\"k = :k\","
           "\"ExpressionAttributeValues\":{\":k\":{\"S\":\"b\"}}}",
           &keys[n + 1]);
    for (size_t i = 0; i < n + 2; i++)
        for (size_t j = i + 1; j < n + 2; j++)
            if (keys[i].len == keys[j].len && memcmp(keys[i].data, keys[j].data, keys[i].len) == 0)
                fail_msg("variants %zu and %zu share a key", i, j);
    for (size_t i = 0; i < n + 2; i++)
        buf_free(&keys[i]);
    free(keys);
}

static void test_key_scan_fields_and_op(void **state)
{
    const char *base = "{\"TableName\":\"t\"}";
    const char *seg0 = "{\"TableName\":\"t\",\"Segment\":0,\"TotalSegments\":4}";
    const char *seg1 = "{\"TableName\":\"t\",\"Segment\":1,\"TotalSegments\":4}";
    const char *tot2 = "{\"TableName\":\"t\",\"Segment\":1,\"TotalSegments\":2}";
    assert_false(same_key(*state, QUERY_OP_SCAN, base, seg0));
    assert_false(same_key(*state, QUERY_OP_SCAN, seg0, seg1));
    assert_false(same_key(*state, QUERY_OP_SCAN, seg1, tot2));
    /* the same body as a Query and as a Scan, or under another epoch */
    struct buf q = BUF_INIT, s = BUF_INIT;
    assert_int_equal(key_of(*state, QUERY_OP_QUERY, base, &q), QUERY_OK);
    assert_int_equal(key_of(*state, QUERY_OP_SCAN, base, &s), QUERY_OK);
    assert_false(q.len == s.len && memcmp(q.data, s.data, q.len) == 0);
    buf_reset(&s);
    assert_int_equal(query_cache_key(QUERY_OP_QUERY, 8, json_lit(*state, base), &s), QUERY_OK);
    assert_false(q.len == s.len && memcmp(q.data, s.data, q.len) == 0);
    buf_free(&q);
    buf_free(&s);
}

static void test_key_types_distinct(void **state)
{
    static const char *const values[] = {
        "{\"S\":\"1\"}",
        "{\"N\":\"1\"}",
        "{\"B\":\"MQ==\"}",
        "{\"SS\":[\"1\"]}",
        "{\"NS\":[\"1\"]}",
        "{\"BS\":[\"MQ==\"]}",
        "{\"L\":[{\"S\":\"1\"}]}",
        "{\"M\":{\"1\":{\"S\":\"1\"}}}",
        "{\"BOOL\":true}",
        "{\"BOOL\":false}",
        "{\"NULL\":true}",
        "{\"L\":[]}",
        "{\"M\":{}}",
        "{\"S\":\"\"}",
        "{\"SS\":[\"1\",\"2\"]}",
        "{\"SS\":[\"2\",\"1\"]}",
    };
    size_t n = ARRAY_LEN(values);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            const char *fmt = "{\"TableName\":\"t\",\"FilterExpression\":\"x = :v\","
                              "\"ExpressionAttributeValues\":{\":v\":%s}}";
            if (same_key(*state, QUERY_OP_SCAN, arena_printf(*state, fmt, values[i]),
                         arena_printf(*state, fmt, values[j])))
                fail_msg("%s and %s share a key", values[i], values[j]);
        }
}

static void test_key_legacy_forms(void **state)
{
    /* KeyConditions and QueryFilter: attribute order and number spelling do
     * not matter, the operator does */
    assert_same_key(*state, QUERY_OP_QUERY,
                    "{\"TableName\":\"t\",\"KeyConditions\":{\"k\":{\"ComparisonOperator\":\"EQ\","
                    "\"AttributeValueList\":[{\"N\":\"1\"}]},\"s\":{\"AttributeValueList\":[{\"S\":"
                    "\"a\"}],\"ComparisonOperator\":\"BEGINS_WITH\"}},\"QueryFilter\":{\"x\":{"
                    "\"ComparisonOperator\":\"NULL\"}}}",
                    "{\"QueryFilter\":{\"x\":{\"ComparisonOperator\":\"NULL\"}},\"KeyConditions\":{"
                    "\"s\":{\"ComparisonOperator\":\"BEGINS_WITH\",\"AttributeValueList\":[{\"S\":"
                    "\"a\"}]},\"k\":{\"AttributeValueList\":[{\"N\":\"1.00\"}],"
                    "\"ComparisonOperator\":\"EQ\"}},\"TableName\":\"t\"}");
    assert_false(same_key(*state, QUERY_OP_QUERY,
                          "{\"TableName\":\"t\",\"KeyConditions\":{\"k\":{\"ComparisonOperator\":"
                          "\"EQ\",\"AttributeValueList\":[{\"N\":\"1\"}]}}}",
                          "{\"TableName\":\"t\",\"KeyConditions\":{\"k\":{\"ComparisonOperator\":"
                          "\"GE\",\"AttributeValueList\":[{\"N\":\"1\"}]}}}"));
    assert_same_key(*state, QUERY_OP_SCAN,
                    "{\"TableName\":\"t\",\"ScanFilter\":{\"a\":{\"ComparisonOperator\":\"GT\","
                    "\"AttributeValueList\":[{\"N\":\"5\"}]},\"b\":{\"ComparisonOperator\":"
                    "\"NOT_NULL\"}},\"ConditionalOperator\":\"OR\",\"AttributesToGet\":[\"a\"]}",
                    "{\"AttributesToGet\":[\"a\"],\"ConditionalOperator\":\"OR\",\"ScanFilter\":{"
                    "\"b\":{\"ComparisonOperator\":\"NOT_NULL\"},\"a\":{\"AttributeValueList\":[{"
                    "\"N\":\"5.0\"}],\"ComparisonOperator\":\"GT\"}},\"TableName\":\"t\"}");
}

static void test_key_refused(void **state)
{
    static const struct {
        enum query_op op;
        const char *request;
    } refused[] = {
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"ConsistentRead\":true}"},
        {QUERY_OP_SCAN, "{\"TableName\":\"t\",\"ConsistentRead\":true}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"Unknown\":1}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"ReturnValues\":\"ALL_NEW\"}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"Segment\":0,\"TotalSegments\":2}"},
        {QUERY_OP_SCAN, "{\"TableName\":\"t\",\"KeyConditionExpression\":\"k = :k\"}"},
        {QUERY_OP_SCAN, "{\"TableName\":\"t\",\"ScanIndexForward\":false}"},
        {QUERY_OP_SCAN, "{\"TableName\":\"t\",\"QueryFilter\":{}}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"ScanFilter\":{}}"},
        {QUERY_OP_QUERY, "{\"IndexName\":\"g\"}"},
        {QUERY_OP_QUERY, "{\"TableName\":7}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"Limit\":\"10\"}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"Limit\":0}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"Limit\":1.5}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"Limit\":1e1}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"Limit\":-1}"},
        {QUERY_OP_SCAN, "{\"TableName\":\"t\",\"Segment\":-1,\"TotalSegments\":2}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"ScanIndexForward\":\"false\"}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"ExpressionAttributeValues\":{\":v\":{\"N\":"
                         "\"abc\"}}}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"ExpressionAttributeValues\":{\":v\":{\"N\":"
                         "\"NaN\"}}}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"ExpressionAttributeValues\":{\":v\":{\"N\":1}}}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"ExpressionAttributeValues\":{\":v\":{\"B\":"
                         "\"QR==\"}}}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"ExpressionAttributeValues\":{\":v\":{\"B\":"
                         "\"!!!!\"}}}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"ExpressionAttributeValues\":{\":v\":{\"X\":"
                         "\"1\"}}}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"ExpressionAttributeValues\":{\":v\":{\"S\":\"1\","
                         "\"N\":\"1\"}}}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"ExpressionAttributeValues\":{\":v\":{\"NULL\":"
                         "false}}}"},
        {QUERY_OP_QUERY,
         "{\"TableName\":\"t\",\"ExpressionAttributeValues\":{\":v\":{\"SS\":[]}}}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"ExpressionAttributeNames\":{\"#n\":1}}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"ExclusiveStartKey\":[]}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"KeyConditions\":{\"k\":{\"ComparisonOperator\":"
                         "\"EQ\",\"Value\":{\"S\":\"a\"}}}}"},
        {QUERY_OP_QUERY, "{\"TableName\":\"t\",\"AttributesToGet\":[1]}"},
        {QUERY_OP_QUERY, "[]"},
    };
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < ARRAY_LEN(refused); i++)
        if (key_of(*state, refused[i].op, refused[i].request, &b) != QUERY_UNCACHEABLE)
            fail_msg("cacheable: %s", refused[i].request);
    buf_free(&b);
}

static void test_key_nesting_cap(void **state)
{
    /* 33 nested lists: deeper than DynamoDB allows */
    struct buf v = BUF_INIT;
    for (int i = 0; i < 33; i++)
        buf_append_str(&v, "{\"L\":[");
    buf_append_str(&v, "{\"S\":\"x\"}");
    for (int i = 0; i < 33; i++)
        buf_append_str(&v, "]}");
    const char *r = arena_printf(
        *state, "{\"TableName\":\"t\",\"ExpressionAttributeValues\":{\":v\":%s}}", v.data);
    struct buf b = BUF_INIT;
    assert_int_equal(key_of(*state, QUERY_OP_SCAN, r, &b), QUERY_UNCACHEABLE);
    buf_free(&b);
    buf_free(&v);
}

/* ---- key conditions ---- */

static const char *const names_json = "{\"#b\":\"board\",\"#p\":\"player\",\"#s\":\"score\","
                                      "\"#n\":\"name\",\"#r\":\"region\"}";
static const char *const values_json =
    "{\":b\":{\"S\":\"b1\"},\":p\":{\"S\":\"ann\"},\":lo\":{\"S\":\"a\"},\":hi\":{\"S\":\"m\"},"
    "\":n\":{\"N\":\"3\"},\":s\":{\"N\":\"10\"},\":r\":{\"S\":\"eu\"}}";

static int condition(struct arena *a, const struct query_index *ix, const char *expr,
                     const struct json **v)
{
    return query_key_condition(expr, strlen(expr), json_lit(a, names_json),
                               json_lit(a, values_json), ix, v);
}

static void test_key_condition_accepted(void **state)
{
    static const char *const accepted[] = {
        "board = :b",
        "#b = :b",
        ":b = board",
        ":b = #b",
        "board = :b AND player = :p",
        "board = :b and player < :p",
        "board = :b AnD player <= :p",
        "board = :b AND player > :p",
        "board = :b AND player >= :p",
        "board = :b AND player BETWEEN :lo AND :hi",
        "board = :b and player between :lo and :hi",
        "board = :b AND begins_with(player, :p)",
        "begins_with(#p, :p) AND #b = :b",
        "board = :b AND begins_with ( #p , :p )",
        "(board = :b) AND (player > :p)",
        "((board = :b))",
        "(board = :b AND player > :p)",
        "  board=:b  AND  player>=:p  ",
        "board\t=\n:b",
        ":p < player AND board = :b",
        "player BETWEEN :lo AND :hi AND board = :b",
    };
    struct query_table t;
    scores_table(*state, &t);
    for (size_t i = 0; i < ARRAY_LEN(accepted); i++) {
        const struct json *v = NULL;
        if (condition(*state, &t.index[0], accepted[i], &v) != QUERY_OK)
            fail_msg("refused: %s", accepted[i]);
        assert_non_null(v);
        assert_string_equal(json_get(v, "S")->str, "b1");
    }
}

static void test_key_condition_refused(void **state)
{
    static const char *const refused[] = {
        "",
        "   ",
        "board",
        "board =",
        "= :b",
        "board = :b OR player = :p",
        "board > :b",
        "board <> :b",
        "player = :p",
        "board = :b AND board = :b",
        "board = :b AND region = :r",
        "board = :b AND player = :p AND player > :p",
        "board = :nothing",
        "#nothing = :b",
        "board = :b AND NOT player = :p",
        "board = board",
        ":b = :b",
        "board = :b AND player BETWEEN :lo",
        "board = :b AND player BETWEEN :lo OR :hi",
        "board = :b AND begins_with(:p, player)",
        "board = :b AND BEGINS_WITH(player, :p)",
        "board = :b AND begins_with(player, :p",
        "board = :b AND contains(player, :p)",
        "board.x = :b",
        "board[0] = :b",
        "(board = :b",
        "board = :b)",
        "size(board) = :b",
        "board = :b AND player IN (:p)",
        "board = :b AND",
        "AND board = :b",
        "board = :b,",
        "board = # AND player = :p",
        "board = :",
        "board == :b",
        "board = :b AND #s > :s", /* score is not the table's sort key */
    };
    struct query_table t;
    scores_table(*state, &t);
    for (size_t i = 0; i < ARRAY_LEN(refused); i++) {
        const struct json *v = NULL;
        if (condition(*state, &t.index[0], refused[i], &v) != QUERY_UNCACHEABLE)
            fail_msg("accepted: %s", refused[i]);
    }
}

static void test_key_condition_indexes(void **state)
{
    struct query_table t;
    scores_table(*state, &t);
    const struct json *v;
    /* the GSI's sort key is score, not player */
    assert_int_equal(condition(*state, &t.index[1], "board = :b AND #s > :s", &v), QUERY_OK);
    assert_int_equal(condition(*state, &t.index[1], "board = :b AND player > :p", &v),
                     QUERY_UNCACHEABLE);
    /* an index without a sort key takes one condition */
    assert_int_equal(condition(*state, &t.index[2], "#r = :r", &v), QUERY_OK);
    assert_string_equal(json_get(v, "S")->str, "eu");
    assert_int_equal(condition(*state, &t.index[2], "#r = :r AND player > :p", &v),
                     QUERY_UNCACHEABLE);
    /* region is a reserved word: only a placeholder names it */
    assert_int_equal(condition(*state, &t.index[2], "region = :r", &v), QUERY_UNCACHEABLE);
    /* a reserved word is a name only through a placeholder */
    struct query_index named = t.index[2];
    named.hash = (struct key_attr){"name", 4, 'N'};
    assert_int_equal(condition(*state, &named, "#n = :n", &v), QUERY_OK);
    assert_int_equal(condition(*state, &named, "name = :n", &v), QUERY_UNCACHEABLE);
    /* an attribute named like the function */
    named.hash = (struct key_attr){"begins_with", 11, 'S'};
    assert_int_equal(condition(*state, &named, "begins_with = :b", &v), QUERY_OK);
    /* a NUL is neither a space nor punctuation */
    assert_int_equal(query_key_condition("board = :b\0", 11, json_lit(*state, names_json),
                                         json_lit(*state, values_json), &t.index[0], &v),
                     QUERY_UNCACHEABLE);
    assert_int_equal(query_key_condition("board\0= :b", 11, json_lit(*state, names_json),
                                         json_lit(*state, values_json), &t.index[0], &v),
                     QUERY_UNCACHEABLE);
    /* over 4 KB */
    char *big = repeat_char(' ', 5000);
    memcpy(big, "board = :b", 10);
    assert_int_equal(condition(*state, &t.index[0], big, &v), QUERY_UNCACHEABLE);
    free(big);
}

static int partition_of(struct arena *a, const struct query_table *t, const char *request,
                        struct query_partition *p)
{
    memset(p, 0, sizeof(*p));
    return query_read_partition(a, t, json_lit(a, request), p);
}

/* The expected key bytes of value v (an AttributeValue) for ka. */
static void assert_partition_key(struct arena *a, const struct query_partition *p,
                                 const struct key_attr *ka, const char *value)
{
    struct buf want = BUF_INIT;
    struct attr_error err;
    assert_int_equal(key_encode_value(ka, false, json_lit(a, value), &want, &err), KEY_OK);
    assert_non_null(p->key);
    assert_int_equal(p->key_len, want.len);
    assert_memory_equal(p->key, want.data, want.len);
    buf_free(&want);
}

static void test_read_partition(void **state)
{
    struct query_table t;
    scores_table(*state, &t);
    struct query_partition p;
    assert_int_equal(partition_of(*state, &t,
                                  "{\"TableName\":\"scores\",\"IndexName\":\"by_score\","
                                  "\"KeyConditionExpression\":\"board = :b AND score > :s\","
                                  "\"ExpressionAttributeValues\":{\":b\":{\"S\":\"b2\"},\":s\":{"
                                  "\"N\":\"1\"}}}",
                                  &p),
                     QUERY_OK);
    assert_int_equal(p.index, 1);
    assert_partition_key(*state, &p, &t.index[1].hash, "{\"S\":\"b2\"}");
    /* legacy KeyConditions */
    assert_int_equal(partition_of(*state, &t,
                                  "{\"TableName\":\"scores\",\"KeyConditions\":{\"player\":{"
                                  "\"ComparisonOperator\":\"BEGINS_WITH\",\"AttributeValueList\":[{"
                                  "\"S\":\"a\"}]},\"board\":{\"ComparisonOperator\":\"EQ\","
                                  "\"AttributeValueList\":[{\"S\":\"b3\"}]}}}",
                                  &p),
                     QUERY_OK);
    assert_int_equal(p.index, 0);
    assert_partition_key(*state, &p, &t.index[0].hash, "{\"S\":\"b3\"}");
}

static void test_read_partition_numbers(void **state)
{
    struct query_table t;
    const struct json *doc = json_file(*state, "moto_describe_table_plain.json");
    assert_int_equal(query_table_parse(json_get(doc, "Table"), &t), QUERY_OK);
    const char *fmt = "{\"TableName\":\"plain\",\"KeyConditionExpression\":\"n = :v\","
                      "\"ExpressionAttributeValues\":{\":v\":{\"N\":\"%s\"}}}";
    struct query_partition p1, p2;
    assert_int_equal(partition_of(*state, &t, arena_printf(*state, fmt, "25"), &p1), QUERY_OK);
    assert_int_equal(partition_of(*state, &t, arena_printf(*state, fmt, "2.5E1"), &p2), QUERY_OK);
    assert_int_equal(p1.key_len, p2.key_len);
    assert_memory_equal(p1.key, p2.key, p1.key_len);
    assert_int_equal(partition_of(*state, &t, arena_printf(*state, fmt, "26"), &p2), QUERY_OK);
    assert_false(p1.key_len == p2.key_len && memcmp(p1.key, p2.key, p1.key_len) == 0);
}

static void test_read_partition_refused(void **state)
{
    static const char *const refused[] = {
        /* an unknown index */
        "{\"TableName\":\"scores\",\"IndexName\":\"nope\",\"KeyConditionExpression\":\"board = "
        ":b\",\"ExpressionAttributeValues\":{\":b\":{\"S\":\"b\"}}}",
        /* the partition value of the wrong type */
        "{\"TableName\":\"scores\",\"KeyConditionExpression\":\"board = :b\","
        "\"ExpressionAttributeValues\":{\":b\":{\"N\":\"1\"}}}",
        /* an empty partition value */
        "{\"TableName\":\"scores\",\"KeyConditionExpression\":\"board = :b\","
        "\"ExpressionAttributeValues\":{\":b\":{\"S\":\"\"}}}",
        /* no condition at all, or both forms */
        "{\"TableName\":\"scores\"}",
        "{\"TableName\":\"scores\",\"KeyConditionExpression\":\"board = :b\","
        "\"ExpressionAttributeValues\":{\":b\":{\"S\":\"b\"}},\"KeyConditions\":{\"board\":{"
        "\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"S\":\"b\"}]}}}",
        /* legacy: not EQ, two values, a non-key attribute */
        "{\"TableName\":\"scores\",\"KeyConditions\":{\"board\":{\"ComparisonOperator\":\"GE\","
        "\"AttributeValueList\":[{\"S\":\"b\"}]}}}",
        "{\"TableName\":\"scores\",\"KeyConditions\":{\"board\":{\"ComparisonOperator\":\"EQ\","
        "\"AttributeValueList\":[{\"S\":\"b\"},{\"S\":\"c\"}]}}}",
        "{\"TableName\":\"scores\",\"KeyConditions\":{\"board\":{\"ComparisonOperator\":\"EQ\","
        "\"AttributeValueList\":[{\"S\":\"b\"}]},\"region\":{\"ComparisonOperator\":\"EQ\","
        "\"AttributeValueList\":[{\"S\":\"eu\"}]}}}",
        /* no values object */
        "{\"TableName\":\"scores\",\"KeyConditionExpression\":\"board = :b\"}",
    };
    struct query_table t;
    scores_table(*state, &t);
    struct query_partition p;
    for (size_t i = 0; i < ARRAY_LEN(refused); i++)
        if (partition_of(*state, &t, refused[i], &p) != QUERY_UNCACHEABLE)
            fail_msg("accepted: %s", refused[i]);
}

/* ---- item partitions ---- */

/* The partitions of item in moto's "scores" table (which must accept it). */
static int item_parts(struct arena *a, const char *item, struct query_partition *p)
{
    struct query_table t;
    scores_table(a, &t);
    int n = -1;
    if (query_item_partitions(a, &t, json_lit(a, item), p, &n) != QUERY_OK)
        fail_msg("refused: %s", item);
    return n;
}

static void test_item_partitions_full(void **state)
{
    struct query_table t;
    scores_table(*state, &t);
    struct query_partition p[QUERY_MAX_INDEXES];
    assert_int_equal(item_parts(*state,
                                "{\"board\":{\"S\":\"b1\"},\"player\":{\"S\":\"ann\"},\"score\":{"
                                "\"N\":\"10\"},\"region\":{\"S\":\"eu\"},\"when\":{\"N\":\"5\"}}",
                                p),
                     4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(p[i].index, i);
    assert_partition_key(*state, &p[0], &t.index[0].hash, "{\"S\":\"b1\"}");
    assert_partition_key(*state, &p[1], &t.index[1].hash, "{\"S\":\"b1\"}");
    assert_partition_key(*state, &p[2], &t.index[2].hash, "{\"S\":\"eu\"}");
    assert_partition_key(*state, &p[3], &t.index[3].hash, "{\"S\":\"b1\"}");
}

static void test_item_partitions_sparse(void **state)
{
    struct query_partition p[QUERY_MAX_INDEXES];
    /* no score: not in by_score (its sort key); no when: not in by_when */
    assert_int_equal(item_parts(*state,
                                "{\"board\":{\"S\":\"b1\"},\"player\":{\"S\":\"ann\"},"
                                "\"region\":{\"S\":\"eu\"}}",
                                p),
                     2);
    assert_int_equal(p[0].index, 0);
    assert_int_equal(p[1].index, 2);
    /* the keys alone: the base table only */
    assert_int_equal(item_parts(*state, "{\"board\":{\"S\":\"b1\"},\"player\":{\"S\":\"ann\"}}", p),
                     1);
    assert_int_equal(p[0].index, 0);
}

static void test_item_partitions_unreadable(void **state)
{
    struct query_partition p[QUERY_MAX_INDEXES];
    /* score of the wrong type, region empty: the whole index for each */
    assert_int_equal(item_parts(*state,
                                "{\"board\":{\"S\":\"b1\"},\"player\":{\"S\":\"ann\"},\"score\":{"
                                "\"S\":\"ten\"},\"region\":{\"S\":\"\"}}",
                                p),
                     3);
    assert_int_equal(p[1].index, 1);
    assert_null(p[1].key);
    assert_int_equal(p[2].index, 2);
    assert_null(p[2].key);
    /* no readable primary key: not an item image */
    static const char *const bad[] = {
        "{\"board\":{\"S\":\"b1\"}}",
        "{\"board\":{\"N\":\"1\"},\"player\":{\"S\":\"a\"}}",
        "[]",
    };
    struct query_table t;
    scores_table(*state, &t);
    int n;
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        assert_int_equal(query_item_partitions(*state, &t, json_lit(*state, bad[i]), p, &n),
                         QUERY_EINVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ARENA_TEST(test_table_moto_indexes),
        ARENA_TEST(test_table_moto_plain_and_keys_only),
        ARENA_TEST(test_table_aws_shape),
        ARENA_TEST(test_table_refused),
        ARENA_TEST(test_table_too_many_indexes),
        ARENA_TEST(test_key_member_order),
        ARENA_TEST(test_key_equivalent_numbers),
        ARENA_TEST(test_key_defaults),
        ARENA_TEST(test_key_each_field_matters),
        ARENA_TEST(test_key_scan_fields_and_op),
        ARENA_TEST(test_key_types_distinct),
        ARENA_TEST(test_key_legacy_forms),
        ARENA_TEST(test_key_refused),
        ARENA_TEST(test_key_nesting_cap),
        ARENA_TEST(test_key_condition_accepted),
        ARENA_TEST(test_key_condition_refused),
        ARENA_TEST(test_key_condition_indexes),
        ARENA_TEST(test_read_partition),
        ARENA_TEST(test_read_partition_numbers),
        ARENA_TEST(test_read_partition_refused),
        ARENA_TEST(test_item_partitions_full),
        ARENA_TEST(test_item_partitions_sparse),
        ARENA_TEST(test_item_partitions_unreadable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
