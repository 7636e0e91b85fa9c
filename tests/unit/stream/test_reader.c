/*
 * test_reader.c: the stream readers (src/stream/reader.c) against a fake
 * Streams backend on a real libuv loop: the start (LATEST, then a gap that
 * drops the table), records applied and replays skipped, closed shards
 * followed to their children with parents read first, expired iterators
 * resumed after the last record, trimmed shards and unreadable answers as
 * gaps, throttling retried without a gap, idle polling backing off, a stream
 * that disappears, a table without a stream; in a cluster: a table another
 * node owns left unread, each page fanned out before the next is read and
 * positions published only once acknowledged, a takeover resuming after the
 * position the cluster knew (no gap) and from LATEST where it knew none,
 * ownership lost (the last positions published, reading stopped); a warm
 * restart: positions kept at a clean stop and read on from (no gap), shards
 * opened meanwhile read whole, `ready` once every shard is read up to the
 * present and the stream described since the last shard ended, positions
 * taken back once, too old or unreadable ones a gap.
 */
#include "testutil.h"

#include <time.h>
#include <uv.h>

#include "cache/cache.h"
#include "cache/tags.h"
#include "metrics/metrics.h"
#include "stream/stream.h"
#include "util/clock.h"

#define MAX_CALLS 256
#define ARN "arn:aws:dynamodb:us-east-1:1:table/s/stream/x"

struct fcall {
    char op[64];
    char *body;
    backend_cb cb;
    void *arg;
    bool answered;
    uint64_t at_ms;
};

/* A page's fan-out to the peers, as the cluster is asked for it. */
struct ffan {
    size_t nkeys, ntags;
    void (*done)(void *arg, bool acked);
    void *arg;
    bool completed;
};

static struct {
    uv_loop_t loop;
    struct fcall calls[MAX_CALLS];
    int ncalls;
    int gaps; /* invalidate_table calls */
    struct arena a;
    /* the cluster */
    bool owned;
    struct ffan fans[32];
    int nfans;
    char published[256]; /* the last STREAM_POSITION: "shard=seq;..." */
    int npublished;
    int readies; /* `ready` calls */
} f;

/* The spill tier's named values: kept across a reader's stop and the next
 * setup within one test (a warm restart). */
static struct {
    char name[16][80];
    struct buf value[16];
    int n;
} meta;

static void fake_meta_put(const char *name, const void *value, size_t len)
{
    int i = 0;
    while (i < meta.n && strcmp(meta.name[i], name) != 0)
        i++;
    if (i == meta.n) {
        assert_true(meta.n < 16);
        snprintf(meta.name[meta.n++], sizeof(meta.name[0]), "%s", name);
        buf_init(&meta.value[i]);
    }
    buf_reset(&meta.value[i]);
    buf_append(&meta.value[i], value, len);
}

static int fake_meta_get(const char *name, struct buf *out)
{
    for (int i = 0; i < meta.n; i++)
        if (strcmp(meta.name[i], name) == 0) {
            buf_append(out, meta.value[i].data, meta.value[i].len);
            return 0;
        }
    return -1;
}

static void meta_clear(void)
{
    for (int i = 0; i < meta.n; i++)
        buf_free(&meta.value[i]);
    meta.n = 0;
}

/* The one value kept (the tests' streams fit in one), NUL-terminated. */
static const char *meta_value(void)
{
    for (int i = 0; i < meta.n; i++)
        if (strstr(meta.name[i], ".0")) {
            buf_append_char(&meta.value[i], '\0');
            meta.value[i].len--;
            return meta.value[i].data;
        }
    return NULL;
}

static void on_ready(const char *table, size_t len)
{
    f.readies++;
}

static bool fake_owns(const char *table, size_t len)
{
    return f.owned;
}

static void fake_fanout(const char *table, size_t tlen, const struct peer_bytes *keys, size_t nkeys,
                        const struct peer_bytes *tags, size_t ntags,
                        void (*done)(void *arg, bool acked), void *arg)
{
    assert_true(f.nfans < 32);
    f.fans[f.nfans++] = (struct ffan){nkeys, ntags, done, arg, false};
}

static int fake_publish(const char *table, const char *arn, const struct peer_shard_pos *shards,
                        size_t n)
{
    size_t len = 0;
    f.published[0] = '\0';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(f.published + len, sizeof(f.published) - len, "%.*s=%.*s;",
                                (int)shards[i].shard.len, (const char *)shards[i].shard.data,
                                (int)shards[i].sequence.len, (const char *)shards[i].sequence.data);
    f.npublished++;
    return 0;
}

