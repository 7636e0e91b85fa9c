/*
 * test_query.c: Query and Scan from the query cache (src/handler/query.c),
 * and what writes (src/handler/write.c) do to cached pages, against a fake
 * backend and clock: the same page twice is one backend call; a write makes
 * stale exactly the pages of the partitions it may have changed (base
 * table, LSI, the GSI partitions of its old and new images, every Scan);
 * fills racing a write are not installed; unknown outcomes hold the table's
 * pages; the lag window; item fills from Query pages; what is relayed.
 *
 * The table "s": hash b, range p; GSI g_score (b, sc) ALL; GSI g_region
 * (rg) KEYS_ONLY; LSI l_when (b, wh) ALL.
 */
#include "handler_test.h"

#define DESC                                                                                       \
    "{\"Table\":{\"TableName\":\"s\",\"TableStatus\":\"ACTIVE\","                                  \
    "\"TableArn\":\"arn:aws:dynamodb:us-east-1:123456789012:table/s\","                            \
    "\"KeySchema\":[{\"AttributeName\":\"b\",\"KeyType\":\"HASH\"},"                               \
    "{\"AttributeName\":\"p\",\"KeyType\":\"RANGE\"}],"                                            \
    "\"AttributeDefinitions\":[{\"AttributeName\":\"b\",\"AttributeType\":\"S\"},"                 \
    "{\"AttributeName\":\"p\",\"AttributeType\":\"S\"},"                                           \
    "{\"AttributeName\":\"sc\",\"AttributeType\":\"N\"},"                                          \
    "{\"AttributeName\":\"rg\",\"AttributeType\":\"S\"},"                                          \
    "{\"AttributeName\":\"wh\",\"AttributeType\":\"N\"}],"                                         \
    "\"GlobalSecondaryIndexes\":["                                                                 \
    "{\"IndexName\":\"g_score\",\"KeySchema\":[{\"AttributeName\":\"b\",\"KeyType\":\"HASH\"},"    \
    "{\"AttributeName\":\"sc\",\"KeyType\":\"RANGE\"}],\"Projection\":{\"ProjectionType\":"        \
    "\"ALL\"}},"                                                                                   \
    "{\"IndexName\":\"g_region\",\"KeySchema\":[{\"AttributeName\":\"rg\",\"KeyType\":\"HASH\"}]," \
    "\"Projection\":{\"ProjectionType\":\"KEYS_ONLY\"}}],"                                         \
    "\"LocalSecondaryIndexes\":["                                                                  \
    "{\"IndexName\":\"l_when\",\"KeySchema\":[{\"AttributeName\":\"b\",\"KeyType\":\"HASH\"},"     \
    "{\"AttributeName\":\"wh\",\"KeyType\":\"RANGE\"}],\"Projection\":{\"ProjectionType\":"        \
    "\"ALL\"}}]}}"

/* ---- requests ---- */

/* A Query of partition `value` of `index` ("" for the base table), whose
 * partition key is `attr`. extra: more members, or "". */
static const char *qbody(const char *index, const char *attr, const char *value, const char *extra)
{
    static char b[4][512];
    static int n;
    char *out = b[n++ % 4];
    char ix[64] = "";
    if (*index) snprintf(ix, sizeof(ix), "\"IndexName\":\"%s\",", index);
    snprintf(out, 512,
             "{\"TableName\":\"s\",%s\"KeyConditionExpression\":\"%s = :v\","
             "\"ExpressionAttributeValues\":{\":v\":{\"S\":\"%s\"}}%s}",
             ix, attr, value, extra);
    return out;
}

/* One of a few static buffers, reused in turn: strings the helpers build. */
#define SCRATCH 1024
static char *scratch(void)
{
    static char b[16][SCRATCH];
    static int n;
    return b[n++ % 16];
}

/* A page holding items (JSON objects joined by commas; a real answer
 * holds the items of its partition, which range-precise pages rely on),
 * told apart by `mark`; lek: a LastEvaluatedKey object, or NULL. */
static const char *items_page(const char *mark, const char *items, const char *lek)
{
    char *out = scratch();
    int count = *items ? 1 : 0;
    for (const char *c = items; *c; c++)
        count += c[0] == '}' && c[1] == '}' && c[2] == ',' && c[3] == '{'; /* items end in }} */
    snprintf(out, SCRATCH, "{\"Items\":[%s],\"Count\":%d,\"ScannedCount\":%d%s%s,\"mark\":\"%s\"}",
             items, count, count, lek ? ",\"LastEvaluatedKey\":" : "", lek ? lek : "", mark);
    return out;
}

/* An empty page the fake backend answers, told apart by `mark`. */
static const char *page(const char *mark)
{
    return items_page(mark, "", NULL);
}

