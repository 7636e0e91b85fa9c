/*
 * test_node.c: cluster nodes (cluster/node.h) running for real in one
 * process, on 127.0.0.1 and free ports, with the spec's default timers:
 * handshake, INVALIDATE/TAG/FORGET fanned out and acknowledged only once
 * applied, GETs answered by the owner (at once, later from another thread,
 * or too late), a node stopped without BYE marked down in time and its keys
 * failing over, BYE, a restart seen as a new incarnation whose outbox is
 * dropped, a wrong secret refused, recorded frames replayed and dropped, the
 * node's own stall seen as lagging; and the options and self-detection.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include "cluster/node.h"
#include "frame_proxy.h"
#include "metrics/metrics.h"
#include "util/buf.h"
#include "util/common.h"
#include "util/crc.h"
#include "util/log.h"

#define SECRET "ddbx-unit-test-peer-secret"
#define MAXN 3
#define DEAD_AFTER 500
#define PING 100

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* ---- what each node's handlers saw (written on the node's thread) ---- */

enum get_mode { GET_REPLY_NOW, GET_HOLD };

struct rec {
    pthread_mutex_t mu;
    int id;
    struct node *node;
    int invalidates, tags, forgets, positions;
    char table[32], keys[4][32];
    size_t nkeys;
    uint64_t scope;
    uint64_t hold;        /* the last INVALIDATE/TAG/FORGET's hold_ms */
    uint64_t forget_hold; /* the longest FORGET hold seen, and its table */
    char forget_hold_table[32];
    struct node_event ev[128];
    uint64_t ev_ms[128];
    int nev;
    enum get_mode get_mode;
    int gets;
    struct node_get_req *held;
    unsigned stall_ms; /* an INVALIDATE handler that blocks the node's loop */
    bool ready;        /* mu initialised */
};

/* Counts a message and keeps its table; returns with r->mu held. */
static void record(struct rec *r, int *count, struct peer_bytes table)
{
    pthread_mutex_lock(&r->mu);
    (*count)++;
    snprintf(r->table, sizeof(r->table), "%.*s", (int)table.len, (const char *)table.data);
}

static void copy_keys(struct rec *r, const struct peer_bytes_list *keys)
{
    r->nkeys = MIN(keys->n, 4);
    for (size_t i = 0; i < r->nkeys; i++)
        snprintf(r->keys[i], sizeof(r->keys[i]), "%.*s", (int)keys->items[i].len,
                 (const char *)keys->items[i].data);
}

static void on_invalidate(void *arg, int from, const struct peer_keyset *m)
{
    struct rec *r = arg;
    record(r, &r->invalidates, m->table);
    copy_keys(r, &m->keys);
    r->hold = m->hold_ms;
    unsigned stall = r->stall_ms;
    r->stall_ms = 0; /* once: the frame may come again after a reconnection */
    pthread_mutex_unlock(&r->mu);
    if (stall) sleep_ms(stall);
}

static void on_tag(void *arg, int from, const struct peer_keyset *m)
{
    struct rec *r = arg;
    record(r, &r->tags, m->table);
    copy_keys(r, &m->keys);
    r->hold = m->hold_ms;
    pthread_mutex_unlock(&r->mu);
}

static void on_forget(void *arg, int from, const struct peer_forget *m)
{
    struct rec *r = arg;
    record(r, &r->forgets, m->table);
    r->scope = m->scope;
    r->hold = m->hold_ms;
    if (m->hold_ms > r->forget_hold) {
        r->forget_hold = m->hold_ms;
        snprintf(r->forget_hold_table, sizeof(r->forget_hold_table), "%s", r->table);
    }
    pthread_mutex_unlock(&r->mu);
}

static void on_position(void *arg, int from, const struct peer_stream_position *m)
{
    struct rec *r = arg;
    record(r, &r->positions, m->table);
    r->nkeys = MIN(m->shards.n, 4);
    for (size_t i = 0; i < r->nkeys; i++)
        snprintf(r->keys[i], sizeof(r->keys[i]), "%.*s=%.*s", (int)m->shards.items[i].shard.len,
                 (const char *)m->shards.items[i].shard.data, (int)m->shards.items[i].sequence.len,
                 (const char *)m->shards.items[i].sequence.data);
    pthread_mutex_unlock(&r->mu);
}

/* The owner's answer: the item names its key and the node that served it. */
static void reply_value(struct rec *r, struct node_get_req *req)
{
    char body[160];
    int len =
        snprintf(body, sizeof(body), "{\"Item\":{\"pk\":{\"S\":\"%.*s\"},\"by\":{\"N\":\"%d\"}}}",
                 (int)req->key.len, (const char *)req->key.data, r->id);
    node_get_reply(r->node, req, PEER_GET_VALUE, 4000, body, (size_t)len,
                   crc32_of(body, (size_t)len));
}

static void on_get(void *arg, struct node_get_req *req)
{
    struct rec *r = arg;
    pthread_mutex_lock(&r->mu);
    r->gets++;
    bool hold = r->get_mode == GET_HOLD;
    if (hold) r->held = req;
    pthread_mutex_unlock(&r->mu);
    if (!hold) reply_value(r, req);
}

static void on_event(void *arg, const struct node_event *ev)
{
    struct rec *r = arg;
    pthread_mutex_lock(&r->mu);
    if (r->nev < (int)ARRAY_SIZE(r->ev)) {
        r->ev[r->nev] = *ev;
        r->ev_ms[r->nev++] = now_ms();
    }
    pthread_mutex_unlock(&r->mu);
}

/* The index of the first event of type (and peer, unless -1) at or after
 * `from`, or -1. */