static void fake_call(void *self, const char *target, struct buf *body, backend_cb cb, void *arg)
{
    assert_true(f.ncalls < MAX_CALLS);
    struct fcall *c = &f.calls[f.ncalls++];
    snprintf(c->op, sizeof(c->op), "%s", strchr(target, '.') + 1);
    c->body = strndup(body->data ? body->data : "", body->len);
    buf_free(body);
    c->cb = cb;
    c->arg = arg;
    c->answered = false;
    c->at_ms = clock_mono_ms();
}

static int fake_inflight(const void *self)
{
    return 0;
}

static void fake_destroy(void *self) {}

static const struct backend_ops fake_ops = {fake_call, fake_inflight, fake_destroy};

static void on_invalidate(const char *table, size_t len)
{
    f.gaps++;
}

static void run_for(int ms)
{
    uint64_t end = clock_mono_ms() + (uint64_t)ms;
    do {
        uv_run(&f.loop, UV_RUN_NOWAIT);
        nanosleep(&(struct timespec){0, 200000}, NULL);
    } while (clock_mono_ms() < end);
}

/* Runs the loop until call n exists; returns it. */
static struct fcall *wait_call(int n, const char *op)
{
    for (int i = 0; i < 2000 && f.ncalls <= n; i++)
        run_for(1);
    if (f.ncalls <= n) fail_msg("no call %d (%s) after 2 s", n, op);
    struct fcall *c = &f.calls[n];
    if (strcmp(c->op, op) != 0) fail_msg("call %d is %s (%s), not %s", n, c->op, c->body, op);
    return c;
}

static void answer(int n, int status, const char *body)
{
    struct fcall *c = &f.calls[n];
    assert_false(c->answered);
    c->answered = true;
    struct backend_result res;
    memset(&res, 0, sizeof(res));
    res.outcome = status ? BACKEND_ANSWERED : BACKEND_TIMEOUT;
    res.status = status;
    if (body) buf_append(&res.body, body, strlen(body));
    c->cb(&res, c->arg);
    buf_free(&res.body);
}

static const char *error(const char *name)
{
    static char b[200];
    snprintf(b, sizeof(b), "{\"__type\":\"com.amazonaws.dynamodb.v20120810#%s\"}", name);
    return b;
}

/* A DescribeStream answer: shards as "id/parent/end" ("-" for none). */
static const char *described(const char *const *shards, int n)
{
    static char b[2048];
    size_t len = (size_t)snprintf(b, sizeof(b),
                                  "{\"StreamDescription\":{\"StreamArn\":\"" ARN
                                  "\",\"StreamStatus\":\"ENABLED\",\"StreamViewType\":"
                                  "\"NEW_AND_OLD_IMAGES\",\"TableName\":\"s\",\"Shards\":[");
    for (int i = 0; i < n; i++) {
        char id[32], parent[32], end[32];
        sscanf(shards[i], "%31[^/]/%31[^/]/%31s", id, parent, end);
        len +=
            (size_t)snprintf(b + len, sizeof(b) - len, "%s{\"ShardId\":\"%s\"", i ? "," : "", id);
        if (strcmp(parent, "-") != 0)
            len += (size_t)snprintf(b + len, sizeof(b) - len, ",\"ParentShardId\":\"%s\"", parent);
        len += (size_t)snprintf(b + len, sizeof(b) - len,
                                ",\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"1\"");
        if (strcmp(end, "-") != 0)
            len +=
                (size_t)snprintf(b + len, sizeof(b) - len, ",\"EndingSequenceNumber\":\"%s\"", end);
        len += (size_t)snprintf(b + len, sizeof(b) - len, "}}");
    }
    snprintf(b + len, sizeof(b) - len, "]}}");
    return b;
}

static const char *iterator(const char *it)
{
    static char b[128];
    snprintf(b, sizeof(b), "{\"ShardIterator\":\"%s\"}", it);
    return b;
}

/* A GetRecords answer with MODIFY records of players at sequence numbers
 * ("p:seq,p:seq"), and the next iterator (NULL: the shard is closed). */