/* Sends op with body; asserts it went to the backend, answers `ans`. */
static void miss_with(const char *op, const char *body, const char *ans)
{
    int c = ht.ncalls;
    struct ht_req *q = ht_send(op, body);
    if (ht.ncalls != c + 1) fail_msg("%s was not a miss: %s", op, body);
    ht_expect(c, op, NULL);
    ht_answer(c, 200, ans);
    ht_replied(q, 200, ans);
}

/* Sends op with body; asserts it was answered from the cache with `ans`. */
static void hit_with(const char *op, const char *body, const char *ans)
{
    int c = ht.ncalls;
    struct ht_req *q = ht_send(op, body);
    if (ht.ncalls != c) fail_msg("%s went to the backend: %s", op, ht_call(c)->body.data);
    ht_replied(q, 200, ans);
    assert_true(q->crc_set);
}

static void miss_op(const char *op, const char *body, const char *mark)
{
    miss_with(op, body, page(mark));
}

static void hit_op(const char *op, const char *body, const char *mark)
{
    hit_with(op, body, page(mark));
}

static void miss(const char *index, const char *attr, const char *value, const char *mark)
{
    miss_op("Query", qbody(index, attr, value, ""), mark);
}

static void hit(const char *index, const char *attr, const char *value, const char *mark)
{
    hit_op("Query", qbody(index, attr, value, ""), mark);
}

/* Caches a page and checks that the next read is a hit. */
static void cached(const char *index, const char *attr, const char *value, const char *mark)
{
    miss(index, attr, value, mark);
    hit(index, attr, value, mark);
}

static const char *scan_body = "{\"TableName\":\"s\"}";

static int setup(void **state)
{
    ht_setup(state);
    struct ht_req *q = ht_send("Query", qbody("", "b", "init", ""));
    ht_expect(0, "DescribeTable", "\"s\"");
    ht_answer(0, 200, DESC);
    ht_expect(1, "Query", NULL);
    ht_answer(1, 200, page("init"));
    ht_replied(q, 200, page("init"));
    return 0;
}

/* Answers a write (call c) with 200 and `ans`; asserts the caller got `reply`. */
static void answer_write(struct ht_req *w, int c, const char *ans, const char *reply)
{
    ht_answer(c, 200, ans);
    ht_replied(w, 200, reply);
}

/* ---- the same page twice ---- */

static void test_the_same_query_twice_is_one_backend_query(void **state)
{
    int c = ht.ncalls;
    struct ht_req *q = ht_send("Query", qbody("g_score", "b", "b1", ",\"ScanIndexForward\":false"));
    ht_expect(c, "Query", "g_score");
    /* a GSI cannot be read consistently: sent as it came */
    assert_string_equal(ht_call(c)->body.data,
                        qbody("g_score", "b", "b1", ",\"ScanIndexForward\":false"));
    ht_answer(c, 200, page("top"));
    ht_replied(q, 200, page("top"));
    /* the same request written differently is the same page */
    hit_op("Query",
           "{\"ScanIndexForward\":false,\"ExpressionAttributeValues\":{\":v\":{\"S\":\"b1\"}},"
           "\"KeyConditionExpression\":\"b = :v\",\"IndexName\":\"g_score\",\"TableName\":\"s\","
           "\"ConsistentRead\":false}",
           "top");
    /* another Limit is another page */
    miss_op("Query", qbody("g_score", "b", "b1", ",\"ScanIndexForward\":false,\"Limit\":5"), "l5");
    hit_op("Query", qbody("g_score", "b", "b1", ",\"ScanIndexForward\":false,\"Limit\":5"), "l5");
    assert_int_equal((int)metrics_tls->query_cache_hits, 2);
}

static void test_the_same_scan_twice_is_one_backend_scan(void **state)
{
    int c = ht.ncalls;
    struct ht_req *q = ht_send("Scan", scan_body);
    /* the base table is read consistently, so the page never predates a write */
    ht_expect(c, "Scan", "\"ConsistentRead\":true");
    ht_answer(c, 200, page("all"));
    ht_replied(q, 200, page("all"));
    hit_op("Scan", scan_body, "all");
    miss_op("Scan", "{\"TableName\":\"s\",\"Segment\":0,\"TotalSegments\":2}", "seg0");
    hit_op("Scan", "{\"TableName\":\"s\",\"Segment\":0,\"TotalSegments\":2}", "seg0");
    assert_int_equal((int)metrics_tls->scan_cache_hits, 2);
    assert_int_equal((int)metrics_tls->scan_cache_misses, 2);
}

static void test_concurrent_misses_make_one_backend_read(void **state)
{
    int c = ht.ncalls;
    struct ht_req *a = ht_send("Query", qbody("", "b", "b7", ""));
    struct ht_req *b = ht_send("Query", qbody("", "b", "b7", ""));
    assert_int_equal(ht.ncalls, c + 1);
    ht_answer(c, 200, page("one"));
    ht_replied(a, 200, page("one"));
    ht_replied(b, 200, page("one"));
}

