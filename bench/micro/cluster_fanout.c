/*
 * cluster_fanout.c: what the cluster's peer transport costs on loopback
 * (docs/CLUSTER.md). Three nodes (src/cluster/node.h) in this process, on
 * 127.0.0.1, with the spec's timers:
 *
 *   handshake     two nodes started at once, until each sees the other live
 *                 (connect, HELLO both ways), repeated
 *   invalidate    node_invalidate of one key until both peers acknowledged
 *                 it (applied), one at a time
 *   get           node_get of a key another node owns, answered at once by
 *                 its handler, one at a time
 *   fan-out       invalidations kept `window` in flight from one node to the
 *                 two others for `seconds`: acknowledged fan-outs per second,
 *                 frames per second, and the process's CPU per fan-out
 *
 * All three nodes share this machine's cores (2 here) with the measuring
 * thread: the figures are a floor for separate hosts, not a ceiling.
 *
 * usage: cluster_fanout [seconds] [window]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cluster/node.h"
#include "util/crc.h"
#include "util/log.h"

#define SECRET "bench-cluster-peer-secret-0123456789"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *us, size_t n)
{
    qsort(us, n, sizeof(*us), cmp_u64);
    printf("%-28s n=%-6zu p50 %6llu us   p90 %6llu us   p99 %6llu us\n", what, n,
           (unsigned long long)us[n / 2], (unsigned long long)us[n * 9 / 10],
           (unsigned long long)us[n * 99 / 100]);
}

/* Ports in increasing order, so that node i is id i. */
static void free_ports(int *ports, int n)
{
    int fds[8];
    for (;;) {
        for (int i = 0; i < n; i++) {
            fds[i] = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = {.sin_family = AF_INET};
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            socklen_t len = sizeof(a);
            bind(fds[i], (struct sockaddr *)&a, sizeof(a));
            getsockname(fds[i], (struct sockaddr *)&a, &len);
            ports[i] = ntohs(a.sin_port);
        }
        for (int i = 0; i < n; i++)
            close(fds[i]);
        bool ordered = ports[0] >= 10000;
        for (int i = 1; i < n; i++)
            ordered = ordered && ports[i - 1] < ports[i];
        if (ordered) return;
    }
}

static struct node *nodes[3];

static void on_get(void *arg, struct node_get_req *req)
{
    static const char body[] = "{\"Item\":{\"pk\":{\"S\":\"k\"},\"v\":{\"S\":\"value\"}}}";
    node_get_reply(nodes[(intptr_t)arg], req, PEER_GET_VALUE, 5000, body, sizeof(body) - 1,
                   crc32_of(body, sizeof(body) - 1));
}

static struct node *start(int i, const char *list, const int *ports)
{
    char listen[32], err[256], name[16];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", ports[i]);
    snprintf(name, sizeof(name), "node%d", i);
    struct node_options o;
    node_options_default(&o);
    o.listen = listen;
    o.peers = list;
    o.secret = SECRET;
    o.secret_len = strlen(SECRET);
    o.name = name;
    struct node_handlers h = {.arg = (void *)(intptr_t)i, .get = on_get};
    struct node *n = node_start(&o, &h, err, sizeof(err));
    if (!n) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    return n;
}

static void make_list(char *list, size_t cap, const int *ports, int n)
{
    list[0] = '\0';
    for (int i = 0; i < n; i++)
        snprintf(list + strlen(list), cap - strlen(list), "%s127.0.0.1:%d", i ? "," : "", ports[i]);
}

static void bench_handshake(int rounds)
{
    uint64_t us[64];
    for (int r = 0; r < rounds; r++) {
        int ports[2];
        char list[64];
        free_ports(ports, 2);
        make_list(list, sizeof(list), ports, 2);
        uint64_t t0 = now_ns();
        struct node *a = start(0, list, ports), *b = start(1, list, ports);
        while (node_live(a) != 3 || node_live(b) != 3)
            usleep(20);
        us[r] = (now_ns() - t0) / 1000;
        node_stop(a, NODE_STOP_BYE);
        node_stop(b, NODE_STOP_BYE);
    }
    report("handshake (2 nodes)", us, (size_t)rounds);
}

/* ---- one at a time ---- */

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
};

static void waiter_wait(struct waiter *w)
{
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        pthread_cond_wait(&w->cv, &w->mu);
    w->done = false;
    pthread_mutex_unlock(&w->mu);
}

