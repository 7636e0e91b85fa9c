/*
 * cache_threads.c: does the shard lock cost the hit path anything with two
 * worker threads, and what would thread-owned shards cost instead?
 * (docs/ARCHITECTURE.md, "Cache shards and threads")
 *
 *   build/bench/micro/cache_threads [seconds]
 *
 * 1. hit lookups (cache_get, 1 KB values, 100k keys, 64 locked shards) from
 *    one thread, then from two threads at once on the same shards;
 * 2. the same two threads each touching only "their" half of the shards, as
 *    thread-owned shards would (no lock contention, still the same code);
 * 3. the price of handing a lookup to the owning thread: a round trip
 *    through a uv_async between two libuv loops, which thread-owned shards
 *    pay for every key owned by the other thread (half of them, with two).
 *
 * Printed on the 2-core VM (quiet):
 *   1 thread, shared locked shards                  3.4 M lookups/s     292 ns/lookup/thread
 *   2 threads, shared locked shards                 5.5 M lookups/s     366 ns/lookup/thread
 *   2 threads, each on its own half of shards       7.7 M lookups/s     261 ns/lookup/thread
 *   hand-off to another loop (uv_async ping-pong)  45461 ns per round trip
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cache/cache.h"
#include "util/clock.h"

#define NKEYS 100000
#define VALUE 1024

static char keys[NKEYS][24];
static struct cache_key ckeys[NKEYS];
static double seconds = 2.0;

struct worker {
    int id, nthreads;
    bool own_half; /* only keys whose shard belongs to this thread */
    uint64_t ops;
    double ns_per_op;
};

static void *run(void *arg)
{
    struct worker *w = arg;
    struct buf out = BUF_INIT;
    uint64_t x = 88172645463325252ull + (uint64_t)w->id, ops = 0;
    uint64_t start = clock_mono_ns(), deadline = start + (uint64_t)(seconds * 1e9), now = start;
    while (now < deadline) {
        for (int i = 0; i < 1000; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            int k = (int)(x % NKEYS);
            if (w->own_half && (int)((ckeys[k].hash >> 40) & 1) != w->id) continue;
            uint32_t crc;
            struct cache_fill *f = NULL;
            buf_reset(&out);
            if (cache_get(&ckeys[k], 0, &out, &crc, &f, NULL) != CACHE_HIT) abort();
            ops++;
        }
        now = clock_mono_ns();
    }
    w->ops = ops;
    w->ns_per_op = (double)(now - start) / (double)ops;
    buf_free(&out);
    return NULL;
}

static void measure(const char *name, int nthreads, bool own_half)
{
    pthread_t t[2];
    struct worker w[2];
    for (int i = 0; i < nthreads; i++) {
        w[i] = (struct worker){i, nthreads, own_half, 0, 0};
        pthread_create(&t[i], NULL, run, &w[i]);
    }
    uint64_t total = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(t[i], NULL);
        total += w[i].ops;
    }
    printf("%-44s %6.1f M lookups/s  %6.0f ns/lookup/thread\n", name, total / seconds / 1e6,
           w[0].ns_per_op);
}

/* ---- cross-loop round trip ---- */

static uv_async_t ping, pong;
static atomic_int rounds;
static uint64_t rt_start;
static int rt_target = 200000;

static atomic_bool stop;

static void on_ping(uv_async_t *a)
{
    if (atomic_load(&stop))
        uv_close((uv_handle_t *)&ping, NULL); /* on its own loop */
    else
        uv_async_send(&pong);
}
static void on_pong(uv_async_t *a)
{
    if (atomic_fetch_add(&rounds, 1) + 1 >= rt_target) {
        atomic_store(&stop, true);
        uv_close((uv_handle_t *)&pong, NULL);
    }
    uv_async_send(&ping);
}
static void *loop_b(void *arg)
{
    uv_run(arg, UV_RUN_DEFAULT);
    return NULL;
}

static void measure_handoff(void)
{
    uv_loop_t a, b;
    uv_loop_init(&a);
    uv_loop_init(&b);
    uv_async_init(&b, &ping, on_ping);
    uv_async_init(&a, &pong, on_pong);
    pthread_t t;
    pthread_create(&t, NULL, loop_b, &b);
    rt_start = clock_mono_ns();
    uv_async_send(&ping);
    uv_run(&a, UV_RUN_DEFAULT);
    uint64_t ns = clock_mono_ns() - rt_start;
    pthread_join(t, NULL);
    printf("%-44s %6.0f ns per round trip\n", "hand-off to another loop (uv_async ping-pong)",
           (double)ns / rounds);
}

int main(int argc, char **argv)
{
    if (argc > 1) seconds = atof(argv[1]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    cache_setup(1ull << 30, 3600000, 3600000, 0, 64);
    char value[VALUE];
    memset(value, 'v', sizeof(value));
    for (int i = 0; i < NKEYS; i++) {
        snprintf(keys[i], sizeof(keys[i]), "table\1key-%08d", i);
        cache_key_init(&ckeys[i], keys[i], strlen(keys[i]));
        cache_put(&ckeys[i], value, sizeof(value), 0);
    }
    measure("1 thread, shared locked shards", 1, false);
    measure("2 threads, shared locked shards", 2, false);
    measure("2 threads, each on its own half of shards", 2, true);
    measure_handoff();
    cache_teardown();
    return 0;
}
