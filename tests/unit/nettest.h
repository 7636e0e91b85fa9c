/*
 * nettest.h: loopback sockets for the unit tests that drive a module over
 * real TCP (net/conn.c, net/worker.c, backend/backend.c): listening and
 * connecting on 127.0.0.1, and HTTP/1.1 messages framed by Content-Length,
 * enough to play the client or a stub server. Header-only, like testutil.h.
 */
#ifndef DDBX_TESTS_NETTEST_H
#define DDBX_TESTS_NETTEST_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "testutil.h"

#define NETTEST_BUF (1 << 16)

/* A socket listening on 127.0.0.1 at a port the kernel picks (*port). */
static inline int nettest_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 64), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A port nothing listens on (bound once, then closed). */
static inline int nettest_free_port(void)
{
    int port;
    close(nettest_listen(&port));
    return port;
}

/* Replaces the owned string *option (a struct config address) with fmt
 * formatted with port ("localhost:%d"). */
static inline void nettest_set_address(char **option, const char *fmt, int port)
{
    char s[160];
    snprintf(s, sizeof(s), fmt, port);
    free(*option);
    *option = strdup(s);
}

/* A connection to 127.0.0.1:port whose reads give up after timeout_ms. */
static inline int nettest_connect(int port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static inline void nettest_send(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        data += n;
        len -= (size_t)n;
    }
}

#define nettest_send_str(fd, s) nettest_send((fd), (s), strlen(s))

/* One HTTP message: its head (start line and headers, NUL-terminated) and
 * body, copied out of the stream. */
struct nettest_msg {
    char head[4096];
    char body[NETTEST_BUF];
    size_t body_len;
    int status; /* of a response; 0 for a request */
};

/* Bytes received on one connection and not yet taken as messages. */
struct nettest_stream {
    int fd;
    char buf[NETTEST_BUF * 2];
    size_t len;
};

/* The value of header `name` in a message head (copied to out), or NULL. */
static inline const char *nettest_header(const char *head, const char *name, char *out,
                                         size_t outlen)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1, *end = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            size_t vl = end ? (size_t)(end - v) : strlen(v);
            snprintf(out, outlen, "%.*s", (int)vl, v);
            return out;
        }
    }
    return NULL;
}

/* Takes one whole message from the front of s->buf into m: the number of
 * bytes it took, or 0 when the message is not complete yet. A 100 Continue
 * has no body. */
static inline size_t nettest_take(struct nettest_stream *s, struct nettest_msg *m)
{
    char *end = memmem(s->buf, s->len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head_len = (size_t)(end - s->buf) + 4;
    assert_true(head_len < sizeof(m->head));
    memcpy(m->head, s->buf, head_len);
    m->head[head_len] = '\0';
    char cl[32];
    size_t body_len = 0;
    if (nettest_header(m->head, "content-length", cl, sizeof(cl))) body_len = strtoul(cl, NULL, 10);
    m->status = strncmp(m->head, "HTTP/1.", 7) == 0 ? atoi(m->head + 9) : 0;
    if (m->status == 100) body_len = 0;
    if (s->len < head_len + body_len) return 0;
    assert_true(body_len < sizeof(m->body));
    memcpy(m->body, s->buf + head_len, body_len);
    m->body[body_len] = '\0';
    m->body_len = body_len;
    size_t used = head_len + body_len;
    memmove(s->buf, s->buf + used, s->len - used);
    s->len -= used;
    return used;
}

/* Receives once into s (blocking, up to the socket's timeout): bytes read,
 * 0 at EOF, -1 on a timeout or an error. */
static inline ssize_t nettest_recv(struct nettest_stream *s)
{
    assert_true(s->len < sizeof(s->buf));
    ssize_t n = recv(s->fd, s->buf + s->len, sizeof(s->buf) - s->len, 0);
    if (n > 0) s->len += (size_t)n;
    return n;
}

/* Reads until a whole message is in m: true, or false at EOF, timeout or
 * error before it was whole. */
static inline bool nettest_read_msg(struct nettest_stream *s, struct nettest_msg *m)
{
    while (!nettest_take(s, m))
        if (nettest_recv(s) <= 0) return false;
    return true;
}

/* True when the peer closed the connection (EOF, or a reset) with nothing
 * more to read within the socket's timeout. */
static inline bool nettest_closed(struct nettest_stream *s)
{
    size_t before = s->len;
    ssize_t n = nettest_recv(s);
    if (n == 0) return s->len == before;
    return n < 0 && errno == ECONNRESET;
}

static inline uint64_t nettest_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
