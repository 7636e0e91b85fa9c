/*
 * test_cluster.c: the handlers as one node of a cluster (src/handler/cluster.h)
 * against a fake backend, clock and node (cluster_test.h): writes answered
 * only once their keys, tags and tables reached the peers (held there when
 * the outcome is unknown, nothing sent when refused); misses on keys another
 * node owns forwarded, the owner's value answered and kept as a near copy
 * only while the lease is intact, the owner allows it and no peer
 * invalidated the key lately; BatchGetItem forwarding per key; peers' GETs
 * served from the cache or through the ordinary fill (coalesced with this
 * node's own clients), with no near copy after a superseded fill; peers'
 * INVALIDATE (holds), TAG and FORGET applied; degraded mode.
 */
#include "cluster_test.h"

#include "proto/invalidation.h"

#define T "t"
#define STREAMED                                                                                   \
    "{\"Table\":{\"TableName\":\"st\",\"TableStatus\":\"ACTIVE\","                                 \
    "\"TableArn\":\"arn:aws:dynamodb:us-east-1:123456789012:table/st\","                           \
    "\"KeySchema\":[{\"AttributeName\":\"pk\",\"KeyType\":\"HASH\"}],"                             \
    "\"AttributeDefinitions\":[{\"AttributeName\":\"pk\",\"AttributeType\":\"S\"}],"               \
    "\"StreamSpecification\":{\"StreamEnabled\":true,\"StreamViewType\":\"NEW_AND_OLD_IMAGES\"},"  \
    "\"LatestStreamArn\":\"arn:aws:dynamodb:us-east-1:123456789012:table/st/stream/1\"}}"

static int setup(void **state)
{
    fn_setup(state);
    ht_known_table(T);
    return 0;
}

/* A write's fan-out: its TAG then INVALIDATE of key pk (hold), from call `from`. */
static void expect_fanout(int from, const char *pk, uint64_t hold)
{
    int tag = fn_find(FN_TAG, from), inv = fn_find(FN_INVALIDATE, from);
    assert_true(tag < inv); /* tags first: cluster.c says why */
    assert_string_equal(fn.calls[inv].table, T);
    assert_int_equal(fn.calls[inv].nkeys, 1);
    char key[64];
    size_t len = fn_item_key(pk, key);
    assert_int_equal(fn.calls[inv].keys[0].len, len);
    assert_memory_equal(fn.calls[inv].keys[0].data, key, len);
    assert_int_equal(fn.calls[inv].hold, hold);
    assert_int_equal(fn.calls[tag].hold, hold);
    assert_true(fn.calls[tag].nkeys >= 2); /* the Scan tag and the partition's */
}

/* A series' value in /metrics' text. */
static long rendered(const char *series)
{
    struct buf out = BUF_INIT;
    metrics_render(&out);
    buf_append(&out, "", 0);
    const char *p = strstr(out.data, series);
    long v = p ? strtol(p + strlen(series), NULL, 10) : -1;
    buf_free(&out);
    return v;
}

/* ---- writes ---- */

static void test_write_answered_after_peers_applied(void **state)
{
    ht_cached(T, "k1", "old");
    int c = ht.ncalls, f = fn.n;
    struct ht_req *w = ht_put(T, "k1", "new");
    assert_int_equal(fn.n, f); /* nothing before the backend answered */
    ht_answer(c, 200, "{}");
    assert_false(w->done); /* waits for the peers */
    expect_fanout(f, "k1", 0);
    ht_hit(T, "k1", "new"); /* this node's cache changed already */
    fn_ack(fn_find(FN_TAG, f));
    assert_false(w->done);
    fn_ack(fn_find(FN_INVALIDATE, f));
    ht_replied(w, 200, "{}");
    assert_int_equal(metrics_tls->cluster_fanouts, 1);
    assert_int_equal(metrics_tls->cluster_fanouts_unacked, 0);
}

static void test_write_answered_after_ack_timeout(void **state)
{
    int c = ht.ncalls, f = fn.n;
    struct ht_req *w = ht_put(T, "k1", "v");
    ht_answer(c, 200, "{}");
    fn_complete(fn_find(FN_TAG, f), false);
    fn_complete(fn_find(FN_INVALIDATE, f), false); /* a live peer silent: the write goes on */
    ht_replied(w, 200, "{}");
    assert_int_equal(metrics_tls->cluster_fanouts_unacked, 1);
}

