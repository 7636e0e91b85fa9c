/*
 * cluster_node.c: one cluster node (src/cluster/node.h) as its own process,
 * for tests/integration/test_cluster.py, which starts three of them (on
 * loopback, or in network namespaces it cuts apart and heals).
 *
 * It takes ddbx's own --peer-* options (and their DDBX_* twins, and
 * --log-level) through config_parse, so the options are exercised as ddbx
 * parses them. Commands come on stdin, one per line; everything the node
 * reports goes to stdout as one JSON object per line:
 *
 *   invalidate ID TABLE KEY...   -> {"ev":"done","id":ID,"acked":M,"unacked":M,"skipped":M,"us":N}
 *   tag ID TABLE TAG...          -> the same
 *   forget ID TABLE              -> the same
 *   get ID TABLE KEY             -> {"ev":"got","id":ID,"result":"value",...,"body":"..."}
 *   owner TABLE KEY              -> {"ev":"owner","key":"...","owner":N}
 *   status                       -> {"ev":"status","self":N,"live":M,"degraded":B,"inc":N}
 *   quit (or EOF, SIGTERM)       -> node_stop with BYE, {"ev":"stopped"}, exit 0
 *
 * and, unasked: {"ev":"started"}, peer and degraded-mode events ("up",
 * "down", "departed", "lagging", "caught up", "degraded", "healthy"), and the
 * INVALIDATE/TAG/FORGET it applied. As an owner it answers every GET with
 * {"Item":{"pk":{"S":KEY},"by":{"S":ITS OWN ENTRY}}}.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cluster/node.h"
#include "config/config.h"
#include "util/buf.h"
#include "util/crc.h"
#include "util/log.h"

extern char **environ;

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static struct node *node;

/* Appends s as a JSON string. */
static void json_str(struct buf *b, const void *data, size_t len)
{
    const unsigned char *s = data;
    buf_append_char(b, '"');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            buf_printf(b, "\\%c", s[i]);
        else if (s[i] < 0x20 || s[i] >= 0x7f)
            buf_printf(b, "\\u%04x", s[i]);
        else
            buf_append_char(b, (char)s[i]);
    }
    buf_append_char(b, '"');
}

static void emit(struct buf *b)
{
    buf_append_char(b, '\n');
    pthread_mutex_lock(&out_lock);
    fwrite(b->data, 1, b->len, stdout);
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
    buf_free(b);
}

static void emitf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emitf(const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    emit(&b);
}

/* ---- what the node tells us (its thread) ---- */

static void applied(const char *ev, int from, struct peer_bytes table,
                    const struct peer_bytes *keys, size_t n, uint64_t scope)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "{\"ev\":\"%s\",\"from\":%d,\"table\":", ev, from);
    json_str(&b, table.data, table.len);
    buf_printf(&b, ",\"scope\":%llu,\"keys\":[", (unsigned long long)scope);
    for (size_t i = 0; i < n; i++) {
        if (i) buf_append_char(&b, ',');
        json_str(&b, keys[i].data, keys[i].len);
    }
    buf_append_str(&b, "]}");
    emit(&b);
}

static void on_invalidate(void *arg, int from, const struct peer_keyset *m)
{
    applied("invalidate", from, m->table, m->keys.items, m->keys.n, 0);
}

static void on_tag(void *arg, int from, const struct peer_keyset *m)
{
    applied("tag", from, m->table, m->keys.items, m->keys.n, 0);
}

static void on_forget(void *arg, int from, const struct peer_forget *m)
{
    applied("forget", from, m->table, NULL, 0, m->scope);
}

static void on_get(void *arg, struct node_get_req *req)
{
    const char *self = node_peers(node)->addr[node_self(node)];
    struct buf body = BUF_INIT, b = BUF_INIT;
    buf_append_str(&body, "{\"Item\":{\"pk\":{\"S\":");
    json_str(&body, req->key.data, req->key.len);
    buf_printf(&body, "},\"by\":{\"S\":\"%s\"}}}", self);
    buf_printf(&b, "{\"ev\":\"get_served\",\"from\":%d,\"key\":", req->from);
    json_str(&b, req->key.data, req->key.len);
    buf_append_char(&b, '}');
    emit(&b);
    node_get_reply(node, req, PEER_GET_VALUE, 5000, body.data, body.len,
                   crc32_of(body.data, body.len));
    buf_free(&body);
}

static void on_event(void *arg, const struct node_event *ev)
{
    emitf("{\"ev\":\"%s\",\"peer\":%d,\"inc\":%llu,\"new_life\":%s}", node_event_name(ev->type),
          ev->peer, (unsigned long long)ev->incarnation, ev->new_life ? "true" : "false");
}

static void on_done(void *arg, const struct node_fanout_result *r)
{
    emitf(
        "{\"ev\":\"done\",\"id\":%ld,\"acked\":%llu,\"unacked\":%llu,\"skipped\":%llu,\"us\":%llu}",
        (long)(intptr_t)arg, (unsigned long long)r->acked, (unsigned long long)r->unacked,
        (unsigned long long)r->skipped, (unsigned long long)r->elapsed_us);
}

static void on_got(void *arg, const struct node_get_answer *a)
{
    struct buf b = BUF_INIT;
    buf_printf(&b,
               "{\"ev\":\"got\",\"id\":%ld,\"result\":\"%s\",\"owner\":%d,\"us\":%llu,\"body\":",
               (long)(intptr_t)arg, node_get_result_name(a->result), a->owner,
               (unsigned long long)a->elapsed_us);
    json_str(&b, a->body.data, a->body.len);
    buf_append_char(&b, '}');
    emit(&b);
}

