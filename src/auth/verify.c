/*
 * verify.c: parsing the Authorization header (or the pre-signed query) and
 * verifying a client's SigV4 signature, refusing with DynamoDB's messages in
 * DynamoDB's order (dynalite records the order; see proto/auth_messages.tsv).
 * The header grammar is AWS's, parsed here because no library parses it
 * server-side.
 */
#include "auth/verify.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/common.h"

enum { Q_ALGORITHM, Q_CREDENTIAL, Q_SIGNATURE, Q_SIGNED_HEADERS, Q_DATE, Q_TOKEN, Q_EXPIRES };

/* The query parameters of the pre-signed form, in the order DynamoDB lists
 * the missing ones (the first five are required). */
static const char *const query_names[7] = {
    "X-Amz-Algorithm", "X-Amz-Credential",     "X-Amz-Signature", "X-Amz-SignedHeaders",
    "X-Amz-Date",      "X-Amz-Security-Token", "X-Amz-Expires"};

static bool ws(char c)
{
    return c == ' ' || c == '\t';
}

/* The end of the token at p: the first white space or comma, or end. The
 * text is a header value, NUL-terminated after `end` and white space only
 * between end and the NUL, so glibc's strcspn (16 bytes a step) cannot pass
 * end by more than that white space. A byte loop was a tenth of a GetItem
 * hit's instructions (callgrind): an Authorization header is ~200 bytes. */
static const char *token_end(const char *p, const char *end)
{
    for (;;) {
        p += strcspn(p, " \t,");
        if (p >= end) return end;
        if (*p) return p;
        /* a NUL inside the value is part of the token, as before; one at
         * the very end (a length that counts the terminator) ends it */
        if (++p >= end) return end;
    }
}

