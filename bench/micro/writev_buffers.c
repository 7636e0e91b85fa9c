/*
 * writev_buffers.c: what the kernel charges per writev buffer. Why a
 * BatchGetItem answer of small items is copied into one buffer rather than
 * written as the cache's bytes with ddbx's text between them
 * (handler/batch_get.c, SPLICE_MIN; bench/README.md, issue 14).
 *
 *   build/bench/micro/writev_buffers [writes]
 *
 * A loopback TCP connection whose reader thread discards everything; the
 * writer sends 25,000-byte answers shaped five ways and prints the system
 * and user time of the writing thread per answer (the loopback receive runs
 * in the sender's system call, as it does for ddbx):
 *   2 contiguous   two buffers, next to each other in memory
 *   51 contiguous  the same bytes cut in 51 buffers
 *   51 scattered   51 buffers at random places in 110 MB (cold lines)
 *   ddbx spliced   25 items of 980 bytes at random places, each followed by
 *                  a one-byte comma buffer, after a 30-byte head: the shape
 *                  of a spliced 25-item answer
 *   ddbx copied    the same items copied (memcpy) into one buffer, written
 *                  as one
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RUSAGE_THREAD */
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define TOTAL 25000
#define REGION (110u << 20)
#define ITEM 980

static int reader_fd;
static char *mem;
static uint64_t seed = 1;

static void *reader(void *arg)
{
    static char b[1 << 20];
    while (read(reader_fd, b, sizeof(b)) > 0) {
    }
    return NULL;
}

static size_t random_offset(size_t len)
{
    seed = seed * 6364136223846793005ull + 1;
    return (size_t)(seed >> 20) % (REGION - len);
}

static void write_all(int fd, struct iovec *v, int n)
{
    while (n) {
        ssize_t w = writev(fd, v, n);
        if (w < 0) {
            perror("writev");
            exit(1);
        }
        while (n && (size_t)w >= v->iov_len) {
            w -= (ssize_t)v->iov_len;
            v++, n--;
        }
        if (n) {
            v->iov_base = (char *)v->iov_base + w;
            v->iov_len -= (size_t)w;
        }
    }
}

/* Fills iov for one answer of the given shape; returns the buffer count. */
static int shape(int kind, struct iovec *iov)
{
    static char glue[64], out[32768];
    int n = 0;
    if (kind == 0 || kind == 1) {
        int pieces = kind == 0 ? 2 : 51;
        char *base = mem + random_offset(TOTAL);
        for (int k = 0; k < pieces; k++)
            iov[n++] = (struct iovec){base + k * (TOTAL / pieces), TOTAL / pieces};
    } else if (kind == 2) {
        for (int k = 0; k < 51; k++)
            iov[n++] = (struct iovec){mem + random_offset(TOTAL / 51), TOTAL / 51};
    } else if (kind == 3) {
        iov[n++] = (struct iovec){glue, 30};
        for (int j = 0; j < 25; j++) {
            iov[n++] = (struct iovec){mem + random_offset(ITEM), ITEM};
            iov[n++] = (struct iovec){glue, 1};
        }
    } else {
        size_t o = 30;
        for (int j = 0; j < 25; j++) {
            memcpy(out + o, mem + random_offset(ITEM), ITEM);
            o += ITEM;
            out[o++] = ',';
        }
        iov[n++] = (struct iovec){out, o};
    }
    return n;
}

int main(int argc, char **argv)
{
    int writes = argc > 1 ? atoi(argv[1]) : 100000;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) < 0) {
        perror("listen");
        return 1;
    }
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&a, sizeof(a)) < 0) {
        perror("connect");
        return 1;
    }
    reader_fd = accept(l, NULL, NULL);
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    pthread_t t;
    pthread_create(&t, NULL, reader, NULL);
    mem = malloc(REGION);
    memset(mem, 'x', REGION);
    static const char *names[] = {"2 contiguous", "51 contiguous", "51 scattered", "ddbx spliced",
                                  "ddbx copied"};
    for (int kind = 0; kind < 5; kind++) {
        struct rusage r0, r1;
        getrusage(RUSAGE_THREAD, &r0);
        for (int i = 0; i < writes; i++) {
            struct iovec iov[64];
            int n = shape(kind, iov);
            write_all(c, iov, n);
        }
        getrusage(RUSAGE_THREAD, &r1);
        double sys = (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e6 +
                     (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
        double usr = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1e6 +
                     (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec);
        printf("%-14s system %5.2f us, user %5.2f us per answer\n", names[kind], sys / writes,
               usr / writes);
    }
    shutdown(c, SHUT_WR);
    close(c);
    pthread_join(t, NULL);
    return 0;
}
