/*
 * sigv4.c: SigV4 canonicalisation, string to sign, signing keys and
 * signatures, shared by the verifier and the signer. The canonical forms are
 * AWS-specific (no library offers them server-side); SHA-256 and HMAC are
 * OpenSSL's.
 */
#include "auth/sigv4.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/common.h"
#include "util/log.h"

/*
 * OpenSSL 3's one-shot SHA256() and HMAC() look the algorithm up and build a
 * context on every call, which measured as half of a verification's cost
 * (bench/micro/auth_verify.c). Each thread keeps one digest and one MAC
 * context instead, made on first use from algorithms fetched once, and
 * freed when the thread exits. A third context keeps the key of the last
 * signature made on the thread: HMAC's key schedule (two SHA-256 blocks and
 * the provider's set-up) is then skipped for the next request of the same
 * principal and day, the common case of a verifying worker.
 */
struct crypto {
    EVP_MD_CTX *md;
    EVP_MAC_CTX *mac;
    EVP_MAC_CTX *sig;    /* keyed with sig_key when sig_keyed */
    uint8_t sig_key[32]; /* SIGV4_KEY_LEN */
    bool sig_keyed;
};

static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static pthread_key_t crypto_key;
static EVP_MD *sha256_md;
static EVP_MAC *hmac_mac;

static void crypto_free(void *p)
{
    struct crypto *c = p;
    EVP_MD_CTX_free(c->md);
    EVP_MAC_CTX_free(c->mac);
    EVP_MAC_CTX_free(c->sig);
    OPENSSL_cleanse(c->sig_key, sizeof(c->sig_key));
    free(c);
}

static void crypto_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!sha256_md || !hmac_mac || pthread_key_create(&crypto_key, crypto_free) != 0) {
        log_error("OpenSSL provides no SHA256 or HMAC");
        abort();
    }
}

static struct crypto *crypto(void)
{
    pthread_once(&crypto_once, crypto_fetch);
    struct crypto *c = pthread_getspecific(crypto_key);
    if (c) return c;
    c = xcalloc(1, sizeof(*c));
    c->md = EVP_MD_CTX_new();
    c->mac = EVP_MAC_CTX_new(hmac_mac);
    c->sig = EVP_MAC_CTX_new(hmac_mac);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    if (!c->md || !c->mac || !c->sig || !EVP_MAC_CTX_set_params(c->mac, params) ||
        !EVP_MAC_CTX_set_params(c->sig, params)) {
        log_error("OpenSSL cannot make a SHA256 or HMAC context");
        abort();
    }
    pthread_setspecific(crypto_key, c);
    return c;
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

/* Appends s[0..n) with every byte but the unreserved ones as %XX. */
static void uri_encode(struct buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    buf_reserve(out, n * 3);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c)) {
            out->data[out->len++] = (char)c;
        } else {
            out->data[out->len++] = '%';
            out->data[out->len++] = hex[c >> 4];
            out->data[out->len++] = hex[c & 15];
        }
    }
    out->data[out->len] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Appends s[0..n) percent-decoded; a '%' not followed by two hex digits is
 * kept as it is ('+' is not a space in SigV4). */
static void uri_decode(struct buf *out, const char *s, size_t n)
{
    buf_reserve(out, n);
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            out->data[out->len++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out->data[out->len++] = s[i];
        }
    }
    out->data[out->len] = '\0';
}

/* Doubles an array that starts in the caller's stack array `local`. */
static void *grow(void *arr, const void *local, size_t *cap, size_t elem)
{
    size_t old = *cap;
    *cap *= 2;
    if (arr != local) return xrealloc(arr, *cap * elem);
    void *p = xmalloc(*cap * elem);
    memcpy(p, local, old * elem);
    return p;
}

/* The end of the field of s[0..len) that starts at i and ends at `sep`. */
static size_t field_end(const char *s, size_t len, size_t i, char sep)
{
    while (i < len && s[i] != sep)
        i++;
    return i;
}

struct seg {
    size_t off, len;
};

