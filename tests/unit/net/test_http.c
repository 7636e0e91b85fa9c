/*
 * test_http.c: the HTTP/1.1 request framer (net/http.h).
 *
 * Each input is framed by a driver that feeds it in pieces, takes every
 * READY request (then http_request_next() and the rest of the piece), and
 * writes what it saw as text: method, URL, keep-alive, headers, body, and
 * how the input ended. Every input is framed whole, split at every byte
 * boundary and one byte at a time, and all framings must give the same text.
 */
#include "testutil.h"

#include "net/http.h"

#define BIG_HEADER (64 * 1024)

/* Appends one READY request to out, checking that the header table and
 * http_request_header() agree. */
static void describe_request(struct buf *out, const struct http_request *h)
{
    buf_printf(out, "%s ", http_request_method(h));
    buf_append(out, h->url.data, h->url.len);
    buf_printf(out, " ka=%d\n", h->keep_alive);
    assert_false(h->expect_continue);
    assert_true(h->nheaders >= 0 && h->nheaders <= HTTP_MAX_HEADERS);
    for (int i = 0; i < h->nheaders; i++) {
        const struct http_header *hd = &h->headers[i];
        assert_int_equal(strlen(hd->name), hd->name_len);
        assert_int_equal(hd->value[hd->value_len], '\0');
        for (uint32_t k = 0; k < hd->name_len; k++)
            assert_false(hd->name[k] >= 'A' && hd->name[k] <= 'Z'); /* lower-cased */
        size_t len = 12345;
        const char *v = http_request_header(h, hd->name, &len);
        assert_non_null(v);
        if (v == hd->value) assert_int_equal(len, hd->value_len); /* else a repeated name */
        buf_append(out, hd->name, hd->name_len);
        buf_append_str(out, ": ");
        buf_append(out, hd->value, hd->value_len);
        buf_append_char(out, '\n');
    }
    buf_printf(out, "body[%zu]:", h->body.len);
    buf_append(out, h->body.data, h->body.len);
    buf_append_char(out, '\n');
}

/* Feeds one piece, taking every request it completes. Returns false once
 * the framer reported an error (written to out). */
static bool feed_piece(struct http_request *h, const char *p, size_t len, struct buf *out)
{
    while (len > 0) {
        size_t used = 99999;
        int st = http_request_feed(h, p, len, &used);
        assert_true(used <= len);
        if (st == HTTP_READY) {
            assert_true(used > 0);
            assert_true(h->complete);
            /* feeding again before next() is refused without consuming */
            size_t again = 1;
            assert_int_equal(http_request_feed(h, p + used, len - used, &again), HTTP_READY);
            assert_int_equal(again, 0);
            describe_request(out, h);
            http_request_next(h);
            assert_false(h->started);
        } else if (st == HTTP_NEED_MORE) {
            assert_int_equal(used, len); /* all of it was taken */
        } else {
            buf_printf(out, "error %d\n", st);
            /* errors stick */
            size_t again = 1;
            assert_int_equal(http_request_feed(h, "GET", 3, &again), st);
            assert_int_equal(again, 0);
            return false;
        }
        p += used;
        len -= used;
    }
    return true;
}

/* Frames data split at the given offsets (ascending, may repeat); returns
 * the description (owned by the caller). */
static char *frame_split(const char *data, size_t len, const size_t *cuts, int ncuts,
                         size_t max_header, size_t max_body)
{
    struct http_request h;
    http_request_init(&h, max_header, max_body);
    struct buf out = BUF_INIT;
    size_t at = 0;
    bool ok = true;
    for (int i = 0; i <= ncuts && ok; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        ok = feed_piece(&h, data + at, end - at, &out);
        at = end;
    }
    if (ok) buf_append_str(&out, h.started ? "partial\n" : "idle\n");
    http_request_free(&h);
    return out.data;
}

/* Frames `data` whole, split at each byte boundary and byte by byte; all
 * must agree. Returns the description of the whole framing. */
