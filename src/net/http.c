/*
 * http.c: the request framer. Callbacks accumulate the pieces http_parser
 * hands out (a header may arrive in several pieces); on_message_complete
 * pauses the parser so each request is delivered on its own. The callbacks
 * return what http_parser expects (0 go on, -1 stop), with the reason in
 * h->error.
 */
#include "net/http.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "util/common.h"

static struct http_request *self(http_parser *p)
{
    return p->data;
}

static int count_header_bytes(struct http_request *h, size_t len)
{
    h->header_bytes += len;
    if (h->header_bytes > h->max_header) {
        h->error = HTTP_EHEADERS;
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    self(p)->started = true;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_request *h = self(p);
    if (count_header_bytes(h, len) < 0) return -1;
    buf_append(&h->url, at, len);
    return 0;
}

/* Header pieces: a field piece after a value starts a new header. Names and
 * values are NUL-terminated in hdrbuf; offsets survive its reallocation. */
static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_request *h = self(p);
    if (count_header_bytes(h, len) < 0) return -1;
    if (h->headers_done) return 0; /* a trailer: see on_header_value */
    if (h->nheaders == 0 || h->in_value) {
        if (h->nheaders == HTTP_MAX_HEADERS) {
            h->error = HTTP_EHEADERS;
            return -1;
        }
        if (h->nheaders) buf_append_char(&h->hdrbuf, '\0');
        uint32_t *o = h->hdr_off[h->nheaders++];
        o[0] = (uint32_t)h->hdrbuf.len;
        o[1] = o[2] = o[3] = 0;
        h->in_value = false;
    }
    size_t start = h->hdrbuf.len;
    buf_append(&h->hdrbuf, at, len);
    for (char *c = h->hdrbuf.data + start; c < h->hdrbuf.data + h->hdrbuf.len; c++)
        if (*c >= 'A' && *c <= 'Z') *c = (char)(*c + ('a' - 'A'));
    h->hdr_off[h->nheaders - 1][1] += (uint32_t)len;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_request *h = self(p);
    if (count_header_bytes(h, len) < 0) return -1;
    /* Trailers of a chunked body arrive after the headers were resolved.
     * They are counted against the cap but not kept: RFC 7230 4.1.2 forbids
     * merging them into the headers, and storing them would move hdrbuf
     * under the resolved header pointers. */
    if (h->headers_done) return 0;
    uint32_t *o = h->hdr_off[h->nheaders - 1];
    if (!h->in_value) {
        buf_append_char(&h->hdrbuf, '\0');
        o[2] = (uint32_t)h->hdrbuf.len;
        h->in_value = true;
    }
    buf_append(&h->hdrbuf, at, len);
    o[3] += (uint32_t)len;
    return 0;
}

static void resolve_headers(struct http_request *h)
{
    buf_append_char(&h->hdrbuf, '\0');
    for (int i = 0; i < h->nheaders; i++) {
        uint32_t *o = h->hdr_off[i];
        const char *value = o[2] ? h->hdrbuf.data + o[2] : "";
        h->headers[i] = (struct http_header){h->hdrbuf.data + o[0], value, o[1], o[3]};
    }
}

static int on_headers_complete(http_parser *p)
{
    struct http_request *h = self(p);
    resolve_headers(h);
    h->headers_done = true;
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > h->max_body) {
        h->error = HTTP_EBODY;
        return -1;
    }
    size_t len;
    const char *expect = http_request_header(h, "expect", &len);
    bool has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length);
    if (expect && len == 12 && strncasecmp(expect, "100-continue", 12) == 0 && has_body)
        h->expect_continue = true;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_request *h = self(p);
    if (h->body.len + len > h->max_body) {
        h->error = HTTP_EBODY;
        return -1;
    }
    buf_append(&h->body, at, len);
    h->expect_continue = false; /* the client is sending: no 100 needed */
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_request *h = self(p);
    h->complete = true;
    h->expect_continue = false;
    h->keep_alive = http_should_keep_alive(p) != 0;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_request_init(struct http_request *h, size_t max_header, size_t max_body)
{
    memset(h, 0, sizeof(*h));
    http_parser_init(&h->parser, HTTP_REQUEST);
    h->parser.data = h;
    h->max_header = max_header;
    h->max_body = max_body;
    /* http_parser's own cap is process-wide; ours is per request, so let its
     * cap sit above any value ours can take */
    http_parser_set_max_header_size(UINT32_MAX);
}

void http_request_free(struct http_request *h)
{
    buf_free(&h->url);
    buf_free(&h->hdrbuf);
    buf_free(&h->body);
}

int http_request_feed(struct http_request *h, const char *data, size_t len, size_t *consumed)
{
    *consumed = 0;
    if (h->complete) return HTTP_READY;
    if (h->error) return h->error;
    size_t n = http_parser_execute(&h->parser, &settings, data, len);
    *consumed = n;
    if (h->complete) return HTTP_READY;
    if (h->error) return h->error;
    if (HTTP_PARSER_ERRNO(&h->parser) != HPE_OK) return h->error = HTTP_EINVALID;
    return HTTP_NEED_MORE;
}

void http_request_next(struct http_request *h)
{
    buf_reset(&h->url);
    buf_reset(&h->hdrbuf);
    buf_reset(&h->body);
    h->nheaders = 0;
    h->in_value = false;
    h->header_bytes = 0;
    h->started = h->headers_done = h->expect_continue = h->complete = false;
    /* after a refused request the parser is in an error state, where
     * http_parser_pause() asserts: start it afresh (the connection closes anyway) */
    if (h->error || HTTP_PARSER_ERRNO(&h->parser) != HPE_PAUSED) {
        void *data = h->parser.data;
        http_parser_init(&h->parser, HTTP_REQUEST);
        h->parser.data = data;
    } else {
        http_parser_pause(&h->parser, 0);
    }
    h->error = 0;
}

const char *http_request_method(const struct http_request *h)
{
    return http_method_str((enum http_method)h->parser.method);
}

const char *http_request_header(const struct http_request *h, const char *name, size_t *len)
{
    return http_header_find(h->headers, h->nheaders, name, len);
}