static const char *records(const char *list, const char *next)
{
    static char b[4096];
    size_t len = (size_t)snprintf(b, sizeof(b), "{\"Records\":[");
    char copy[256];
    snprintf(copy, sizeof(copy), "%s", list);
    int i = 0;
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ","), i++) {
        char p[32], seq[48];
        sscanf(tok, "%31[^:]:%47s", p, seq);
        len += (size_t)snprintf(
            b + len, sizeof(b) - len,
            "%s{\"eventName\":\"MODIFY\",\"dynamodb\":{\"Keys\":{\"b\":{\"S\":\"b1\"},"
            "\"p\":{\"S\":\"%s\"}},\"SequenceNumber\":\"%s\",\"StreamViewType\":\"KEYS_ONLY\"}}",
            i ? "," : "", p, seq);
    }
    if (next)
        snprintf(b + len, sizeof(b) - len, "],\"NextShardIterator\":\"%s\"}", next);
    else
        snprintf(b + len, sizeof(b) - len, "]}");
    return b;
}

static const char *table_desc(bool stream)
{
    return stream ? "{\"TableName\":\"s\",\"KeySchema\":[{\"AttributeName\":\"b\",\"KeyType\":"
                    "\"HASH\"},{\"AttributeName\":\"p\",\"KeyType\":\"RANGE\"}],"
                    "\"AttributeDefinitions\":[{\"AttributeName\":\"b\",\"AttributeType\":\"S\"},"
                    "{\"AttributeName\":\"p\",\"AttributeType\":\"S\"}],"
                    "\"StreamSpecification\":{\"StreamEnabled\":true,\"StreamViewType\":"
                    "\"KEYS_ONLY\"},\"LatestStreamArn\":\"" ARN "\"}"
                  : "{\"TableName\":\"s\",\"KeySchema\":[{\"AttributeName\":\"b\",\"KeyType\":"
                    "\"HASH\"},{\"AttributeName\":\"p\",\"KeyType\":\"RANGE\"}],"
                    "\"AttributeDefinitions\":[{\"AttributeName\":\"b\",\"AttributeType\":\"S\"},"
                    "{\"AttributeName\":\"p\",\"AttributeType\":\"S\"}]}";
}

static void watch(bool stream)
{
    struct json *doc;
    const char *d = table_desc(stream);
    struct query_table t;
    assert_int_equal(json_parse(&f.a, d, strlen(d), &doc, NULL, 0), JSON_OK);
    assert_int_equal(query_table_parse(doc, &t), QUERY_OK);
    stream_watch(&t);
}

/* A reader on a fresh loop, cache and tags; cluster: ownership, fan-outs
 * and positions go to the fakes (this node owns the table until told not). */
static int setup_reader(uint64_t poll_min, uint64_t poll_max, bool cluster, bool warm)
{
    memset(&f, 0, sizeof(f));
    arena_init(&f.a);
    metrics_setup();
    metrics_thread_register();
    uv_loop_init(&f.loop);
    assert_int_equal(cache_setup(4u << 20, 60000, 60000, 20000, 0), 0);
    assert_int_equal(tags_setup(1u << 20, 0, 60000, 0), 0);
    struct stream_options o = {.loop = &f.loop,
                               .bops = &fake_ops,
                               .invalidate_table = on_invalidate,
                               .ready = on_ready,
                               .poll_min_ms = poll_min,
                               .poll_max_ms = poll_max,
                               .describe_ms = 600000};
    if (warm) {
        o.meta_put = fake_meta_put;
        o.meta_get = fake_meta_get;
    }
    if (cluster) {
        o.owns = fake_owns;
        o.fanout = fake_fanout;
        o.publish = fake_publish;
        o.position_ms = 20;
        f.owned = true;
    }
    return stream_setup(&o);
}

static int setup_with(uint64_t poll_min, uint64_t poll_max)
{
    return setup_reader(poll_min, poll_max, false, false);
}

static int setup(void **state)
{
    return setup_with(1, 4);
}

static int setup_cluster(void **state)
{
    return setup_reader(1, 4, true, false);
}

static int setup_warm(void **state)
{
    meta_clear();
    return setup_reader(1, 4, false, true);
}

static int teardown_reader(void)
{
    for (int i = 0; i < f.ncalls; i++)
        if (!f.calls[i].answered) answer(i, 0, NULL); /* as backend_destroy finishes them */
    for (int i = 0; i < f.nfans; i++)
        if (!f.fans[i].completed) f.fans[i].done(f.fans[i].arg, false);
    stream_stop();
    uv_run(&f.loop, UV_RUN_DEFAULT);
    uv_loop_close(&f.loop);
    stream_teardown();
    tags_teardown();
    cache_teardown();
    for (int i = 0; i < f.ncalls; i++)
        free(f.calls[i].body);
    arena_free(&f.a);
    metrics_teardown();
    return 0;
}