static char *frame_all_ways(const char *data, size_t len, size_t max_header, size_t max_body)
{
    char *whole = frame_split(data, len, NULL, 0, max_header, max_body);
    for (size_t k = 1; k < len; k++) {
        char *split = frame_split(data, len, &k, 1, max_header, max_body);
        if (strcmp(split, whole) != 0)
            fail_msg("split at %zu gave\n%s\ninstead of\n%s", k, split, whole);
        free(split);
    }
    size_t *cuts = malloc(len * sizeof(*cuts));
    for (size_t k = 0; k < len; k++)
        cuts[k] = k + 1;
    char *bytes = frame_split(data, len, cuts, (int)len - 1, max_header, max_body);
    if (strcmp(bytes, whole) != 0) fail_msg("byte by byte gave\n%s\ninstead of\n%s", bytes, whole);
    free(bytes);
    free(cuts);
    return whole;
}

static void expect_framing(const char *input, const char *want)
{
    char *got = frame_all_ways(input, strlen(input), BIG_HEADER, HTTP_MAX_BODY);
    assert_string_equal(got, want);
    free(got);
}

#define DDB_HEADERS                                                                                \
    "Host: 127.0.0.1:8111\r\n"                                                                     \
    "Accept-Encoding: identity\r\n"                                                                \
    "X-Amz-Target: DynamoDB_20120810.GetItem\r\n"                                                  \
    "Content-Type: application/x-amz-json-1.0\r\n"                                                 \
    "User-Agent: Boto3/1.26.0 Python/3.11.2 Linux/6.1\r\n"                                         \
    "X-Amz-Date: 20261126T042023Z\r\n"                                                             \
    "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/dynamodb/"          \
    "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abc\r\n"
#define DDB_HEADERS_OUT                                                                            \
    "host: 127.0.0.1:8111\n"                                                                       \
    "accept-encoding: identity\n"                                                                  \
    "x-amz-target: DynamoDB_20120810.GetItem\n"                                                    \
    "content-type: application/x-amz-json-1.0\n"                                                   \
    "user-agent: Boto3/1.26.0 Python/3.11.2 Linux/6.1\n"                                           \
    "x-amz-date: 20261126T042023Z\n"                                                               \
    "authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/dynamodb/"          \
    "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abc\n"
#define GET_ITEM "{\"TableName\":\"Music\",\"Key\":{\"Artist\":{\"S\":\"Acme Band\"}}}"

static const char single_get[] = "GET /healthz?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n";
static const char single_get_out[] = "GET /healthz?x=1 ka=1\nhost: localhost\nbody[0]:\nidle\n";

static const char post_cl[] =
    "POST / HTTP/1.1\r\n" DDB_HEADERS "Content-Length: 56\r\n\r\n" GET_ITEM;
static const char post_cl_out[] = "POST / ka=1\n" DDB_HEADERS_OUT "content-length: 56\n"
                                  "body[56]:" GET_ITEM "\nidle\n";

static const char chunked[] = "POST / HTTP/1.1\r\n"
                              "Host: h\r\n"
                              "Transfer-Encoding: chunked\r\n"
                              "X-Amz-Target: DynamoDB_20120810.PutItem\r\n"
                              "\r\n"
                              "5;name=value\r\nhello\r\n"
                              "1\r\n \r\n"
                              "A;a=1;b=\"q\"\r\n{\"k\":\"v\"}x\r\n"
                              "0\r\n"
                              "X-Checksum: abc\r\n"
                              "X-Other-Trailer: with a value long enough to move the header "
                              "buffer if trailers were stored in it: 0123456789abcdefghijklmnop\r\n"
                              "\r\n";
static const char chunked_out[] = "POST / ka=1\n"
                                  "host: h\n"
                                  "transfer-encoding: chunked\n"
                                  "x-amz-target: DynamoDB_20120810.PutItem\n"
                                  "body[16]:hello {\"k\":\"v\"}x\n"
                                  "idle\n";