void sigv4_canonical_uri(struct buf *out, const char *path, size_t len)
{
    if (len == 0 || (len == 1 && path[0] == '/')) {
        buf_append_char(out, '/');
        return;
    }
    /* RFC 3986 dot-segment removal with empty segments dropped (botocore's
     * remove_dot_segments): a ".." at the root stays at the root. */
    struct seg local[32], *segs = local;
    size_t cap = ARRAY_SIZE(local), n = 0;
    for (size_t i = 0, j; i <= len; i = j + 1) {
        j = field_end(path, len, i, '/');
        size_t sl = j - i;
        if (sl == 2 && path[i] == '.' && path[i + 1] == '.') {
            if (n) n--;
        } else if (sl && !(sl == 1 && path[i] == '.')) {
            if (n == cap) segs = grow(segs, local, &cap, sizeof(*segs));
            segs[n++] = (struct seg){i, sl};
        }
    }
    /* a relative path (never sent by an SDK) that collapses to nothing is "/" */
    if (path[0] == '/' || n == 0) buf_append_char(out, '/');
    for (size_t k = 0; k < n; k++) {
        if (k) buf_append_char(out, '/');
        uri_encode(out, path + segs[k].off, segs[k].len);
    }
    if (path[len - 1] == '/' && n) buf_append_char(out, '/');
    if (segs != local) free(segs);
}

struct qparam {
    size_t key, key_len, val, val_len; /* offsets into the encoded text */
};

static int slice_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, MIN(al, bl));
    return c ? c : (al > bl) - (al < bl);
}

/* Sorts params by encoded name, then value (insertion sort: queries are short,
 * and qsort has no context argument for the text the offsets point into). */
static void sort_params(struct qparam *p, size_t n, const char *text)
{
    for (size_t i = 1; i < n; i++) {
        struct qparam t = p[i];
        size_t j = i;
        while (j > 0) {
            const struct qparam *a = &p[j - 1];
            int c = slice_cmp(text + a->key, a->key_len, text + t.key, t.key_len);
            if (!c) c = slice_cmp(text + a->val, a->val_len, text + t.val, t.val_len);
            if (c <= 0) break;
            p[j] = p[j - 1];
            j--;
        }
        p[j] = t;
    }
}

void sigv4_canonical_query(struct buf *out, const char *query, size_t len, bool presigned)
{
    if (!query || !len) return;
    struct buf enc = BUF_INIT, dec = BUF_INIT;
    struct qparam local[16], *params = local;
    size_t cap = ARRAY_SIZE(local), n = 0;
    for (size_t i = 0, j; i <= len; i = j + 1) {
        j = field_end(query, len, i, '&');
        if (j > i) {
            const char *eq = memchr(query + i, '=', j - i);
            size_t kl = eq ? (size_t)(eq - (query + i)) : j - i;
            struct qparam p;
            buf_reset(&dec);
            uri_decode(&dec, query + i, kl);
            bool skip = presigned && dec.len == 15 && memcmp(dec.data, "X-Amz-Signature", 15) == 0;
            if (!skip) {
                p.key = enc.len;
                uri_encode(&enc, dec.data, dec.len);
                p.key_len = enc.len - p.key;
                buf_reset(&dec);
                if (eq) uri_decode(&dec, eq + 1, j - i - kl - 1);
                p.val = enc.len;
                uri_encode(&enc, dec.data ? dec.data : "", dec.len);
                p.val_len = enc.len - p.val;
                if (n == cap) params = grow(params, local, &cap, sizeof(*params));
                params[n++] = p;
            }
        }
    }
    sort_params(params, n, enc.data);
    for (size_t k = 0; k < n; k++) {
        if (k) buf_append_char(out, '&');
        buf_append(out, enc.data + params[k].key, params[k].key_len);
        buf_append_char(out, '=');
        buf_append(out, enc.data + params[k].val, params[k].val_len);
    }
    if (params != local) free(params);
    buf_free(&enc);
    buf_free(&dec);
}