/* ---- partitions ---- */

static void test_a_write_makes_stale_only_its_partitions(void **state)
{
    cached("", "b", "b1", "base1");
    cached("", "b", "b2", "base2");
    cached("l_when", "b", "b1", "lsi1");
    cached("l_when", "b", "b2", "lsi2");
    miss_op("Scan", scan_body, "scan");
    int c = ht.ncalls;
    /* a new item in the base table's and l_when's partition b1: the empty
     * pages there (no LastEvaluatedKey: the whole partition) change */
    struct ht_req *w = ht_send("PutItem", "{\"TableName\":\"s\",\"Item\":{\"b\":{\"S\":\"b1\"},"
                                          "\"p\":{\"S\":\"x\"},\"sc\":{\"N\":\"1\"},"
                                          "\"wh\":{\"N\":\"3\"}}}");
    /* the table has GSIs: the old image is asked for, the caller gets nothing back */
    ht_expect(c, "PutItem", "\"ReturnValues\":\"ALL_OLD\"");
    hit("", "b", "b1", "base1"); /* not answered yet: nothing changed */
    answer_write(w, c, "{}", "{}");
    miss("", "b", "b1", "base1b");
    hit("", "b", "b2", "base2");
    miss("l_when", "b", "b1", "lsi1b");
    hit("l_when", "b", "b2", "lsi2");
    miss_op("Scan", scan_body, "scan2"); /* every write makes every Scan stale */
}

/* The item (b1, x) of the g_region partition rg, as a KEYS_ONLY page holds it. */
static const char *x_in(const char *rg)
{
    char *out = scratch();
    snprintf(out, SCRATCH, "{\"b\":{\"S\":\"b1\"},\"p\":{\"S\":\"x\"},\"rg\":{\"S\":\"%s\"}}", rg);
    return out;
}

static void test_gsi_pages_of_the_old_and_new_images_go_stale(void **state)
{
    char eu[512], us[512]; /* qbody's buffers are reused */
    snprintf(eu, sizeof(eu), "%s", qbody("g_region", "rg", "eu", ""));
    snprintf(us, sizeof(us), "%s", qbody("g_region", "rg", "us", ""));
    miss_with("Query", eu, items_page("eu", x_in("eu"), NULL));
    hit_with("Query", eu, items_page("eu", x_in("eu"), NULL));
    cached("g_region", "rg", "us", "us");
    cached("g_region", "rg", "asia", "asia");
    /* an item moves from eu to us: the old image is in the ALL_OLD answer */
    int c = ht.ncalls;
    struct ht_req *w = ht_send("PutItem", "{\"TableName\":\"s\",\"Item\":{\"b\":{\"S\":\"b1\"},"
                                          "\"p\":{\"S\":\"x\"},\"rg\":{\"S\":\"us\"}}}");
    answer_write(
        w, c, "{\"Attributes\":{\"b\":{\"S\":\"b1\"},\"p\":{\"S\":\"x\"},\"rg\":{\"S\":\"eu\"}}}",
        "{}");
    miss("g_region", "rg", "eu", "eu2");
    miss_with("Query", us, items_page("us2", x_in("us"), NULL));
    hit("g_region", "rg", "asia", "asia");
    /* the caller asked for ALL_OLD itself: sent as it came, answered with it */
    c = ht.ncalls;
    const char *put = "{\"TableName\":\"s\",\"Item\":{\"b\":{\"S\":\"b1\"},\"p\":{\"S\":\"x\"},"
                      "\"rg\":{\"S\":\"eu\"}},\"ReturnValues\":\"ALL_OLD\"}";
    const char *ans =
        "{\"Attributes\":{\"b\":{\"S\":\"b1\"},\"p\":{\"S\":\"x\"},\"rg\":{\"S\":\"us\"}}}";
    w = ht_send("PutItem", put);
    assert_string_equal(ht_call(c)->body.data, put);
    answer_write(w, c, ans, ans);
    miss("g_region", "rg", "eu", "eu3");
    miss("g_region", "rg", "us", "us3");
    hit("g_region", "rg", "asia", "asia");
}

static void test_an_update_not_naming_the_gsi_key_keeps_the_item_in_its_partition(void **state)
{
    cached("g_score", "b", "b1", "top1");
    cached("g_score", "b", "b2", "top2");
    cached("g_region", "rg", "eu", "eu");
    cached("g_region", "rg", "us", "us");
    int c = ht.ncalls;
    struct ht_req *w = ht_send(
        "UpdateItem", "{\"TableName\":\"s\",\"Key\":{\"b\":{\"S\":\"b1\"},\"p\":{\"S\":\"x\"}},"
                      "\"UpdateExpression\":\"SET sc = :s\","
                      "\"ExpressionAttributeValues\":{\":s\":{\"N\":\"99\"}}}");
    ht_expect(c, "UpdateItem", "\"ReturnValues\":\"ALL_NEW\"");
    answer_write(w, c,
                 "{\"Attributes\":{\"b\":{\"S\":\"b1\"},\"p\":{\"S\":\"x\"},\"sc\":{\"N\":\"99\"},"
                 "\"rg\":{\"S\":\"eu\"}}}",
                 "{}");
    miss("g_score", "b", "b1", "top1b"); /* the new high score shows at once */
    hit("g_score", "b", "b2", "top2");   /* every other board stays a hit */
    miss("g_region", "rg", "eu", "eu2"); /* the item's region partition */
    hit("g_region", "rg", "us", "us");
}