/* Frames one whole request in a fresh framer (free it after). */
static void frame_one(struct http_request *h, const char *input)
{
    http_request_init(h, BIG_HEADER, HTTP_MAX_BODY);
    size_t used;
    assert_int_equal(http_request_feed(h, input, strlen(input), &used), HTTP_READY);
    assert_int_equal(used, strlen(input));
}

static void test_single_request(void **state)
{
    expect_framing(single_get, single_get_out);
    /* and the accessors on a READY request */
    struct http_request h;
    frame_one(&h, post_cl);
    assert_string_equal(http_request_method(&h), "POST");
    size_t len;
    const char *v = http_request_header(&h, "X-AMZ-TARGET", &len); /* any case */
    assert_non_null(v);
    assert_int_equal(len, strlen("DynamoDB_20120810.GetItem"));
    assert_memory_equal(v, "DynamoDB_20120810.GetItem", len);
    assert_non_null(http_request_header(&h, "content-length", NULL));
    assert_null(http_request_header(&h, "x-amz-targe", &len));
    assert_null(http_request_header(&h, "x-amz-target-", &len));
    assert_int_equal(h.nheaders, 8);
    assert_true(h.headers_done && h.complete && h.keep_alive);
    http_request_free(&h);
}

static void test_post_with_content_length(void **state)
{
    expect_framing(post_cl, post_cl_out);
}

static void test_chunked_with_extensions_and_trailers(void **state)
{
    /* trailers are not merged into the headers (RFC 7230 4.1.2) */
    expect_framing(chunked, chunked_out);
    struct http_request h;
    frame_one(&h, chunked);
    assert_int_equal(h.nheaders, 3);
    assert_null(http_request_header(&h, "x-checksum", NULL));
    http_request_free(&h);
}

static void test_pipelined_two(void **state)
{
    char in[2048];
    snprintf(in, sizeof(in), "%s%s", single_get, post_cl);
    char want[4096];
    snprintf(want, sizeof(want), "GET /healthz?x=1 ka=1\nhost: localhost\nbody[0]:\n%s",
             post_cl_out);
    expect_framing(in, want);

    /* delivered one at a time: the second stays unconsumed until next() */
    struct http_request h;
    http_request_init(&h, BIG_HEADER, HTTP_MAX_BODY);
    size_t used, len = strlen(in);
    assert_int_equal(http_request_feed(&h, in, len, &used), HTTP_READY);
    assert_int_equal(used, sizeof(single_get) - 1);
    assert_string_equal(h.url.data, "/healthz?x=1");
    assert_int_equal(http_request_feed(&h, in + used, len - used, &used), HTTP_READY);
    assert_int_equal(used, 0);
    http_request_next(&h);
    assert_int_equal(h.nheaders, 0);
    assert_int_equal(h.body.len, 0);
    size_t off = sizeof(single_get) - 1;
    assert_int_equal(http_request_feed(&h, in + off, len - off, &used), HTTP_READY);
    assert_int_equal(used, len - off);
    assert_string_equal(http_request_method(&h), "POST");
    assert_string_equal(h.body.data, GET_ITEM);
    http_request_next(&h);
    assert_int_equal(http_request_feed(&h, single_get, 10, &used), HTTP_NEED_MORE);
    assert_int_equal(used, 10);
    assert_true(h.started);
    http_request_free(&h);
}

static void test_pipelined_three(void **state)
{
    char in[4096];
    snprintf(in, sizeof(in), "%s%s%s", post_cl, chunked,
             "GET /last HTTP/1.1\r\nConnection: close\r\n\r\n");
    char want[8192];
    snprintf(want, sizeof(want), "%.*s%.*s%s", (int)strlen(post_cl_out) - 5, post_cl_out,
             (int)strlen(chunked_out) - 5, chunked_out,
             "GET /last ka=0\nconnection: close\nbody[0]:\nidle\n");
    expect_framing(in, want);
}

static void test_pipelined_partial_tail(void **state)
{
    /* a whole request then the start of the next: it stays pending */
    char in[2048];
    snprintf(in, sizeof(in), "%sPOST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234", single_get);
    char want[512];
    snprintf(want, sizeof(want), "%.*spartial\n", (int)strlen(single_get_out) - 5, single_get_out);
    expect_framing(in, want);
}