static int find_event(struct rec *r, enum node_event_type type, int peer, int from)
{
    int found = -1;
    pthread_mutex_lock(&r->mu);
    for (int i = from; i < r->nev && found < 0; i++)
        if (r->ev[i].type == type && (peer < 0 || r->ev[i].peer == peer)) found = i;
    pthread_mutex_unlock(&r->mu);
    return found;
}

static int wait_event(struct rec *r, enum node_event_type type, int peer, int from, unsigned ms)
{
    uint64_t until = now_ms() + ms;
    int i;
    while ((i = find_event(r, type, peer, from)) < 0 && now_ms() < until)
        sleep_ms(2);
    return i;
}

static int nevents(struct rec *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->nev;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static int counter(struct rec *r, const int *field)
{
    pthread_mutex_lock(&r->mu);
    int v = *field;
    pthread_mutex_unlock(&r->mu);
    return v;
}

/* ---- a cluster of up to three nodes ---- */

struct cluster {
    size_t n;
    size_t outbox_keys; /* 0: the default */
    int port[MAXN];
    char addr[MAXN][32], list[128];
    struct rec rec[MAXN];
    struct node *node[MAXN];
};

static void free_ports(int *ports, size_t n)
{
    int fds[MAXN + 1];
    for (size_t i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fds[i], (struct sockaddr *)&a, sizeof(a)), 0);
        ports[i] = proxy_listen_port(fds[i]);
    }
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

/* Ids are positions in the sorted list; addresses are made so that node i
 * of the test is id i (same length, increasing ports). */
static void cluster_init(struct cluster *c, size_t n)
{
    memset(c, 0, sizeof(*c));
    c->n = n;
    do
        free_ports(c->port, n);
    while ((n > 1 && c->port[0] > c->port[1]) || (n > 2 && c->port[1] > c->port[2]) ||
           c->port[0] < 10000);
    for (size_t i = 0; i < n; i++) {
        snprintf(c->addr[i], sizeof(c->addr[i]), "127.0.0.1:%d", c->port[i]);
        snprintf(c->list + strlen(c->list), sizeof(c->list) - strlen(c->list), "%s%s", i ? "," : "",
                 c->addr[i]);
    }
}

static const struct node_handlers handlers = {.invalidate = on_invalidate,
                                              .tag = on_tag,
                                              .forget = on_forget,
                                              .get = on_get,
                                              .stream_position = on_position,
                                              .event = on_event};

/* Starts node i; listen: where it listens (NULL: its own entry). */
static void start_node(struct cluster *c, size_t i, const char *secret, const char *listen)
{
    struct rec *r = &c->rec[i];
    if (!r->ready) pthread_mutex_init(&r->mu, NULL);
    r->ready = true;
    pthread_mutex_lock(&r->mu);
    r->id = (int)i;
    r->node = NULL;
    pthread_mutex_unlock(&r->mu);
    struct node_options o;
    node_options_default(&o);
    o.listen = listen ? listen : c->addr[i];
    o.self = c->addr[i];
    o.peers = c->list;
    o.secret = secret;
    o.secret_len = strlen(secret);
    if (c->outbox_keys) o.outbox_keys = c->outbox_keys;
    char err[256] = "", name[16];
    snprintf(name, sizeof(name), "node%zu", i);
    o.name = name;
    struct node_handlers h = handlers;
    h.arg = r;
    c->node[i] = node_start(&o, &h, err, sizeof(err));
    if (!c->node[i]) fail_msg("node %zu: %s", i, err);
    pthread_mutex_lock(&r->mu);
    r->node = c->node[i];
    pthread_mutex_unlock(&r->mu);
}

static void stop_node(struct cluster *c, size_t i, enum node_stop_mode mode)
{
    node_stop(c->node[i], mode);
    c->node[i] = NULL;
}

static uint64_t all(const struct cluster *c)
{
    return (UINT64_C(1) << c->n) - 1;
}

static bool healthy(struct cluster *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (!c->node[i] || node_live(c->node[i]) != all(c) || node_degraded(c->node[i]))
            return false;
    return true;
}

/* Starts every node and waits until each sees all the others live. */
static uint64_t cluster_start(struct cluster *c)
{
    uint64_t t0 = now_ms();
    for (size_t i = 0; i < c->n; i++)
        start_node(c, i, SECRET, NULL);
    while (!healthy(c) && now_ms() - t0 < 3000)
        sleep_ms(2);
    assert_true(healthy(c));
    return now_ms() - t0;
}

static void cluster_stop(struct cluster *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->node[i]) stop_node(c, i, NODE_STOP_BYE);
    for (size_t i = 0; i < c->n; i++)
        pthread_mutex_destroy(&c->rec[i].mu);
}

/* ---- callbacks of fan-outs and GETs ---- */

struct done {
    pthread_mutex_t mu;
    bool done;
    struct node_fanout_result r;
    struct cluster *c;
    int seen[MAXN]; /* each node's INVALIDATE count when the fan-out completed */
};

static void on_done(void *arg, const struct node_fanout_result *r)
{
    struct done *d = arg;
    int seen[MAXN] = {0};
    for (size_t i = 0; d->c && i < d->c->n; i++)
        seen[i] = counter(&d->c->rec[i], &d->c->rec[i].invalidates);
    pthread_mutex_lock(&d->mu);
    d->r = *r;
    memcpy(d->seen, seen, sizeof(seen));
    d->done = true;
    pthread_mutex_unlock(&d->mu);
}

/* Waits until *flag (under mu) is set; fails the test after ms. */
static void wait_flag(pthread_mutex_t *mu, const bool *flag, unsigned ms, const char *what)
{
    uint64_t until = now_ms() + ms;
    for (;;) {
        pthread_mutex_lock(mu);
        bool done = *flag;
        pthread_mutex_unlock(mu);
        if (done) return;
        if (now_ms() > until) fail_msg("%s not done within %u ms", what, ms);
        sleep_ms(1);
    }
}

