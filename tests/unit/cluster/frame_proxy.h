/*
 * frame_proxy.h: a TCP proxy for peer links in tests (header-only, like
 * testutil.h). It stands at a node's address in the --peers list and
 * forwards each connection to the node's real listener frame by frame
 * (4-byte length prefix, spec 4.1), keeping a copy of every frame it
 * forwarded, so a test can replay a recorded frame into the live stream at a
 * frame boundary, as someone on the network would.
 *
 * One thread runs poll() over the listener and every connection pair;
 * writes to the node's side are under a mutex, so an injected frame never
 * lands inside a forwarded one.
 */
#ifndef DDBX_TESTS_FRAME_PROXY_H
#define DDBX_TESTS_FRAME_PROXY_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROXY_PAIRS 8
#define PROXY_FRAMES 4096

struct proxy_frame {
    uint8_t *bytes; /* length prefix included */
    size_t len;
    int pair;
};

struct frame_proxy {
    int listen_fd, target_port, wake[2];
    pthread_t thread;
    pthread_mutex_t mu;
    bool stop;
    bool hold; /* under mu: keep what the client sends, forward it on release */
    struct {
        int client, server; /* -1: unused */
        uint8_t *in;        /* client bytes not yet a whole frame */
        size_t in_len;
    } pair[PROXY_PAIRS];
    struct proxy_frame frame[PROXY_FRAMES];
    int nframes;
};

static inline int proxy_listen_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    return ntohs(a.sin_port);
}

static inline int proxy_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline bool proxy_write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w <= 0) return false;
        p += w, len -= (size_t)w;
    }
    return true;
}

static inline void proxy_close_pair(struct frame_proxy *x, int i)
{
    close(x->pair[i].client);
    close(x->pair[i].server);
    x->pair[i].client = x->pair[i].server = -1;
    free(x->pair[i].in);
    x->pair[i].in = NULL;
    x->pair[i].in_len = 0;
}

/* Forwards every whole frame buffered from pair i's client, recording it. */
static inline void proxy_forward(struct frame_proxy *x, int i)
{
    size_t off = 0;
    uint8_t *in = x->pair[i].in;
    pthread_mutex_lock(&x->mu);
    bool hold = x->hold;
    pthread_mutex_unlock(&x->mu);
    while (!hold && x->pair[i].in_len - off >= 4) {
        size_t flen = 4 + ((size_t)in[off] << 24 | (size_t)in[off + 1] << 16 |
                           (size_t)in[off + 2] << 8 | in[off + 3]);
        if (x->pair[i].in_len - off < flen) break;
        pthread_mutex_lock(&x->mu);
        proxy_write_all(x->pair[i].server, in + off, flen);
        if (x->nframes < PROXY_FRAMES) {
            struct proxy_frame *f = &x->frame[x->nframes++];
            f->bytes = malloc(flen);
            memcpy(f->bytes, in + off, flen);
            f->len = flen;
            f->pair = i;
        }
        pthread_mutex_unlock(&x->mu);
        off += flen;
    }
    memmove(in, in + off, x->pair[i].in_len - off);
    x->pair[i].in_len -= off;
}

static inline void proxy_accept(struct frame_proxy *x)
{
    int c = accept(x->listen_fd, NULL, NULL);
    if (c < 0) return;
    int s = proxy_connect(x->target_port);
    for (int i = 0; i < PROXY_PAIRS && s >= 0; i++)
        if (x->pair[i].client < 0) {
            x->pair[i].client = c, x->pair[i].server = s;
            x->pair[i].in = malloc(8 << 20);
            return;
        }
    close(c);
    if (s >= 0) close(s);
}

