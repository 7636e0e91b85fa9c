/*
 * test_conn.c: the connection state machine (net/conn.h) driven through
 * real loopback sockets. A libuv loop in a thread of this test accepts into
 * a conn_pool whose service is a stub: it answers with the path it was asked
 * for, echoes a body, or answers later from a timer. Checked: keep-alive and
 * HTTP/1.0 closing, pipelined requests answered in order and one at a time,
 * 413 before the body is sent, 400 for garbage, 100-continue, idle and
 * header timeouts, the connection cap, a client leaving while its request is
 * served, and a graceful stop; the lingering close after a refusal (a client
 * that sends a whole 17 MiB body before reading reads its 413; the bytes
 * discarded are bounded). Over TLS (net/tls.h, an OpenSSL client):
 * requests on a kept-alive connection, the connection cap answered after the
 * handshake, a client that leaves or stalls mid-handshake, plain HTTP sent
 * to the TLS port. And without a socket: the reason phrase of every status,
 * from proto/http_status.tsv.
 */
#include "nettest.h"
#include "tlstest.h"

#include <pthread.h>
#include <uv.h>
#include <zlib.h>

#include "config/config.h"
#include "metrics/metrics.h"
#include "net/conn.h"
#include "net/tls.h"
#include "util/common.h"

struct server {
    uv_loop_t loop;
    struct sock_listener listener;
    uv_async_t stop;
    struct conn_pool pool;
    struct config cfg;
    uint64_t max_connections;
    struct tls_server *tls;
    pthread_t tid;
    struct metrics *metrics; /* the loop thread's block */
    int port;
    pthread_mutex_t lock;
    pthread_cond_t ready;
    bool started;
    int served;    /* requests the stub saw */
    int in_flight; /* requests the stub has not answered yet */
    int max_in_flight;
    char log[1024]; /* "METHOD /path\n" per request, in the order served */
};

static struct server srv;

/* An answer the stub sends later, from a timer. */
struct later {
    uv_timer_t timer;
    struct request *r;
};

static void answer(struct request *r, int status)
{
    pthread_mutex_lock(&srv.lock);
    srv.in_flight--;
    pthread_mutex_unlock(&srv.lock);
    request_send(r, status);
}

