/*
 * http.h: HTTP/1.1 request framing on Node's http_parser (libhttp-parser).
 *
 * Bytes go in as they arrive, split anywhere; out comes one complete request
 * at a time (method, path, headers, de-chunked body). The parser pauses at
 * the end of each request, so pipelined bytes after it stay unconsumed until
 * the caller asks for the next one. Sizes are capped before the bytes are
 * buffered: a Content-Length above the body cap is refused at the headers.
 */
#ifndef DDBX_NET_HTTP_H
#define DDBX_NET_HTTP_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>

#include "handler/request.h"
#include "util/buf.h"

#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_BODY (16u * 1024 * 1024) /* DynamoDB's request size limit */

/* What http_request_feed returns: DDBX_OK when a request is ready, else a
 * negative (util/common.h): NEED_MORE is not an error (libuv's EAGAIN), the
 * others are refusals. */
enum http_feed_status {
    HTTP_READY = 0,      /* a whole request is available (DDBX_OK) */
    HTTP_EINVALID = -1,  /* malformed: answer 400 and close */
    HTTP_EBODY = -2,     /* body above the cap: answer 413 and close */
    HTTP_EHEADERS = -3,  /* header block above the cap or too many headers: 431, close */
    HTTP_NEED_MORE = -4, /* all bytes consumed, request incomplete */
};

struct http_request {
    http_parser parser;
    size_t max_header; /* bytes of request line + headers */
    size_t max_body;

    /* the request being read */
    struct buf url;
    struct buf hdrbuf;                            /* header names and values, NUL-separated */
    uint32_t hdr_off[HTTP_MAX_HEADERS][4];        /* name off, name len, value off, value len */
    struct http_header headers[HTTP_MAX_HEADERS]; /* resolved when READY */
    int nheaders;
    bool in_value; /* the last header piece was a value */
    struct buf body;
    size_t header_bytes;
    bool started; /* some bytes of this request arrived */
    bool headers_done;
    bool expect_continue; /* "Expect: 100-continue" and the body is still to come */
    bool complete;
    bool keep_alive; /* valid when READY */
    int error;       /* an http_feed_status refusal set by a callback, or 0 */
};

void http_request_init(struct http_request *h, size_t max_header, size_t max_body);
void http_request_free(struct http_request *h);
/* Feeds bytes; *consumed gets how many were used (the rest belong to the next
 * request). Returns an http_feed_status. After HTTP_READY, call
 * http_request_next() before feeding more. */
int http_request_feed(struct http_request *h, const char *data, size_t len, size_t *consumed);
/* Forgets the finished request and readies the parser for the next one. */
void http_request_next(struct http_request *h);
const char *http_request_method(const struct http_request *h);
/* Case-insensitive lookup in a READY request's headers; NULL when absent. */
const char *http_request_header(const struct http_request *h, const char *name, size_t *len);

#endif
