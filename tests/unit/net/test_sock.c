/*
 * test_sock.c: net/sock.h's edge-triggered sockets on a libuv loop, driven
 * through Unix socket pairs (the peer end is a plain blocking or
 * non-blocking descriptor of this test) and a loopback listener. Checked:
 * sockets are read in the order their bytes arrived, also when one read in
 * the last round was written to again first (what level-triggered epoll
 * gets wrong); a read stopped and started again finds the bytes that came
 * meanwhile, from the loop and not from the start call; bytes and the end
 * of stream arriving together are both read; a socket holding more than the
 * per-event read budget is read to the end without new bytes; a queued
 * write goes out whole, in order, after the bytes written directly, and its
 * callback runs from the loop; closing cancels queued writes; a shutdown
 * waits for the queue; the listener accepts non-blocking descriptors, and
 * out of descriptors stops polling for a moment instead of spinning.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <uv.h>

#include "net/sock.h"

#define NSOCKS 3

static uv_loop_t loop;
static struct sock_loop sl;
static struct sock socks[NSOCKS];
static int peers[NSOCKS];
static char got[NSOCKS][8192];
static size_t got_len[NSOCKS];
static int eofs[NSOCKS];
static char order[64]; /* the index of each socket, in the order its reads came */
static size_t alloc_size;
static char rbuf[65536];

static void on_alloc(struct sock *s, uv_buf_t *out)
{
    *out = uv_buf_init(rbuf, (unsigned)alloc_size);
}

static void on_read(struct sock *s, ssize_t n)
{
    int i = (int)(s - socks);
    if (n < 0) {
        assert_int_equal(n, UV_EOF);
        eofs[i]++;
        return;
    }
    assert_true(got_len[i] + (size_t)n <= sizeof(got[i]));
    memcpy(got[i] + got_len[i], rbuf, (size_t)n);
    got_len[i] += (size_t)n;
    size_t o = strlen(order);
    if (o + 1 < sizeof(order)) order[o] = (char)('0' + i);
}

static int setup(void **state)
{
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(sock_loop_init(&sl, &loop), 0);
    memset(got_len, 0, sizeof(got_len));
    memset(eofs, 0, sizeof(eofs));
    memset(order, 0, sizeof(order));
    alloc_size = sizeof(rbuf);
    for (int i = 0; i < NSOCKS; i++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
        assert_int_equal(sock_open(&socks[i], &sl, sv[0]), 0);
        peers[i] = sv[1];
        sock_read_start(&socks[i], on_alloc, on_read);
    }
    uv_run(&loop, UV_RUN_NOWAIT); /* each socket's first edge: writable */
    return 0;
}

static int teardown(void **state)
{
    for (int i = 0; i < NSOCKS; i++) {
        sock_close(&socks[i]);
        close(peers[i]);
    }
    sock_loop_close(&sl);
    uv_run(&loop, UV_RUN_DEFAULT); /* the poll handle's close */
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

/* One turn of the loop (the sockets' poll is ready when something is). */
static void turn(void)
{
    uv_run(&loop, UV_RUN_NOWAIT);
}

static void peer_send(int i, const char *s)
{
    assert_int_equal(write(peers[i], s, strlen(s)), (ssize_t)strlen(s));
}

static void test_reads_in_arrival_order(void **state)
{
    peer_send(2, "c");
    peer_send(0, "a");
    peer_send(1, "b");
    turn();
    assert_string_equal(order, "201");
    /* socket 0 was read first last time and is written to again last: a
     * level-triggered list would still put it first */
    memset(order, 0, sizeof(order));
    peer_send(1, "B");
    peer_send(2, "C");
    peer_send(0, "A");
    turn();
    assert_string_equal(order, "120");
    assert_int_equal(got_len[0], 2);
    assert_memory_equal(got[0], "aA", 2);
    assert_memory_equal(got[2], "cC", 2);
}

static void test_stop_and_start(void **state)
{
    sock_read_stop(&socks[0]);
    peer_send(0, "while stopped");
    turn();
    assert_int_equal(got_len[0], 0);
    sock_read_start(&socks[0], on_alloc, on_read);
    assert_int_equal(got_len[0], 0); /* from the loop, not from the call */
    turn();
    assert_int_equal(got_len[0], strlen("while stopped"));
    /* and edges after that still come */
    peer_send(0, "!");
    turn();
    assert_int_equal(got_len[0], strlen("while stopped!"));
}

static void test_bytes_and_eof_together(void **state)
{
    peer_send(1, "last words");
    shutdown(peers[1], SHUT_WR);
    turn();
    turn();
    assert_int_equal(got_len[1], strlen("last words"));
    assert_int_equal(eofs[1], 1);
    assert_false(socks[1].reading);
}

static void test_more_than_the_read_budget(void **state)
{
    alloc_size = 16; /* 32 reads of 16 bytes per event: 512 */
    char data[3000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)('a' + i % 26);
    assert_int_equal(write(peers[2], data, sizeof(data)), (ssize_t)sizeof(data));
    for (int i = 0; i < 20 && got_len[2] < sizeof(data); i++)
        turn(); /* no new bytes come: the re-arm brings the rest */
    assert_int_equal(got_len[2], sizeof(data));
    assert_memory_equal(got[2], data, sizeof(data));
}

static int writes_done, last_status;

static void on_written(struct sock_write *w, int status)
{
    writes_done++;
    last_status = status;
}

/* Fills socket 0's send buffer with try_write, queues more, and reads it all
 * at the peer. */
static void test_queued_write(void **state)
{
    static char big[1 << 20], tail[100000], back[sizeof(big) + sizeof(tail)];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7);
    for (size_t i = 0; i < sizeof(tail); i++)
        tail[i] = (char)(i * 13 + 1);
    uv_buf_t b = uv_buf_init(big, sizeof(big));
    int w = sock_try_write(&socks[0], &b, 1);
    assert_true(w > 0 && (size_t)w < sizeof(big)); /* a socket buffer is smaller */
    uv_buf_t rest[2] = {uv_buf_init(big + w, (unsigned)(sizeof(big) - (size_t)w)),
                        uv_buf_init(tail, sizeof(tail))};
    struct sock_write wr;
    writes_done = 0;
    assert_int_equal(sock_write(&socks[0], &wr, rest, 2, on_written), 0);
    assert_int_equal(writes_done, 0);
    /* nothing more goes directly while the queue holds bytes */
    assert_int_equal(sock_try_write(&socks[0], &b, 1), UV_EAGAIN);
    size_t have = 0;
    for (int spins = 0; have < sizeof(back) && spins < 100000; spins++) {
        ssize_t n = read(peers[0], back + have, sizeof(back) - have);
        if (n > 0) have += (size_t)n;
        turn();
    }
    assert_int_equal(have, sizeof(back));
    assert_memory_equal(back, big, sizeof(big));
    assert_memory_equal(back + sizeof(big), tail, sizeof(tail));
    turn();
    assert_int_equal(writes_done, 1);
    assert_int_equal(last_status, 0);
}

