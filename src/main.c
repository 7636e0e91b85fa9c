/*
 * main.c: ddbx's entry point. Parses options, sets every module up in
 * dependency order (util, config, metrics, proto, cache, backend, stream,
 * handler, net), runs the main loop (signals, admin port, stream readers)
 * while the workers serve, and tears down in reverse on SIGTERM/SIGINT.
 * SIGHUP reloads --credentials and the TLS certificate and key; connections
 * stay open.
 *
 *   main thread: signals, admin port, shutdown deadline, reloads, DynamoDB Streams readers
 *   worker threads (--threads): listener, connections, handlers, backend client
 */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "backend/backend.h"
#include "cache/cache.h"
#include "cache/tags.h"
#include "cluster/node.h"
#include "config/config.h"
#include "handler/cluster.h"
#include "handler/handler.h"
#include "handler/request.h"
#include "handler/schema.h"
#include "handler/throttle.h"
#include "metrics/metrics.h"
#include "net/server.h"
#include "net/trust.h"
#include "spill/spill.h"
#include "stream/stream.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/log.h"
#include "version.h"

extern char **environ;

static struct config cfg;
static uv_loop_t *loop;
static uv_signal_t sigterm, sigint, sighup;
static uv_timer_t shutdown_timer;
static uint64_t shutdown_deadline_ms;
static int exit_code;
static struct node *cluster;

static void on_shutdown_tick(uv_timer_t *t)
{
    if (server_stopped()) {
        server_join();
        stream_stop();
        log_info("stopped cleanly");
    } else if (clock_mono_ms() < shutdown_deadline_ms) {
        return;
    } else {
        log_warn("requests still in flight after --shutdown-timeout; exiting anyway");
        exit(exit_code); /* workers may still hold the loop; skip teardown */
    }
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sighup, NULL);
    admin_stop();
}

/* SIGHUP: the credentials file and the TLS certificate read again; a file
 * that fails to load leaves what was loaded before in use. */
static void on_reload(uv_signal_t *s, int signum)
{
    log_info("SIGHUP: reloading");
    int failed = (trust_reload() != DDBX_OK) + (server_reload() != DDBX_OK);
    int files = trust_enforced() + (*cfg.tls_cert ? 1 : 0);
    METRIC_ADD(reloads, files - failed);
    METRIC_ADD(reload_failures, failed);
}

static void on_signal(uv_signal_t *s, int signum)
{
    if (shutdown_deadline_ms) {
        log_warn("second signal: exiting now");
        exit(exit_code);
    }
    log_info("%s: no new connections; finishing in-flight requests (up to %llums)",
             signum == SIGTERM ? "SIGTERM" : "SIGINT", (unsigned long long)cfg.shutdown_timeout);
    shutdown_deadline_ms = clock_mono_ms() + cfg.shutdown_timeout;
    server_stop();
    uv_timer_start(&shutdown_timer, on_shutdown_tick, 10, 10);
}

/* --peers: the cluster node (src/cluster/node.h) and the handlers' side of
 * it (src/handler/cluster.h): writes fanned out before they are answered,
 * misses forwarded to their keys' owners, peers' GETs served, degraded mode. */
static int cluster_start(void)
{
    char err[512];
    struct node_options o;
    struct buf secret = BUF_INIT;
    if (node_options_from_config(&o, &cfg, &secret, err, sizeof(err)) < 0) {
        fprintf(stderr, "ddbx: %s\n", err);
        return -1;
    }
    if (*cfg.peers) {
        cluster = node_start(&o, cluster_node_handlers(), err, sizeof(err));
        if (!cluster) log_error("%s", err);
    }
    if (secret.data) explicit_bzero(secret.data, secret.len);
    buf_free(&secret);
    if (!cluster) return *cfg.peers ? -1 : 0;
    struct cluster_options co = {.near_ttl_ms = cfg.peer_near_ttl,
                                 .degraded_ttl_ms = cfg.peer_degraded_ttl,
                                 .recent_ms = o.dead_after_ms + o.ping_interval_ms,
                                 .streams = cfg.streams};
    return cluster_setup(&cluster_node_ops, cluster, &co);
}

/* A stream reader lost records: everything cached of the table goes, on
 * every node of a cluster. */
static void invalidate_table(const char *table, size_t len)
{
    schema_invalidate(table, len, 0);
    cluster_stream_gap(table, len);
}

/* Where stream readers resume after a clean stop: the spill tier's named values. */
static void stream_meta_put(const char *name, const void *value, size_t len)
{
    spill_meta_put(name, value, len);
}

static int stream_meta_get(const char *name, struct buf *out)
{
    return spill_meta_get(name, out) == SPILL_OK ? 0 : -1;
}