static int teardown(void **state)
{
    return teardown_reader();
}

static int teardown_warm(void **state)
{
    teardown_reader();
    meta_clear();
    return 0;
}

/* Watches the table and answers the start: one open shard "A". Returns the
 * index of the first GetRecords call. */
static int started(void)
{
    watch(true);
    wait_call(0, "DescribeStream");
    answer(0, 200, described((const char *const[]){"A/-/-"}, 1));
    struct fcall *c = wait_call(1, "GetShardIterator");
    assert_contains(c->body, "\"ShardIteratorType\":\"LATEST\"");
    assert_int_equal(f.gaps, 0);
    answer(1, 200, iterator("it1"));
    assert_int_equal(f.gaps, 1); /* writes before LATEST are not in the stream read */
    c = wait_call(2, "GetRecords");
    assert_contains(c->body, "it1");
    return 2;
}

static bool cached(const char *p)
{
    struct key_schema ks = {.table = "s", .table_len = 1, .nattrs = 2};
    ks.attr[0] = (struct key_attr){"b", 1, 'S'};
    ks.attr[1] = (struct key_attr){"p", 1, 'S'};
    char k[128];
    snprintf(k, sizeof(k), "{\"b\":{\"S\":\"b1\"},\"p\":{\"S\":\"%s\"}}", p);
    struct json *doc;
    assert_int_equal(json_parse(&f.a, k, strlen(k), &doc, NULL, 0), JSON_OK);
    struct buf kb = BUF_INIT, out = BUF_INIT;
    struct attr_error err;
    assert_int_equal(key_from_key(&ks, doc, &kb, &err), KEY_OK);
    struct cache_key ck;
    cache_key_init(&ck, kb.data, kb.len);
    uint32_t crc;
    struct cache_fill *fl = NULL;
    enum cache_kind kind = cache_get(&ck, 0, &out, &crc, &fl, NULL);
    if (fl) {
        cache_fill_done(fl, &(struct cache_result){CACHE_HIT, "{\"Item\":{}}", 11, 0, 200}, 0);
    }
    buf_free(&kb);
    buf_free(&out);
    return kind == CACHE_HIT;
}

static void test_records_are_applied_and_replays_skipped(void **state)
{
    int c = started();
    cached("x"); /* installs x */
    cached("y");
    assert_true(cached("x"));
    answer(c, 200, records("x:10,z:11", "it2"));
    assert_false(cached("x")); /* invalidated (and cached again by the check) */
    assert_true(cached("y"));
    struct fcall *n = wait_call(c + 1, "GetRecords");
    assert_contains(n->body, "it2");
    /* a replay of 11, then 12 */
    answer(c + 1, 200, records("x:11,y:12", "it3"));
    assert_true(cached("x"));  /* 11 was applied already */
    assert_false(cached("y")); /* 12 is new */
    assert_int_equal((int)metrics_tls->stream_records_old, 1);
    assert_int_equal((int)metrics_tls->stream_records, 3);
    assert_int_equal(f.gaps, 1);
}

