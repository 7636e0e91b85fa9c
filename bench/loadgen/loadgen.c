/*
 * loadgen.c: ddbx-load, a small HTTP/1.1 load generator for the DynamoDB
 * JSON protocol, on libuv with Debian's http_parser.
 *
 * Two ways to offer load:
 *   closed loop (default)  each of --connections keep-alive connections sends
 *                          its next request as soon as the previous answer is
 *                          in; latency is measured from the send.
 *   constant rate (--rate) requests are due at fixed intervals, whatever the
 *                          server does (wrk2's model); a due request waits
 *                          for an idle connection if all are busy, and its
 *                          latency is measured from when it was due, so a
 *                          stalled server is not hidden (no coordinated
 *                          omission). The schedule is kept by a timerfd
 *                          with a nanosecond deadline (libuv's timers have
 *                          1 ms steps), optionally spinning on the clock for
 *                          the last --spin-us (300 by default): in a VM,
 *                          waking from idle for every request costs the
 *                          generator so much that it fell behind its
 *                          schedule at 40,000 requests/s here, and a wake-up
 *                          is 20-50 µs late. How late each request was
 *                          really sent is reported as send_lag_us.
 *
 * One thread, one loop: the harness pins it to its own core. The result is
 * one JSON object on stdout (see print_results()).
 */
#include <errno.h>
#include <getopt.h>
#include <http_parser.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "hist.h"
#include "workload.h"

#define QUEUE_CAP (1u << 20)

struct conn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t wr;
    http_parser parser;
    struct sbuf head, body, resp;
    uint64_t due_ns;  /* latency is measured from here */
    uint64_t wait_ns; /* closed loop: when the next request became due, if a reconnect delayed it */
    int op;
    unsigned nkeys;
    bool busy, writing, connected, closing;
    unsigned index;
};

struct opstats {
    struct hist lat;
    uint64_t ok, keys_ok;
};

static struct {
    /* options */
    const char *host;
    int port;
    unsigned connections;
    double duration_s;
    double rate;
    uint64_t spin_ns;
    /* state */
    uv_loop_t *loop;
    struct conn *conns;
    struct wl *wl;
    struct sockaddr_in addr;
    struct sbuf prefix[OP_COUNT]; /* request line and headers up to Content-Length */
    unsigned connected;
    bool running, finished, exhausted;
    uint64_t t0, t_end;
    uv_timer_t stop_timer;
    /* constant rate */
    int tfd;
    uv_poll_t tick;
    uint64_t next_due, interval_ns;
    uint64_t *queue;
    unsigned q_head, q_len;
    unsigned *idle;
    unsigned n_idle;
    uint64_t dropped, max_backlog;
    /* results */
    struct opstats op[OP_COUNT];
    struct hist all;
    struct hist
        lag; /* constant rate: how late the generator dispatched requests after they were due */
    uint64_t status[600];
    uint64_t conn_errors, parse_errors, unprocessed, get_found, get_empty, in_flight;
    uint64_t sent, reconnects;
    struct rusage ru0;
    char first_error[256];
} g;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fatal(const char *what, int err)
{
    fprintf(stderr, "ddbx-load: %s: %s\n", what, err ? uv_strerror(err) : "failed");
    exit(2);
}