static void test_keep_alive(void **state)
{
    expect_framing("GET / HTTP/1.0\r\n\r\n", "GET / ka=0\nbody[0]:\nidle\n");
    expect_framing("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                   "GET / ka=1\nconnection: keep-alive\nbody[0]:\nidle\n");
    expect_framing("GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
                   "GET / ka=0\nconnection: close\nbody[0]:\nidle\n");
    expect_framing("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n",
                   "GET / ka=0\nconnection: Close\nbody[0]:\nidle\n");
    expect_framing("GET / HTTP/1.1\r\n\r\n", "GET / ka=1\nbody[0]:\nidle\n");
}

static void test_header_names_and_values(void **state)
{
    expect_framing("GET / HTTP/1.1\r\n"
                   "X-MiXeD-CaSe: VaLuE KePt\r\n"
                   "X-Empty:\r\n"
                   "X-Empty-Space: \r\n"
                   "X-Spaces:   inner  spaces kept\r\n"
                   "X-Colon: a:b: c\r\n"
                   "X-Empty-Last:\r\n"
                   "\r\n",
                   "GET / ka=1\n"
                   "x-mixed-case: VaLuE KePt\n"
                   "x-empty: \n"
                   "x-empty-space: \n"
                   "x-spaces: inner  spaces kept\n"
                   "x-colon: a:b: c\n"
                   "x-empty-last: \n"
                   "body[0]:\nidle\n");
    /* a value split across feeds is joined */
    struct http_request h;
    http_request_init(&h, BIG_HEADER, HTTP_MAX_BODY);
    const char *parts[] = {"GET / HTTP/1.1\r\nX-Amz-Ta", "rget: DynamoDB_2012", "0810.Query", "\r",
                           "\nX-B: 1\r\n\r\n"};
    size_t used;
    for (int i = 0; i < 4; i++)
        assert_int_equal(http_request_feed(&h, parts[i], strlen(parts[i]), &used), HTTP_NEED_MORE);
    assert_int_equal(http_request_feed(&h, parts[4], strlen(parts[4]), &used), HTTP_READY);
    size_t len;
    const char *v = http_request_header(&h, "x-amz-target", &len);
    assert_int_equal(len, strlen("DynamoDB_20120810.Query"));
    assert_string_equal(v, "DynamoDB_20120810.Query");
    assert_string_equal(http_request_header(&h, "x-b", NULL), "1");
    http_request_free(&h);
}

static void test_expect_continue(void **state)
{
    const char head[] = "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                        "Content-Length: 5\r\n\r\n";
    struct http_request h;
    http_request_init(&h, BIG_HEADER, HTTP_MAX_BODY);
    size_t used;
    assert_int_equal(http_request_feed(&h, head, 20, &used), HTTP_NEED_MORE);
    assert_false(h.expect_continue); /* headers not done yet */
    assert_int_equal(http_request_feed(&h, head + 20, sizeof(head) - 21, &used), HTTP_NEED_MORE);
    assert_true(h.headers_done);
    assert_true(h.expect_continue);
    assert_int_equal(http_request_feed(&h, "he", 2, &used), HTTP_NEED_MORE);
    assert_false(h.expect_continue); /* the client is sending the body */
    assert_int_equal(http_request_feed(&h, "llo", 3, &used), HTTP_READY);
    assert_false(h.expect_continue);
    assert_string_equal(h.body.data, "hello");
    http_request_next(&h);

    /* chunked too; and the header value in any case */
    const char chunked_head[] = "POST / HTTP/1.1\r\nExpect: 100-Continue\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n";
    assert_int_equal(http_request_feed(&h, chunked_head, sizeof(chunked_head) - 1, &used),
                     HTTP_NEED_MORE);
    assert_true(h.expect_continue);
    assert_int_equal(http_request_feed(&h, "3\r\nabc\r\n0\r\n\r\n", 13, &used), HTTP_READY);
    assert_false(h.expect_continue);
    http_request_next(&h);

    /* nothing to continue without a body, or with another expectation */
    const char *no[] = {"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
                        "POST / HTTP/1.1\r\nExpect: 100-continue-x\r\nContent-Length: 3\r\n\r\n",
                        "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n"};
    http_request_free(&h);
    for (int i = 0; i < 3; i++) {
        http_request_init(&h, BIG_HEADER, HTTP_MAX_BODY);
        http_request_feed(&h, no[i], strlen(no[i]), &used);
        assert_true(h.headers_done);
        assert_false(h.expect_continue);
        http_request_free(&h);
    }
}

static void expect_error(const char *input, size_t max_header, size_t max_body, int err)
{
    char want[32];
    snprintf(want, sizeof(want), "error %d\n", err);
    char *got = frame_all_ways(input, strlen(input), max_header, max_body);
    if (!strstr(got, want)) fail_msg("framing\n%s\ngave\n%s\ninstead of %s", input, got, want);
    free(got);
}

static void test_body_cap(void **state)
{
    /* refused at the headers, before any body byte arrives */
    const char over[] = "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n";
    struct http_request h;
    http_request_init(&h, BIG_HEADER, 100);
    size_t used;
    assert_int_equal(http_request_feed(&h, over, sizeof(over) - 1, &used), HTTP_EBODY);
    assert_int_equal(h.body.len, 0);
    http_request_free(&h);
    expect_error(over, BIG_HEADER, 100, HTTP_EBODY);
    /* the real cap: 16 MiB */
    expect_error("POST / HTTP/1.1\r\nContent-Length: 16777217\r\n\r\n", BIG_HEADER, HTTP_MAX_BODY,
                 HTTP_EBODY);
    expect_error("POST / HTTP/1.1\r\nContent-Length: 99999999999999999\r\n\r\n", BIG_HEADER,
                 HTTP_MAX_BODY, HTTP_EBODY);
    /* exactly the cap is fine */
    char at_cap[256];
    snprintf(at_cap, sizeof(at_cap), "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789");
    char *got = frame_all_ways(at_cap, strlen(at_cap), BIG_HEADER, 10);
    assert_string_equal(got, "POST / ka=1\ncontent-length: 10\nbody[10]:0123456789\nidle\n");
    free(got);
    http_request_init(&h, BIG_HEADER, HTTP_MAX_BODY);
    assert_int_equal(
        http_request_feed(&h, "POST / HTTP/1.1\r\nContent-Length: 16777216\r\n\r\n", 45, &used),
        HTTP_NEED_MORE);
    http_request_free(&h);
}

static void test_chunked_body_cap(void **state)
{
    const char in[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "6\r\n012345\r\n6\r\n6789ab\r\n0\r\n\r\n";
    expect_error(in, BIG_HEADER, 10, HTTP_EBODY);
    char *got = frame_all_ways(in, sizeof(in) - 1, BIG_HEADER, 12);
    assert_string_equal(got,
                        "POST / ka=1\ntransfer-encoding: chunked\nbody[12]:0123456789ab\nidle\n");
    free(got);
}

static void test_header_cap(void **state)
{
    char in[1024];
    char big[300];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nX-Big: %s\r\n\r\n", big);
    expect_error(in, 256, HTTP_MAX_BODY, HTTP_EHEADERS);
    char *got = frame_all_ways(in, strlen(in), 1024, HTTP_MAX_BODY);
    assert_contains(got, "x-big: vvvv");
    free(got);
    /* refused as soon as the cap is passed, before the line ends */
    struct http_request h;
    http_request_init(&h, 256, HTTP_MAX_BODY);
    size_t used;
    assert_int_equal(http_request_feed(&h, in, 290, &used), HTTP_EHEADERS);
    http_request_free(&h);
    /* a long URL, and many small headers, count too */
    snprintf(in, sizeof(in), "GET /%s HTTP/1.1\r\n\r\n", big);
    expect_error(in, 256, HTTP_MAX_BODY, HTTP_EHEADERS);
    struct buf many = BUF_INIT;
    buf_append_str(&many, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 40; i++)
        buf_printf(&many, "X-H%02d: value\r\n", i);
    buf_append_str(&many, "\r\n");
    expect_error(many.data, 256, HTTP_MAX_BODY, HTTP_EHEADERS);
    buf_free(&many);
}

static void test_header_count_cap(void **state)
{
    for (int n = HTTP_MAX_HEADERS; n <= HTTP_MAX_HEADERS + 1; n++) {
        struct buf in = BUF_INIT;
        buf_append_str(&in, "GET / HTTP/1.1\r\n");
        for (int i = 0; i < n; i++)
            buf_printf(&in, "X-Header-%d: %d\r\n", i, i);
        buf_append_str(&in, "\r\n");
        char *got = frame_all_ways(in.data, in.len, BIG_HEADER, HTTP_MAX_BODY);
        if (n == HTTP_MAX_HEADERS) {
            assert_int_equal(count_occurrences(got, "x-header-"), HTTP_MAX_HEADERS);
            assert_contains(got, "x-header-63: 63\n");
        } else {
            assert_string_equal(got, "error -3\n");
        }
        free(got);
        buf_free(&in);
    }
}

static void test_malformed(void **state)
{
    static const char *bad[] = {
        "GET\r\n\r\n",
        "GET / HTTP/1.1 extra\r\n\r\n",
        "G ET / HTTP/1.1\r\n\r\n",
        "GET / XTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\n\n\x01",
        "FOO / HTTP/1.1\r\n\r\n",
        "\x00GET / HTTP/1.1\r\n\r\n",
        "HTTP/1.1 200 OK\r\n\r\n", /* a response */
        "GET / HTTP/1.1\r\nBad\x01Header: x\r\n\r\n",
        "GET / HTTP/1.1\r\n: no name\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost\r\n\r\n", /* the second */
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        size_t len = i == 6 ? 20 : strlen(bad[i]);
        char *got = frame_all_ways(bad[i], len, BIG_HEADER, HTTP_MAX_BODY);
        if (!strstr(got, "error -1\n")) fail_msg("#%zu gave\n%s", i, got);
        free(got);
    }
    /* after Connection: close the framer still reports ka=0 for that request
     * whatever follows; closing is the connection's job (libhttp-parser is
     * built non-strict, so it would go on parsing) */
    char *got = frame_all_ways("GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n",
                               55, BIG_HEADER, HTTP_MAX_BODY);
    const char *first = "GET / ka=0\nconnection: close\nbody[0]:\n";
    assert_true(strncmp(got, first, strlen(first)) == 0);
    free(got);
}

static void test_reuse_after_large_request(void **state)
{
    /* a request with many long headers, then a small one: nothing stale */
    struct buf in = BUF_INIT;
    buf_append_str(&in, "POST /a HTTP/1.1\r\n");
    for (int i = 0; i < 50; i++)
        buf_printf(&in, "X-Long-%d: %0200d\r\n", i, i);
    buf_append_str(&in, "Content-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nA: 1\r\n\r\n");
    char *got = frame_all_ways(in.data, in.len, BIG_HEADER, HTTP_MAX_BODY);
    assert_contains(got, "body[3]:abc\nGET /b ka=1\na: 1\nbody[0]:\nidle\n");
    assert_int_equal(count_occurrences(got, "x-long-"), 50);
    free(got);
    buf_free(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_request),
        cmocka_unit_test(test_post_with_content_length),
        cmocka_unit_test(test_chunked_with_extensions_and_trailers),
        cmocka_unit_test(test_pipelined_two),
        cmocka_unit_test(test_pipelined_three),
        cmocka_unit_test(test_pipelined_partial_tail),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_header_names_and_values),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_body_cap),
        cmocka_unit_test(test_chunked_body_cap),
        cmocka_unit_test(test_header_cap),
        cmocka_unit_test(test_header_count_cap),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_reuse_after_large_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