static void waiter_wake(struct waiter *w)
{
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void on_done_one(void *arg, const struct node_fanout_result *r)
{
    if (r->acked != 6) fprintf(stderr, "fan-out not acknowledged by both peers\n");
    waiter_wake(arg);
}

static void on_got_one(void *arg, const struct node_get_answer *a)
{
    if (a->result != NODE_GET_VALUE) fprintf(stderr, "GET: %s\n", node_get_result_name(a->result));
    waiter_wake(arg);
}

static void bench_round_trips(size_t n)
{
    uint64_t *us = calloc(n, sizeof(*us));
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    struct peer_bytes key = {(const uint8_t *)"user#42", 7};
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        node_invalidate(nodes[0], "Users", 5, &key, 1, 0, on_done_one, &w);
        waiter_wait(&w);
        us[i] = (now_ns() - t0) / 1000;
    }
    report("invalidate, both acked", us, n);
    /* a key node 1 owns */
    char k[32], rk[40];
    for (int i = 0;; i++) {
        snprintf(k, sizeof(k), "user#%d", i);
        size_t len = (size_t)snprintf(rk, sizeof(rk), "Users%c%s", 0, k);
        if (node_owner_of_key(nodes[0], rk, len) == 1) break;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        node_get(nodes[0], "Users", 5, k, strlen(k), "{}", 2, 0, on_got_one, &w);
        waiter_wait(&w);
        us[i] = (now_ns() - t0) / 1000;
    }
    report("forwarded GET, answered", us, n);
    free(us);
}

/* ---- throughput ---- */

static uint64_t completed, unacked;

static void on_done_stream(void *arg, const struct node_fanout_result *r)
{
    __atomic_add_fetch(&completed, 1, __ATOMIC_RELAXED);
    if (r->unacked) __atomic_add_fetch(&unacked, 1, __ATOMIC_RELAXED);
    if (!__atomic_load_n((bool *)arg, __ATOMIC_RELAXED)) {
        struct peer_bytes key = {(const uint8_t *)"user#42", 7};
        node_invalidate(nodes[0], "Users", 5, &key, 1, 0, on_done_stream, arg);
    }
}

static void bench_throughput(int seconds, int window)
{
    static bool stop;
    struct node_stats s0, s1;
    node_get_stats(nodes[0], &s0);
    double c0 = cpu_s();
    uint64_t t0 = now_ns();
    struct peer_bytes key = {(const uint8_t *)"user#42", 7};
    for (int i = 0; i < window; i++)
        node_invalidate(nodes[0], "Users", 5, &key, 1, 0, on_done_stream, &stop);
    sleep((unsigned)seconds);
    uint64_t done = __atomic_load_n(&completed, __ATOMIC_RELAXED);
    double secs = (now_ns() - t0) / 1e9, cpu = cpu_s() - c0;
    __atomic_store_n(&stop, true, __ATOMIC_RELAXED);
    node_get_stats(nodes[0], &s1);
    sleep(1); /* let the window drain */
    uint64_t frames = s1.out[PEER_INVALIDATE] - s0.out[PEER_INVALIDATE];
    printf("fan-out, window %d: %.0f acknowledged fan-outs/s to 2 peers, %.0f INVALIDATE "
           "frames/s, %.0f ACK frames/s received; %.1f us of CPU (all 3 nodes) per fan-out; "
           "%llu of %llu not acknowledged within ack_timeout\n",
           window, done / secs, frames / secs, (s1.in[PEER_ACK] - s0.in[PEER_ACK]) / secs,
           cpu * 1e6 / (double)done,
           (unsigned long long)__atomic_load_n(&unacked, __ATOMIC_RELAXED),
           (unsigned long long)done);
}

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 5, window = argc > 2 ? atoi(argv[2]) : 64;
    log_set_level(LOG_ERROR);
    bench_handshake(20);
    int ports[3];
    char list[96];
    free_ports(ports, 3);
    make_list(list, sizeof(list), ports, 3);
    for (int i = 0; i < 3; i++)
        nodes[i] = start(i, list, ports);
    while (node_live(nodes[0]) != 7 || node_live(nodes[1]) != 7 || node_live(nodes[2]) != 7)
        usleep(100);
    bench_round_trips(5000);
    bench_throughput(seconds, window);
    for (int i = 0; i < 3; i++)
        node_stop(nodes[i], NODE_STOP_BYE);
    return 0;
}