static void fill(struct sock *s)
{
    static char junk[65536];
    uv_buf_t b = uv_buf_init(junk, sizeof(junk));
    while (sock_try_write(s, &b, 1) > 0) {
    }
}

static void test_close_cancels_queued_writes(void **state)
{
    fill(&socks[1]);
    uv_buf_t b = uv_buf_init("x", 1);
    struct sock_write w1, w2;
    writes_done = 0;
    assert_int_equal(sock_write(&socks[1], &w1, &b, 1, on_written), 0);
    assert_int_equal(sock_write(&socks[1], &w2, &b, 1, on_written), 0);
    turn();
    assert_int_equal(writes_done, 0);
    sock_close(&socks[1]);
    assert_int_equal(writes_done, 2);
    assert_int_equal(last_status, UV_ECANCELED);
    assert_int_equal(sock_try_write(&socks[1], &b, 1), UV_EBADF);
}

static void test_shutdown_waits_for_the_queue(void **state)
{
    fill(&socks[2]);
    uv_buf_t b = uv_buf_init("end", 3);
    struct sock_write w;
    writes_done = 0;
    assert_int_equal(sock_write(&socks[2], &w, &b, 1, on_written), 0);
    assert_int_equal(sock_shutdown(&socks[2]), 0);
    char buf[65536];
    size_t total = 0;
    char last[3] = {0};
    for (int spins = 0; spins < 100000; spins++) {
        ssize_t n = read(peers[2], buf, sizeof(buf));
        if (n == 0) break; /* the end of stream: after every byte */
        if (n > 0) {
            total += (size_t)n;
            for (ssize_t i = 0; i < n; i++)
                last[0] = last[1], last[1] = last[2], last[2] = buf[i];
        }
        turn();
    }
    assert_true(total > 3);
    assert_memory_equal(last, "end", 3);
    assert_int_equal(writes_done, 1);
}

static int accepted_fd = -1;

static void on_accept(struct sock_listener *l, int fd)
{
    accepted_fd = fd;
}

/* A listener on a loopback port (its address in *a) and a client socket,
 * not yet connected: returned. */
static int listen_and_socket(struct sock_listener *l, struct sockaddr_in *a)
{
    *a = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = sock_listen_fd((struct sockaddr *)a, sizeof(*a), false, 8);
    assert_true(fd >= 0);
    socklen_t len = sizeof(*a);
    getsockname(fd, (struct sockaddr *)a, &len);
    assert_int_equal(sock_listener_start(l, &loop, fd, on_accept), 0);
    accepted_fd = -1;
    return socket(AF_INET, SOCK_STREAM, 0);
}

static void test_listener(void **state)
{
    struct sockaddr_in a;
    struct sock_listener l;
    int c = listen_and_socket(&l, &a);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    for (int i = 0; i < 1000 && accepted_fd < 0; i++)
        turn();
    assert_true(accepted_fd >= 0);
    assert_true(fcntl(accepted_fd, F_GETFL) & O_NONBLOCK);
    close(accepted_fd);
    close(c);
    sock_listener_close(&l, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* Out of descriptors, the listener stops polling (a pending connection would
 * wake it at once, again and again) and accepts again a moment later. */
static void test_listener_pauses_when_out_of_descriptors(void **state)
{
    struct sockaddr_in a;
    struct sock_listener l;
    int c = listen_and_socket(&l, &a);
    int next = dup(0); /* the lowest free descriptor: the limit goes just there */
    close(next);
    struct rlimit was, low;
    getrlimit(RLIMIT_NOFILE, &was);
    low = was;
    low.rlim_cur = (rlim_t)next;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    for (int i = 0; i < 20; i++)
        turn();
    bool paused = !uv_is_active((uv_handle_t *)&l.poll);
    int during = accepted_fd;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
    assert_int_equal(during, -1);
    assert_true(paused);
    for (int i = 0; i < 100 && accepted_fd < 0; i++) {
        usleep(10000);
        turn();
    }
    assert_true(accepted_fd >= 0); /* after the pause */
    close(accepted_fd);
    accepted_fd = -1;
    close(c);
    sock_listener_close(&l, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reads_in_arrival_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_and_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bytes_and_eof_together, setup, teardown),
        cmocka_unit_test_setup_teardown(test_more_than_the_read_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queued_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_cancels_queued_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_waits_for_the_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listener, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listener_pauses_when_out_of_descriptors, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