static void wait_done(struct done *d, unsigned ms)
{
    wait_flag(&d->mu, &d->done, ms, "fan-out");
}

struct got {
    pthread_mutex_t mu;
    bool done;
    struct node_get_answer a;
    char body[256];
};

static void on_got(void *arg, const struct node_get_answer *a)
{
    struct got *g = arg;
    pthread_mutex_lock(&g->mu);
    g->a = *a;
    snprintf(g->body, sizeof(g->body), "%.*s", (int)a->body.len, (const char *)a->body.data);
    g->a.body.data = NULL; /* borrowed: only the copy stays */
    g->done = true;
    pthread_mutex_unlock(&g->mu);
}

static void wait_got(struct got *g, unsigned ms)
{
    wait_flag(&g->mu, &g->done, ms, "GET");
}

static struct peer_bytes pb(const char *s)
{
    return (struct peer_bytes){(const uint8_t *)s, strlen(s)};
}

/* A key of table T whose candidates over every node start with `want`. */
static void key_owned_by(const struct cluster *c, int want, char *key, size_t cap, uint8_t *cand)
{
    for (int i = 0;; i++) {
        char rk[64];
        snprintf(key, cap, "user#%d", i);
        size_t len = (size_t)snprintf(rk, sizeof(rk), "T%c%s", 0, key);
        owner_candidates_key(node_peers(c->node[0]), all(c), rk, len, cand);
        if (cand[0] == want) return;
    }
}

/* ---- the tests ---- */

static void test_handshake(void **state)
{
    struct cluster c;
    cluster_init(&c, 3);
    uint64_t ms = cluster_start(&c);
    print_message("three nodes live to each other in %llu ms\n", (unsigned long long)ms);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(node_self(c.node[i]), (int)i);
        /* every other node came up as a new incarnation, then the node was healthy */
        for (size_t j = 0; j < 3; j++) {
            if (j == i) continue;
            int up = find_event(&c.rec[i], NODE_PEER_UP, (int)j, 0);
            assert_true(up >= 0);
            assert_true(c.rec[i].ev[up].new_life);
            assert_int_equal(c.rec[i].ev[up].incarnation, node_incarnation(c.node[j]));
        }
        assert_true(find_event(&c.rec[i], NODE_HEALTHY, -1, 0) >= 0);
        struct node_stats s;
        node_get_stats(c.node[i], &s);
        assert_int_equal(s.in[PEER_HELLO], 2);
        assert_int_equal(s.bad_frames + s.refused, 0);
    }
    /* heartbeats flow and measure round trips */
    struct node_stats s;
    for (uint64_t until = now_ms() + 3000; now_ms() < until; sleep_ms(10)) {
        node_get_stats(c.node[0], &s);
        if (s.in[PEER_PING] >= 4 && s.in[PEER_PONG] >= 4 && s.peer[1].rtt_us > 0) break;
    }
    assert_true(s.in[PEER_PING] >= 4 && s.in[PEER_PONG] >= 4);
    assert_true(s.peer[1].rtt_us > 0 && s.peer[1].connected && s.peer[1].live);
    print_message("PING round trip on loopback: %llu us\n", (unsigned long long)s.peer[1].rtt_us);
    cluster_stop(&c);
}

static void test_invalidate_tag_forget_acked(void **state)
{
    struct cluster c;
    cluster_init(&c, 3);
    cluster_start(&c);
    struct done d = {.mu = PTHREAD_MUTEX_INITIALIZER, .c = &c};
    struct peer_bytes keys[] = {pb("k1"), pb("k2")};
    assert_int_equal(node_invalidate(c.node[0], "T", 1, keys, 2, 0, on_done, &d), NODE_OK);
    wait_done(&d, 1000);
    assert_int_equal(d.r.acked, 6); /* ids 1 and 2 */
    assert_int_equal(d.r.unacked | d.r.skipped, 0);
    /* acknowledged means applied: both had run their handler when it completed */
    assert_int_equal(d.seen[1], 1);
    assert_int_equal(d.seen[2], 1);
    assert_int_equal(d.seen[0], 0); /* a node does not send to itself */
    for (int i = 1; i <= 2; i++) {
        assert_string_equal(c.rec[i].table, "T");
        assert_int_equal(c.rec[i].nkeys, 2);
        assert_string_equal(c.rec[i].keys[0], "k1");
        assert_string_equal(c.rec[i].keys[1], "k2");
    }
    struct done t = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct peer_bytes tags[] = {pb("p:T:alice")};
    assert_int_equal(node_tag(c.node[1], "T", 1, tags, 1, 0, on_done, &t), NODE_OK);
    wait_done(&t, 1000);
    assert_int_equal(t.r.acked, 5);
    assert_int_equal(counter(&c.rec[0], &c.rec[0].tags), 1);
    assert_string_equal(c.rec[2].keys[0], "p:T:alice");
    struct done f = {.mu = PTHREAD_MUTEX_INITIALIZER};
    assert_int_equal(node_forget(c.node[2], "Orders", 6, PEER_FORGET_QUERIES, 0, on_done, &f), 0);
    wait_done(&f, 1000);
    assert_int_equal(f.r.acked, 3);
    assert_int_equal(counter(&c.rec[0], &c.rec[0].forgets), 1);
    assert_string_equal(c.rec[1].table, "Orders");
    assert_int_equal(c.rec[1].scope, PEER_FORGET_QUERIES);
    assert_int_equal(c.rec[1].hold, 0);
    /* a write of unknown outcome: its hold reaches the peers, less what passed */
    struct done h = {.mu = PTHREAD_MUTEX_INITIALIZER};
    assert_int_equal(node_invalidate(c.node[0], "T", 1, keys, 1, 20000, on_done, &h), NODE_OK);
    wait_done(&h, 1000);
    assert_int_equal(h.r.acked, 6);
    for (int i = 1; i <= 2; i++) {
        pthread_mutex_lock(&c.rec[i].mu);
        assert_true(c.rec[i].hold > 19000 && c.rec[i].hold <= 20000);
        pthread_mutex_unlock(&c.rec[i].mu);
    }
    struct done fh = {.mu = PTHREAD_MUTEX_INITIALIZER};
    assert_int_equal(node_forget(c.node[1], NULL, 0, PEER_FORGET_ITEMS, 5000, on_done, &fh), 0);
    wait_done(&fh, 1000);
    pthread_mutex_lock(&c.rec[2].mu);
    assert_string_equal(c.rec[2].table, "");
    assert_true(c.rec[2].hold > 4000 && c.rec[2].hold <= 5000);
    pthread_mutex_unlock(&c.rec[2].mu);
    /* STREAM_POSITION reaches the peers, unacknowledged */
    struct peer_shard_pos shards[] = {{pb("shardId-1"), pb("4200")}};
    assert_int_equal(node_publish_position(c.node[0], "T", "arn:stream", shards, 1), NODE_OK);
    for (uint64_t until = now_ms() + 1000; now_ms() < until;) {
        if (counter(&c.rec[1], &c.rec[1].positions) && counter(&c.rec[2], &c.rec[2].positions))
            break;
        sleep_ms(2);
    }
    assert_int_equal(counter(&c.rec[2], &c.rec[2].positions), 1);
    assert_string_equal(c.rec[2].keys[0], "shardId-1=4200");
    struct node_stats s;
    node_get_stats(c.node[1], &s);
    assert_int_equal(s.in[PEER_INVALIDATE], 2); /* the plain one and the held one */
    assert_true(s.out[PEER_ACK] >= 2);
    assert_int_equal(s.ack_timeouts, 0);
    cluster_stop(&c);
}