static void test_unknown_old_images_make_the_whole_gsi_stale(void **state)
{
    cached("g_region", "rg", "eu", "eu");
    cached("g_score", "b", "b2", "top2");
    cached("", "b", "b2", "base2");
    /* BatchWriteItem has no ReturnValues: the old image is unknown */
    int c = ht.ncalls;
    struct ht_req *w = ht_send(
        "BatchWriteItem", "{\"RequestItems\":{\"s\":[{\"PutRequest\":{\"Item\":"
                          "{\"b\":{\"S\":\"b1\"},\"p\":{\"S\":\"y\"},\"rg\":{\"S\":\"us\"}}}}]}}");
    answer_write(w, c, "{\"UnprocessedItems\":{}}", "{\"UnprocessedItems\":{}}");
    miss("g_region", "rg", "eu", "eu2");
    miss("g_score", "b", "b2", "top2b");
    hit("", "b", "b2", "base2"); /* the base partition is known from the key */
    /* an unprocessed request wrote nothing */
    c = ht.ncalls;
    const char *req = "{\"RequestItems\":{\"s\":[{\"DeleteRequest\":{\"Key\":"
                      "{\"b\":{\"S\":\"b2\"},\"p\":{\"S\":\"y\"}}}}]}}";
    w = ht_send("BatchWriteItem", req);
    const char *ans = "{\"UnprocessedItems\":{\"s\":[{\"DeleteRequest\":{\"Key\":"
                      "{\"b\":{\"S\":\"b2\"},\"p\":{\"S\":\"y\"}}}}]}}";
    answer_write(w, c, ans, ans);
    hit("", "b", "b2", "base2");
    hit("g_region", "rg", "eu", "eu2");
}

static void test_refused_writes_change_nothing(void **state)
{
    cached("", "b", "b1", "base1");
    int c = ht.ncalls;
    struct ht_req *w = ht_send("DeleteItem", "{\"TableName\":\"s\",\"Key\":{\"b\":{\"S\":\"b1\"},"
                                             "\"p\":{\"S\":\"x\"}},\"ConditionExpression\":"
                                             "\"attribute_exists(v)\"}");
    ht_expect(c, "DeleteItem", "ALL_OLD");
    ht_answer(c, 400, ht_error("ConditionalCheckFailedException"));
    assert_int_equal(w->status, 400);
    hit("", "b", "b1", "base1");
}

/* ---- races, holds, lag, TTL ---- */

static void test_a_fill_racing_a_write_is_not_installed(void **state)
{
    int c = ht.ncalls;
    struct ht_req *q = ht_send("Query", qbody("", "b", "b1", ""));
    struct ht_req *w = ht_send("DeleteItem", "{\"TableName\":\"s\",\"Key\":{\"b\":{\"S\":\"b1\"},"
                                             "\"p\":{\"S\":\"x\"}}}");
    answer_write(w, c + 1, "{}", "{}");
    /* a read that starts now joins no fill from before the write */
    struct ht_req *late = ht_send("Query", qbody("", "b", "b1", ""));
    /* the page read holds the deleted item: the delete may change it */
    const char *before = items_page("before", "{\"b\":{\"S\":\"b1\"},\"p\":{\"S\":\"x\"}}", NULL);
    ht_answer(c, 200, before);
    ht_replied(q, 200, before);      /* it overlapped the write: either is right */
    ht_expect(c + 2, "Query", NULL); /* the late reader read again */
    ht_answer(c + 2, 200, page("after"));
    ht_replied(late, 200, page("after"));
    hit("", "b", "b1", "after");
    assert_int_equal((int)metrics_tls->query_cache_fills_refused, 1);
}

static void test_unknown_outcomes_hold_the_tables_pages(void **state)
{
    cached("", "b", "b2", "base2");
    int c = ht.ncalls;
    struct ht_req *w = ht_send("PutItem", "{\"TableName\":\"s\",\"Item\":{\"b\":{\"S\":\"b1\"},"
                                          "\"p\":{\"S\":\"x\"}}}");
    ht_fail(c, BACKEND_TIMEOUT);
    assert_int_equal(w->status, 500);
    hit("", "b", "b2", "base2");  /* another partition, cached before: still right */
    for (int i = 0; i < 3; i++) { /* the write may land any time: nothing is cached */
        miss("", "b", "b1", "held");
        ht.now += 5000;
    }
    ht.now += HT_HOLDOFF_MS;
    miss("", "b", "b1", "free");
    hit("", "b", "b1", "free");
}