static void test_ambiguous_write_held_on_peers(void **state)
{
    ht_cached(T, "k1", "old");
    int c = ht.ncalls, f = fn.n;
    struct ht_req *w = ht_put(T, "k1", "new");
    ht_fail(c, BACKEND_TIMEOUT);
    expect_fanout(f, "k1", HT_HOLDOFF_MS);
    fn_ack_all();
    ht_replied(w, 500, NULL);
}

static void test_refused_write_sends_nothing(void **state)
{
    int c = ht.ncalls, f = fn.n;
    struct ht_req *w = ht_put(T, "k1", "v");
    ht_answer(c, 400, ht_error("ValidationException"));
    ht_replied(w, 400, NULL);
    assert_int_equal(fn.n, f);
}

static void test_conditional_failure_invalidates_on_peers(void **state)
{
    int c = ht.ncalls, f = fn.n;
    struct ht_req *w = ht_put(T, "k1", "v");
    ht_answer(c, 400, ht_error("ConditionalCheckFailedException"));
    assert_false(w->done);
    int inv = fn_find(FN_INVALIDATE, f);
    assert_int_equal(fn.calls[inv].hold, 0);
    assert_int_equal(fn_count(FN_TAG), 0); /* nothing was written: no page changed */
    fn_ack_all();
    ht_replied(w, 400, NULL);
}

static void test_node_stopping_answers_at_once(void **state)
{
    fn.refuse = 1;
    int c = ht.ncalls;
    struct ht_req *w = ht_put(T, "k1", "v");
    ht_answer(c, 200, "{}");
    ht_replied(w, 200, "{}");
}

static void test_table_change_forgotten_on_peers(void **state)
{
    int c = ht.ncalls, f = fn.n;
    struct ht_req *q = ht_send("DeleteTable", "{\"TableName\":\"t\"}");
    ht_answer(c, 200, "{\"TableDescription\":{\"TableName\":\"t\",\"TableStatus\":\"DELETING\"}}");
    int fo = fn_find(FN_FORGET, f);
    assert_string_equal(fn.calls[fo].table, T);
    assert_int_equal(fn.calls[fo].scope, PEER_FORGET_ITEMS | PEER_FORGET_QUERIES);
    assert_false(q->done);
    fn_ack(fo);
    ht_replied(q, 200, NULL);
    /* a PartiQL write ddbx cannot read: every table, held when ambiguous */
    c = ht.ncalls, f = fn.n;
    q = ht_send("ExecuteStatement", "{\"Statement\":\"EXEC something\"}");
    ht_fail(c, BACKEND_TIMEOUT);
    fo = fn_find(FN_FORGET, f);
    assert_string_equal(fn.calls[fo].table, "");
    assert_int_equal(fn.calls[fo].hold, HT_HOLDOFF_MS);
    fn_ack(fo);
    ht_replied(q, 500, NULL);
}

/* ---- forwarded reads ---- */

static const char *get_request(const char *pk)
{
    static char b[128];
    snprintf(b, sizeof(b), "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"%s\"}}}", pk);
    return b;
}

/* A GetItem of pk that goes to its owner (no backend call); returns its GET. */
static int forwarded(const char *pk, struct ht_req **q)
{
    int c = ht.ncalls, f = fn.n;
    *q = ht_get(T, pk);
    assert_int_equal(ht.ncalls, c);
    int g = fn_find(FN_GET, f);
    assert_string_equal(fn.calls[g].request, get_request(pk));
    assert_false((*q)->done);
    return g;
}

static void test_owner_answers_near_copy_kept(void **state)
{
    struct ht_req *q;
    int g = forwarded("r1", &q);
    fn_answer(g, NODE_GET_VALUE, 4000, ht_item("r1", "v"));
    ht_replied(q, 200, ht_item("r1", "v"));
    assert_true(q->crc_set);
    ht_hit(T, "r1", "v"); /* the near copy */
    ht.now += 3999;
    ht_hit(T, "r1", "v");
    ht.now += 1; /* the owner's ttl_ms has passed */
    g = forwarded("r1", &q);
    fn_answer(g, NODE_GET_VALUE, 60000, "{}"); /* absent now; kept at most near_ttl */
    ht_replied(q, 200, "{}");
    ht.now += FN_NEAR_TTL - 1;
    ht_hit(T, "r1", NULL);
    ht.now += 1;
    forwarded("r1", &q);
    fn_answer(fn.n - 1, NODE_GET_VALUE, 0, ht_item("r1", "w")); /* owner says keep none */
    ht_replied(q, 200, ht_item("r1", "w"));
    g = forwarded("r1", &q);
    fn_answer(g, NODE_GET_VALUE, 0, ht_item("r1", "w"));
    ht_replied(q, 200, ht_item("r1", "w"));
    struct metrics *m = metrics_tls;
    assert_int_equal(m->cluster_reads_forwarded, 4);
    assert_int_equal(m->cluster_reads_owner_answered, 4);
    assert_int_equal(m->cluster_near_copies, 2);
}