static inline void *proxy_run(void *arg)
{
    struct frame_proxy *x = arg;
    while (!__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE)) {
        struct pollfd fds[2 + 2 * PROXY_PAIRS];
        int nfds = 0, who[2 + 2 * PROXY_PAIRS];
        fds[nfds] = (struct pollfd){x->wake[0], POLLIN, 0}, who[nfds++] = -2;
        fds[nfds] = (struct pollfd){x->listen_fd, POLLIN, 0}, who[nfds++] = -1;
        for (int i = 0; i < PROXY_PAIRS; i++) {
            if (x->pair[i].client < 0) continue;
            fds[nfds] = (struct pollfd){x->pair[i].client, POLLIN, 0}, who[nfds++] = i;
            fds[nfds] = (struct pollfd){x->pair[i].server, POLLIN, 0}, who[nfds++] = 100 + i;
        }
        if (poll(fds, (nfds_t)nfds, 100) <= 0) continue;
        for (int k = 0; k < nfds; k++) {
            if (!fds[k].revents) continue;
            if (who[k] == -1) proxy_accept(x);
            if (who[k] == -2) { /* released: forward what was held */
                char b;
                if (read(x->wake[0], &b, 1) < 0) continue;
                for (int i = 0; i < PROXY_PAIRS; i++)
                    if (x->pair[i].client >= 0) proxy_forward(x, i);
            }
            if (who[k] < 0) continue;
            int i = who[k] % 100;
            if (x->pair[i].client < 0) continue;
            uint8_t tmp[65536];
            bool from_server = who[k] >= 100;
            ssize_t r = read(from_server ? x->pair[i].server : x->pair[i].client, tmp, sizeof(tmp));
            if (r <= 0 || from_server) { /* an acceptor never writes: only EOF comes back */
                if (r <= 0) proxy_close_pair(x, i);
                continue;
            }
            memcpy(x->pair[i].in + x->pair[i].in_len, tmp, (size_t)r);
            x->pair[i].in_len += (size_t)r;
            proxy_forward(x, i);
        }
    }
    return NULL;
}

/* Listens on a free loopback port (returned) and forwards to target_port. */
static inline int proxy_start(struct frame_proxy *x, int target_port)
{
    memset(x, 0, sizeof(*x));
    for (int i = 0; i < PROXY_PAIRS; i++)
        x->pair[i].client = x->pair[i].server = -1;
    x->target_port = target_port;
    pthread_mutex_init(&x->mu, NULL);
    if (pipe(x->wake) < 0) return -1;
    x->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(x->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(x->listen_fd, 8) < 0)
        return -1;
    pthread_create(&x->thread, NULL, proxy_run, x);
    return proxy_listen_port(x->listen_fd);
}

/* Sends bytes to the node over a live connection (tests have one), at a
 * frame boundary. */
static inline bool proxy_inject(struct frame_proxy *x, const uint8_t *bytes, size_t len)
{
    pthread_mutex_lock(&x->mu);
    bool ok = false;
    for (int i = PROXY_PAIRS - 1; i >= 0 && !ok; i--)
        if (x->pair[i].server >= 0) ok = proxy_write_all(x->pair[i].server, bytes, len);
    pthread_mutex_unlock(&x->mu);
    return ok;
}

/* Holds the client's frames (as a link that is down holds TCP segments),
 * or releases them in order. */
static inline void proxy_hold(struct frame_proxy *x, bool hold)
{
    pthread_mutex_lock(&x->mu);
    x->hold = hold;
    pthread_mutex_unlock(&x->mu);
    if (!hold && write(x->wake[1], "r", 1) < 0) { /* the next read forwards them anyway */
    }
}

static inline void proxy_stop(struct frame_proxy *x)
{
    __atomic_store_n(&x->stop, true, __ATOMIC_RELEASE);
    if (write(x->wake[1], "x", 1) < 0) { /* poll's timeout ends the loop anyway */
    }
    pthread_join(x->thread, NULL);
    for (int i = 0; i < PROXY_PAIRS; i++)
        if (x->pair[i].client >= 0) proxy_close_pair(x, i);
    for (int i = 0; i < x->nframes; i++)
        free(x->frame[i].bytes);
    close(x->listen_fd);
    close(x->wake[0]);
    close(x->wake[1]);
    pthread_mutex_destroy(&x->mu);
}

#endif