/* ---- commands (main thread) ---- */

static size_t split(char *line, char **w, size_t max)
{
    size_t n = 0;
    for (char *t = strtok(line, " \t\r\n"); t && n < max; t = strtok(NULL, " \t\r\n"))
        w[n++] = t;
    return n;
}

static int fanout(char **w, size_t n)
{
    void *id = (void *)(intptr_t)atol(w[1]);
    struct peer_bytes keys[32];
    size_t nkeys = 0;
    for (size_t i = 3; i < n && nkeys < 32; i++)
        keys[nkeys++] = (struct peer_bytes){(const uint8_t *)w[i], strlen(w[i])};
    if (strcmp(w[0], "invalidate") == 0)
        return node_invalidate(node, w[2], strlen(w[2]), keys, nkeys, 0, on_done, id);
    if (strcmp(w[0], "tag") == 0)
        return node_tag(node, w[2], strlen(w[2]), keys, nkeys, 0, on_done, id);
    return node_forget(node, w[2], strlen(w[2]), PEER_FORGET_ITEMS | PEER_FORGET_QUERIES, 0,
                       on_done, id);
}

static void owner(const char *table, const char *key)
{
    struct buf rk = BUF_INIT;
    buf_append(&rk, table, strlen(table) + 1); /* the NUL included */
    buf_append_str(&rk, key);
    int o = node_owner_of_key(node, rk.data, rk.len);
    buf_free(&rk);
    struct buf b = BUF_INIT;
    buf_append_str(&b, "{\"ev\":\"owner\",\"key\":");
    json_str(&b, key, strlen(key));
    buf_printf(&b, ",\"owner\":%d}", o);
    emit(&b);
}

/* Returns false on quit. */
static bool command(char *line)
{
    char *w[40];
    size_t n = split(line, w, 40);
    int rc = 0;
    if (n == 0) return true;
    if (strcmp(w[0], "quit") == 0) return false;
    if (strcmp(w[0], "status") == 0) {
        emitf("{\"ev\":\"status\",\"self\":%d,\"live\":%llu,\"degraded\":%s,\"inc\":%llu}",
              node_self(node), (unsigned long long)node_live(node),
              node_degraded(node) ? "true" : "false", (unsigned long long)node_incarnation(node));
    } else if (strcmp(w[0], "owner") == 0 && n == 3) {
        owner(w[1], w[2]);
    } else if (strcmp(w[0], "get") == 0 && n == 4) {
        const char *req = "{}";
        rc = node_get(node, w[2], strlen(w[2]), w[3], strlen(w[3]), req, 2, 0, on_got,
                      (void *)(intptr_t)atol(w[1]));
    } else if ((!strcmp(w[0], "invalidate") || !strcmp(w[0], "tag") || !strcmp(w[0], "forget")) &&
               n >= 3) {
        rc = fanout(w, n);
    } else {
        emitf("{\"ev\":\"error\",\"what\":\"unknown command\"}");
    }
    if (rc < 0) emitf("{\"ev\":\"error\",\"what\":\"refused\",\"rc\":%d}", rc);
    return true;
}

/* Reads commands until quit, EOF, SIGTERM or SIGINT. */
static void serve(int sigfd)
{
    char line[4096];
    size_t len = 0;
    for (;;) {
        struct pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {sigfd, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) continue;
        if (fds[1].revents) return;
        ssize_t r = read(STDIN_FILENO, line + len, sizeof(line) - 1 - len);
        if (r <= 0) return;
        len += (size_t)r;
        char *nl;
        while ((nl = memchr(line, '\n', len))) {
            *nl = '\0';
            if (!command(line)) return;
            len -= (size_t)(nl + 1 - line);
            memmove(line, nl + 1, len);
        }
        if (len == sizeof(line) - 1) len = 0; /* a line too long: dropped */
    }
}

int main(int argc, char **argv)
{
    struct config cfg;
    char err[512];
    if (config_parse(&cfg, argc, argv, environ, stderr, err, sizeof(err)) != CONFIG_OK) {
        fprintf(stderr, "cluster_node: %s\n", err);
        return 2;
    }
    log_set_level_name(cfg.log_level);
    struct node_options o;
    struct buf secret = BUF_INIT;
    if (node_options_from_config(&o, &cfg, &secret, err, sizeof(err)) < 0 || !*cfg.peers) {
        fprintf(stderr, "cluster_node: %s\n", *cfg.peers ? err : "--peers is needed");
        return 2;
    }
    /* signals go to the signalfd, in every thread (the node's inherits the mask) */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
    struct node_handlers h = {.invalidate = on_invalidate,
                              .tag = on_tag,
                              .forget = on_forget,
                              .get = on_get,
                              .event = on_event};
    node = node_start(&o, &h, err, sizeof(err));
    buf_free(&secret);
    if (!node) {
        fprintf(stderr, "cluster_node: %s\n", err);
        return 1;
    }
    emitf("{\"ev\":\"started\",\"self\":%d,\"inc\":%llu}", node_self(node),
          (unsigned long long)node_incarnation(node));
    serve(sigfd);
    node_stop(node, NODE_STOP_BYE);
    emitf("{\"ev\":\"stopped\"}");
    close(sigfd);
    config_free(&cfg);
    return 0;
}