static void test_owner_fails_backend_read(void **state)
{
    static const enum node_get_result results[] = {
        NODE_GET_MISS, NODE_GET_FAILED, NODE_GET_NOT_OWNER, NODE_GET_TIMEOUT, NODE_GET_LOCAL};
    for (size_t i = 0; i < ARRAY_SIZE(results); i++) {
        char pk[16];
        snprintf(pk, sizeof(pk), "r%zu", i);
        struct ht_req *q;
        int g = forwarded(pk, &q);
        int c = ht.ncalls;
        fn_answer(g, results[i], 0, NULL);
        ht_expect(c, "GetItem", pk); /* read here, under our own lease */
        ht_answer(c, 200, ht_item(pk, "b"));
        ht_replied(q, 200, ht_item(pk, "b"));
        ht_hit(T, pk, "b");
    }
    assert_int_equal(metrics_tls->cluster_reads_fallback, 5);
}

static void test_near_copy_refused_when_lease_superseded(void **state)
{
    struct ht_req *q;
    int g = forwarded("r1", &q);
    fn_peer_invalidate(T, "r1", 0); /* a write of r1 made through another node */
    fn_answer(g, NODE_GET_VALUE, 4000, ht_item("r1", "old"));
    ht_replied(q, 200, ht_item("r1", "old")); /* it overlapped the write: either value */
    g = forwarded("r1", &q);                  /* but nothing was kept */
    fn_answer(g, NODE_GET_VALUE, 4000, ht_item("r1", "new"));
    ht_replied(q, 200, ht_item("r1", "new"));
    assert_int_equal(metrics_tls->cluster_near_copies, 0);
}

static void test_near_copy_refused_after_recent_invalidation(void **state)
{
    /* the INVALIDATE reached this node before the owner: a GET sent now may
     * be answered from before the write */
    fn_peer_invalidate(T, "r1", 0);
    ht.now += FN_RECENT - 1;
    struct ht_req *q;
    int g = forwarded("r1", &q);
    fn_answer(g, NODE_GET_VALUE, 4000, ht_item("r1", "v"));
    ht_replied(q, 200, ht_item("r1", "v"));
    ht.now += 1; /* the owner has applied it, or dropped what it held */
    g = forwarded("r1", &q);
    fn_answer(g, NODE_GET_VALUE, 4000, ht_item("r1", "v"));
    ht_hit(T, "r1", "v");
    /* a FORGET refuses near copies of every key for as long */
    fn_peer_forget("other", PEER_FORGET_ITEMS, 0);
    g = forwarded("r2", &q);
    fn_answer(g, NODE_GET_VALUE, 4000, ht_item("r2", "v"));
    g = forwarded("r2", &q);
    fn_answer(g, NODE_GET_VALUE, 4000, ht_item("r2", "v"));
    ht_replied(q, 200, ht_item("r2", "v"));
}

static void test_waiters_share_one_forwarded_read(void **state)
{
    struct ht_req *a, *b;
    int g = forwarded("r1", &a);
    int f = fn.n, c = ht.ncalls;
    b = ht_get(T, "r1");
    assert_int_equal(fn.n, f); /* it waits on the first one's lease */
    assert_int_equal(ht.ncalls, c);
    fn_answer(g, NODE_GET_VALUE, 0, ht_item("r1", "v")); /* not kept: still handed over */
    ht_replied(a, 200, ht_item("r1", "v"));
    ht_replied(b, 200, ht_item("r1", "v"));
}