int sigv4_query_get(const char *query, size_t len, const char *name, struct buf *value)
{
    size_t nl = strlen(name);
    struct buf dec = BUF_INIT;
    int found = -1;
    for (size_t i = 0, j; i <= len && query && found < 0; i = j + 1) {
        j = field_end(query, len, i, '&');
        const char *eq = memchr(query + i, '=', j - i);
        size_t kl = eq ? (size_t)(eq - (query + i)) : j - i;
        buf_reset(&dec);
        uri_decode(&dec, query + i, kl);
        if (j > i && dec.len == nl && memcmp(dec.data, name, nl) == 0) {
            buf_reserve(value, 0);
            if (eq) uri_decode(value, eq + 1, j - i - kl - 1);
            found = 0;
        }
    }
    buf_free(&dec);
    return found;
}

static bool space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

void sigv4_canonical_value(struct buf *out, const char *v, size_t len)
{
    /* botocore: ' '.join(value.split()) */
    buf_reserve(out, len);
    bool pending = false, any = false;
    for (size_t i = 0; i < len; i++) {
        if (space(v[i])) {
            pending = any;
            continue;
        }
        if (pending) out->data[out->len++] = ' ';
        out->data[out->len++] = v[i];
        pending = false;
        any = true;
    }
    out->data[out->len] = '\0';
}