static void test_gsi_pages_read_just_after_a_write_live_a_lag_window(void **state)
{
    int c = ht.ncalls;
    struct ht_req *w = ht_send(
        "UpdateItem", "{\"TableName\":\"s\",\"Key\":{\"b\":{\"S\":\"b1\"},\"p\":{\"S\":\"x\"}},"
                      "\"UpdateExpression\":\"SET sc = :s\","
                      "\"ExpressionAttributeValues\":{\":s\":{\"N\":\"5\"}}}");
    answer_write(w, c,
                 "{\"Attributes\":{\"b\":{\"S\":\"b1\"},\"p\":{\"S\":\"x\"},\"sc\":{\"N\":\"5\"}}}",
                 "{}");
    /* the GSI may still lag: cached for --query-lag-window (1 s) only */
    cached("g_score", "b", "b1", "lagging");
    cached("", "b", "b1", "consistent"); /* read consistently: no lag */
    ht.now += 1001;
    miss("g_score", "b", "b1", "caught-up");
    hit("", "b", "b1", "consistent");
    ht.now += 60000;
    hit("g_score", "b", "b1", "caught-up");
    assert_int_equal((int)metrics_tls->query_cache_lagging_fills, 1);
}

static void test_pages_expire_after_the_query_ttl(void **state)
{
    cached("", "b", "b3", "b3");
    ht.now += 5 * 60 * 1000 - 1;
    hit("", "b", "b3", "b3");
    ht.now += 1;
    miss("", "b", "b3", "b3b");
}

static void test_a_partiql_write_drops_every_page_of_its_table(void **state)
{
    cached("", "b", "b3", "b3");
    int c = ht.ncalls;
    struct ht_req *w =
        ht_send("ExecuteStatement", "{\"Statement\":\"UPDATE s SET v = 1 WHERE b = 'b9'\"}");
    ht_answer(c, 200, "{\"Items\":[]}");
    assert_int_equal(w->status, 200);
    miss("", "b", "b3", "b3b");
}

/* ---- what is relayed ---- */

static void relayed(const char *op, const char *body)
{
    for (int i = 0; i < 2; i++) {
        int c = ht.ncalls;
        struct ht_req *q = ht_send(op, body);
        assert_int_equal(ht.ncalls, c + 1);
        assert_string_equal(ht_call(c)->body.data, body);
        ht_answer(c, 200, page("relayed"));
        ht_replied(q, 200, page("relayed"));
    }
}

static void test_what_ddbx_cannot_key_is_relayed_every_time(void **state)
{
    relayed("Query", qbody("", "b", "b1", ",\"ConsistentRead\":true"));
    relayed("Scan", "{\"TableName\":\"s\",\"ConsistentRead\":true}");
    relayed("Query", qbody("nope", "b", "b1", ""));                  /* an unknown index */
    relayed("Query", qbody("", "b", "b1", ",\"Unheard\":1"));        /* an unknown member */
    relayed("Query", qbody("", "sc", "b1", ""));                     /* not the partition key */
    relayed("Scan", "{\"TableName\":\"s\",\"IndexName\":\"nope\"}"); /* an unknown index */
}

/* ---- the item cache from Query pages ---- */

static void test_an_unprojected_base_query_fills_the_item_cache(void **state)
{
    const char *items =
        "{\"Items\":[{\"b\":{\"S\":\"b5\"},\"p\":{\"S\":\"x\"},\"v\":{\"S\":\"1\"}},"
        "{\"b\":{\"S\":\"b5\"},\"p\":{\"S\":\"y\"},\"v\":{\"S\":\"2\"}}],"
        "\"Count\":2,\"ScannedCount\":2}";
    int c = ht.ncalls;
    struct ht_req *q = ht_send("Query", qbody("", "b", "b5", ""));
    ht_expect(c, "Query", "\"ConsistentRead\":true");
    ht_answer(c, 200, items);
    ht_replied(q, 200, items);
    struct ht_req *g = ht_send(
        "GetItem", "{\"TableName\":\"s\",\"Key\":{\"b\":{\"S\":\"b5\"},\"p\":{\"S\":\"y\"}}}");
    assert_int_equal(ht.ncalls, c + 1); /* a hit */
    ht_replied(g, 200, "{\"Item\":{\"b\":{\"S\":\"b5\"},\"p\":{\"S\":\"y\"},\"v\":{\"S\":\"2\"}}}");
    /* a projected page holds part of each item: the item cache is not filled */
    c = ht.ncalls;
    q = ht_send("Query", qbody("", "b", "b6", ",\"ProjectionExpression\":\"p\""));
    ht_answer(c, 200, "{\"Items\":[{\"p\":{\"S\":\"z\"}}],\"Count\":1,\"ScannedCount\":1}");
    g = ht_send("GetItem",
                "{\"TableName\":\"s\",\"Key\":{\"b\":{\"S\":\"b6\"},\"p\":{\"S\":\"z\"}}}");
    assert_int_equal(ht.ncalls, c + 2); /* a miss */
    ht_answer(c + 1, 200, "{}");
    assert_int_equal((int)metrics_tls->query_items_filled, 2);
}