static void test_projection_and_consistent_reads(void **state)
{
    /* the owner is asked for the whole item; the projection is applied here */
    int f = fn.n;
    struct ht_req *q = ht_send("GetItem", "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"r1\"}},"
                                          "\"ProjectionExpression\":\"v\"}");
    int g = fn_find(FN_GET, f);
    assert_string_equal(fn.calls[g].request, get_request("r1"));
    fn_answer(g, NODE_GET_VALUE, 4000, ht_item("r1", "x"));
    ht_replied(q, 200, "{\"Item\":{\"v\":{\"S\":\"x\"}}}");
    /* a strong read is never forwarded */
    f = fn.n;
    int c = ht.ncalls;
    q = ht_send("GetItem",
                "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"r2\"}},\"ConsistentRead\":true}");
    assert_int_equal(fn.n, f);
    ht_expect(c, "GetItem", "\"ConsistentRead\":true");
    ht_answer(c, 200, ht_item("r2", "y"));
    ht_replied(q, 200, ht_item("r2", "y"));
}

static void test_batch_get_forwards_per_key(void **state)
{
    int f = fn.n, c = ht.ncalls;
    struct ht_req *q =
        ht_send("BatchGetItem", "{\"RequestItems\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"k1\"}},"
                                "{\"pk\":{\"S\":\"r1\"}},{\"pk\":{\"S\":\"r2\"}}]}}}");
    assert_int_equal(fn_count(FN_GET), 2);
    assert_int_equal(ht.ncalls, c); /* the backend read waits for the owners */
    int g1 = fn_find(FN_GET, f), g2 = fn_find(FN_GET, g1 + 1);
    assert_non_null(strstr(fn.calls[g1].request, "r1"));
    fn_answer(g1, NODE_GET_VALUE, 4000, ht_item("r1", "a"));
    assert_int_equal(ht.ncalls, c);
    fn_answer(g2, NODE_GET_TIMEOUT, 0, NULL);
    ht_expect(c, "BatchGetItem", "k1");
    assert_null(strstr(ht_call(c)->body.data, "r1"));
    assert_non_null(strstr(ht_call(c)->body.data, "r2"));
    ht_answer(c, 200,
              "{\"Responses\":{\"t\":[{\"pk\":{\"S\":\"k1\"},\"v\":{\"S\":\"b\"}}]},"
              "\"UnprocessedKeys\":{}}");
    ht_replied(q, 200,
               "{\"Responses\":{\"t\":[{\"pk\":{\"S\":\"k1\"},\"v\":{\"S\":\"b\"}},"
               "{\"pk\":{\"S\":\"r1\"},\"v\":{\"S\":\"a\"}}]},\"UnprocessedKeys\":{}}");
    ht_hit(T, "r1", "a"); /* kept as a near copy */
    ht_hit(T, "r2", NULL);
}

/* ---- serving peers' GETs ---- */

static void test_peer_get_from_cache(void **state)
{
    ht_cached(T, "k1", "v"); /* item TTL 5 minutes */
    ht.now += 1000;
    fn_peer_get(T, "k1", 0);
    struct fn_call *r = fn_reply();
    assert_int_equal(r->status, PEER_GET_VALUE);
    assert_string_equal(r->keys[0].data, ht_item("k1", "v"));
    assert_int_equal(r->crc, crc32_of(ht_item("k1", "v"), strlen(ht_item("k1", "v"))));
    assert_int_equal(r->ttl, FN_NEAR_TTL);
    ht.now += 300000 - 1000 - 10; /* 10 ms of the entry left */
    fn_peer_get(T, "k1", 0);
    assert_int_equal(fn_reply()->ttl, 10);
    /* absent items are values too */
    ht_miss(T, "k2", NULL);
    fn_peer_get(T, "k2", 0);
    assert_string_equal(fn_reply()->keys[0].data, "{}");
    assert_int_equal(metrics_tls->cluster_peer_gets_hit, 3);
}

static void test_peer_get_filled_with_own_clients(void **state)
{
    int c = ht.ncalls, f = fn.n;
    fn_peer_get(T, "k3", 0);
    ht_expect(c, "GetItem", "k3"); /* the ordinary fill, on the serving thread */
    struct ht_req *mine = ht_get(T, "k3");
    assert_int_equal(ht.ncalls, c + 1); /* this node's client waits on the same read */
    ht_answer(c, 200, ht_item("k3", "v"));
    ht_replied(mine, 200, ht_item("k3", "v"));
    struct fn_call *r = &fn.calls[fn_find(FN_REPLY, f)];
    assert_int_equal(r->status, PEER_GET_VALUE);
    assert_string_equal(r->keys[0].data, ht_item("k3", "v"));
    assert_int_equal(r->ttl, FN_NEAR_TTL);
    ht_hit(T, "k3", "v");
    assert_int_equal(metrics_tls->cluster_peer_gets_filled, 1);
    /* the peer's read is no client request */
    assert_int_equal(rendered("ddbx_requests_total{operation=\"GetItem\"}"), 3);
}