static void test_closed_shards_are_followed_to_their_children_parents_first(void **state)
{
    int c = started();
    answer(c, 200, records("x:10", NULL)); /* A closed and read to its end */
    wait_call(c + 1, "DescribeStream");
    /* B is A's child, C is B's, D is new and parentless: listed children first */
    answer(c + 1, 200, described((const char *const[]){"C/B/-", "B/A/-", "A/-/10", "D/-/-"}, 4));
    run_for(20);
    int b = -1, d = -1;
    for (int i = c + 2; i < f.ncalls; i++) {
        if (strstr(f.calls[i].body, "\"B\"")) b = i;
        if (strstr(f.calls[i].body, "\"D\"")) d = i;
        assert_not_contains(f.calls[i].body, "\"C\""); /* its parent B is not done */
        /* shards found after the start are read whole */
        assert_contains(f.calls[i].body, "TRIM_HORIZON");
    }
    assert_true(b > 0 && d > 0);
    answer(d, 200, iterator("itD"));
    answer(b, 200, iterator("itB"));
    run_for(20);
    for (int i = c + 4; i < f.ncalls; i++) /* B's and D's GetRecords */
        if (!f.calls[i].answered && strstr(f.calls[i].body, "itB"))
            answer(i, 200, records("y:20", NULL)); /* B is done */
    run_for(20);
    bool c_started = false;
    for (int i = c + 4; i < f.ncalls; i++)
        c_started |= strstr(f.calls[i].body, "\"ShardId\":\"C\"") != NULL;
    /* after B closed the stream is described again; C starts once described */
    for (int i = c + 4; i < f.ncalls && !c_started; i++)
        if (!f.calls[i].answered && strcmp(f.calls[i].op, "DescribeStream") == 0) {
            answer(i, 200,
                   described((const char *const[]){"C/B/-", "B/A/20", "A/-/10", "D/-/-"}, 4));
            run_for(20);
        }
    for (int i = c + 4; i < f.ncalls; i++)
        c_started |= strstr(f.calls[i].body, "\"ShardId\":\"C\"") != NULL;
    assert_true(c_started);
    assert_int_equal(f.gaps, 1);
}

static void test_an_expired_iterator_resumes_after_the_last_record(void **state)
{
    int c = started();
    answer(c, 200, records("x:10", "it2"));
    wait_call(c + 1, "GetRecords");
    answer(c + 1, 400, error("ExpiredIteratorException"));
    struct fcall *n = wait_call(c + 2, "GetShardIterator");
    assert_contains(n->body, "\"ShardIteratorType\":\"AFTER_SEQUENCE_NUMBER\"");
    assert_contains(n->body, "\"SequenceNumber\":\"10\"");
    answer(c + 2, 200, iterator("it3"));
    wait_call(c + 3, "GetRecords");
    assert_int_equal(f.gaps, 1); /* nothing was missed */
}

static void test_trimmed_records_and_unreadable_answers_are_gaps(void **state)
{
    int c = started();
    answer(c, 400, error("TrimmedDataAccessException"));
    assert_int_equal(f.gaps, 2);
    struct fcall *n = wait_call(c + 1, "GetShardIterator");
    assert_contains(n->body, "TRIM_HORIZON");
    answer(c + 1, 200, iterator("it2"));
    wait_call(c + 2, "GetRecords");
    answer(c + 2, 200, "{\"Records\":[{\"eventName\":\"EXPLODE\"}],\"NextShardIterator\":\"x\"}");
    assert_true(f.gaps >= 3);
    assert_int_equal((int)metrics_tls->stream_gaps, f.gaps);
}

static void test_throttling_is_retried_without_a_gap(void **state)
{
    int c = started();
    answer(c, 400, error("LimitExceededException"));
    struct fcall *n = wait_call(c + 1, "GetRecords");
    assert_contains(n->body, "it1"); /* the same iterator */
    answer(c + 1, 0, NULL);          /* no answer at all */
    n = wait_call(c + 2, "GetRecords");
    assert_contains(n->body, "it1");
    /* the retries back off: at least 500 ms, then twice that */
    assert_true(f.calls[c + 2].at_ms - f.calls[c + 1].at_ms >= 900);
    assert_int_equal(f.gaps, 1);
}

static void test_idle_polling_backs_off(void **state)
{
    teardown(state);
    setup_with(20, 160);
    int c = started();
    uint64_t start = clock_mono_ms();
    int polls = 0;
    while (clock_mono_ms() - start < 1000) {
        run_for(5);
        for (int i = c; i < f.ncalls; i++)
            if (!f.calls[i].answered) {
                answer(i, 200, records("", "itN"));
                polls++;
            }
    }
    /* 20, 40, 80, 160 ms, then every 160 ms: about 9 in a second, never 50 */
    assert_true(polls >= 4);
    assert_true(polls <= 12);
}

static void test_a_stream_that_disappears_drops_the_table_and_stops(void **state)
{
    watch(true);
    wait_call(0, "DescribeStream");
    answer(0, 400, error("ResourceNotFoundException"));
    run_for(20);
    assert_int_equal(f.ncalls, 1);
    assert_int_equal(f.gaps, 1);
    struct buf m = BUF_INIT;
    stream_gauge_state(&m, "ddbx_stream_state");
    assert_contains(m.data, "ddbx_stream_state{table=\"s\",state=\"lost\"} 1");
    buf_free(&m);
}