static void test_get_answered_by_owner(void **state)
{
    struct cluster c;
    cluster_init(&c, 3);
    cluster_start(&c);
    char key[32], want[160];
    uint8_t cand[OWNER_MAX_PEERS];
    /* owned by node 1, which answers from its handler at once */
    key_owned_by(&c, 1, key, sizeof(key), cand);
    struct got g = {.mu = PTHREAD_MUTEX_INITIALIZER};
    const char *req = "{\"TableName\":\"T\",\"Key\":{}}";
    assert_int_equal(node_get(c.node[0], "T", 1, key, strlen(key), req, strlen(req), 0, on_got, &g),
                     NODE_OK);
    wait_got(&g, 1000);
    assert_int_equal(g.a.result, NODE_GET_VALUE);
    assert_int_equal(g.a.owner, 1);
    assert_int_equal(g.a.ttl_ms, 4000);
    snprintf(want, sizeof(want), "{\"Item\":{\"pk\":{\"S\":\"%s\"},\"by\":{\"N\":\"1\"}}}", key);
    assert_string_equal(g.body, want);
    assert_int_equal(g.a.crc, crc32_of(want, strlen(want)));
    assert_int_equal(counter(&c.rec[1], &c.rec[1].gets), 1);
    /* owned by the asker itself */
    key_owned_by(&c, 0, key, sizeof(key), cand);
    struct got l = {.mu = PTHREAD_MUTEX_INITIALIZER};
    node_get(c.node[0], "T", 1, key, strlen(key), req, strlen(req), 0, on_got, &l);
    wait_got(&l, 1000);
    assert_int_equal(l.a.result, NODE_GET_LOCAL);
    assert_int_equal(l.a.owner, 0);
    /* owned by node 2, which answers later from another thread */
    key_owned_by(&c, 2, key, sizeof(key), cand);
    c.rec[2].get_mode = GET_HOLD;
    struct got h = {.mu = PTHREAD_MUTEX_INITIALIZER};
    node_get(c.node[0], "T", 1, key, strlen(key), req, strlen(req), PEER_GET_NO_FILL, on_got, &h);
    while (!counter(&c.rec[2], &c.rec[2].gets))
        sleep_ms(1);
    pthread_mutex_lock(&c.rec[2].mu);
    struct node_get_req *held = c.rec[2].held;
    pthread_mutex_unlock(&c.rec[2].mu);
    assert_int_equal(held->from, 0);
    assert_int_equal(held->flags, PEER_GET_NO_FILL);
    assert_memory_equal(held->key.data, key, strlen(key));
    assert_memory_equal(held->request.data, req, strlen(req));
    node_get_reply(c.node[2], held, PEER_GET_MISS, 0, NULL, 0, 0);
    wait_got(&h, 1000);
    assert_int_equal(h.a.result, NODE_GET_MISS);
    /* an owner that does not answer within get_timeout: the asker moves on,
     * and the late answer is dropped */
    struct got t = {.mu = PTHREAD_MUTEX_INITIALIZER};
    uint64_t t0 = now_ms();
    node_get(c.node[1], "T", 1, key, strlen(key), req, strlen(req), 0, on_got, &t);
    wait_got(&t, 1000);
    uint64_t waited = now_ms() - t0;
    assert_int_equal(t.a.result, NODE_GET_TIMEOUT);
    assert_true(waited >= 90 && waited < 600);
    pthread_mutex_lock(&c.rec[2].mu);
    held = c.rec[2].held;
    pthread_mutex_unlock(&c.rec[2].mu);
    assert_int_equal(held->from, 1);
    reply_value(&c.rec[2], held);
    sleep_ms(50);
    struct node_stats s;
    node_get_stats(c.node[1], &s);
    assert_int_equal(s.get_timeouts, 1);
    assert_int_equal(s.in[PEER_GET_REPLY], 1); /* received, matched nothing, dropped */
    cluster_stop(&c);
}