static void test_peer_get_superseded_fill_no_near_copy(void **state)
{
    int c = ht.ncalls, f = fn.n;
    fn_peer_get(T, "k3", 0);
    fn_peer_invalidate(T, "k3", 0); /* a write while it was read */
    ht_answer(c, 200, ht_item("k3", "old"));
    struct fn_call *r = &fn.calls[fn_find(FN_REPLY, f)];
    assert_int_equal(r->status, PEER_GET_VALUE);
    assert_int_equal(r->ttl, 0); /* the value may predate the write: the asker keeps none */
    ht_miss(T, "k3", "new");
}

static void test_peer_get_no_fill_failed(void **state)
{
    fn_peer_get(T, "k4", PEER_GET_NO_FILL);
    assert_int_equal(fn_reply()->status, PEER_GET_MISS);
    int c = ht.ncalls;
    fn_peer_get(T, "k4", 0);
    ht_answer(c, 500, ht_error("InternalServerError"));
    assert_int_equal(fn_reply()->status, PEER_GET_FAILED);
    assert_int_equal(fn_reply()->keys[0].len, 0); /* no body */
}

/* ---- what peers send ---- */

static void test_peer_invalidate_and_hold(void **state)
{
    ht_cached(T, "k1", "v");
    fn_peer_invalidate(T, "k1", 0);
    ht_miss(T, "k1", "v2");
    ht_hit(T, "k1", "v2");
    fn_peer_invalidate(T, "k1", 5000); /* a write of unknown outcome elsewhere */
    int c = ht.ncalls;
    struct ht_req *q = ht_get(T, "k1");
    ht_answer(c, 200, ht_item("k1", "v3"));
    ht_replied(q, 200, ht_item("k1", "v3"));
    ht.now += 4999;
    c = ht.ncalls;
    q = ht_get(T, "k1"); /* still held: read, not kept */
    ht_answer(c, 200, ht_item("k1", "v3"));
    ht.now += 1;
    ht_miss(T, "k1", "v3");
    ht_hit(T, "k1", "v3");
}

static void test_peer_tag_and_forget(void **state)
{
    /* a Scan page cached, then a peer's TAG of the table's Scan tag */
    struct ht_req *q = ht_send("Scan", "{\"TableName\":\"t\"}");
    int c = ht.ncalls - 1;
    ht_answer(c, 200, "{\"Items\":[],\"Count\":0}");
    ht_replied(q, 200, NULL);
    c = ht.ncalls;
    q = ht_send("Scan", "{\"TableName\":\"t\"}");
    assert_int_equal(ht.ncalls, c); /* a hit */
    const struct query_table *t = schema_indexes_get(T, 1, NULL);
    struct arena a;
    struct invalidation_tags tags;
    arena_init(&a);
    invalidation_scan_tags(&a, t, &tags);
    struct peer_bytes pb[TAGS_MAX_SNAPSHOT];
    for (int i = 0; i < tags.n; i++)
        pb[i] = (struct peer_bytes){(const uint8_t *)tags.tag[i].data, tags.tag[i].len};
    struct peer_keyset m = {{(const uint8_t *)T, 1}, {(size_t)tags.n, pb}, 0};
    cluster_node_handlers()->tag(NULL, 1, &m);
    arena_free(&a);
    schema_indexes_put(t);
    c = ht.ncalls;
    q = ht_send("Scan", "{\"TableName\":\"t\"}");
    ht_expect(c, "Scan", NULL); /* stale: read again */
    ht_answer(c, 200, "{\"Items\":[],\"Count\":0}");
    /* a FORGET of the table: items gone, the table described again */
    ht_cached(T, "k1", "v");
    fn_peer_forget(T, PEER_FORGET_ITEMS | PEER_FORGET_QUERIES, 0);
    c = ht.ncalls;
    q = ht_get(T, "k1");
    ht_describe(c, T);
    ht_expect(c + 1, "GetItem", NULL);
    ht_answer(c + 1, 200, ht_item("k1", "v2"));
    ht_replied(q, 200, ht_item("k1", "v2"));
}

