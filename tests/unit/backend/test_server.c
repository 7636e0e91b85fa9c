/*
 * test_server.c: the scripted HTTP/1.1 server of test_server.h. Requests are
 * framed with http_parser, as ddbx's own server frames them.
 */
#include "test_server.h"

#include <http_parser.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"

#define TS_MAX_REQUESTS 256

struct ts_step {
    enum ts_action action;
    char *raw;
    size_t len;
    struct ts_step *next;
};

struct ts_conn {
    uv_tcp_t tcp;
    struct test_server *s;
    http_parser parser;
    struct ts_request *req; /* being received */
    bool in_value;
    bool closing;
    int index;
    struct ts_conn *next;
};

struct ts_write {
    uv_write_t w;
    struct ts_conn *conn;
    enum ts_action after;
    char *data;
};

struct test_server {
    uv_tcp_t listener;
    uv_loop_t *loop;
    int port;
    int accepted;
    struct ts_step *steps, **steps_tail;
    struct ts_request *requests[TS_MAX_REQUESTS];
    int nrequests;
    struct ts_conn *conns;
    int open_handles;
    bool stopping;
};

static void maybe_free(struct test_server *s)
{
    if (!s->stopping || s->open_handles > 0) return;
    for (int i = 0; i < s->nrequests; i++) {
        buf_free(&s->requests[i]->path);
        buf_free(&s->requests[i]->body);
        buf_free(&s->requests[i]->hdrbuf);
        free(s->requests[i]);
    }
    while (s->steps) {
        struct ts_step *st = s->steps;
        s->steps = st->next;
        free(st->raw);
        free(st);
    }
    free(s);
}

static void on_conn_closed(uv_handle_t *h)
{
    struct ts_conn *c = h->data;
    struct test_server *s = c->s;
    struct ts_conn **p = &s->conns;
    while (*p != c)
        p = &(*p)->next;
    *p = c->next;
    if (c->req) { /* closed mid-request */
        buf_free(&c->req->path);
        buf_free(&c->req->body);
        buf_free(&c->req->hdrbuf);
        free(c->req);
    }
    free(c);
    s->open_handles--;
    maybe_free(s);
}

