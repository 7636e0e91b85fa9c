/*
 * fuzz_http.c: the HTTP/1.1 request framer (src/net/http.h).
 *
 * Input: one control byte, then the bytes a client sends. The low 7 bits of
 * the control byte choose where the bytes are split in two feeds; the high
 * bit chooses small caps (256-byte headers, 512-byte bodies, to reach the
 * refusals quickly) or ddbx's real ones. Every READY request is taken, then
 * http_request_next() and the rest of the feed, as net/conn.c does.
 *
 * Checked, besides ASan/UBSan/leaks: consumed <= len and all of a feed is
 * consumed when more is needed; expect_continue only between the headers
 * and the first body byte; a READY request's headers are resolved,
 * NUL-terminated, lower-cased and found by http_request_header(), within the
 * caps, and its body length matches its Content-Length; and the split
 * framing gives the same requests, in order, as the input fed whole.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "net/http.h"

#define SMALL_HEADER 256
#define SMALL_BODY 512

/* The Content-Length a request declared, or -1 when it has none, several,
 * or also a Transfer-Encoding (then the framing, not the header, decides). */
static long long declared_length(const struct http_request *h)
{
    const char *cl = NULL;
    int ncl = 0;
    for (int i = 0; i < h->nheaders; i++) {
        if (strcmp(h->headers[i].name, "transfer-encoding") == 0) return -1;
        if (strcmp(h->headers[i].name, "content-length") == 0) cl = h->headers[i].value, ncl++;
    }
    if (ncl != 1) return -1;
    while (*cl == ' ' || *cl == '\t')
        cl++;
    if (*cl < '0' || *cl > '9') return -1;
    char *end;
    long long n = strtoll(cl, &end, 10);
    while (*end == ' ' || *end == '\t')
        end++;
    return *end ? -1 : n;
}

static void check_ready(const struct http_request *h)
{
    FUZZ_CHECK(h->complete && h->headers_done && !h->expect_continue && h->error == 0);
    FUZZ_CHECK(h->nheaders >= 0 && h->nheaders <= HTTP_MAX_HEADERS);
    FUZZ_CHECK(h->header_bytes <= h->max_header);
    FUZZ_CHECK(h->url.len <= h->header_bytes);
    FUZZ_CHECK(h->body.len <= h->max_body);
    FUZZ_CHECK(h->body.len == 0 || h->body.data[h->body.len] == '\0');
    size_t counted = h->url.len;
    for (int i = 0; i < h->nheaders; i++) {
        const struct http_header *hd = &h->headers[i];
        const char *lo = h->hdrbuf.data, *hi = lo + h->hdrbuf.len;
        FUZZ_CHECK(hd->name >= lo && hd->name + hd->name_len < hi);
        FUZZ_CHECK(hd->value_len == 0 || (hd->value >= lo && hd->value + hd->value_len < hi));
        FUZZ_CHECK(hd->name[hd->name_len] == '\0' && hd->value[hd->value_len] == '\0');
        FUZZ_CHECK(strlen(hd->name) == hd->name_len);
        for (uint32_t k = 0; k < hd->name_len; k++)
            FUZZ_CHECK(hd->name[k] < 'A' || hd->name[k] > 'Z');
        size_t len;
        const char *v = http_request_header(h, hd->name, &len);
        FUZZ_CHECK(v != NULL);
        counted += hd->name_len + hd->value_len;
    }
    FUZZ_CHECK(counted <= h->header_bytes);
    long long cl = declared_length(h);
    if (cl >= 0) FUZZ_CHECK((long long)h->body.len == cl);
}

/* Appends a READY request to out, for comparing framings. */
static void describe(struct buf *out, const struct http_request *h)
{
    buf_printf(out, "%s ", http_request_method(h));
    buf_append(out, h->url.data, h->url.len);
    buf_printf(out, " ka=%d\n", h->keep_alive);
    for (int i = 0; i < h->nheaders; i++) {
        buf_append(out, h->headers[i].name, h->headers[i].name_len);
        buf_append_str(out, ": ");
        buf_append(out, h->headers[i].value, h->headers[i].value_len);
        buf_append_char(out, '\n');
    }
    buf_printf(out, "body[%zu]:", h->body.len);
    buf_append(out, h->body.data, h->body.len);
    buf_append_char(out, '\n');
}

/* Feeds one piece (in a buffer of exactly its size); false after an error. */
static bool feed(struct http_request *h, const uint8_t *src, size_t len, struct buf *out)
{
    char *piece = malloc(len ? len : 1);
    memcpy(piece, src, len);
    const char *p = piece;
    bool ok = true;
    while (len > 0) {
        size_t used = (size_t)-1;
        int st = http_request_feed(h, p, len, &used);
        FUZZ_CHECK(used <= len);
        if (st == HTTP_READY) {
            FUZZ_CHECK(used > 0);
            check_ready(h);
            describe(out, h);
            http_request_next(h);
        } else if (st == HTTP_NEED_MORE) {
            FUZZ_CHECK(used == len);
            /* a 100 Continue is due only between the headers and the body */
            if (h->expect_continue) FUZZ_CHECK(h->headers_done && h->body.len == 0);
        } else {
            FUZZ_CHECK(st == HTTP_EINVALID || st == HTTP_EBODY || st == HTTP_EHEADERS);
            FUZZ_CHECK(h->error == st);
            /* the kind of refusal may depend on where the input was split
             * (a cap passed in one piece, a bad byte seen first in another) */
            buf_append_str(out, "error\n");
            ok = false;
            break;
        }
        p += used;
        len -= used;
    }
    free(piece);
    return ok;
}

/* Frames data fed in two pieces split at `split`; returns the description. */
static char *frame(const uint8_t *data, size_t size, size_t split, size_t max_header,
                   size_t max_body)
{
    struct http_request h;
    http_request_init(&h, max_header, max_body);
    struct buf out = BUF_INIT;
    if (feed(&h, data, split, &out) && feed(&h, data + split, size - split, &out))
        buf_append_str(&out, h.started ? "partial\n" : "idle\n");
    http_request_free(&h);
    return out.data;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t control = data[0];
    data++, size--;
    size_t split = (size_t)(control & 0x7f) * size / 127;
    size_t max_header = control & 0x80 ? SMALL_HEADER : 64 * 1024;
    size_t max_body = control & 0x80 ? SMALL_BODY : HTTP_MAX_BODY;
    char *split_view = frame(data, size, split, max_header, max_body);
    char *whole_view = frame(data, size, size, max_header, max_body);
    FUZZ_CHECK(strcmp(split_view, whole_view) == 0);
    free(split_view);
    free(whole_view);
    return 0;
}
