/*
 * test_server.h: a scripted HTTP/1.1 server on 127.0.0.1 for the backend
 * client's unit tests, run by the same libuv loop as the client under test.
 *
 * It records every request it receives (method, path, headers, body, which
 * connection) and answers each with the next step queued by ts_push(); with
 * none queued it answers 200 "{}". A step's raw bytes are sent as they are,
 * so a test can send anything: chunked answers, interim 100 answers, half an
 * answer, garbage.
 */
#ifndef DDBX_TESTS_BACKEND_TEST_SERVER_H
#define DDBX_TESTS_BACKEND_TEST_SERVER_H

#include <stddef.h>
#include <uv.h>

#include "util/buf.h"
#include "util/http_header.h"

enum ts_action {
    TS_ANSWER,       /* send raw, keep the connection */
    TS_ANSWER_CLOSE, /* send raw, then close */
    TS_ANSWER_RESET, /* send raw (maybe part of an answer), then reset the connection */
    TS_CLOSE,        /* close without answering */
    TS_HANG,         /* never answer */
};

#define TS_MAX_HEADERS 32

struct ts_request {
    char method[16];
    struct buf path;
    struct buf body;
    struct http_header headers[TS_MAX_HEADERS]; /* names lower-cased; point into hdrbuf */
    int nheaders;
    struct buf hdrbuf;
    int conn; /* 1 for the first connection accepted, 2 for the next, ... */
};

struct test_server;

/* Listens on 127.0.0.1 (a free port) on loop. */
struct test_server *ts_start(uv_loop_t *loop);
int ts_port(const struct test_server *s);
/* Queues the answer to the next request not yet answered. raw is copied. */
void ts_push(struct test_server *s, enum ts_action action, const char *raw, size_t len);
/* The same with a NUL-terminated raw answer. */
void ts_push_str(struct test_server *s, enum ts_action action, const char *raw);
/* Connections accepted and requests received so far. */
int ts_accepted(const struct test_server *s);
int ts_requests(const struct test_server *s);
const struct ts_request *ts_request(const struct test_server *s, int i);
/* Header value of a recorded request (NUL-terminated), or NULL. */
const char *ts_header(const struct ts_request *r, const char *name);
/* Closes the listener and every connection; run the loop afterwards, then
 * the server is freed. */
void ts_stop(struct test_server *s);

#endif