static void test_stopped_node_marked_down_keys_fail_over(void **state)
{
    struct cluster c;
    cluster_init(&c, 3);
    cluster_start(&c);
    char key[32];
    uint8_t cand[OWNER_MAX_PEERS];
    key_owned_by(&c, 2, key, sizeof(key), cand);
    char rk[64];
    size_t rklen = (size_t)snprintf(rk, sizeof(rk), "T%c%s", 0, key);
    assert_int_equal(node_owner_of_key(c.node[0], rk, rklen), 2);
    int from = nevents(&c.rec[0]);
    uint64_t t0 = now_ms();
    stop_node(&c, 2, NODE_STOP_SILENT); /* as a crash: no BYE */
    int down = wait_event(&c.rec[0], NODE_PEER_DOWN, 2, from, 2000);
    assert_true(down >= 0);
    uint64_t took = c.rec[0].ev_ms[down] - t0;
    print_message("a silent node was marked down after %llu ms\n", (unsigned long long)took);
    /* not before dead_after of silence (its last PING came at most one
     * interval before the stop), and within dead_after plus a tick and
     * ample slack for a loaded machine: well within the spec's 2 s failover */
    assert_true(took >= DEAD_AFTER - PING && took <= 1000);
    assert_true(wait_event(&c.rec[1], NODE_PEER_DOWN, 2, 0, 2000) >= 0);
    assert_true(find_event(&c.rec[0], NODE_DEGRADED, -1, from) >= 0);
    assert_true(node_degraded(c.node[0]));
    assert_int_equal(node_live(c.node[0]), 3);
    /* the key moved to its next candidate */
    assert_int_equal(node_owner_of_key(c.node[0], rk, rklen), cand[1]);
    assert_int_equal(node_owner_of_key(c.node[1], rk, rklen), cand[1]);
    struct got g = {.mu = PTHREAD_MUTEX_INITIALIZER};
    node_get(c.node[0], "T", 1, key, strlen(key), "{}", 2, 0, on_got, &g);
    wait_got(&g, 1000);
    assert_int_equal(g.a.owner, cand[1]);
    assert_int_equal(g.a.result, cand[1] == 0 ? NODE_GET_LOCAL : NODE_GET_VALUE);
    /* a fan-out does not wait for a dead peer */
    struct done d = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct peer_bytes k = pb("k");
    node_invalidate(c.node[0], "T", 1, &k, 1, 0, on_done, &d);
    wait_done(&d, 1000);
    assert_int_equal(d.r.acked, 2);
    assert_int_equal(d.r.skipped, 4);
    assert_true(d.r.elapsed_us < 150000);
    /* a graceful stop is seen at once, without degraded mode for it */
    from = nevents(&c.rec[0]);
    t0 = now_ms();
    stop_node(&c, 1, NODE_STOP_BYE);
    int gone = wait_event(&c.rec[0], NODE_PEER_DEPARTED, 1, from, 1000);
    assert_true(gone >= 0);
    assert_true(c.rec[0].ev_ms[gone] - t0 < 200);
    assert_int_equal(find_event(&c.rec[0], NODE_PEER_DOWN, 1, from), -1);
    assert_int_equal(node_live(c.node[0]), 1);
    cluster_stop(&c);
}

static void test_restart_is_a_new_incarnation(void **state)
{
    struct cluster c;
    cluster_init(&c, 3);
    cluster_start(&c);
    uint64_t old = node_incarnation(c.node[2]);
    int from = nevents(&c.rec[0]);
    stop_node(&c, 2, NODE_STOP_SILENT);
    assert_true(wait_event(&c.rec[0], NODE_PEER_DOWN, 2, from, 2000) >= 0);
    /* written while it was away: kept in node 0's outbox for it... */
    struct done d = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct peer_bytes k = pb("written-while-away");
    node_invalidate(c.node[0], "T", 1, &k, 1, 0, on_done, &d);
    wait_done(&d, 1000);
    struct node_stats s;
    node_get_stats(c.node[0], &s);
    assert_int_equal(s.peer[2].outbox_keys, 1);
    pthread_mutex_lock(&c.rec[2].mu);
    c.rec[2].invalidates = 0;
    c.rec[2].nev = 0;
    pthread_mutex_unlock(&c.rec[2].mu);
    from = nevents(&c.rec[0]);
    start_node(&c, 2, SECRET, NULL);
    int up = wait_event(&c.rec[0], NODE_PEER_UP, 2, from, 2000);
    assert_true(up >= 0);
    assert_true(c.rec[0].ev[up].new_life);
    assert_true(c.rec[0].ev[up].incarnation > old);
    assert_int_equal(c.rec[0].ev[up].incarnation, node_incarnation(c.node[2]));
    for (uint64_t until = now_ms() + 2000; !healthy(&c) && now_ms() < until;)
        sleep_ms(2);
    assert_true(healthy(&c));
    /* ... and dropped when it came back as a new life: it holds nothing older */
    sleep_ms(2 * PING);
    assert_int_equal(counter(&c.rec[2], &c.rec[2].invalidates), 0);
    node_get_stats(c.node[0], &s);
    assert_int_equal(s.peer[2].outbox_keys, 0);
    assert_int_equal(s.new_lives, 3); /* nodes 1 and 2 at start, node 2 again */
    assert_true(s.reconnects >= 1);
    cluster_stop(&c);
}