/* Watches the table (with a stream or not) and asserts it is never read and
 * shows `state`. */
static void watched_unread(bool stream, const char *state)
{
    watch(stream);
    run_for(50);
    assert_int_equal(f.ncalls, 0);
    struct buf m = BUF_INIT;
    char want[128];
    snprintf(want, sizeof(want), "ddbx_stream_state{table=\"s\",state=\"%s\"} 1", state);
    stream_gauge_state(&m, "ddbx_stream_state");
    assert_contains(m.data, want);
    buf_free(&m);
}

static void test_a_table_without_a_stream_is_not_read(void **state)
{
    watched_unread(false, "no_stream");
}

/* ---- a cluster ---- */

/* Completes fan-out i and runs the loop a little. */
static void fanned(int i, bool acked)
{
    assert_true(i < f.nfans);
    assert_false(f.fans[i].completed);
    f.fans[i].completed = true;
    f.fans[i].done(f.fans[i].arg, acked);
    run_for(5);
}

static void test_cluster_table_owned_elsewhere_is_not_read(void **state)
{
    f.owned = false;
    watched_unread(true, "peer");
    assert_int_equal(f.npublished, 0);
}

static void test_cluster_pages_fanned_out_positions_acked(void **state)
{
    int c = started();
    answer(c, 200, records("x:10,z:11", "it2"));
    assert_int_equal(f.nfans, 1);
    assert_int_equal(f.fans[0].nkeys, 2); /* both items, for every peer */
    assert_true(f.fans[0].ntags >= 2);
    run_for(20);
    assert_int_equal(f.ncalls, c + 1); /* the next page waits for the peers */
    fanned(0, true);
    wait_call(c + 1, "GetRecords");
    run_for(30);
    assert_string_equal(f.published, "A=11;");
    /* a page some peer did not acknowledge in time is not published... */
    answer(c + 1, 200, records("y:12", "it3"));
    fanned(1, false);
    wait_call(c + 2, "GetRecords");
    run_for(30);
    assert_string_equal(f.published, "A=11;");
    /* ...until a later page every peer acknowledged covers it */
    answer(c + 2, 200, records("y:13", "it4"));
    fanned(2, true);
    run_for(30);
    assert_string_equal(f.published, "A=13;");
    /* an empty page has nothing to send */
    wait_call(c + 3, "GetRecords");
    answer(c + 3, 200, records("", "it5"));
    wait_call(c + 4, "GetRecords");
    assert_int_equal(f.nfans, 3);
}

static void test_cluster_takeover_resumes_after_known_positions(void **state)
{
    f.owned = false;
    watch(true);
    run_for(20);
    /* what the old owner published: A applied up to 42 */
    stream_position_note(ARN, strlen(ARN), "A", 1, "41", 2);
    stream_position_note(ARN, strlen(ARN), "A", 1, "42", 2);
    stream_position_note(ARN, strlen(ARN), "A", 1, "9", 1); /* older: ignored */
    stream_position_note(ARN, strlen(ARN), "B", 1, "", 0);  /* says nothing */
    f.owned = true;                                         /* the old owner died */
    stream_reown();
    wait_call(0, "DescribeStream");
    answer(0, 200, described((const char *const[]){"A/-/-"}, 1));
    struct fcall *it = wait_call(1, "GetShardIterator");
    assert_contains(it->body, "\"ShardIteratorType\":\"AFTER_SEQUENCE_NUMBER\"");
    assert_contains(it->body, "\"SequenceNumber\":\"42\"");
    answer(1, 200, iterator("it1"));
    wait_call(2, "GetRecords");
    assert_int_equal(f.gaps, 0); /* nothing missed: no FORGET */
    answer(2, 200, records("x:43", "it2"));
    fanned(0, true);
    run_for(30);
    assert_string_equal(f.published, "A=43;");
}