/* The DynamoDB Streams readers on the main loop (--streams). */
static int streams_start(void)
{
    if (!cfg.streams) return 0;
    struct buf url = BUF_INIT;
    if (*cfg.streams_endpoint)
        buf_append_str(&url, cfg.streams_endpoint);
    else if (*cfg.backend) /* a local backend (moto, DynamoDB Local) serves Streams too */
        buf_append_str(&url, cfg.backend);
    else
        buf_printf(&url, "https://streams.dynamodb.%s.amazonaws.com/", backend_region());
    struct stream_options so = {.loop = loop,
                                .bops = &backend_client_ops,
                                .backend = backend_create_url(loop, url.data),
                                .invalidate_table = invalidate_table,
                                .ready = schema_stream_ready,
                                .now_ms = handler_now,
                                .own_keep_ms = MAX(60000, 3 * cfg.backend_timeout)};
    if (cluster) { /* one reader per table in the cluster: its owner's */
        so.owns = cluster_owns_table;
        so.fanout = cluster_stream_fanout;
        so.publish = cluster_stream_publish;
        so.takeover_ms = 2 * cfg.peer_ping_interval;
    }
    if (spill_enabled()) { /* a warm restart reads on where the last stop got to */
        so.meta_put = stream_meta_put;
        so.meta_get = stream_meta_get;
        schema_wait_for_streams(true);
    }
    log_info("stream readers on %s", url.data);
    buf_free(&url);
    if (stream_setup(&so) < 0) return -1;
    schema_set_watcher(stream_watch);
    return 0;
}

/* Gives each GAUGE_FN row of metrics.def the function it names. */
static void bind_gauges(void)
{
#define GAUGE_FN(id, name, fn, help) metrics_gauge_bind(GAUGE_##id, fn);
#define GAUGES_FN(id, name, labels, fn, help) metrics_gauges_bind(GAUGES_##id, fn);
#include "metrics/metrics.def"
}

int main(int argc, char **argv)
{
    char err[512];
    switch (config_parse(&cfg, argc, argv, environ, stdout, err, sizeof(err))) {
    case CONFIG_OK: break;
    case CONFIG_ERROR: fprintf(stderr, "ddbx: %s\n", err); return 2;
    case CONFIG_HELP_METRICS: metrics_print_markdown(stdout); return 0;
    default: return 0; /* help or version printed */
    }
    if (log_set_level_name(cfg.log_level) < 0) {
        fprintf(stderr, "ddbx: --log-level must be error, warn, info or debug\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /* With a spill tier every spill hit allocates an entry and evicts one,
     * from whichever worker thread: with glibc's arena per thread, each arena
     * kept the high-water mark of what its thread allocated and anonymous
     * memory grew to nearly --memory per worker (16 MiB through --memory 4MiB
     * with 2 workers: 9.1 MiB, against 6.8 with one arena). One arena keeps
     * it near --memory; small allocations still go through per-thread caches. */
    /* a cluster node must not serve what it held before a restart (it may
     * have missed invalidations meanwhile: proto/peer-protocol.md 12.3) */
    bool spill_on = *cfg.spill_dir && !*cfg.peers;
    if (*cfg.spill_dir && *cfg.peers)
        log_warn("--spill-dir is not used with --peers: a restarted cluster node starts empty");
    if (spill_on) mallopt(M_ARENA_MAX, 1);
    log_info("ddbx %s starting", DDBX_VERSION);
    loop = uv_default_loop();
    metrics_setup();
    metrics_thread_register();
    /* the spill's queue holds copies of evicted entries: anonymous memory
     * beside --memory, so it gets an eighth of it (1 MiB to 16 MiB) */
    struct spill_options spill = {.dir = cfg.spill_dir,
                                  .map_size = cfg.spill_size,
                                  .queue_bytes = MIN(MAX(cfg.memory / 8, 1u << 20), 16u << 20)};
    if (spill_on && spill_setup(&spill) < 0) return 1;
    if (cache_setup(cfg.memory, cfg.item_ttl, cfg.negative_ttl,
                    cfg.write_holdoff ? cfg.write_holdoff : 2 * cfg.backend_timeout, 0) < 0) {
        log_error("cannot set the item cache up with --memory %llu",
                  (unsigned long long)cfg.memory);
        return 1;
    }
    bind_gauges();
    /* tags: a thirty-second of the budget; remembered for the query TTL plus
     * the longest fill (tags.h) */
    if (tags_setup(MAX(cfg.memory / 32, 1u << 20), cfg.query_lag_window,
                   cfg.query_ttl + 2 * cfg.backend_timeout, 0) < 0) {
        log_error("cannot set the query tags up");
        return 1;
    }
    if (backend_setup(&cfg) < 0) return 1;
    schema_setup();
    handler_setup(&cfg);
    if (trust_setup(&cfg) < 0) return 1;
    node_metrics_setup();
    if (cluster_start() < 0) return 1;
    if (streams_start() < 0) return 1;
    if (server_start(&cfg) < 0 || admin_start(loop, &cfg) < 0) return 1;
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_init(loop, &sighup);
    uv_signal_start(&sighup, on_reload, SIGHUP);
    uv_timer_init(loop, &shutdown_timer);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    trust_teardown();
    /* workers, then the node (peers' reads answered, BYE), then the cache */
    if (cluster) {
        cluster_stop();
        node_stop(cluster, NODE_STOP_BYE);
        cluster_teardown();
    }
    handler_teardown();
    schema_teardown();
    stream_teardown();
    backend_teardown();
    tags_teardown();
    if (spill_enabled()) /* a warm restart: what RAM holds goes to the spill */
        log_info("spill: %zu entries written from RAM for the next start",
                 cache_spill_all(clock_mono_ms()));
    cache_teardown();
    spill_teardown();
    metrics_teardown();
    config_free(&cfg);
    return exit_code;
}