/* ConsumedCapacity is what the caller's own read consumes in DynamoDB, as
 * for GetItem: a base-table fill ddbx made consistent costs twice what the
 * caller's eventually consistent read would, so the answer says half, and
 * the hit, answered with the stored page, says the same. */
static void test_consumed_capacity_is_the_callers_own_reads(void **state)
{
    const char *body = qbody("", "b", "b8", ",\"ReturnConsumedCapacity\":\"INDEXES\"");
    int c = ht.ncalls;
    struct ht_req *q = ht_send("Query", body);
    ht_expect(c, "Query", "\"ConsistentRead\":true");
    ht_answer(c, 200,
              "{\"Items\":[],\"Count\":0,\"ScannedCount\":0,\"ConsumedCapacity\":"
              "{\"TableName\":\"s\",\"CapacityUnits\":3.0,\"Table\":{\"CapacityUnits\":3.0}}}");
    const char *half =
        "{\"Items\":[],\"Count\":0,\"ScannedCount\":0,\"ConsumedCapacity\":"
        "{\"TableName\":\"s\",\"CapacityUnits\":1.5,\"Table\":{\"CapacityUnits\":1.5}}}";
    ht_replied(q, 200, half);
    q = ht_send("Query", body);
    assert_int_equal(ht.ncalls, c + 1);
    ht_replied(q, 200, half);
    /* a GSI read is not made consistent: its figure is the caller's already */
    body = qbody("g_score", "b", "b8", ",\"ReturnConsumedCapacity\":\"TOTAL\"");
    c = ht.ncalls;
    q = ht_send("Query", body);
    const char *ans = "{\"Items\":[],\"Count\":0,\"ScannedCount\":0,"
                      "\"ConsumedCapacity\":{\"TableName\":\"s\",\"CapacityUnits\":0.5}}";
    ht_answer(c, 200, ans);
    ht_replied(q, 200, ans);
    q = ht_send("Query", body);
    ht_replied(q, 200, ans);
}

/* ---- range-precise pages: the leaderboard ---- */

/* An item of board b1 with player p and score sc, as g_score (ALL) holds it. */
static const char *player(const char *p, const char *sc)
{
    char *out = scratch();
    snprintf(out, SCRATCH, "{\"b\":{\"S\":\"b1\"},\"p\":{\"S\":\"%s\"},\"sc\":{\"N\":\"%s\"}}", p,
             sc);
    return out;
}

static char top3_req[512];

/* Caches b1's top 3 on g_score: ann 90, bob 80, cat 70, L at cat. */
static const char *top3(const char *mark)
{
    static char items[512], ans[1024];
    snprintf(top3_req, sizeof(top3_req), "%s",
             qbody("g_score", "b", "b1", ",\"ScanIndexForward\":false,\"Limit\":3"));
    snprintf(items, sizeof(items), "%s,%s,%s", player("ann", "90"), player("bob", "80"),
             player("cat", "70"));
    snprintf(ans, sizeof(ans), "%s", items_page(mark, items, player("cat", "70")));
    miss_with("Query", top3_req, ans);
    hit_with("Query", top3_req, ans);
    return ans;
}

/* UpdateItem SET sc of player p in b1, answered with its ALL_NEW image. */
/* Sends UpdateItem SET sc of player p in b1 (extra: more members); *c is
 * its backend call. */
static struct ht_req *send_update(const char *p, const char *sc, const char *extra, int *c)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"TableName\":\"s\",\"Key\":{\"b\":{\"S\":\"b1\"},\"p\":{\"S\":\"%s\"}},"
             "\"UpdateExpression\":\"SET sc = :s\",\"ExpressionAttributeValues\":{\":s\":{\"N\":"
             "\"%s\"}}%s}",
             p, sc, extra);
    *c = ht.ncalls;
    return ht_send("UpdateItem", body);
}

static void set_score(const char *p, const char *sc)
{
    char ans[256];
    snprintf(ans, sizeof(ans), "{\"Attributes\":%s}", player(p, sc));
    int c;
    struct ht_req *w = send_update(p, sc, "", &c);
    ht_expect(c, "UpdateItem", "ALL_NEW");
    answer_write(w, c, ans, "{}");
}

