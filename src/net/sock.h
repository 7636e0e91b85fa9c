/*
 * sock.h: client sockets served in arrival order (edge-triggered epoll
 * nested in a libuv loop), and listening sockets.
 *
 * Why not uv_tcp_t: libuv's epoll is level-triggered, and a level-triggered
 * ready list keeps every socket it reported at its place for the next
 * epoll_wait. Under load, a connection answered early in one batch whose
 * next request is back before the next epoll_wait is served early again,
 * ahead of connections whose requests came in earlier but found themselves
 * off the list; those are served last, every time, and wait nearly two
 * batches. With 32 closed-loop clients this was a second latency mode at
 * twice the median holding 4-6% of requests (bench/README.md, issue 14).
 * Edge-triggered registration puts each socket at the tail of the ready list
 * when its bytes arrive, so requests are served in the order they came
 * (nginx's model). One epoll instance per loop holds the sockets with
 * EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET, registered once; libuv polls that
 * instance's descriptor with a uv_poll_t and sock_loop drains it.
 *
 * The calls mirror the uv_stream_t calls they replace: reads into a buffer
 * from an alloc callback, uv_try_write's semantics, queued writes whose
 * buffers stay the caller's until their callback, a shutdown after the
 * queue drains. Errors are libuv's codes (negated errno, UV_EOF).
 *
 * Lifetime: sock_close closes the descriptor and calls each queued write's
 * callback with UV_ECANCELED before it returns. The struct sock may still
 * be named by events of the batch being dispatched, so its memory must stay
 * valid until the loop's next iteration (net/conn.c frees a connection from
 * a uv_close callback, which runs after the poll phase).
 */
#ifndef DDBX_NET_SOCK_H
#define DDBX_NET_SOCK_H

#include <stdbool.h>
#include <sys/socket.h>
#include <uv.h>

struct sock_loop {
    uv_poll_t poll; /* readable while the epoll instance has ready sockets */
    int epfd;
    bool open;
};

/* Opens the epoll instance and polls it on loop. Returns 0 or a UV error. */
int sock_loop_init(struct sock_loop *sl, uv_loop_t *loop);
/* Closes it: every sock on it must be closed first. */
void sock_loop_close(struct sock_loop *sl);

struct sock;
struct sock_write;
typedef void (*sock_alloc_cb)(struct sock *s, uv_buf_t *out);
/* n > 0: bytes read into the buffer alloc gave; n < 0: UV_EOF or an error
 * (reading has stopped). Never called with 0. */
typedef void (*sock_read_cb)(struct sock *s, ssize_t n);
typedef void (*sock_write_cb)(struct sock_write *w, int status);

#define SOCK_WRITE_INLINE 4

struct sock_write {
    struct sock_write *next;
    struct sock *s;
    sock_write_cb cb;
    void *data;
    uv_buf_t *bufs;        /* a copy of the caller's array: inline, or allocated */
    unsigned nbufs, first; /* bufs[first..nbufs) are unsent (bufs[first] advanced) */
    uv_buf_t inline_bufs[SOCK_WRITE_INLINE];
};

struct sock {
    int fd; /* -1 once closed */
    struct sock_loop *sl;
    void *data;
    sock_alloc_cb alloc;
    sock_read_cb on_read;
    bool reading;
    bool readable; /* an edge came and no read has found the socket empty since */
    bool hup;      /* the peer's end of stream (or an error) was signalled: read to it */
    bool shut_pending;
    struct sock_write *wq, **wq_tail;
};

/* Adopts a connected non-blocking socket fd into sl. Returns 0, or a UV
 * error (fd is closed). */
int sock_open(struct sock *s, struct sock_loop *sl, int fd);
/* Starts or resumes reading: on_read runs from the loop, never from here. */
void sock_read_start(struct sock *s, sock_alloc_cb alloc, sock_read_cb on_read);
void sock_read_stop(struct sock *s);
/* Writes what the socket takes now, if nothing is queued: bytes written, or
 * UV_EAGAIN, or an error. */
int sock_try_write(struct sock *s, const uv_buf_t *bufs, unsigned n);
/* Queues bufs after the writes queued before; cb runs once all are written
 * (status 0), failed, or the sock closed (UV_ECANCELED). The bytes must stay
 * valid until then; the array is copied. Returns 0, or a UV error (cb not
 * called). */
int sock_write(struct sock *s, struct sock_write *w, const uv_buf_t *bufs, unsigned n,
               sock_write_cb cb);
/* Shuts the sending side once the queued writes are written. */
int sock_shutdown(struct sock *s);
void sock_close(struct sock *s);
void sock_nodelay(struct sock *s);

/* A listening socket: accepts every pending connection when it is readable
 * and hands each non-blocking descriptor to on_accept. Out of descriptors
 * (EMFILE, ENFILE), it stops accepting for a tenth of a second. */
struct sock_listener {
    uv_poll_t poll;
    uv_timer_t pause;
    int fd;
    void (*on_accept)(struct sock_listener *l, int fd);
    void (*on_closed)(struct sock_listener *l);
    void *data;
    int handles;
};

/* A socket bound to addr and listening: its descriptor, or -1 with errno. */
int sock_listen_fd(const struct sockaddr *addr, socklen_t len, bool reuseport, int backlog);
/* Starts accepting on fd, which it owns from here on, failing or not.
 * Returns 0 or a UV error. */
int sock_listener_start(struct sock_listener *l, uv_loop_t *loop, int fd,
                        void (*on_accept)(struct sock_listener *l, int fd));
/* Stops, closes fd; on_closed (may be NULL) runs once the handles are closed. */
void sock_listener_close(struct sock_listener *l, void (*on_closed)(struct sock_listener *l));

#endif