static void conn_close(struct ts_conn *c, bool reset)
{
    if (c->closing) return;
    c->closing = true;
    if (reset)
        uv_tcp_close_reset(&c->tcp, on_conn_closed);
    else
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_written(uv_write_t *w, int status)
{
    struct ts_write *tw = (struct ts_write *)w;
    if (!tw->conn->closing) {
        if (tw->after == TS_ANSWER_CLOSE) conn_close(tw->conn, false);
        if (tw->after == TS_ANSWER_RESET) conn_close(tw->conn, true);
    }
    free(tw->data);
    free(tw);
}

static void answer(struct ts_conn *c)
{
    struct test_server *s = c->s;
    struct ts_step *st = s->steps;
    enum ts_action action = TS_ANSWER;
    const char *raw = "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
                      "Content-Length: 2\r\n\r\n{}";
    size_t len = strlen(raw);
    if (st) {
        s->steps = st->next;
        if (!s->steps) s->steps_tail = &s->steps;
        action = st->action;
        raw = st->raw;
        len = st->len;
    }
    if (action == TS_CLOSE) {
        conn_close(c, false);
    } else if (action != TS_HANG) {
        struct ts_write *tw = xcalloc(1, sizeof(*tw));
        tw->conn = c;
        tw->after = action;
        tw->data = xmalloc(len + 1);
        memcpy(tw->data, raw, len);
        uv_buf_t b = uv_buf_init(tw->data, (unsigned)len);
        uv_write(&tw->w, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    }
    if (st) {
        free(st->raw);
        free(st);
    }
}

/* ---- framing the requests ---- */

static int on_begin(http_parser *p)
{
    struct ts_conn *c = p->data;
    c->req = xcalloc(1, sizeof(*c->req));
    c->req->conn = c->index;
    c->in_value = false;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    buf_append(&((struct ts_conn *)p->data)->req->path, at, len);
    return 0;
}

/* Header names and values go into hdrbuf as "name\0value\0"; offsets are
 * resolved into pointers once the headers are complete. */
static int on_field(http_parser *p, const char *at, size_t len)
{
    struct ts_conn *c = p->data;
    struct ts_request *r = c->req;
    if (c->in_value || r->nheaders == 0) {
        if (r->nheaders) buf_append_char(&r->hdrbuf, '\0');
        if (r->nheaders == TS_MAX_HEADERS) return -1;
        r->headers[r->nheaders++].name_len = (uint32_t)r->hdrbuf.len; /* offset for now */
        c->in_value = false;
    }
    for (size_t i = 0; i < len; i++)
        buf_append_char(&r->hdrbuf, (at[i] >= 'A' && at[i] <= 'Z') ? (char)(at[i] + 32) : at[i]);
    return 0;
}

static int on_value(http_parser *p, const char *at, size_t len)
{
    struct ts_conn *c = p->data;
    struct ts_request *r = c->req;
    if (!c->in_value) {
        buf_append_char(&r->hdrbuf, '\0');
        r->headers[r->nheaders - 1].value_len = (uint32_t)r->hdrbuf.len; /* offset for now */
        c->in_value = true;
    }
    buf_append(&r->hdrbuf, at, len);
    return 0;
}

static int on_headers_done(http_parser *p)
{
    struct ts_conn *c = p->data;
    struct ts_request *r = c->req;
    buf_append_char(&r->hdrbuf, '\0');
    for (int i = 0; i < r->nheaders; i++) {
        struct http_header *h = &r->headers[i];
        h->name = r->hdrbuf.data + h->name_len;
        h->value = r->hdrbuf.data + h->value_len;
        h->name_len = (uint32_t)strlen(h->name);
        h->value_len = (uint32_t)strlen(h->value);
    }
    snprintf(r->method, sizeof(r->method), "%s", http_method_str((enum http_method)p->method));
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    buf_append(&((struct ts_conn *)p->data)->req->body, at, len);
    return 0;
}

static int on_complete(http_parser *p)
{
    struct ts_conn *c = p->data;
    struct test_server *s = c->s;
    if (s->nrequests < TS_MAX_REQUESTS) s->requests[s->nrequests++] = c->req;
    c->req = NULL;
    answer(c);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_begin,
    .on_url = on_url,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_done,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    static char buf[64 * 1024];
    *out = uv_buf_init(buf, sizeof(buf));
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *b)
{
    struct ts_conn *c = stream->data;
    if (n < 0) {
        conn_close(c, false);
        return;
    }
    if (n == 0 || c->closing) return; /* 0: nothing to read now (not EOF) */
    size_t used = http_parser_execute(&c->parser, &settings, b->base, (size_t)n);
    if (used != (size_t)n) {
        fprintf(stderr, "test server: %s\n", http_errno_name(HTTP_PARSER_ERRNO(&c->parser)));
        conn_close(c, false);
    }
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct test_server *s = listener->data;
    if (status < 0) return;
    struct ts_conn *c = xcalloc(1, sizeof(*c));
    c->s = s;
    c->index = ++s->accepted;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    c->next = s->conns;
    s->conns = c;
    s->open_handles++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c, false);
        return;
    }
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct test_server *s = h->data;
    s->open_handles--;
    maybe_free(s);
}

struct test_server *ts_start(uv_loop_t *loop)
{
    struct test_server *s = xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->steps_tail = &s->steps;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->open_handles = 1;
    if (uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0) < 0 ||
        uv_listen((uv_stream_t *)&s->listener, 64, on_connection) < 0)
        abort();
    struct sockaddr_in bound;
    int len = sizeof(bound);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    s->port = ntohs(bound.sin_port);
    return s;
}

int ts_port(const struct test_server *s)
{
    return s->port;
}

void ts_push(struct test_server *s, enum ts_action action, const char *raw, size_t len)
{
    struct ts_step *st = xcalloc(1, sizeof(*st));
    st->action = action;
    st->raw = xmalloc(len + 1);
    memcpy(st->raw, raw ? raw : "", len);
    st->len = len;
    *s->steps_tail = st;
    s->steps_tail = &st->next;
}

void ts_push_str(struct test_server *s, enum ts_action action, const char *raw)
{
    ts_push(s, action, raw, raw ? strlen(raw) : 0);
}

int ts_accepted(const struct test_server *s)
{
    return s->accepted;
}

int ts_requests(const struct test_server *s)
{
    return s->nrequests;
}

const struct ts_request *ts_request(const struct test_server *s, int i)
{
    return i >= 0 && i < s->nrequests ? s->requests[i] : NULL;
}

const char *ts_header(const struct ts_request *r, const char *name)
{
    return http_header_find(r->headers, r->nheaders, name, NULL);
}

void ts_stop(struct test_server *s)
{
    s->stopping = true;
    for (struct ts_conn *c = s->conns; c; c = c->next)
        conn_close(c, false);
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}