static void on_later(uv_timer_t *t)
{
    struct later *l = t->data;
    answer(l->r, 200);
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

/* The stub service: "/echo" answers the body, "/delay/N" answers its path
 * after N ms, "/status/N" answers status N, any other path itself. */
static void serve_stub(struct conn *c, struct request *r, const struct http_request *h)
{
    const char *path = h->url.data ? h->url.data : "";
    pthread_mutex_lock(&srv.lock);
    srv.served++;
    srv.in_flight++;
    srv.max_in_flight = MAX(srv.max_in_flight, srv.in_flight);
    size_t used = strlen(srv.log);
    snprintf(srv.log + used, sizeof(srv.log) - used, "%s %s\n", http_request_method(h), path);
    pthread_mutex_unlock(&srv.lock);
    if (strcmp(path, "/echo") == 0) {
        buf_append(&r->reply, r->body, r->body_len);
        answer(r, 200);
    } else if (strncmp(path, "/delay/", 7) == 0) {
        buf_append_str(&r->reply, path);
        struct later *l = xcalloc(1, sizeof(*l));
        l->r = r;
        uv_timer_init(&srv.loop, &l->timer);
        l->timer.data = l;
        uv_timer_start(&l->timer, on_later, strtoull(path + 7, NULL, 10), 0);
    } else if (strncmp(path, "/status/", 8) == 0) {
        buf_append_str(&r->reply, "{}");
        answer(r, atoi(path + 8));
    } else {
        buf_append_str(&r->reply, path);
        answer(r, 200);
    }
}

static const struct service stub_service = {"stub", true, serve_stub};

static void on_connection(struct sock_listener *l, int fd)
{
    conn_accept(&srv.pool, fd);
}

static void on_stop(uv_async_t *a)
{
    sock_listener_close(&srv.listener, NULL);
    uv_close((uv_handle_t *)&srv.stop, NULL);
    conn_pool_stop(&srv.pool);
}

static void *server_main(void *arg)
{
    srv.metrics = metrics_thread_register();
    assert_int_equal(conn_pool_init(&srv.pool, &srv.loop, &stub_service, NULL, &srv.cfg), 0);
    srv.pool.max_connections = srv.max_connections;
    srv.pool.tls = srv.tls;
    uv_async_init(&srv.loop, &srv.stop, on_stop);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = sock_listen_fd((struct sockaddr *)&a, sizeof(a), false, 64);
    assert_true(fd >= 0);
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    assert_int_equal(sock_listener_start(&srv.listener, &srv.loop, fd, on_connection), 0);
    pthread_mutex_lock(&srv.lock);
    srv.port = ntohs(a.sin_port);
    srv.started = true;
    pthread_cond_signal(&srv.ready);
    pthread_mutex_unlock(&srv.lock);
    uv_run(&srv.loop, UV_RUN_DEFAULT);
    return NULL;
}

/* Starts the server with these timeouts (ms) and connection cap (0: none:
 * then connections are not counted in metrics, as on the admin port). */
static void server_start_tls(uint64_t idle_ms, uint64_t header_ms, uint64_t max_connections,
                             struct tls_server *tls)
{
    memset(&srv, 0, sizeof(srv));
    srv.tls = tls;
    config_defaults(&srv.cfg);
    srv.cfg.idle_timeout = idle_ms;
    srv.cfg.header_timeout = header_ms;
    srv.max_connections = max_connections;
    pthread_mutex_init(&srv.lock, NULL);
    pthread_cond_init(&srv.ready, NULL);
    assert_int_equal(uv_loop_init(&srv.loop), 0);
    assert_int_equal(pthread_create(&srv.tid, NULL, server_main, NULL), 0);
    pthread_mutex_lock(&srv.lock);
    while (!srv.started)
        pthread_cond_wait(&srv.ready, &srv.lock);
    pthread_mutex_unlock(&srv.lock);
}

static void server_start(uint64_t idle_ms, uint64_t header_ms, uint64_t max_connections)
{
    server_start_tls(idle_ms, header_ms, max_connections, NULL);
}

/* Waits until the server's loop has ended (every handle closed). */
static void server_join(void)
{
    pthread_join(srv.tid, NULL);
    assert_int_equal(uv_loop_close(&srv.loop), 0);
    config_free(&srv.cfg);
}

/* Stops the server gracefully and waits for it. */
static void server_stop(void)
{
    uv_async_send(&srv.stop);
    server_join();
}

static int setup(void **state)
{
    metrics_setup();
    server_start(10000, 10000, 100);
    return 0;
}

static int teardown(void **state)
{
    server_stop();
    metrics_teardown();
    return 0;
}

static int64_t metric(size_t offset)
{
    return __atomic_load_n((int64_t *)((char *)srv.metrics + offset), __ATOMIC_RELAXED);
}
#define METRIC_OF(field) metric(offsetof(struct metrics, field))

static int served(void)
{
    pthread_mutex_lock(&srv.lock);
    int n = srv.served;
    pthread_mutex_unlock(&srv.lock);
    return n;
}

static int in_flight(void)
{
    pthread_mutex_lock(&srv.lock);
    int n = srv.in_flight;
    pthread_mutex_unlock(&srv.lock);
    return n;
}

static struct nettest_stream *client(int timeout_ms)
{
    struct nettest_stream *s = calloc(1, sizeof(*s));
    s->fd = nettest_connect(srv.port, timeout_ms);
    return s;
}

static void client_close(struct nettest_stream *s)
{
    close(s->fd);
    free(s);
}

/* Reads one response and checks its framing: status, the body's length and
 * CRC-32 in the headers, a request id. Returns the status. */
static int response(struct nettest_stream *s, struct nettest_msg *m)
{
    if (!nettest_read_msg(s, m)) fail_msg("no whole response");
    char v[64];
    assert_non_null(nettest_header(m->head, "x-amzn-requestid", v, sizeof(v)));
    assert_true(strlen(v) > 10);
    assert_non_null(nettest_header(m->head, "x-amz-crc32", v, sizeof(v)));
    assert_int_equal(strtoul(v, NULL, 10), crc32(0, (const Bytef *)m->body, (uInt)m->body_len));
    assert_non_null(nettest_header(m->head, "date", v, sizeof(v)));
    return m->status;
}

static bool closes(const struct nettest_msg *m)
{
    char v[32];
    return nettest_header(m->head, "connection", v, sizeof(v)) && strcmp(v, "close") == 0;
}

static void test_keep_alive(void **state)
{
    struct nettest_stream *s = client(5000);
    struct nettest_msg *m = malloc(sizeof(*m));
    nettest_send_str(s->fd, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(response(s, m), 200);
    assert_string_equal(m->body, "/a");
    assert_false(closes(m));
    char v[64];
    assert_string_equal(nettest_header(m->head, "content-type", v, sizeof(v)),
                        "application/x-amz-json-1.0");
    /* the same connection serves the next one */
    nettest_send_str(s->fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    assert_int_equal(response(s, m), 200);
    assert_string_equal(m->body, "hello");
    nettest_send_str(s->fd, "GET /status/404 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(response(s, m), 404);
    assert_true(strncmp(m->head, "HTTP/1.1 404 ", 13) == 0);
    assert_false(closes(m));
    assert_int_equal(served(), 3);
    assert_int_equal(METRIC_OF(client_connections_accepted), 1);
    assert_int_equal(METRIC_OF(client_connections), 1);
    client_close(s);
    free(m);
}

static void test_http10_closes(void **state)
{
    struct nettest_stream *s = client(5000);
    struct nettest_msg *m = malloc(sizeof(*m));
    nettest_send_str(s->fd, "GET /old HTTP/1.0\r\n\r\n");
    assert_int_equal(response(s, m), 200);
    assert_string_equal(m->body, "/old");
    assert_true(closes(m));
    assert_true(nettest_closed(s));
    client_close(s);
    free(m);
}

/* Three requests in one write: answered in the order sent although the first
 * answer comes last from the service, and served one at a time. */
static void test_pipelining_order(void **state)
{
    struct nettest_stream *s = client(5000);
    struct nettest_msg *m = malloc(sizeof(*m));
    nettest_send_str(s->fd, "GET /delay/150 HTTP/1.1\r\nHost: x\r\n\r\n"
                            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                            "GET /delay/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                            "GET /last HTTP/1.1\r\nHost: x\r\n\r\n");
    static const char *const want[] = {"/delay/150", "abc", "/delay/1", "/last"};
    for (size_t i = 0; i < ARRAY_LEN(want); i++) {
        assert_int_equal(response(s, m), 200);
        assert_string_equal(m->body, want[i]);
    }
    pthread_mutex_lock(&srv.lock);
    assert_string_equal(srv.log, "GET /delay/150\nPOST /echo\nGET /delay/1\nGET /last\n");
    assert_int_equal(srv.max_in_flight, 1);
    pthread_mutex_unlock(&srv.lock);
    client_close(s);
    free(m);
}

/* A Content-Length over 16 MiB is refused at the headers: the 413 comes
 * without a byte of the body sent, and the connection closes. */
static void test_413_before_the_body(void **state)
{
    struct nettest_stream *s = client(3000);
    struct nettest_msg *m = malloc(sizeof(*m));
    nettest_send_str(s->fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 16777217\r\n\r\n");
    assert_int_equal(response(s, m), 413);
    assert_contains(m->body, "RequestEntityTooLarge");
    assert_true(closes(m));
    assert_true(nettest_closed(s));
    assert_int_equal(served(), 0);
    assert_int_equal(METRIC_OF(http_errors), 1);
    client_close(s);
    /* exactly 16 MiB is let through to the service */
    s = client(20000);
    nettest_send_str(s->fd, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 16777216\r\n\r\n");
    char *body = calloc(1, 16777216);
    nettest_send(s->fd, body, 16777216);
    free(body);
    assert_int_equal(response(s, m), 200);
    assert_string_equal(m->body, "/x");
    client_close(s);
    free(m);
}

/* A client that sends its whole body before reading, as many do: the 413
 * goes out at the headers, and the rest of the body is read and dropped
 * (lingering close), so the client's sending does not fail and it reads
 * the answer. Closing at once would reset the connection under it. */
static void test_413_read_by_a_client_that_sends_everything(void **state)
{
    struct nettest_stream *s = client(10000);
    size_t len = 17u * 1024 * 1024;
    char head[128];
    snprintf(head, sizeof(head), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
             len);
    nettest_send_str(s->fd, head);
    char *body = calloc(1, len);
    nettest_send(s->fd, body, len); /* asserts every byte went */
    free(body);
    struct nettest_msg *m = malloc(sizeof(*m));
    assert_int_equal(response(s, m), 413);
    assert_contains(m->body, "RequestEntityTooLarge");
    assert_true(nettest_closed(s));
    assert_int_equal(METRIC_OF(http_lingering_closes), 1);
    client_close(s);
    free(m);
}

/* The lingering is bounded: past 64 MiB the connection is closed. */
static void test_linger_is_bounded(void **state)
{
    struct nettest_stream *s = client(10000);
    nettest_send_str(s->fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 900000000\r\n\r\n");
    size_t chunk = 1 << 20, sent = 0;
    char *zeros = calloc(1, chunk);
    for (;;) {
        ssize_t n = send(s->fd, zeros, chunk, MSG_NOSIGNAL);
        if (n < 0) break;
        sent += (size_t)n;
        assert_true(sent < 200u * 1024 * 1024);
    }
    free(zeros);
    assert_true(sent >= 64u * 1024 * 1024);
    assert_true(errno == EPIPE || errno == ECONNRESET);
    client_close(s);
}

static void test_garbage_is_400(void **state)
{
    struct nettest_stream *s = client(3000);
    struct nettest_msg *m = malloc(sizeof(*m));
    nettest_send_str(s->fd, "NOT HTTP AT ALL\r\n\r\n");
    assert_int_equal(response(s, m), 400);
    assert_true(closes(m));
    assert_true(nettest_closed(s));
    assert_int_equal(served(), 0);
    assert_int_equal(METRIC_OF(http_errors), 1);
    client_close(s);
    free(m);
}

static void test_100_continue(void **state)
{
    struct nettest_stream *s = client(3000);
    struct nettest_msg *m = malloc(sizeof(*m));
    nettest_send_str(s->fd, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                            "Content-Length: 5\r\n\r\n");
    assert_true(nettest_read_msg(s, m));
    assert_int_equal(m->status, 100);
    assert_int_equal(served(), 0); /* not before the body */
    nettest_send_str(s->fd, "hello");
    assert_int_equal(response(s, m), 200);
    assert_string_equal(m->body, "hello");
    client_close(s);
    free(m);
}

static void test_idle_timeout(void **state)
{
    server_stop();
    server_start(150, 10000, 100);
    /* a connection that never sends */
    struct nettest_stream *s = client(5000);
    uint64_t t0 = nettest_now_ms();
    assert_true(nettest_closed(s));
    uint64_t took = nettest_now_ms() - t0;
    assert_true(took >= 100 && took < 3000);
    client_close(s);
    /* and one idle after an answer */
    struct nettest_msg *m = malloc(sizeof(*m));
    s = client(5000);
    nettest_send_str(s->fd, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(response(s, m), 200);
    t0 = nettest_now_ms();
    assert_true(nettest_closed(s));
    assert_true(nettest_now_ms() - t0 < 3000);
    assert_int_equal(METRIC_OF(client_timeouts), 2);
    client_close(s);
    free(m);
}

/* Headers that take too long close the connection, though it is not idle. */
static void test_header_timeout(void **state)
{
    server_stop();
    server_start(10000, 150, 100);
    struct nettest_stream *s = client(5000);
    uint64_t t0 = nettest_now_ms();
    nettest_send_str(s->fd, "GET /slow HTTP/1.1\r\nHost: x\r\n");
    assert_true(nettest_closed(s));
    uint64_t took = nettest_now_ms() - t0;
    assert_true(took >= 100 && took < 3000);
    assert_int_equal(served(), 0);
    assert_int_equal(METRIC_OF(client_timeouts), 1);
    client_close(s);
}

static void test_connection_cap(void **state)
{
    server_stop();
    server_start(10000, 10000, 1);
    struct nettest_stream *first = client(3000), *second = client(3000);
    struct nettest_msg *m = malloc(sizeof(*m));
    assert_true(nettest_read_msg(second, m));
    assert_int_equal(m->status, 400); /* DynamoDB's ThrottlingException: SDKs back off */
    assert_contains(m->body, "ThrottlingException");
    assert_true(nettest_closed(second));
    /* the first is served as usual */
    nettest_send_str(first->fd, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(response(first, m), 200);
    assert_int_equal(METRIC_OF(client_connections_refused), 1);
    assert_int_equal(METRIC_OF(client_connections_accepted), 2);
    client_close(first);
    client_close(second);
    free(m);
}

/* A client that leaves while its request waits: the answer, when it comes,
 * goes nowhere, and the connection is freed (ASan would see a use after
 * free or a leak). */
static void test_client_leaves_mid_request(void **state)
{
    struct nettest_stream *s = client(3000);
    nettest_send_str(s->fd, "GET /delay/100 HTTP/1.1\r\nHost: x\r\n\r\n");
    uint64_t deadline = nettest_now_ms() + 5000;
    while (served() < 1)
        assert_true(nettest_now_ms() < deadline);
    client_close(s);
    while (in_flight() > 0 || METRIC_OF(client_connections) > 0) {
        assert_true(nettest_now_ms() < deadline);
        usleep(1000);
    }
    assert_int_equal(METRIC_OF(client_connections_accepted), 1);
}

/* Stopping: an idle connection closes at once; a busy one gets its answer,
 * marked Connection: close, then closes; the loop ends. */
static void test_stop_finishes_busy_requests(void **state)
{
    struct nettest_stream *idle = client(3000), *busy = client(3000);
    struct nettest_msg *m = malloc(sizeof(*m));
    nettest_send_str(busy->fd, "GET /delay/200 HTTP/1.1\r\nHost: x\r\n\r\n");
    uint64_t deadline = nettest_now_ms() + 5000;
    while (served() < 1)
        assert_true(nettest_now_ms() < deadline);
    uv_async_send(&srv.stop);
    assert_true(nettest_closed(idle));
    assert_int_equal(response(busy, m), 200);
    assert_string_equal(m->body, "/delay/200");
    assert_true(closes(m));
    assert_true(nettest_closed(busy));
    server_join();
    client_close(idle);
    client_close(busy);
    free(m);
    server_start(10000, 10000, 100); /* for teardown */
}

static void test_reasons_match_tsv(void **state)
{
    struct tsv t;
    tsv_load(&t, PROTO_DIR "/http_status.tsv");
    assert_true(t.nrows >= 10);
    for (int i = 0; i < t.nrows; i++) {
        assert_int_equal(t.ncols[i], 2);
        assert_string_equal(conn_reason(atoi(t.col[i][0])), t.col[i][1]);
    }
    tsv_free(&t);
    /* the admin port's refusal of other methods, once "405 Bad Request" */
    assert_string_equal(conn_reason(405), "Method Not Allowed");
    /* a status without a row gets its class's: relayed backend statuses stay readable */
    assert_string_equal(conn_reason(429), "Bad Request");
    assert_string_equal(conn_reason(502), "Internal Server Error");
    assert_string_equal(conn_reason(204), "OK");
}

/* ---- over TLS ---- */

static struct tlstest_cert tls_cert;
static struct tls_server *tls_srv;
static SSL_CTX *tls_client_ctx;
static struct tmpdir tls_dir;

static int setup_tls(void **state)
{
    metrics_setup();
    tmpdir_create(&tls_dir);
    tlstest_cert_make(&tls_cert, "conn.test");
    const char *cert = tmpdir_write(&tls_dir, "cert.pem", tls_cert.cert_pem);
    const char *key = tmpdir_write(&tls_dir, "key.pem", tls_cert.key_pem);
    struct buf err = BUF_INIT;
    if (tls_server_create(cert, key, &tls_srv, &err) != DDBX_OK) fail_msg("%s", err.data);
    buf_free(&err);
    tls_client_ctx = tlstest_client_ctx(&tls_cert, 0, 0);
    server_start_tls(10000, 150, 1, tls_srv);
    return 0;
}

static int teardown_tls(void **state)
{
    server_stop();
    SSL_CTX_free(tls_client_ctx);
    tls_server_destroy(tls_srv);
    tlstest_cert_free(&tls_cert);
    tmpdir_remove(&tls_dir);
    metrics_teardown();
    return 0;
}

struct tls_client {
    struct nettest_stream s;
    SSL *ssl;
};

static struct tls_client *tls_connect(void)
{
    struct tls_client *t = calloc(1, sizeof(*t));
    t->s.fd = nettest_connect(srv.port, 5000);
    t->ssl = SSL_new(tls_client_ctx);
    SSL_set_fd(t->ssl, t->s.fd);
    if (SSL_connect(t->ssl) != 1)
        fail_msg("TLS handshake: %s", ERR_error_string(ERR_get_error(), NULL));
    return t;
}

static void tls_close(struct tls_client *t)
{
    SSL_free(t->ssl);
    close(t->s.fd);
    free(t);
}

/* Reads one response over TLS: false at the end of the stream. */
static bool tls_read_msg(struct tls_client *t, struct nettest_msg *m)
{
    while (!nettest_take(&t->s, m)) {
        int n = SSL_read(t->ssl, t->s.buf + t->s.len, (int)(sizeof(t->s.buf) - t->s.len));
        if (n <= 0) return false;
        t->s.len += (size_t)n;
    }
    return true;
}

static void tls_send(struct tls_client *t, const char *text)
{
    assert_int_equal(SSL_write(t->ssl, text, (int)strlen(text)), (int)strlen(text));
}

static void test_tls_requests(void **state)
{
    struct tls_client *t = tls_connect();
    struct nettest_msg *m = malloc(sizeof(*m));
    tls_send(t, "GET /over-tls HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(tls_read_msg(t, m));
    assert_int_equal(m->status, 200);
    assert_string_equal(m->body, "/over-tls");
    /* pipelined, one of them answered later */
    tls_send(t, "GET /delay/50 HTTP/1.1\r\nHost: x\r\n\r\n"
                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    assert_true(tls_read_msg(t, m));
    assert_string_equal(m->body, "/delay/50");
    assert_true(tls_read_msg(t, m));
    assert_string_equal(m->body, "hello");
    assert_int_equal(METRIC_OF(tls_handshakes), 1);
    free(m);
    tls_close(t);
}

/* Past --max-connections (1 here) a TLS client gets its ThrottlingException
 * once the handshake is done, then the end of the stream. */
static void test_tls_over_the_cap(void **state)
{
    struct tls_client *first = tls_connect(), *second = tls_connect();
    struct nettest_msg *m = malloc(sizeof(*m));
    assert_true(tls_read_msg(second, m));
    assert_int_equal(m->status, 400);
    assert_contains(m->body, "ThrottlingException");
    assert_false(tls_read_msg(second, m));
    tls_send(first, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(tls_read_msg(first, m));
    assert_string_equal(m->body, "/first");
    assert_int_equal(METRIC_OF(client_connections_refused), 1);
    free(m);
    tls_close(first);
    tls_close(second);
}

/* A client that leaves mid-handshake is freed; one that stalls there is
 * closed after the header timeout (150 ms here); plain HTTP to the TLS port
 * fails the handshake and is closed. */
static void test_tls_broken_handshakes(void **state)
{
    struct nettest_stream *s = client(3000);
    nettest_send_str(s->fd,
                     "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"); /* a ClientHello's start */
    client_close(s);
    uint64_t deadline = nettest_now_ms() + 5000;
    while (METRIC_OF(client_connections) > 0)
        assert_true(nettest_now_ms() < deadline);
    s = client(3000);
    uint64_t t0 = nettest_now_ms();
    nettest_send_str(s->fd, "\x16\x03\x01");
    assert_true(nettest_closed(s));
    assert_true(nettest_now_ms() - t0 >= 100);
    assert_int_equal(METRIC_OF(client_timeouts), 1);
    client_close(s);
    s = client(3000);
    nettest_send_str(s->fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(nettest_closed(s));
    assert_int_equal(METRIC_OF(tls_failures), 1);
    assert_int_equal(METRIC_OF(tls_handshakes), 0);
    assert_int_equal(served(), 0);
    client_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keep_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http10_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelining_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_413_before_the_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_413_read_by_a_client_that_sends_everything, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_linger_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_is_400, setup, teardown),
        cmocka_unit_test_setup_teardown(test_100_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_leaves_mid_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_finishes_busy_requests, setup, teardown),
        cmocka_unit_test(test_reasons_match_tsv),
        cmocka_unit_test_setup_teardown(test_tls_requests, setup_tls, teardown_tls),
        cmocka_unit_test_setup_teardown(test_tls_over_the_cap, setup_tls, teardown_tls),
        cmocka_unit_test_setup_teardown(test_tls_broken_handshakes, setup_tls, teardown_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