/* DeleteItem of player p in b1, whose score was sc (the ALL_OLD answer). */
static void delete_player(const char *p, const char *sc)
{
    char body[256], ans[256];
    snprintf(body, sizeof(body),
             "{\"TableName\":\"s\",\"Key\":{\"b\":{\"S\":\"b1\"},\"p\":{\"S\":\"%s\"}}}", p);
    snprintf(ans, sizeof(ans), "{\"Attributes\":%s}", player(p, sc));
    int c = ht.ncalls;
    answer_write(ht_send("DeleteItem", body), c, ans, "{}");
}

static void test_a_score_far_below_the_top_page_keeps_it_a_hit(void **state)
{
    const char *ans = top3("top");
    set_score("zed", "10"); /* a new item far below */
    hit_with("Query", top3_req, ans);
    set_score("yan", "69.99"); /* just below L */
    set_score("zed", "12");
    hit_with("Query", top3_req, ans);
    assert_int_equal((int)metrics_tls->query_cache_kept, 2); /* then re-stamped: plain hits */
    hit_with("Query", top3_req, ans);
    assert_int_equal((int)metrics_tls->query_cache_kept, 2);
    assert_int_equal((int)metrics_tls->query_cache_stale, 0);
    /* a delete of an item past L */
    delete_player("zed", "12");
    hit_with("Query", top3_req, ans);
}

static void test_writes_that_touch_the_top_page_make_it_stale(void **state)
{
    /* each row: a write, then the page must be read again */
    const char *rows[][2] = {
        {"dan", "75"},  /* enters */
        {"dan", "99"},  /* enters at the top */
        {"bob", "85"},  /* moves within */
        {"bob", "80"},  /* rewritten as it was: an item of the page (a) */
        {"cat", "5"},   /* leaves */
        {"dan", "70"},  /* ties L */
        {"dan", "7E1"}, /* ties L, spelt otherwise */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        top3("before");
        set_score(rows[i][0], rows[i][1]);
        int c = ht.ncalls;
        struct ht_req *q = ht_send("Query", top3_req);
        if (ht.ncalls != c + 1)
            fail_msg("row %zu (%s %s) kept the page", i, rows[i][0], rows[i][1]);
        ht_answer(c, 200, page("after"));
        ht_replied(q, 200, page("after"));
        ht.now += 2000; /* past the lag window of the page just read */
    }
    /* a delete of an item in the page */
    top3("before");
    delete_player("ann", "90");
    miss_with("Query", top3_req, page("after"));
}

static void test_writes_without_a_note_make_the_page_stale(void **state)
{
    /* an UpdateItem whose caller asked for ALL_OLD: the new image is unknown */
    top3("before");
    int c;
    struct ht_req *w = send_update("zed", "1", ",\"ReturnValues\":\"ALL_OLD\"", &c);
    answer_write(w, c, "{}", "{}");
    miss_with("Query", top3_req, page("after"));
    ht.now += 2000;
    /* a write of unknown outcome notes nothing */
    top3("before");
    w = send_update("zed", "1", "", &c);
    ht_fail(c, BACKEND_TIMEOUT);
    assert_int_equal(w->status, 500);
    miss_with("Query", top3_req, page("after"));
    ht.now += 60000;
    /* a filtered page is not range-precise: any write of its partition drops it */
    const char *filtered = qbody("g_score", "b", "b1", ",\"FilterExpression\":\"sc > :v\"");
    char req[512];
    snprintf(req, sizeof(req), "%s", filtered);
    miss_with("Query", req, items_page("f", player("ann", "90"), NULL));
    set_score("zed", "1");
    miss_with("Query", req, page("f2"));
}

static void test_concurrent_far_writes_keep_the_page(void **state)
{
    const char *ans = top3("top");
    int c1, c2;
    struct ht_req *w1 = send_update("yan", "3", "", &c1), *w2 = send_update("zed", "4", "", &c2);
    hit_with("Query", top3_req, ans); /* neither answered: nothing changed yet */
    char a1[256], a2[256];
    snprintf(a2, sizeof(a2), "{\"Attributes\":%s}", player("zed", "4"));
    snprintf(a1, sizeof(a1), "{\"Attributes\":%s}", player("yan", "3"));
    answer_write(w2, c2, a2, "{}"); /* answered in the other order */
    hit_with("Query", top3_req, ans);
    answer_write(w1, c1, a1, "{}");
    hit_with("Query", top3_req, ans);
    /* one far, one entering, in flight together */
    w1 = send_update("yan", "5", "", &c1);
    w2 = send_update("zed", "95", "", &c2);
    snprintf(a1, sizeof(a1), "{\"Attributes\":%s}", player("yan", "5"));
    snprintf(a2, sizeof(a2), "{\"Attributes\":%s}", player("zed", "95"));
    answer_write(w1, c1, a1, "{}");
    answer_write(w2, c2, a2, "{}");
    miss_with("Query", top3_req, page("after"));
}