static bool str_is(struct verify_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

static const char *find_header(const struct sigv4_request *r, const char *name, size_t *len)
{
    return http_header_find(r->headers, r->nheaders, name, len);
}

/* Copies s into a NUL-terminated string for a message (freed by the caller). */
static char *cstr(struct verify_str s)
{
    return xstrndup(s.p ? s.p : "", s.n);
}

/* Fails with message m whose one argument is s. */
static int fail_str(struct auth_failure *f, enum auth_msg m, struct verify_str s)
{
    char *a = cstr(s);
    auth_fail(f, m, a);
    free(a);
    return -1;
}

/* Header form: "AWS4-HMAC-SHA256 Credential=.., SignedHeaders=.., Signature=..",
 * parts separated by commas and/or white space, the last of a repeated key
 * winning (as DynamoDB reads it). */
static int parse_header(struct verify_str h, struct verify_auth *a, struct auth_failure *f)
{
    /* h is a header value: NUL-terminated (token_end relies on it) */
    const char *s = h.p, *end = h.p + h.n;
    while (s < end && ws(*s))
        s++;
    while (end > s && ws(end[-1]))
        end--;
    if (end - s < 5 || memcmp(s, "AWS4-", 5) != 0) return auth_fail(f, AUTH_MSG_MISSING_TOKEN);
    const char *p = token_end(s, end);
    a->algorithm = (struct verify_str){s, (size_t)(p - s)};
    bool have_signed = false;
    while (p < end) {
        while (p < end && (ws(*p) || *p == ','))
            p++;
        const char *t = p;
        p = token_end(p, end);
        if (p == t) break;
        const char *eq = memchr(t, '=', (size_t)(p - t));
        if (!eq) {
            char *tok = xstrndup(t, (size_t)(p - t)), *all = cstr(h);
            auth_fail(f, AUTH_MSG_NOT_KEY_VALUE, tok, all);
            free(tok);
            free(all);
            return -1;
        }
        struct verify_str key = {t, (size_t)(eq - t)}, val = {eq + 1, (size_t)(p - eq - 1)};
        if (str_is(key, "Credential")) a->credential = val;
        if (str_is(key, "Signature")) a->signature = val;
        if (str_is(key, "SignedHeaders")) {
            a->signed_headers = val;
            have_signed = true;
        }
    }
    if (!a->credential.n) auth_fail_more(f, AUTH_MSG_REQUIRES_CREDENTIAL);
    if (!a->signature.n) auth_fail_more(f, AUTH_MSG_REQUIRES_SIGNATURE);
    /* an empty SignedHeaders is allowed here (it fails the host check later) */
    if (!have_signed) auth_fail_more(f, AUTH_MSG_REQUIRES_SIGNED_HEADERS);
    if (!a->date.p) auth_fail_more(f, AUTH_MSG_REQUIRES_DATE);
    if (f->reason == AUTH_MSG_COUNT) return 0;
    char *all = cstr(h);
    auth_fail_more(f, AUTH_MSG_HEADER_ECHO, all);
    free(all);
    return -1;
}

static int parse_query(const struct sigv4_request *r, struct verify_auth *a, struct auth_failure *f)
{
    struct verify_str *dst[7] = {&a->algorithm, &a->credential, &a->signature, &a->signed_headers,
                                 &a->date,      &a->token,      &a->expires};
    for (int i = 0; i < 7; i++) {
        if (sigv4_query_get(r->query, r->query_len, query_names[i], &a->store[i]) == 0)
            *dst[i] = (struct verify_str){a->store[i].data, a->store[i].len};
        if (i <= Q_DATE && !dst[i]->n) auth_fail_more(f, AUTH_MSG_QUERY_REQUIRES, query_names[i]);
    }
    a->date_name = "X-Amz-Date";
    if (f->reason == AUTH_MSG_COUNT) return 0;
    auth_fail_more(f, AUTH_MSG_QUERY_REEXAMINE);
    return -1;
}

void verify_auth_free(struct verify_auth *a)
{
    for (int i = 0; i < 7; i++)
        buf_free(&a->store[i]);
}

int verify_parse(const struct sigv4_request *r, struct verify_auth *a, struct auth_failure *f)
{
    memset(a, 0, sizeof(*a));
    f->reason = AUTH_MSG_COUNT;
    size_t hl = 0;
    const char *h = find_header(r, "authorization", &hl);
    struct buf probe = BUF_INIT;
    bool query =
        r->query_len && sigv4_query_get(r->query, r->query_len, "X-Amz-Algorithm", &probe) == 0;
    buf_free(&probe);
    if (h && hl == 0) h = NULL; /* an empty header is no header (as DynamoDB) */
    if (h && query) return auth_fail(f, AUTH_MSG_BOTH_FORMS);
    if (!h && !query) return auth_fail(f, AUTH_MSG_MISSING_TOKEN);
    int rc;
    if (query) {
        a->presigned = true;
        rc = parse_query(r, a, f);
    } else {
        a->header = (struct verify_str){h, hl};
        size_t dl;
        const char *d = find_header(r, "x-amz-date", &dl);
        a->date_name = "X-Amz-Date";
        if (!d) {
            d = find_header(r, "date", &dl);
            a->date_name = "Date";
        }
        if (d) a->date = (struct verify_str){d, dl};
        rc = parse_header(a->header, a, f);
        size_t tl;
        const char *t = find_header(r, "x-amz-security-token", &tl);
        if (t) a->token = (struct verify_str){t, tl};
    }
    int64_t sec;
    if (rc == 0 && sigv4_date_parse(a->date.p, a->date.n, &sec) != 0)
        rc = fail_str(f, AUTH_MSG_DATE_FORMAT, a->date);
    if (rc) verify_auth_free(a);
    return rc;
}

int verify_precheck(const struct sigv4_request *r, struct auth_failure *f)
{
    struct verify_auth a;
    if (verify_parse(r, &a, f) != 0) return -1;
    verify_auth_free(&a);
    return 0;
}

static int check_time(const struct verify_auth *a, int64_t now, struct auth_failure *f)
{
    int64_t t;
    sigv4_date_parse(a->date.p, a->date.n, &t); /* verify_parse checked it */
    if (t < now - VERIFY_SKEW_SECONDS || t > now + VERIFY_SKEW_SECONDS) {
        bool past = t < now;
        char d[SIGV4_DATE_LEN + 1], bound[SIGV4_DATE_LEN + 1], at[SIGV4_DATE_LEN + 1];
        memcpy(d, a->date.p, SIGV4_DATE_LEN);
        d[SIGV4_DATE_LEN] = '\0';
        sigv4_date_format(now, at);
        sigv4_date_format(past ? now - VERIFY_SKEW_SECONDS : now + VERIFY_SKEW_SECONDS, bound);
        return auth_fail(f, past ? AUTH_MSG_EXPIRED : AUTH_MSG_NOT_YET_CURRENT, d, bound, at);
    }
    if (!a->presigned || !a->expires.p) return 0;
    /* X-Amz-Expires: whole seconds, at most 7 days, as the SDKs presign */
    int64_t e = 0;
    bool ok = a->expires.n > 0 && a->expires.n <= 6;
    for (size_t i = 0; ok && i < a->expires.n; i++) {
        ok = a->expires.p[i] >= '0' && a->expires.p[i] <= '9';
        e = e * 10 + (a->expires.p[i] - '0');
    }
    if (!ok || e > 604800 || now > t + e) return auth_fail(f, AUTH_MSG_PRESIGN_EXPIRED);
    return 0;
}

static bool list_has(struct verify_str list, const char *name)
{
    size_t nl = strlen(name);
    const char *s = list.p, *end = list.p + list.n;
    while (s < end) {
        const char *semi = memchr(s, ';', (size_t)(end - s));
        const char *e = semi ? semi : end;
        if ((size_t)(e - s) == nl && strncasecmp(s, name, nl) == 0) return true;
        s = e + 1;
    }
    return false;
}

static int check_signed_headers(const struct verify_auth *a, struct auth_failure *f)
{
    if (!list_has(a->signed_headers, "host")) return auth_fail(f, AUTH_MSG_HOST_NOT_SIGNED);
    if (!a->presigned && !list_has(a->signed_headers, a->date_name))
        return auth_fail(f, AUTH_MSG_DATE_NOT_SIGNED, a->date_name);
    return 0;
}

/* The credential "keyid/date/region/service/aws4_request" (trailing slashes
 * ignored) split into its five parts. */
static int split_credential(const struct verify_auth *a, struct verify_str part[5],
                            struct auth_failure *f)
{
    struct verify_str c = a->credential;
    while (c.n && c.p[c.n - 1] == '/')
        c.n--;
    int n = 0;
    const char *s = c.p, *end = c.p + c.n;
    while (n < 6) {
        const char *slash = memchr(s, '/', (size_t)(end - s));
        const char *e = slash ? slash : end;
        part[n < 5 ? n : 4] = (struct verify_str){s, (size_t)(e - s)};
        n++;
        if (!slash) break;
        s = e + 1;
    }
    if (n != 5) return fail_str(f, AUTH_MSG_CREDENTIAL_PARTS, a->credential);
    return 0;
}

static void more_str(struct auth_failure *f, enum auth_msg m, struct verify_str s)
{
    char *x = cstr(s);
    auth_fail_more(f, m, x);
    free(x);
}

static int check_scope(const struct verify_auth *a, const struct verify_str part[5],
                       const struct verify_params *vp, struct auth_failure *f)
{
    f->reason = AUTH_MSG_COUNT;
    if (!str_is(part[2], vp->region)) more_str(f, AUTH_MSG_SCOPE_REGION, part[2]);
    if (!str_is(part[3], vp->service)) auth_fail_more(f, AUTH_MSG_SCOPE_SERVICE, vp->service);
    if (!str_is(part[4], SIGV4_TERMINATOR)) more_str(f, AUTH_MSG_SCOPE_TERMINATOR, part[4]);
    if (part[1].n != 8 || memcmp(part[1].p, a->date.p, 8) != 0) {
        char *sd = cstr(part[1]), *d = cstr(a->date), d8[9];
        memcpy(d8, a->date.p, 8);
        d8[8] = '\0';
        auth_fail_more(f, AUTH_MSG_SCOPE_DATE, sd, d8, d);
        free(sd);
        free(d);
    }
    return f->reason == AUTH_MSG_COUNT ? 0 : -1;
}

/* The payload hash the canonical request uses: the body's, and the
 * x-amz-content-sha256 header must agree with it when present. */
static int payload_hash(const struct sigv4_request *r, char hash[SIGV4_HEX_LEN + 1],
                        struct auth_failure *f)
{
    sigv4_sha256_hex(r->body ? r->body : "", r->body_len, hash);
    size_t n;
    const char *v = find_header(r, "x-amz-content-sha256", &n);
    if (!v) return 0;
    if (n != SIGV4_HEX_LEN || strncasecmp(v, hash, SIGV4_HEX_LEN) != 0)
        return auth_fail(f, AUTH_MSG_CONTENT_SHA256);
    memcpy(hash, v, SIGV4_HEX_LEN); /* the client signed the header's spelling */
    return 0;
}

static int check_signature(const struct sigv4_request *r, const struct verify_auth *a,
                           const struct verify_str part[5], const struct auth_principal *p,
                           const char *hash, struct auth_failure *f)
{
    uint8_t key[SIGV4_KEY_LEN];
    auth_principal_signing_key(p, part[1].p, part[2].p, part[2].n, part[3].p, part[3].n, key);
    struct sigv4_canonical c = {a->signed_headers.p, a->signed_headers.n, hash, a->presigned};
    struct buf creq = BUF_INIT, sts = BUF_INIT;
    sigv4_canonical_request(&creq, r, &c);
    /* scope = "date/region/service", the part of the credential after the key id */
    const char *scope = part[1].p;
    size_t scope_len = (size_t)(part[3].p + part[3].n - scope);
    sigv4_string_to_sign(&sts, a->date.p, scope, scope_len, creq.data, creq.len);
    char expected[SIGV4_HEX_LEN + 1];
    sigv4_signature(key, sts.data, sts.len, expected);
    OPENSSL_cleanse(key, sizeof(key));
    buf_free(&creq);
    buf_free(&sts);
    bool same = a->signature.n == SIGV4_HEX_LEN &&
                CRYPTO_memcmp(expected, a->signature.p, SIGV4_HEX_LEN) == 0;
    return same ? 0 : auth_fail(f, AUTH_MSG_SIGNATURE_MISMATCH);
}

int verify_request(const struct sigv4_request *r, const struct verify_params *vp,
                   const struct auth_keys *keys, const struct auth_principal **who,
                   struct auth_failure *f)
{
    struct verify_auth a;
    if (verify_parse(r, &a, f) != 0) return -1;
    struct verify_str part[5];
    const struct auth_principal *p = NULL;
    char hash[SIGV4_HEX_LEN + 1];
    int rc = check_time(&a, vp->now, f);
    if (rc == 0) rc = check_signed_headers(&a, f);
    if (rc == 0 && !str_is(a.algorithm, SIGV4_ALGORITHM))
        rc = fail_str(f, AUTH_MSG_UNSUPPORTED_ALGORITHM, a.algorithm);
    if (rc == 0) rc = split_credential(&a, part, f);
    if (rc == 0) rc = check_scope(&a, part, vp, f);
    if (rc == 0 && !(p = auth_keys_find(keys, part[0].p, part[0].n)))
        rc = auth_fail(f, AUTH_MSG_UNKNOWN_KEY);
    if (rc == 0) rc = payload_hash(r, hash, f);
    if (rc == 0) rc = check_signature(r, &a, part, p, hash, f);
    if (rc == 0 && !a.presigned && a.token.p && !list_has(a.signed_headers, "x-amz-security-token"))
        rc = auth_fail(f, AUTH_MSG_TOKEN_UNSIGNED);
    verify_auth_free(&a);
    if (rc == 0) *who = p;
    return rc;
}