static void test_wrong_secret_refused(void **state)
{
    struct cluster c;
    cluster_init(&c, 3);
    start_node(&c, 0, SECRET, NULL);
    start_node(&c, 1, SECRET, NULL);
    start_node(&c, 2, "another-secret-of-16+bytes", NULL);
    for (uint64_t until = now_ms() + 2000; now_ms() < until;) {
        if (node_live(c.node[0]) == 3 && node_live(c.node[1]) == 3) break;
        sleep_ms(2);
    }
    sleep_ms(DEAD_AFTER);
    /* 0 and 1 see each other, never 2; everyone is degraded */
    assert_int_equal(node_live(c.node[0]), 3);
    assert_int_equal(node_live(c.node[1]), 3);
    assert_int_equal(node_live(c.node[2]), 4);
    for (size_t i = 0; i < 3; i++) {
        assert_true(node_degraded(c.node[i]));
        struct node_stats s;
        node_get_stats(c.node[i], &s);
        assert_true(s.bad_frames >= 1); /* the HELLOs of the other side, bad MACs */
    }
    assert_int_equal(find_event(&c.rec[0], NODE_PEER_UP, 2, 0), -1);
    assert_int_equal(find_event(&c.rec[2], NODE_PEER_UP, -1, 0), -1);
    cluster_stop(&c);
}

static int first_frame_of(struct frame_proxy *x, struct peer_key *key, enum peer_msg_type type)
{
    for (int i = 0; i < x->nframes; i++) {
        struct peer_msg_decoder d;
        struct peer_msg m;
        size_t used;
        peer_msg_decoder_init(&d, key, PEER_MSG_MAX_FRAME);
        int rc = peer_msg_decode(&d, x->frame[i].bytes, x->frame[i].len, &used, &m);
        peer_msg_decoder_free(&d);
        if (rc == PEER_MSG_OK && m.hdr.type == type) return i;
    }
    return -1;
}

/* A connection that sends bytes; true when the node closed it after. */
static bool closed_after_sending(int port, const uint8_t *bytes, size_t len)
{
    int fd = proxy_connect(port);
    assert_true(fd >= 0);
    assert_true(proxy_write_all(fd, bytes, len));
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char b;
    ssize_t r = recv(fd, &b, 1, 0);
    close(fd);
    return r == 0;
}

/* Two nodes; node 1's entry in the list is a proxy in front of it, so
 * everything node 0 sends node 1 goes through x. Returns node 1's real port. */
static int proxied_pair(struct cluster *c, struct frame_proxy *x, size_t outbox_keys)
{
    cluster_init(c, 2);
    c->outbox_keys = outbox_keys;
    int real = c->port[1];
    int pport;
    do /* keep id order: the proxy's port must sort after node 0's */
        pport = proxy_start(x, real);
    while (pport <= c->port[0] && (proxy_stop(x), true));
    snprintf(c->addr[1], sizeof(c->addr[1]), "127.0.0.1:%d", pport);
    snprintf(c->list, sizeof(c->list), "%s,%s", c->addr[0], c->addr[1]);
    char listen1[32];
    snprintf(listen1, sizeof(listen1), "127.0.0.1:%d", real);
    start_node(c, 0, SECRET, NULL);
    start_node(c, 1, SECRET, listen1);
    for (uint64_t until = now_ms() + 3000; !healthy(c) && now_ms() < until;)
        sleep_ms(2);
    assert_true(healthy(c));
    return real;
}

static void test_replayed_frames_dropped(void **state)
{
    struct cluster c;
    struct frame_proxy x;
    int real = proxied_pair(&c, &x, 0);
    struct done d = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct peer_bytes k = pb("k");
    node_invalidate(c.node[0], "T", 1, &k, 1, 0, on_done, &d);
    wait_done(&d, 1000);
    assert_int_equal(d.r.acked, 2);
    assert_int_equal(counter(&c.rec[1], &c.rec[1].invalidates), 1);

    struct peer_key key;
    peer_key_init(&key, SECRET, strlen(SECRET));
    pthread_mutex_lock(&x.mu);
    int inv = first_frame_of(&x, &key, PEER_INVALIDATE);
    int hello = first_frame_of(&x, &key, PEER_HELLO);
    pthread_mutex_unlock(&x.mu);
    assert_true(inv >= 0 && hello >= 0);
    struct node_stats before, after;
    node_get_stats(c.node[1], &before);
    /* the recorded INVALIDATE sent again on the live link: dropped, counted,
     * the link stays */
    assert_true(proxy_inject(&x, x.frame[inv].bytes, x.frame[inv].len));
    sleep_ms(3 * PING);
    node_get_stats(c.node[1], &after);
    assert_int_equal(after.replays, before.replays + 1);
    assert_int_equal(after.in[PEER_INVALIDATE], before.in[PEER_INVALIDATE]);
    assert_int_equal(counter(&c.rec[1], &c.rec[1].invalidates), 1);
    assert_int_equal(after.in[PEER_HELLO], before.in[PEER_HELLO]);
    assert_true(healthy(&c));
    /* the recorded HELLO on a new connection: refused, connection closed */
    assert_true(closed_after_sending(real, x.frame[hello].bytes, x.frame[hello].len));
    /* a frame of the right shape under another secret: closed as well */
    struct peer_key wrong;
    peer_key_init(&wrong, "a-secret-nobody-was-given", 25);
    struct peer_msg m = {.hdr = {PEER_HELLO, 0, 1, 1, 0, 1, 0}};
    struct buf forged = BUF_INIT;
    assert_int_equal(peer_msg_encode(&m, &wrong, &forged), PEER_MSG_OK);
    assert_true(closed_after_sending(real, (const uint8_t *)forged.data, forged.len));
    node_get_stats(c.node[1], &after);
    assert_int_equal(after.replays, before.replays + 2);
    assert_int_equal(after.bad_frames, before.bad_frames + 1);
    assert_true(healthy(&c));
    buf_free(&forged);
    peer_key_free(&wrong);
    peer_key_free(&key);
    cluster_stop(&c);
    proxy_stop(&x);
}