static void test_a_page_that_just_bumped_writes_leave_unchanged_is_not_lagging(void **state)
{
    set_score("zed", "1"); /* far below the top 3 */
    const char *ans = top3("top");
    ht.now += 1001; /* past the lag window: still a hit */
    hit_with("Query", top3_req, ans);
    assert_int_equal((int)metrics_tls->query_cache_lagging_fills, 0);
    ht.now += 60000;
    set_score("yan", "75"); /* into the top 3: the GSI may not show it yet */
    miss_with("Query", top3_req, ans);
    assert_int_equal((int)metrics_tls->query_cache_lagging_fills, 1);
    ht.now += 1001;
    miss_with("Query", top3_req, page("caught-up"));
}

static void test_many_far_writes_between_hits(void **state)
{
    const char *ans = top3("top");
    /* hits between writes re-stamp the page: it stays a hit */
    char sc[16];
    for (int i = 0; i < 3 * TAGS_NOTES; i++) {
        snprintf(sc, sizeof(sc), "%d", i);
        set_score("zed", sc);
        hit_with("Query", top3_req, ans);
    }
    /* more far writes than the notes a tag keeps, with no hit between: the
     * page cannot be judged and is read again */
    for (int i = 0; i < TAGS_NOTES + 1; i++) {
        snprintf(sc, sizeof(sc), "%d", i);
        set_score("zed", sc);
    }
    miss_with("Query", top3_req, page("again"));
}

static void test_a_fill_racing_a_far_write_is_installed(void **state)
{
    ht.now += 2000;
    snprintf(top3_req, sizeof(top3_req), "%s",
             qbody("g_score", "b", "b1", ",\"ScanIndexForward\":false,\"Limit\":3"));
    char items[512], ans[1024];
    snprintf(items, sizeof(items), "%s,%s,%s", player("ann", "90"), player("bob", "80"),
             player("cat", "70"));
    snprintf(ans, sizeof(ans), "%s", items_page("raced", items, player("cat", "70")));
    int c = ht.ncalls;
    struct ht_req *q = ht_send("Query", top3_req);
    set_score("zed", "3"); /* answered while the page is read */
    ht_answer(c, 200, ans);
    ht_replied(q, 200, ans);
    assert_int_equal((int)metrics_tls->query_cache_fills_kept, 1);
    hit_with("Query", top3_req, ans);
    /* a write into the page racing its read (another page: Limit 4): not installed */
    char top4[512];
    snprintf(top4, sizeof(top4), "%s",
             qbody("g_score", "b", "b1", ",\"ScanIndexForward\":false,\"Limit\":4"));
    c = ht.ncalls;
    q = ht_send("Query", top4);
    set_score("zed", "95");
    ht_answer(c, 200, ans);
    ht_replied(q, 200, ans);
    assert_int_equal((int)metrics_tls->query_cache_fills_refused, 1);
    miss_with("Query", top4, page("fresh"));
    miss_with("Query", top3_req, page("fresh")); /* and the top 3 went stale */
}

int main(void)
{
#define Q(t) cmocka_unit_test_setup_teardown(t, setup, ht_teardown)
    const struct CMUnitTest tests[] = {
        Q(test_the_same_query_twice_is_one_backend_query),
        Q(test_the_same_scan_twice_is_one_backend_scan),
        Q(test_concurrent_misses_make_one_backend_read),
        Q(test_a_write_makes_stale_only_its_partitions),
        Q(test_gsi_pages_of_the_old_and_new_images_go_stale),
        Q(test_an_update_not_naming_the_gsi_key_keeps_the_item_in_its_partition),
        Q(test_unknown_old_images_make_the_whole_gsi_stale),
        Q(test_refused_writes_change_nothing),
        Q(test_a_fill_racing_a_write_is_not_installed),
        Q(test_unknown_outcomes_hold_the_tables_pages),
        Q(test_gsi_pages_read_just_after_a_write_live_a_lag_window),
        Q(test_pages_expire_after_the_query_ttl),
        Q(test_a_partiql_write_drops_every_page_of_its_table),
        Q(test_what_ddbx_cannot_key_is_relayed_every_time),
        Q(test_an_unprojected_base_query_fills_the_item_cache),
        Q(test_consumed_capacity_is_the_callers_own_reads),
        Q(test_a_score_far_below_the_top_page_keeps_it_a_hit),
        Q(test_writes_that_touch_the_top_page_make_it_stale),
        Q(test_writes_without_a_note_make_the_page_stale),
        Q(test_concurrent_far_writes_keep_the_page),
        Q(test_many_far_writes_between_hits),
        Q(test_a_page_that_just_bumped_writes_leave_unchanged_is_not_lagging),
        Q(test_a_fill_racing_a_far_write_is_installed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
