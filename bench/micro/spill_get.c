/*
 * spill_get.c: where should spill reads run? A spill get of a 1 KB record
 * on the calling thread (an event loop, in ddbx), with the map in the page
 * cache, against handing the same get to libuv's thread pool
 * (uv_queue_work) and back. (docs/ARCHITECTURE.md, "Spill reads")
 *
 *   build/bench/micro/spill_get [seconds] [dir]
 *
 * dir (default: a new directory under /tmp) holds the LMDB files; 50,000
 * records of 1 KB values are written, flushed and read once (so the pages are
 * in the page cache), then:
 * 1. spill_get of random keys on this thread;
 * 2. a uv_queue_work round trip with an empty work function: the hand-off
 *    alone, one at a time (the latency a request would add);
 * 3. a uv_queue_work round trip whose work is the spill_get, one at a time;
 * 4. the same with 64 in flight: the loop thread's cost per get when the
 *    pool does the reads (what a busy loop would pay).
 * Each line gives the wall time and the CPU time of the calling (loop)
 * thread; on a shared machine the CPU time is the steadier figure.
 *
 * Printed on the 2-core VM (shared, load 4-6):
 *   spill_get on the calling thread          2938 ns wall,   1871 ns CPU of this thread, per get
 *   uv_queue_work, empty work, 1 in flight  29674 ns wall,  10067 ns CPU ..., per round trip
 *   uv_queue_work with spill_get, 1 in flight  43328 ns wall,  13340 ns CPU ..., per round trip
 *   uv_queue_work with spill_get, 64 in flight  8065 ns wall,   2193 ns CPU ..., per get
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <zlib.h>

#include "spill/spill.h"
#include "util/clock.h"
#include "util/log.h"

#define NKEYS 50000
#define VALUE 1024
#define INFLIGHT 64

static char keys[NKEYS][24];
static double seconds = 2.0;
static uint64_t x = 88172645463325252ull;

static int next_key(void)
{
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return (int)(x % NKEYS);
}

static void get_one(struct buf *out)
{
    struct spill_entry e;
    int k = next_key();
    buf_reset(out);
    if (spill_get(keys[k], strlen(keys[k]), 1, out, &e) != SPILL_OK || out->len != VALUE) abort();
}

/* CPU time of the calling thread: what a loop thread pays, whatever else
 * the machine runs (the wall time is shown too). */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void report(const char *name, uint64_t ops, uint64_t wall_ns, uint64_t cpu, const char *per)
{
    printf("%-44s %7.0f ns wall, %6.0f ns CPU of this thread, per %s\n", name,
           (double)wall_ns / ops, (double)cpu / ops, per);
}

static void measure_direct(void)
{
    struct buf out = BUF_INIT;
    uint64_t ops = 0, start = clock_mono_ns(), now = start, cpu0 = cpu_ns();
    uint64_t deadline = start + (uint64_t)(seconds * 1e9);
    while (now < deadline) {
        for (int i = 0; i < 1000; i++)
            get_one(&out);
        ops += 1000;
        now = clock_mono_ns();
    }
    report("spill_get on the calling thread", ops, now - start, cpu_ns() - cpu0, "get");
    buf_free(&out);
}

/* ---- through the thread pool ---- */

struct job {
    uv_work_t req;
    struct buf out;
    bool do_get;
};

static struct {
    uint64_t done, target_ns, start;
    int inflight;
} pool;

static void work(uv_work_t *req)
{
    struct job *j = req->data;
    if (j->do_get) get_one(&j->out);
}

static void after(uv_work_t *req, int status)
{
    struct job *j = req->data;
    pool.done++;
    if (clock_mono_ns() - pool.start < pool.target_ns)
        uv_queue_work(req->loop, &j->req, work, after);
    else
        pool.inflight--;
}

static void measure_pool(const char *name, bool do_get, int inflight)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct job *jobs = calloc((size_t)inflight, sizeof(*jobs));
    pool.done = 0;
    pool.target_ns = (uint64_t)(seconds * 1e9);
    pool.inflight = inflight;
    pool.start = clock_mono_ns();
    uint64_t cpu0 = cpu_ns();
    for (int i = 0; i < inflight; i++) {
        jobs[i].req.data = &jobs[i];
        jobs[i].do_get = do_get;
        uv_queue_work(&loop, &jobs[i].req, work, after);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    report(name, pool.done, clock_mono_ns() - pool.start, cpu_ns() - cpu0,
           inflight == 1 ? "round trip" : "get");
    for (int i = 0; i < inflight; i++)
        buf_free(&jobs[i].out);
    free(jobs);
    uv_loop_close(&loop);
}

int main(int argc, char **argv)
{
    if (argc > 1) seconds = atof(argv[1]);
    char dir[256];
    bool own_dir = argc <= 2;
    if (!own_dir)
        snprintf(dir, sizeof(dir), "%s", argv[2]);
    else if (!mkdtemp(strcpy(dir, "/tmp/ddbx-spill-bench-XXXXXX")))
        return 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    log_set_level(LOG_WARN);
    struct spill_options o = {.dir = dir, .map_size = 1ull << 30};
    if (spill_setup(&o) != SPILL_OK) return 1;
    char value[VALUE];
    memset(value, 'v', sizeof(value));
    struct spill_entry e = {(uint32_t)crc32(0, (const Bytef *)value, VALUE), UINT64_MAX, 1, 0, 0};
    for (int i = 0; i < NKEYS; i++) {
        snprintf(keys[i], sizeof(keys[i]), "table\1key-%08d", i);
        while (spill_put(keys[i], strlen(keys[i]), value, VALUE, &e) != SPILL_OK)
            spill_flush(); /* the queue was full */
    }
    spill_flush();
    struct spill_stats st;
    spill_get_stats(&st);
    printf("%llu records of %d bytes, map in use %.1f MiB, in %s\n", (unsigned long long)st.entries,
           VALUE, st.used_bytes / 1048576.0, dir);
    struct buf warm = BUF_INIT;
    for (int i = 0; i < NKEYS; i++)
        get_one(&warm);
    buf_free(&warm);
    measure_direct();
    measure_pool("uv_queue_work, empty work, 1 in flight", false, 1);
    measure_pool("uv_queue_work with spill_get, 1 in flight", true, 1);
    measure_pool("uv_queue_work with spill_get, 64 in flight", true, INFLIGHT);
    spill_teardown();
    if (own_dir) {
        static const char *const files[] = {"data.mdb", "lock.mdb", "ddbx.lock"};
        char path[512];
        for (int i = 0; i < 3; i++) {
            snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
            unlink(path);
        }
        rmdir(dir);
    }
    return 0;
}