static void invalidate_wait(struct node *n, const char *table, const char *key1, const char *key2,
                            uint64_t hold_ms, struct node_fanout_result *r)
{
    struct done d = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct peer_bytes keys[] = {pb(key1), key2 ? pb(key2) : pb("")};
    assert_int_equal(
        node_invalidate(n, table, strlen(table), keys, key2 ? 2 : 1, hold_ms, on_done, &d), 0);
    wait_done(&d, 1000);
    *r = d.r;
}

/* A one-way failure: node 1 stops hearing node 0 (its frames are held, as a
 * link that is down holds TCP segments), node 0 still hears node 1. Node 0's
 * writes then wait ack_timeout for a live peer that does not answer, stay in
 * its outbox, which passes its bound and collapses into FORGETs; released,
 * everything arrives in order and the outbox empties. */
static void test_outbox_kept_collapsed_delivered(void **state)
{
    struct cluster c;
    struct frame_proxy x;
    proxied_pair(&c, &x, 4);
    int from1 = nevents(&c.rec[1]);
    proxy_hold(&x, true);
    assert_true(wait_event(&c.rec[1], NODE_PEER_DOWN, 0, from1, 2000) >= 0);
    assert_int_equal(node_live(c.node[0]), 3); /* node 0 still hears node 1 */
    struct node_fanout_result r;
    invalidate_wait(c.node[0], "T1", "a", "b", 0, &r);
    assert_int_equal(r.unacked, 2); /* live, silent: timed out, kept */
    assert_true(r.elapsed_us >= 190000);
    invalidate_wait(c.node[0], "T2", "c", "d", 30000, &r); /* of unknown outcome */
    struct node_stats s;
    node_get_stats(c.node[0], &s);
    assert_int_equal(s.peer[1].outbox_keys, 4);
    assert_int_equal(s.collapses, 0);
    invalidate_wait(c.node[0], "T3", "e", NULL, 0, &r); /* a 5th key: collapse */
    assert_int_equal(r.unacked, 2);
    node_get_stats(c.node[0], &s);
    assert_int_equal(s.collapses, 1);
    assert_int_equal(s.peer[1].outbox_keys, 3); /* one FORGET per table */
    assert_true(s.ack_timeouts >= 3);
    invalidate_wait(c.node[0], "T1", "f", NULL, 0, &r);
    node_get_stats(c.node[0], &s);
    assert_int_equal(s.peer[1].outbox_keys, 4);
    assert_int_equal(counter(&c.rec[1], &c.rec[1].invalidates), 0);
    from1 = nevents(&c.rec[1]);
    proxy_hold(&x, false);
    assert_true(wait_event(&c.rec[1], NODE_PEER_UP, 0, from1, 2000) >= 0);
    for (uint64_t until = now_ms() + 2000; now_ms() < until; sleep_ms(5)) {
        node_get_stats(c.node[0], &s);
        if (s.peer[1].outbox_keys == 0) break;
    }
    assert_int_equal(s.peer[1].outbox_keys, 0); /* acknowledged */
    /* what was sent before the collapse, then the FORGETs, then the rest */
    assert_int_equal(counter(&c.rec[1], &c.rec[1].invalidates), 3);
    assert_int_equal(counter(&c.rec[1], &c.rec[1].forgets), 3);
    assert_string_equal(c.rec[1].table, "T1");
    assert_string_equal(c.rec[1].keys[0], "f");
    /* T2's FORGET kept the hold of the INVALIDATE it replaced, less what passed */
    assert_string_equal(c.rec[1].forget_hold_table, "T2");
    assert_true(c.rec[1].forget_hold > 25000 && c.rec[1].forget_hold < 30000);
    assert_false(c.rec[1].ev[find_event(&c.rec[1], NODE_PEER_UP, 0, from1)].new_life);
    for (uint64_t until = now_ms() + 2000; !healthy(&c) && now_ms() < until;)
        sleep_ms(2);
    assert_true(healthy(&c));
    cluster_stop(&c);
    proxy_stop(&x);
}

static void test_self_lagging(void **state)
{
    struct cluster c;
    cluster_init(&c, 2);
    cluster_start(&c);
    pthread_mutex_lock(&c.rec[1].mu);
    c.rec[1].stall_ms = DEAD_AFTER + 300; /* its handler blocks its loop */
    pthread_mutex_unlock(&c.rec[1].mu);
    int from = nevents(&c.rec[1]);
    struct done d = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct peer_bytes k = pb("k");
    node_invalidate(c.node[0], "T", 1, &k, 1, 0, on_done, &d);
    wait_done(&d, 2000);
    assert_int_equal(d.r.unacked, 2); /* no ACK within ack_timeout: it was stalled */
    int lag = wait_event(&c.rec[1], NODE_SELF_LAGGING, -1, from, 2000);
    assert_true(lag >= 0);
    assert_true(find_event(&c.rec[1], NODE_DEGRADED, -1, from) >= 0);
    assert_true(wait_event(&c.rec[1], NODE_SELF_CAUGHT_UP, -1, lag, 1000) >= 0);
    assert_true(wait_event(&c.rec[1], NODE_HEALTHY, -1, lag, 1000) >= 0);
    /* it judged nobody dead from the stall itself */
    assert_int_equal(find_event(&c.rec[1], NODE_PEER_DOWN, -1, from), -1);
    cluster_stop(&c);
}