static void test_cluster_takeover_without_position_is_a_gap(void **state)
{
    f.owned = false;
    watch(true);
    run_for(20);
    stream_position_note(ARN, strlen(ARN), "A", 1, "42", 2);
    f.owned = true;
    stream_reown();
    wait_call(0, "DescribeStream");
    /* B opened since: nobody published where it was read to */
    answer(0, 200, described((const char *const[]){"A/-/-", "B/-/-"}, 2));
    run_for(20);
    int a = -1, b = -1;
    for (int i = 1; i < f.ncalls; i++) {
        if (strstr(f.calls[i].body, "\"ShardId\":\"A\"")) a = i;
        if (strstr(f.calls[i].body, "\"ShardId\":\"B\"")) b = i;
    }
    assert_true(a > 0 && b > 0);
    assert_contains(f.calls[a].body, "AFTER_SEQUENCE_NUMBER");
    assert_contains(f.calls[b].body, "LATEST");
    answer(a, 200, iterator("itA"));
    assert_int_equal(f.gaps, 0);
    answer(b, 200, iterator("itB"));
    assert_int_equal(f.gaps, 1); /* B's past is not in what is read */
}

static void test_cluster_ownership_lost(void **state)
{
    int c = started();
    answer(c, 200, records("x:10", "it2"));
    fanned(0, true);
    wait_call(c + 1, "GetRecords");
    int published = f.npublished;
    f.owned = false; /* a node came back that owns the table */
    stream_reown();
    run_for(20);
    assert_true(f.npublished > published); /* where the next owner takes over */
    assert_string_equal(f.published, "A=10;");
    answer(c + 1, 200, records("y:11", "it3")); /* the call in flight: dropped */
    run_for(50);
    assert_int_equal(f.ncalls, c + 2); /* nothing more read */
    assert_int_equal(f.nfans, 1);
    struct buf m = BUF_INIT;
    stream_gauge_state(&m, "ddbx_stream_state");
    assert_contains(m.data, "state=\"peer\"");
    buf_free(&m);
}

/* ---- a warm restart ---- */

/* The call for shard id among calls from `from` on, or -1. */
static int call_for(int from, const char *op, const char *id)
{
    char want[48];
    snprintf(want, sizeof(want), "\"ShardId\":\"%s\"", id);
    for (int i = from; i < f.ncalls; i++)
        if (strcmp(f.calls[i].op, op) == 0 && strstr(f.calls[i].body, want)) return i;
    return -1;
}

/* Stops the reader (its positions kept) and starts the next one, as a
 * clean stop and start of ddbx do. */
static void restart(void)
{
    teardown_reader();
    assert_int_equal(setup_reader(1, 4, false, true), 0);
}

static void test_warm_restart_reads_on_from_the_positions_kept(void **state)
{
    int c = started();
    assert_int_equal(f.readies, 1); /* the start's gap: nothing older is left */
    answer(c, 200, records("x:10,y:11", "it2"));
    wait_call(c + 1, "GetRecords");
    restart();
    assert_string_equal(meta_value() + strcspn(meta_value(), "\n"), "\nA 11\n");
    watch(true);
    wait_call(0, "DescribeStream");
    /* A read on after 11; B opened while ddbx was stopped: read whole */
    answer(0, 200, described((const char *const[]){"A/-/-", "B/-/-"}, 2));
    run_for(20);
    int a = call_for(1, "GetShardIterator", "A"), b = call_for(1, "GetShardIterator", "B");
    assert_true(a > 0 && b > 0);
    assert_contains(f.calls[a].body, "\"ShardIteratorType\":\"AFTER_SEQUENCE_NUMBER\"");
    assert_contains(f.calls[a].body, "\"SequenceNumber\":\"11\"");
    assert_contains(f.calls[b].body, "\"ShardIteratorType\":\"TRIM_HORIZON\"");
    answer(a, 200, iterator("itA"));
    answer(b, 200, iterator("itB"));
    assert_int_equal(f.gaps, 0); /* nothing missed: the spilled entries stay */
    run_for(10);
    int ga = -1, gb = -1;
    for (int i = 1; i < f.ncalls; i++) {
        if (strcmp(f.calls[i].op, "GetRecords") != 0 || f.calls[i].answered) continue;
        if (strstr(f.calls[i].body, "itA")) ga = i;
        if (strstr(f.calls[i].body, "itB")) gb = i;
    }
    assert_true(ga > 0 && gb > 0);
    cached("z");
    assert_true(cached("z"));
    answer(ga, 200, records("z:12", "itA2")); /* written while ddbx was stopped */
    assert_false(cached("z"));
    assert_int_equal(f.readies, 0); /* A is not known to be read up to now yet */
    answer(gb, 200, records("", "itB2"));
    assert_int_equal(f.readies, 0); /* A's last page had a record */
    run_for(10);
    for (int i = ga + 1; i < f.ncalls; i++)
        if (!f.calls[i].answered && strstr(f.calls[i].body, "itA2"))
            answer(i, 200, records("", "itA3"));
    assert_int_equal(f.readies, 1);
    assert_int_equal(f.gaps, 0);
    /* the values were taken back once: a start after a kill has a gap */
    assert_string_equal(meta_value(), "");
}