/* ---- degraded mode ---- */

static void test_degraded_caps_entries_without_stream(void **state)
{
    /* a table with a stream keeps its entries and full TTLs */
    int c = ht.ncalls;
    struct ht_req *q = ht_get("st", "s1");
    ht_expect(c, "DescribeTable", NULL);
    ht_answer(c, 200, STREAMED);
    ht_answer(c + 1, 200, ht_item("s1", "v"));
    ht_replied(q, 200, ht_item("s1", "v"));
    ht_cached(T, "k1", "v");
    fn.degraded = true;
    fn_event(NODE_PEER_DOWN); /* it may have missed the peer's last writes */
    fn_event(NODE_DEGRADED);
    ht_hit("st", "s1", "v");
    ht_miss(T, "k1", "v2"); /* dropped */
    ht_hit(T, "k1", "v2");
    ht.now += FN_DEGRADED_TTL - 1;
    ht_hit(T, "k1", "v2");
    ht.now += 1; /* served at most degraded_ttl */
    ht_miss(T, "k1", "v3");
    ht_hit("st", "s1", "v");
    /* a write's value is not kept either (it would live the full TTL) */
    c = ht.ncalls;
    int f = fn.n;
    struct ht_req *w = ht_put(T, "k1", "v4");
    ht_answer(c, 200, "{}");
    fn_ack_all();
    ht_replied(w, 200, "{}");
    assert_true(fn.n > f);
    ht_miss(T, "k1", "v4");
    /* and a peer asking this degraded owner keeps no copy */
    fn_peer_get(T, "k1", 0);
    assert_int_equal(fn_reply()->status, PEER_GET_VALUE);
    assert_int_equal(fn_reply()->ttl, 0);
    fn_peer_get("st", "s1", 0);
    assert_int_equal(fn_reply()->ttl, FN_NEAR_TTL);
    /* healthy again: full TTLs */
    fn.degraded = false;
    fn_event(NODE_HEALTHY);
    ht.now += FN_DEGRADED_TTL;
    ht_miss(T, "k1", "v5");
    ht.now += FN_DEGRADED_TTL;
    ht_hit(T, "k1", "v5");
    assert_int_equal(metrics_tls->cluster_degraded_drops, 2);
}

static void test_degraded_near_copy_capped(void **state)
{
    fn.degraded = true;
    struct ht_req *q;
    int g = forwarded("r1", &q);
    fn_answer(g, NODE_GET_VALUE, 4000, ht_item("r1", "v"));
    ht_hit(T, "r1", "v");
    ht.now += FN_DEGRADED_TTL;
    forwarded("r1", &q);
    fn_answer(fn.n - 1, NODE_GET_TIMEOUT, 0, NULL);
    int c = ht.ncalls - 1;
    ht_answer(c, 200, ht_item("r1", "v"));
    ht_replied(q, 200, ht_item("r1", "v"));
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, fn_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_write_answered_after_peers_applied),
        TEST(test_write_answered_after_ack_timeout),
        TEST(test_ambiguous_write_held_on_peers),
        TEST(test_refused_write_sends_nothing),
        TEST(test_conditional_failure_invalidates_on_peers),
        TEST(test_node_stopping_answers_at_once),
        TEST(test_table_change_forgotten_on_peers),
        TEST(test_owner_answers_near_copy_kept),
        TEST(test_owner_fails_backend_read),
        TEST(test_near_copy_refused_when_lease_superseded),
        TEST(test_near_copy_refused_after_recent_invalidation),
        TEST(test_waiters_share_one_forwarded_read),
        TEST(test_projection_and_consistent_reads),
        TEST(test_batch_get_forwards_per_key),
        TEST(test_peer_get_from_cache),
        TEST(test_peer_get_filled_with_own_clients),
        TEST(test_peer_get_superseded_fill_no_near_copy),
        TEST(test_peer_get_no_fill_failed),
        TEST(test_peer_invalidate_and_hold),
        TEST(test_peer_tag_and_forget),
        TEST(test_degraded_caps_entries_without_stream),
        TEST(test_degraded_near_copy_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