static void lower(struct buf *out, const char *s, size_t n)
{
    buf_reserve(out, n);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        out->data[out->len++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    out->data[out->len] = '\0';
}

/* "name:v1,v2\n" for every header named `name` (case-insensitive). */
static void canonical_header(struct buf *out, const struct sigv4_request *r, const char *name,
                             size_t nl)
{
    lower(out, name, nl);
    buf_append_char(out, ':');
    bool first = true;
    for (int i = 0; i < r->nheaders; i++) {
        const struct http_header *h = &r->headers[i];
        if (h->name_len != nl || strncasecmp(h->name, name, nl) != 0) continue;
        if (!first) buf_append_char(out, ',');
        sigv4_canonical_value(out, h->value, h->value_len);
        first = false;
    }
    buf_append_char(out, '\n');
}

void sigv4_canonical_request(struct buf *out, const struct sigv4_request *r,
                             const struct sigv4_canonical *c)
{
    buf_append_str(out, r->method);
    buf_append_char(out, '\n');
    sigv4_canonical_uri(out, r->path, r->path_len);
    buf_append_char(out, '\n');
    sigv4_canonical_query(out, r->query, r->query_len, c->presigned);
    buf_append_char(out, '\n');
    const char *s = c->signed_headers, *end = s + c->signed_len;
    while (s < end) {
        const char *semi = memchr(s, ';', (size_t)(end - s));
        const char *e = semi ? semi : end;
        if (e > s) canonical_header(out, r, s, (size_t)(e - s));
        s = e + 1;
    }
    buf_append_char(out, '\n');
    buf_append(out, c->signed_headers, c->signed_len);
    buf_append_char(out, '\n');
    buf_append(out, c->payload_hash, SIGV4_HEX_LEN);
}

void sigv4_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[bytes[i] >> 4];
        out[2 * i + 1] = hex[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char hex[SIGV4_HEX_LEN + 1])
{
    uint8_t md[SIGV4_KEY_LEN];
    struct crypto *c = crypto();
    unsigned int n = 0;
    EVP_DigestInit_ex(c->md, sha256_md, NULL);
    EVP_DigestUpdate(c->md, data, len);
    EVP_DigestFinal_ex(c->md, md, &n);
    sigv4_hex(md, sizeof(md), hex);
}

void sigv4_string_to_sign(struct buf *out, const char *amz_date, const char *scope,
                          size_t scope_len, const char *creq, size_t creq_len)
{
    char hash[SIGV4_HEX_LEN + 1];
    sigv4_sha256_hex(creq, creq_len, hash);
    buf_append_str(out, SIGV4_ALGORITHM "\n");
    buf_append(out, amz_date, SIGV4_DATE_LEN);
    buf_append_char(out, '\n');
    buf_append(out, scope, scope_len);
    buf_append_str(out, "/" SIGV4_TERMINATOR "\n");
    buf_append(out, hash, SIGV4_HEX_LEN);
}

static void hmac(const uint8_t *key, size_t key_len, const void *data, size_t len,
                 uint8_t out[SIGV4_KEY_LEN])
{
    struct crypto *c = crypto();
    size_t n = 0;
    EVP_MAC_init(c->mac, key, key_len, NULL);
    EVP_MAC_update(c->mac, data, len);
    EVP_MAC_final(c->mac, out, &n, SIGV4_KEY_LEN);
}

void sigv4_signing_key(const char *secret, size_t secret_len, const char *date8, const char *region,
                       size_t region_len, const char *service, size_t service_len,
                       uint8_t key[SIGV4_KEY_LEN])
{
    struct buf k = BUF_INIT;
    buf_append_str(&k, "AWS4");
    buf_append(&k, secret, secret_len);
    uint8_t a[SIGV4_KEY_LEN], b[SIGV4_KEY_LEN];
    hmac((const uint8_t *)k.data, k.len, date8, 8, a);
    hmac(a, sizeof(a), region, region_len, b);
    hmac(b, sizeof(b), service, service_len, a);
    hmac(a, sizeof(a), SIGV4_TERMINATOR, strlen(SIGV4_TERMINATOR), key);
    OPENSSL_cleanse(k.data, k.len);
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
    buf_free(&k);
}

void sigv4_signature(const uint8_t key[SIGV4_KEY_LEN], const char *sts, size_t sts_len,
                     char hex[SIGV4_HEX_LEN + 1])
{
    uint8_t mac[SIGV4_KEY_LEN];
    struct crypto *c = crypto();
    size_t n = 0;
    if (c->sig_keyed && CRYPTO_memcmp(c->sig_key, key, SIGV4_KEY_LEN) == 0) {
        EVP_MAC_init(c->sig, NULL, 0, NULL); /* the same key: HMAC restarts from its pads */
    } else {
        EVP_MAC_init(c->sig, key, SIGV4_KEY_LEN, NULL);
        memcpy(c->sig_key, key, SIGV4_KEY_LEN);
        c->sig_keyed = true;
    }
    EVP_MAC_update(c->sig, (const unsigned char *)sts, sts_len);
    EVP_MAC_final(c->sig, mac, &n, SIGV4_KEY_LEN);
    sigv4_hex(mac, sizeof(mac), hex);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil); timegm() would depend on nothing but is not C11. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int sigv4_date_parse(const char *s, size_t len, int64_t *sec)
{
    if (len != SIGV4_DATE_LEN || s[8] != 'T' || s[15] != 'Z') return -1;
    int y = digits(s, 4), mo = digits(s + 4, 2), d = digits(s + 6, 2);
    int h = digits(s + 9, 2), mi = digits(s + 11, 2), se = digits(s + 13, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 ||
        se > 59)
        return -1;
    static const unsigned char mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap)) return -1;
    *sec = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
    return 0;
}

void sigv4_date_format(int64_t sec, char out[SIGV4_DATE_LEN + 1])
{
    /* civil_from_days, the inverse of days_from_civil */
    int64_t days = sec >= 0 ? sec / 86400 : (sec - 86399) / 86400;
    int64_t rem = sec - days * 86400;
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    /* a year outside 0..9999 has no 4-digit form (never a real request's) */
    if (y < 0) y = 0;
    if (y > 9999) y = 9999;
    unsigned v[6] = {(unsigned)y,         m, d, (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60),
                     (unsigned)(rem % 60)};
    static const int width[6] = {4, 2, 2, 2, 2, 2};
    char *o = out;
    for (int i = 0; i < 6; i++) {
        for (int k = width[i] - 1; k >= 0; k--, v[i] /= 10)
            o[k] = (char)('0' + v[i] % 10);
        o += width[i];
        if (i == 2) *o++ = 'T';
    }
    *o++ = 'Z';
    *o = '\0';
}
