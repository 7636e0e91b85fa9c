/*
 * fuzz_sigv4.c: the SigV4 Authorization header and pre-signed query parser
 * and the verifier behind it (src/auth/verify.h), and the canonical forms of
 * paths and queries (src/auth/sigv4.h).
 *
 * Input: one control byte, then the bytes of an Authorization header value
 * (control bit 0 clear) or of a query string (bit 0 set). Bit 1 adds an
 * X-Amz-Date header, bit 2 a Date header, bit 3 an X-Amz-Security-Token.
 *
 * Checked, besides ASan/UBSan:
 * - the precheck refuses only with a reason of its own, its __type and a
 *   non-empty message; verify_request refuses exactly as the precheck does
 *   when the precheck refuses, and otherwise with a later reason (the input
 *   cannot hold a valid signature);
 * - the canonical query of the input is canonical: built again from itself
 *   it is unchanged, and holds only unreserved characters, %XX (upper-case
 *   hex), '=' and '&';
 * - the canonical path holds only unreserved characters, %XX and '/', and no
 *   empty, "." or ".." segment.
 */
#include <stdlib.h>
#include <string.h>

#include "auth/credentials.h"
#include "auth/verify.h"
#include "fuzz.h"

static bool precheck_reason(enum auth_msg m)
{
    switch (m) {
    case AUTH_MSG_MISSING_TOKEN:
    case AUTH_MSG_BOTH_FORMS:
    case AUTH_MSG_NOT_KEY_VALUE:
    case AUTH_MSG_REQUIRES_CREDENTIAL:
    case AUTH_MSG_REQUIRES_SIGNATURE:
    case AUTH_MSG_REQUIRES_SIGNED_HEADERS:
    case AUTH_MSG_REQUIRES_DATE:
    case AUTH_MSG_QUERY_REQUIRES:
    case AUTH_MSG_QUERY_REEXAMINE:
    case AUTH_MSG_DATE_FORMAT: return true;
    default: return false;
    }
}

static bool unreserved(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static bool upper_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* Only unreserved characters, %XX, and the given separators. */
static void check_encoded(const struct buf *b, const char *seps)
{
    for (size_t i = 0; i < b->len; i++) {
        char c = b->data[i];
        if (c == '%') {
            FUZZ_CHECK(i + 2 < b->len && upper_hex(b->data[i + 1]) && upper_hex(b->data[i + 2]));
            i += 2;
        } else {
            FUZZ_CHECK(unreserved(c) || strchr(seps, c));
        }
    }
}

static void check_canonical_forms(const char *s, size_t n)
{
    struct buf q = BUF_INIT, again = BUF_INIT, uri = BUF_INIT;
    sigv4_canonical_query(&q, s, n, false);
    check_encoded(&q, "=&");
    sigv4_canonical_query(&again, q.data, q.len, false);
    FUZZ_CHECK(q.len == again.len && (q.len == 0 || memcmp(q.data, again.data, q.len) == 0));
    sigv4_canonical_uri(&uri, s, n);
    check_encoded(&uri, "/");
    FUZZ_CHECK(uri.len > 0);
    for (size_t i = 0; i < uri.len; i++) {
        if (uri.data[i] != '/') continue;
        const char *seg = uri.data + i + 1, *end = uri.data + uri.len;
        const char *next = memchr(seg, '/', (size_t)(end - seg));
        size_t sl = (size_t)((next ? next : end) - seg);
        FUZZ_CHECK(next == NULL || sl > 0); /* no "//" */
        FUZZ_CHECK(!(sl == 1 && seg[0] == '.') && !(sl == 2 && seg[0] == '.' && seg[1] == '.'));
    }
    buf_free(&q);
    buf_free(&again);
    buf_free(&uri);
}

static struct auth_keys *keys;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned ctl = data[0];
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    check_canonical_forms(s, n);
    if (!keys) {
        static const char text[] = "AKIDEXAMPLE wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n";
        struct buf err = BUF_INIT;
        FUZZ_CHECK(credentials_parse(text, sizeof(text) - 1, "fuzz", &keys, &err) == 0);
    }
    /* header values are NUL-terminated in ddbx: copy */
    char *value = malloc(n + 1);
    memcpy(value, s, n);
    value[n] = '\0';
    struct http_header h[5];
    int nh = 0;
    h[nh++] = (struct http_header){"host", "example.amazonaws.com", 4, 21};
    if (ctl & 2) h[nh++] = (struct http_header){"x-amz-date", "20150830T123600Z", 10, 16};
    if (ctl & 4) h[nh++] = (struct http_header){"date", "20150830T123600Z", 4, 16};
    if (ctl & 8) h[nh++] = (struct http_header){"x-amz-security-token", "token", 20, 5};
    bool query = ctl & 1;
    if (!query) h[nh++] = (struct http_header){"authorization", value, 13, (uint32_t)n};
    struct sigv4_request r = {"POST", "/", 1, query ? value : NULL, query ? n : 0, h, nh, "{}", 2};

    struct auth_failure pre, full;
    auth_failure_init(&pre);
    auth_failure_init(&full);
    int prc = verify_precheck(&r, &pre);
    FUZZ_CHECK(prc == 0 || prc == -1);
    struct verify_params vp = {"us-east-1", "service", 1440938160 /* 20150830T123600Z */};
    const struct auth_principal *who = NULL;
    int vrc = verify_request(&r, &vp, keys, &who, &full);
    FUZZ_CHECK(vrc == -1); /* no input carries a valid signature */
    FUZZ_CHECK(full.reason < AUTH_MSG_COUNT && full.message.len > 0);
    FUZZ_CHECK(strlen(full.message.data) == full.message.len);
    FUZZ_CHECK(full.error == auth_msg_desc(full.reason)->error);
    if (prc == -1) {
        FUZZ_CHECK(precheck_reason(pre.reason));
        FUZZ_CHECK(pre.error == auth_msg_desc(pre.reason)->error && pre.message.len > 0);
        FUZZ_CHECK(full.reason == pre.reason);
        FUZZ_CHECK(full.message.len == pre.message.len &&
                   memcmp(full.message.data, pre.message.data, pre.message.len) == 0);
    } else {
        FUZZ_CHECK(!precheck_reason(full.reason));
    }
    auth_failure_free(&pre);
    auth_failure_free(&full);
    free(value);
    return 0;
}