static void test_warm_restart_a_shard_ended_meanwhile_waits_for_its_children(void **state)
{
    int c = started();
    answer(c, 200, records("x:10", "it2"));
    wait_call(c + 1, "GetRecords");
    restart();
    watch(true);
    wait_call(0, "DescribeStream");
    answer(0, 200, described((const char *const[]){"A/-/20"}, 1)); /* A closed meanwhile */
    struct fcall *it = wait_call(1, "GetShardIterator");
    assert_contains(it->body, "\"SequenceNumber\":\"10\"");
    answer(1, 200, iterator("itA"));
    wait_call(2, "GetRecords");
    answer(2, 200, records("y:20", NULL)); /* A's end */
    assert_int_equal(f.readies, 0);        /* its children are not known yet */
    wait_call(3, "DescribeStream");
    answer(3, 200, described((const char *const[]){"A/-/20", "D/A/-"}, 2));
    struct fcall *d = wait_call(4, "GetShardIterator");
    assert_contains(d->body, "\"ShardId\":\"D\"");
    assert_contains(d->body, "TRIM_HORIZON");
    assert_int_equal(f.readies, 0);
    answer(4, 200, iterator("itD"));
    wait_call(5, "GetRecords");
    answer(5, 200, records("", "itD2"));
    assert_int_equal(f.readies, 1);
    assert_int_equal(f.gaps, 0);
}

static void test_warm_restart_without_usable_positions_is_a_gap(void **state)
{
    /* values that are not what a stop kept, then positions a day old */
    const char *bad[] = {"garbage", "ddbx-stream-positions 1 1000 0 1\nA 12x\n",
                         "ddbx-stream-positions 1 1000 0 2\nA 12\n", NULL};
    char old[128];
    snprintf(old, sizeof(old), "ddbx-stream-positions 1 %llu 0 1\nA 12\n",
             (unsigned long long)(clock_wall_ms() - 24ull * 3600 * 1000));
    for (int k = 0; k < 4; k++) {
        const char *v = k < 3 ? bad[k] : old;
        if (k) {
            restart();
            meta_clear();
        }
        started(); /* no value kept yet: LATEST and a gap */
        restart();
        assert_non_null(meta_value()); /* under the name the reader uses */
        for (int i = 0; i < meta.n; i++)
            if (strstr(meta.name[i], ".0")) fake_meta_put(meta.name[i], v, strlen(v));
        watch(true);
        wait_call(0, "DescribeStream");
        answer(0, 200, described((const char *const[]){"A/-/-"}, 1));
        struct fcall *it = wait_call(1, "GetShardIterator");
        assert_contains(it->body, "\"ShardIteratorType\":\"LATEST\"");
        answer(1, 200, iterator("it1"));
        assert_int_equal(f.gaps, 1);
        assert_int_equal(f.readies, 1);
    }
}

int main(void)
{
#define R(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
#define C(t) cmocka_unit_test_setup_teardown(t, setup_cluster, teardown)
    const struct CMUnitTest tests[] = {
        R(test_records_are_applied_and_replays_skipped),
        R(test_closed_shards_are_followed_to_their_children_parents_first),
        R(test_an_expired_iterator_resumes_after_the_last_record),
        R(test_trimmed_records_and_unreadable_answers_are_gaps),
        R(test_throttling_is_retried_without_a_gap),
        R(test_idle_polling_backs_off),
        R(test_a_stream_that_disappears_drops_the_table_and_stops),
        R(test_a_table_without_a_stream_is_not_read),
        C(test_cluster_table_owned_elsewhere_is_not_read),
        C(test_cluster_pages_fanned_out_positions_acked),
        C(test_cluster_takeover_resumes_after_known_positions),
        C(test_cluster_takeover_without_position_is_a_gap),
        C(test_cluster_ownership_lost),
#define W(t) cmocka_unit_test_setup_teardown(t, setup_warm, teardown_warm)
        W(test_warm_restart_reads_on_from_the_positions_kept),
        W(test_warm_restart_a_shard_ended_meanwhile_waits_for_its_children),
        W(test_warm_restart_without_usable_positions_is_a_gap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