static void build_prefixes(void)
{
    char host[128];
    snprintf(host, sizeof(host), "%s:%d", g.host, g.port);
    /* The headers an AWS SDK sends, so the server parses a realistic block.
     * The signature is not valid: ddbx and moto do not check client ones. */
    for (int i = 0; i < OP_COUNT; i++) {
        struct sbuf *p = &g.prefix[i];
        sbuf_adds(p, "POST / HTTP/1.1\r\nHost: ");
        sbuf_adds(p, host);
        sbuf_adds(p, "\r\nAccept-Encoding: identity\r\nX-Amz-Target: DynamoDB_20120810.");
        sbuf_adds(p, op_name[i]);
        sbuf_adds(
            p, "\r\nContent-Type: application/x-amz-json-1.0\r\n"
               "User-Agent: ddbx-load/1.0 (bench; like Boto3/1.34 md/Botocore#1.34)\r\n"
               "X-Amz-Date: 20250101T000000Z\r\n"
               "Authorization: AWS4-HMAC-SHA256 Credential=AKIDBENCHMARK0000000/20250101/"
               "us-east-1/dynamodb/aws4_request, SignedHeaders=accept-encoding;content-type;host;"
               "x-amz-date;x-amz-target, Signature="
               "0000000000000000000000000000000000000000000000000000000000000000\r\n"
               "Content-Length: ");
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    c->writing = false;
    if (status < 0 && !c->closing) g.conn_errors++;
}

static void finish(void);

/* Sends the workload's next request on c; due is when it was due. */
static void send_request(struct conn *c, uint64_t due)
{
    int op = wl_next(g.wl, &c->body, &c->nkeys);
    if (op < 0) {
        g.exhausted = true;
        if (g.in_flight == 0) finish();
        return;
    }
    c->op = op;
    c->due_ns = due;
    c->busy = true;
    g.in_flight++;
    g.sent++;
    struct sbuf *h = &c->head;
    h->len = 0;
    sbuf_add(h, g.prefix[op].data, g.prefix[op].len);
    sbuf_addu(h, c->body.len);
    sbuf_add(h, "\r\n\r\n", 4);
    uv_buf_t bufs[2] = {uv_buf_init(h->data, (unsigned)h->len),
                        uv_buf_init(c->body.data, (unsigned)c->body.len)};
    size_t total = h->len + c->body.len;
    int n = c->writing ? UV_EAGAIN : uv_try_write((uv_stream_t *)&c->tcp, bufs, 2);
    if (n == (int)total) return;
    if (n < 0 && n != UV_EAGAIN) {
        g.conn_errors++;
        return;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    /* Rest of the request: the buffers stay untouched until the answer,
     * which cannot come before the server has read all of it. */
    if (done < h->len) {
        bufs[0].base += done;
        bufs[0].len -= (unsigned)done;
    } else {
        size_t off = done - h->len;
        bufs[0] = uv_buf_init(c->body.data + off, (unsigned)(c->body.len - off));
        bufs[1].len = 0;
    }
    c->writing = true;
    c->wr.data = c;
    int r = uv_write(&c->wr, (uv_stream_t *)&c->tcp, bufs, bufs[1].len ? 2 : 1, on_write);
    if (r < 0) fatal("uv_write", r);
}

static void conn_idle(struct conn *c)
{
    if (g.rate > 0 && g.q_len > 0) {
        uint64_t due = g.queue[g.q_head];
        g.q_head = (g.q_head + 1) % QUEUE_CAP;
        g.q_len--;
        send_request(c, due);
        return;
    }
    if (g.rate > 0) {
        g.idle[g.n_idle++] = c->index;
        return;
    }
    uint64_t due = c->wait_ns ? c->wait_ns : now_ns();
    c->wait_ns = 0;
    send_request(c, due);
}

static bool body_has_unprocessed(const struct sbuf *b)
{
    /* {"UnprocessedKeys": {}} or {"UnprocessedItems":{}} with any spacing */
    const char *p = b->data, *end = b->data + b->len;
    while ((p = memmem(p, (size_t)(end - p), "Unprocessed", 11)) != NULL) {
        p += 11;
        while (p < end && *p != ':')
            p++;
        p++;
        while (p < end && (*p == ' ' || *p == '\n'))
            p++;
        if (p + 1 < end && !(p[0] == '{' && (p[1] == '}' || p[1] == ' '))) return true;
        if (p + 2 < end && p[0] == '{' && p[1] == ' ' && p[2] != '}') return true;
    }
    return false;
}

static void close_conn(struct conn *c);

/* One answer is in: count it, then give the connection its next request
 * (or reconnect first when the server said Connection: close, as moto's
 * Werkzeug server does after every answer). */
static void complete(struct conn *c, int status, bool keep_alive)
{
    uint64_t t = now_ns();
    c->busy = false;
    g.in_flight--;
    bool measured = g.running && t <= g.t_end;
    if (measured) {
        g.status[status < 600 && status > 0 ? status : 0]++;
        if (status == 200) {
            struct opstats *o = &g.op[c->op];
            bool partial =
                (c->op == OP_BATCHGET || c->op == OP_BATCHWRITE) && body_has_unprocessed(&c->resp);
            if (partial) g.unprocessed++;
            o->ok++;
            if (!partial) o->keys_ok += c->nkeys;
            hist_record(&o->lat, t - c->due_ns);
            hist_record(&g.all, t - c->due_ns);
            if (c->op == OP_GET) {
                if (c->resp.len > 2 && memmem(c->resp.data, c->resp.len, "\"Item\"", 6))
                    g.get_found++;
                else
                    g.get_empty++;
            }
        } else if (!g.first_error[0]) {
            snprintf(g.first_error, sizeof(g.first_error), "%s -> %d %.*s", op_name[c->op], status,
                     (int)(c->resp.len < 160 ? c->resp.len : 160),
                     c->resp.data ? c->resp.data : "");
        }
    }
    if (g.exhausted && g.in_flight == 0) {
        finish();
        return;
    }
    if (!keep_alive) {
        g.reconnects++;
        c->wait_ns = t; /* the reconnect counts in the next request's latency */
        close_conn(c);
        return;
    }
    if (g.running && !g.finished) conn_idle(c);
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    sbuf_add(&c->resp, at, len);
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct conn *c = p->data;
    c->resp.len = 0;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct conn *c = p->data;
    if (!c->busy) return 0; /* an answer nobody asked for */
    complete(c, (int)p->status_code, http_should_keep_alive(p) != 0);
    return 0;
}

static http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[256 * 1024];
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void reconnect(struct conn *c);

static void on_close(uv_handle_t *h)
{
    struct conn *c = h->data;
    c->closing = false;
    if (g.running && !g.finished) reconnect(c);
}

static void close_conn(struct conn *c)
{
    if (c->closing) return;
    c->connected = false;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

/* The connection broke: a request on it is lost and counted as an error. */
static void drop_conn(struct conn *c)
{
    if (c->closing) return;
    if (c->busy) {
        c->busy = false;
        g.in_flight--;
        if (g.running) g.conn_errors++;
        if (g.exhausted && g.in_flight == 0) finish();
    }
    close_conn(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (n == 0) return;
    if (n < 0) {
        /* EOF ends an answer that had no Content-Length. */
        if (n == UV_EOF && c->busy) http_parser_execute(&c->parser, &parser_settings, NULL, 0);
        drop_conn(c);
        return;
    }
    size_t used = http_parser_execute(&c->parser, &parser_settings, buf->base, (size_t)n);
    if (c->parser.http_errno != HPE_OK || used != (size_t)n) {
        if (g.running) g.parse_errors++;
        drop_conn(c);
    }
}

static void start(void);

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (status < 0) {
        if (!g.running) fatal("connect", status);
        g.conn_errors++;
        drop_conn(c);
        return;
    }
    c->connected = true;
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
    if (!g.running) {
        if (++g.connected == g.connections) start();
        return;
    }
    if (!g.finished) conn_idle(c);
}

static void reconnect(struct conn *c)
{
    uv_tcp_init(g.loop, &c->tcp);
    c->tcp.data = c;
    uv_tcp_nodelay(&c->tcp, 1);
    c->connect.data = c;
    int r = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&g.addr, on_connect);
    if (r < 0) fatal("uv_tcp_connect", r);
}

static void arm_tick(void)
{
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(g.next_due / 1000000000ull);
    its.it_value.tv_nsec = (long)(g.next_due % 1000000000ull);
    if (timerfd_settime(g.tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
        perror("timerfd_settime");
        exit(2);
    }
}

/* Sends (or queues, when every connection is busy) each request now due. */
static void dispatch_due(void)
{
    uint64_t t = now_ns();
    while (g.next_due <= t && !g.exhausted && g.next_due < g.t_end && !g.finished) {
        /* The generator's own lateness; waiting for a free connection
         * afterwards is the server's doing and shows in the latency. */
        hist_record(&g.lag, t - g.next_due);
        if (g.n_idle > 0) {
            send_request(&g.conns[g.idle[--g.n_idle]], g.next_due);
        } else if (g.q_len < QUEUE_CAP) {
            g.queue[(g.q_head + g.q_len) % QUEUE_CAP] = g.next_due;
            g.q_len++;
            if (g.q_len > g.max_backlog) g.max_backlog = g.q_len;
        } else {
            g.dropped++;
        }
        g.next_due += g.interval_ns;
    }
}

static void on_tick(uv_poll_t *h, int status, int events)
{
    uint64_t expirations;
    (void)h;
    (void)status;
    (void)events;
    if (read(g.tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN) return;
}

#define WAKE_EARLY_NS 50000ull

/* The constant-rate loop: sleep in epoll until shortly before the next
 * request is due (or a socket is ready), spin for the last stretch. */
static void run_constant_rate(void)
{
    while (!g.finished) {
        dispatch_due();
        uint64_t t = now_ns();
        if (g.next_due > t + g.spin_ns) {
            uint64_t early = g.spin_ns ? WAKE_EARLY_NS : 0;
            g.next_due -= early;
            arm_tick();
            g.next_due += early;
            uv_run(g.loop, UV_RUN_ONCE);
        } else {
            uv_run(g.loop, UV_RUN_NOWAIT);
        }
    }
}

static void on_stop_timer(uv_timer_t *t)
{
    (void)t;
    finish();
}

static void start(void)
{
    getrusage(RUSAGE_SELF, &g.ru0);
    g.running = true;
    g.t0 = now_ns();
    g.t_end = g.duration_s > 0 ? g.t0 + (uint64_t)(g.duration_s * 1e9) : UINT64_MAX;
    if (g.duration_s > 0) {
        uv_timer_init(g.loop, &g.stop_timer);
        uv_timer_start(&g.stop_timer, on_stop_timer, (uint64_t)(g.duration_s * 1000) + 1, 0);
    }
    if (g.rate > 0) {
        g.interval_ns = (uint64_t)(1e9 / g.rate);
        if (g.interval_ns == 0) g.interval_ns = 1;
        g.next_due = g.t0;
        for (unsigned i = 0; i < g.connections; i++)
            g.idle[g.n_idle++] = g.connections - 1 - i;
        g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (g.tfd < 0) {
            perror("timerfd_create");
            exit(2);
        }
        uv_poll_init(g.loop, &g.tick, g.tfd);
        uv_poll_start(&g.tick, UV_READABLE, on_tick);
        return; /* main() then runs run_constant_rate() */
    }
    for (unsigned i = 0; i < g.connections && !g.exhausted; i++)
        send_request(&g.conns[i], g.t0);
}

static void print_lat(const char *name, const struct hist *h, const char *suffix)
{
    printf(
        "\"%s\":{\"count\":%llu,\"mean\":%.1f,\"min\":%.1f,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
        "\"p99.9\":%.1f,\"max\":%.1f}%s",
        name, (unsigned long long)h->count,
        h->count ? (double)h->sum / (double)h->count / 1e3 : 0.0,
        h->count ? (double)h->min / 1e3 : 0.0, hist_quantile(h, 0.50) / 1e3,
        hist_quantile(h, 0.90) / 1e3, hist_quantile(h, 0.99) / 1e3, hist_quantile(h, 0.999) / 1e3,
        (double)h->max / 1e3, suffix);
}

/* One JSON object: totals, errors by kind, latency in microseconds overall
 * and per operation, and the full histogram ([low, high) of each non-empty
 * bucket in µs, count) for merging rounds and plotting. */
static void print_results(uint64_t t_stop)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)(ru.ru_utime.tv_sec - g.ru0.ru_utime.tv_sec) +
                 (double)(ru.ru_stime.tv_sec - g.ru0.ru_stime.tv_sec) +
                 (double)(ru.ru_utime.tv_usec - g.ru0.ru_utime.tv_usec) / 1e6 +
                 (double)(ru.ru_stime.tv_usec - g.ru0.ru_stime.tv_usec) / 1e6;
    uint64_t end = g.t_end < t_stop ? g.t_end : t_stop;
    double elapsed = (double)(end - g.t0) / 1e9;
    uint64_t ok = 0, keys = 0, errors = 0;
    for (int i = 0; i < OP_COUNT; i++) {
        ok += g.op[i].ok;
        keys += g.op[i].keys_ok;
    }
    for (int i = 0; i < 600; i++)
        if (i != 200) errors += g.status[i];
    printf("{\"connections\":%u,\"rate\":%.1f,\"elapsed_s\":%.6f,\"requests\":%llu,"
           "\"throughput\":%.1f,\"keys_per_s\":%.1f,\"sent\":%llu,",
           g.connections, g.rate, elapsed, (unsigned long long)ok, ok / elapsed, keys / elapsed,
           (unsigned long long)g.sent);
    printf("\"reconnects\":%llu,", (unsigned long long)g.reconnects);
    printf("\"errors\":{\"http\":%llu,\"connection\":%llu,\"parse\":%llu,\"unprocessed\":%llu},",
           (unsigned long long)errors, (unsigned long long)g.conn_errors,
           (unsigned long long)g.parse_errors, (unsigned long long)g.unprocessed);
    printf("\"status\":{");
    bool first = true;
    for (int i = 0; i < 600; i++)
        if (g.status[i]) {
            printf("%s\"%d\":%llu", first ? "" : ",", i, (unsigned long long)g.status[i]);
            first = false;
        }
    printf("},\"first_error\":\"");
    for (const char *p = g.first_error; *p; p++)
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if ((unsigned char)*p >= 0x20)
            putchar(*p);
    printf("\",\"get_found\":%llu,\"get_empty\":%llu,\"backlog_at_end\":%u,\"max_backlog\":%llu,"
           "\"dropped\":%llu,\"generator_cpu_s\":%.3f,\"generator_cpu_util\":%.3f,",
           (unsigned long long)g.get_found, (unsigned long long)g.get_empty, g.q_len,
           (unsigned long long)g.max_backlog, (unsigned long long)g.dropped, cpu, cpu / elapsed);
    print_lat("latency_us", &g.all, ",");
    print_lat("send_lag_us", &g.lag, ",");
    printf("\"ops\":{");
    first = true;
    for (int i = 0; i < OP_COUNT; i++) {
        if (!g.op[i].lat.count) continue;
        printf("%s\"%s\":{\"requests\":%llu,\"keys\":%llu,", first ? "" : ",", op_name[i],
               (unsigned long long)g.op[i].ok, (unsigned long long)g.op[i].keys_ok);
        print_lat("latency_us", &g.op[i].lat, "}");
        first = false;
    }
    printf("},\"histogram_us\":[");
    first = true;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        if (g.all.b[i]) {
            printf("%s[%.3f,%.3f,%llu]", first ? "" : ",", (double)hist_bucket_low(i) / 1e3,
                   (double)(hist_bucket_high(i) + 1) / 1e3, (unsigned long long)g.all.b[i]);
            first = false;
        }
    printf("]}\n");
    fflush(stdout);
}

static void finish(void)
{
    if (g.finished) return;
    g.finished = true;
    print_results(now_ns());
    /* In-flight requests are abandoned: the process exit closes the sockets. */
    exit(0);
}

static bool isalnum_ascii(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: ddbx-load --port N [options]\n"
        "  --host ADDR            server address (127.0.0.1)\n"
        "  --port N               server port\n"
        "  --workload NAME        catalog, catalog-batch, leaderboard, session, write-heavy,\n"
        "                         load (BatchWriteItem each item once), prewarm (BatchGetItem each "
        "key once)\n"
        "  --connections N        keep-alive connections (32)\n"
        "  --duration S           seconds to run (10; finite workloads: 0 = until done)\n"
        "  --rate R               constant rate, requests/s over all connections (0: closed loop)\n"
        "  --table NAME           table (bench)\n"
        "  --index NAME           score index for leaderboard (by_score)\n"
        "  --items N              item population (100000)\n"
        "  --first N              first key of load/prewarm (0)\n"
        "  --item-size B          item size, DynamoDB bytes (1000)\n"
        "  --zipf THETA           key skew, 0 = uniform (0.99)\n"
        "  --boards N             leaderboard partitions (100)\n"
        "  --batch N              keys per batch call (25; load 25, prewarm up to 100)\n"
        "  --write-fraction F     share of writes (leaderboard 0.05, session 0.5, write-heavy "
        "0.95)\n"
        "  --consistent           GetItem with ConsistentRead=true (always relayed)\n"
        "  --seed N               random seed (42)\n"
        "  --spin-us U            constant rate: spin instead of sleeping when the next request "
        "is\n"
        "                         due within U µs (300; 0: always sleep)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct wl_config wc = {.kind = WL_CATALOG,
                           .table = "bench",
                           .index = "by_score",
                           .items = 100000,
                           .item_size = 1000,
                           .zipf = 0.99,
                           .boards = 100,
                           .batch = 0,
                           .write_fraction = -1,
                           .seed = 42};
    g.host = "127.0.0.1";
    g.connections = 32;
    g.spin_ns = 300000;
    g.duration_s = 10;
    enum {
        O_HOST = 1,
        O_PORT,
        O_WL,
        O_CONNS,
        O_DUR,
        O_RATE,
        O_TABLE,
        O_INDEX,
        O_ITEMS,
        O_FIRST,
        O_SIZE,
        O_ZIPF,
        O_BOARDS,
        O_BATCH,
        O_WF,
        O_CONS,
        O_SEED,
        O_SPIN,
        O_HELP
    };
    static const struct option opts[] = {
        {"host", 1, 0, O_HOST},         {"port", 1, 0, O_PORT},
        {"workload", 1, 0, O_WL},       {"connections", 1, 0, O_CONNS},
        {"duration", 1, 0, O_DUR},      {"rate", 1, 0, O_RATE},
        {"table", 1, 0, O_TABLE},       {"index", 1, 0, O_INDEX},
        {"items", 1, 0, O_ITEMS},       {"first", 1, 0, O_FIRST},
        {"item-size", 1, 0, O_SIZE},    {"zipf", 1, 0, O_ZIPF},
        {"boards", 1, 0, O_BOARDS},     {"batch", 1, 0, O_BATCH},
        {"write-fraction", 1, 0, O_WF}, {"consistent", 0, 0, O_CONS},
        {"seed", 1, 0, O_SEED},         {"spin-us", 1, 0, O_SPIN},
        {"help", 0, 0, O_HELP},         {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case O_HOST: g.host = optarg; break;
        case O_PORT: g.port = atoi(optarg); break;
        case O_WL: {
            int k;
            for (k = 0; k < WL_KIND_COUNT && strcmp(optarg, wl_kind_name[k]); k++) {
            }
            if (k == WL_KIND_COUNT) usage();
            wc.kind = (enum wl_kind)k;
            break;
        }
        case O_CONNS: g.connections = (unsigned)atoi(optarg); break;
        case O_DUR: g.duration_s = atof(optarg); break;
        case O_RATE: g.rate = atof(optarg); break;
        case O_TABLE: wc.table = optarg; break;
        case O_INDEX: wc.index = optarg; break;
        case O_ITEMS: wc.items = strtoull(optarg, NULL, 10); break;
        case O_FIRST: wc.first = strtoull(optarg, NULL, 10); break;
        case O_SIZE: wc.item_size = (unsigned)atoi(optarg); break;
        case O_ZIPF: wc.zipf = atof(optarg); break;
        case O_BOARDS: wc.boards = (unsigned)atoi(optarg); break;
        case O_BATCH: wc.batch = (unsigned)atoi(optarg); break;
        case O_WF: wc.write_fraction = atof(optarg); break;
        case O_CONS: wc.consistent = true; break;
        case O_SEED: wc.seed = strtoull(optarg, NULL, 10); break;
        case O_SPIN: g.spin_ns = (uint64_t)(atof(optarg) * 1000); break;
        default: usage();
        }
    }
    if (g.port <= 0 || g.connections == 0 || optind != argc) usage();
    for (const char *p = wc.table; *p; p++)
        if (!(isalnum_ascii(*p) || *p == '_' || *p == '-' || *p == '.')) usage();
    if (wc.batch == 0) wc.batch = wc.kind == WL_PREWARM ? 100 : 25;
    if (wc.kind == WL_LOAD && wc.batch > 25) wc.batch = 25;
    if (wc.write_fraction < 0)
        wc.write_fraction = wc.kind == WL_LEADERBOARD ? 0.05 : wc.kind == WL_SESSION ? 0.5 : 0.95;
    if (wc.kind == WL_LOAD || wc.kind == WL_PREWARM) {
        if (g.rate > 0) usage();
    }
    g.wl = wl_create(&wc);
    if (!g.wl) return 2;
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    int r = uv_ip4_addr(g.host, g.port, &g.addr);
    if (r < 0) fatal("address", r);
    build_prefixes();
    hist_init(&g.all);
    hist_init(&g.lag);
    for (int i = 0; i < OP_COUNT; i++)
        hist_init(&g.op[i].lat);
    g.conns = calloc(g.connections, sizeof(*g.conns));
    g.queue = malloc(QUEUE_CAP * sizeof(uint64_t));
    g.idle = calloc(g.connections, sizeof(unsigned));
    if (!g.conns || !g.queue || !g.idle) fatal("out of memory", 0);
    g.loop = uv_default_loop();
    for (unsigned i = 0; i < g.connections; i++) {
        g.conns[i].index = i;
        reconnect(&g.conns[i]);
    }
    /* Until every connection is up (start() runs), then the load itself. */
    while (!g.running)
        uv_run(g.loop, UV_RUN_ONCE);
    if (g.rate > 0)
        run_constant_rate();
    else
        uv_run(g.loop, UV_RUN_DEFAULT);
    if (!g.finished) finish();
    return 0;
}