/* ---- options and self-detection ---- */

static void test_options_from_config(void **state)
{
    struct config cfg;
    struct node_options o;
    struct buf secret = BUF_INIT;
    char err[256];
    struct tmpdir dir;
    tmpdir_create(&dir);
    const char *file = tmpdir_write(&dir, "secret", "0123456789abcdef-from-file\n");
    char *argv[] = {"ddbx", "--peers", "a:1,b:1", "--peer-secret-file", (char *)file, NULL};
    assert_int_equal(config_parse(&cfg, 5, argv, NULL, stdout, err, sizeof(err)), CONFIG_OK);
    assert_int_equal(node_options_from_config(&o, &cfg, &secret, err, sizeof(err)), NODE_EINVALID);
    assert_contains(err, "--peer-listen");
    free(cfg.peer_listen);
    cfg.peer_listen = strdup("a:1");
    assert_int_equal(chmod(file, 0644), 0);
    assert_int_equal(node_options_from_config(&o, &cfg, &secret, err, sizeof(err)), NODE_EINVALID);
    assert_contains(err, "group or others");
    assert_int_equal(chmod(file, 0600), 0);
    assert_int_equal(node_options_from_config(&o, &cfg, &secret, err, sizeof(err)), NODE_OK);
    assert_int_equal(o.secret_len, 26); /* the newline is not part of it */
    assert_memory_equal(o.secret, "0123456789abcdef-from-file", 26);
    assert_int_equal(o.dead_after_ms, 500);
    assert_int_equal(o.ack_timeout_ms, 200);
    free(cfg.peer_secret);
    cfg.peer_secret = strdup("0123456789abcdef");
    assert_int_equal(node_options_from_config(&o, &cfg, &secret, err, sizeof(err)), NODE_EINVALID);
    assert_contains(err, "not both");
    free(cfg.peer_secret_file);
    cfg.peer_secret_file = strdup("");
    free(cfg.peer_secret);
    cfg.peer_secret = strdup("too-short");
    assert_int_equal(node_options_from_config(&o, &cfg, &secret, err, sizeof(err)), NODE_EINVALID);
    assert_contains(err, "at least 16");
    free(cfg.peers);
    cfg.peers = strdup(""); /* no cluster: nothing to check */
    assert_int_equal(node_options_from_config(&o, &cfg, &secret, err, sizeof(err)), NODE_OK);
    config_free(&cfg);
    buf_free(&secret);
    tmpdir_remove(&dir);
}

static void test_find_self(void **state)
{
    struct owner_peers p;
    assert_int_equal(owner_peers_parse(&p, "203.0.113.1:7000,localhost:7000,203.0.113.2:7000"), 0);
    /* ids sort: "203.0.113.1:7000" 0, "203.0.113.2:7000" 1, "localhost:7000" 2 */
    assert_int_equal(node_find_self(&p, "0.0.0.0:7000", "203.0.113.2:7000"), 1);
    assert_int_equal(node_find_self(&p, "0.0.0.0:7000", "203.0.113.9:7000"), NODE_EINVALID);
    assert_int_equal(node_find_self(&p, "203.0.113.1:7000", NULL), 0);
    /* by address: localhost is this machine, the TEST-NET addresses are not */
    assert_int_equal(node_find_self(&p, "0.0.0.0:7000", ""), 2);
    assert_int_equal(node_find_self(&p, "0.0.0.0:7001", ""), NODE_ESELF);
    owner_peers_free(&p);
    assert_int_equal(owner_peers_parse(&p, "127.0.0.1:7000,localhost:7000"), 0);
    assert_int_equal(node_find_self(&p, "0.0.0.0:7000", NULL), NODE_ESELF); /* ambiguous */
    owner_peers_free(&p);
}

static void test_start_refusals(void **state)
{
    struct node_options o;
    node_options_default(&o);
    char err[256];
    o.listen = "127.0.0.1:1";
    o.peers = "127.0.0.1:1,127.0.0.1:2";
    o.secret = "short";
    o.secret_len = 5;
    assert_null(node_start(&o, NULL, err, sizeof(err)));
    assert_contains(err, "secret");
    o.secret = SECRET;
    o.secret_len = strlen(SECRET);
    o.self = "127.0.0.1:3";
    assert_null(node_start(&o, NULL, err, sizeof(err)));
    assert_contains(err, "--peer-self");
    /* a port already taken fails at start, not later */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    listen(fd, 1);
    char listen_addr[32], list[80];
    snprintf(listen_addr, sizeof(listen_addr), "127.0.0.1:%d", proxy_listen_port(fd));
    snprintf(list, sizeof(list), "%s,127.0.0.1:2", listen_addr);
    o.listen = listen_addr;
    o.peers = list;
    o.self = NULL;
    assert_null(node_start(&o, NULL, err, sizeof(err)));
    assert_contains(err, "cannot listen");
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_invalidate_tag_forget_acked),
        cmocka_unit_test(test_get_answered_by_owner),
        cmocka_unit_test(test_stopped_node_marked_down_keys_fail_over),
        cmocka_unit_test(test_restart_is_a_new_incarnation),
        cmocka_unit_test(test_wrong_secret_refused),
        cmocka_unit_test(test_replayed_frames_dropped),
        cmocka_unit_test(test_outbox_kept_collapsed_delivered),
        cmocka_unit_test(test_self_lagging),
        cmocka_unit_test(test_options_from_config),
        cmocka_unit_test(test_find_self),
        cmocka_unit_test(test_start_refusals),
    };
    log_set_level(getenv("TEST_LOG") ? LOG_DEBUG : LOG_ERROR);
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_teardown(); /* the nodes' threads registered metric blocks */
    return rc;
}
