/*
 * signer.c: SigV4 signing of backend requests (see signer.h). The header
 * list is sorted here because the canonical request lists headers in name
 * order, and the caller's order is whatever libcurl wants.
 */
#include "auth/signer.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"

struct signer {
    char *key_id, *secret, *token, *service;
    pthread_mutex_t lock; /* guards the cache */
    char scope[SIGV4_SCOPE_MAX];
    uint8_t key[SIGV4_KEY_LEN];
    uint64_t derivations;
};

struct signer *signer_create(const char *key_id, const char *secret, const char *token,
                             const char *service)
{
    struct signer *s = xcalloc(1, sizeof(*s));
    s->key_id = xstrdup(key_id);
    s->secret = xstrdup(secret);
    s->token = token ? xstrdup(token) : NULL;
    s->service = xstrdup(service);
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

void signer_destroy(struct signer *s)
{
    if (!s) return;
    OPENSSL_cleanse(s->secret, strlen(s->secret));
    OPENSSL_cleanse(s->key, sizeof(s->key));
    free(s->key_id);
    free(s->secret);
    free(s->token);
    free(s->service);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

const char *signer_token(const struct signer *s)
{
    return s->token;
}

uint64_t signer_derivations(const struct signer *s)
{
    pthread_mutex_lock((pthread_mutex_t *)&s->lock);
    uint64_t n = s->derivations;
    pthread_mutex_unlock((pthread_mutex_t *)&s->lock);
    return n;
}

static void signing_key(struct signer *s, const char *scope, size_t scope_len, const char *date8,
                        const char *region, uint8_t key[SIGV4_KEY_LEN])
{
    pthread_mutex_lock(&s->lock);
    bool hit = strcmp(s->scope, scope) == 0;
    if (hit) memcpy(key, s->key, SIGV4_KEY_LEN);
    pthread_mutex_unlock(&s->lock);
    if (hit) return;
    sigv4_signing_key(s->secret, strlen(s->secret), date8, region, strlen(region), s->service,
                      strlen(s->service), key);
    pthread_mutex_lock(&s->lock);
    memcpy(s->scope, scope, scope_len + 1);
    memcpy(s->key, key, SIGV4_KEY_LEN);
    s->derivations++;
    pthread_mutex_unlock(&s->lock);
}

/* Sorts by name, stably: repeated headers keep their order, in which the
 * canonical value joins them (insertion sort; a request has a few headers). */
static void sort_headers(struct http_header *h, int n)
{
    for (int i = 1; i < n; i++) {
        struct http_header t = h[i];
        int j = i;
        for (; j > 0 && strcasecmp(h[j - 1].name, t.name) > 0; j--)
            h[j] = h[j - 1];
        h[j] = t;
    }
}

static struct http_header header(const char *name, const char *value)
{
    return (struct http_header){name, value, (uint32_t)strlen(name), (uint32_t)strlen(value)};
}

int signer_sign(struct signer *s, const struct signer_request *r, struct buf *authorization,
                char amz_date[SIGV4_DATE_LEN + 1])
{
    char date[SIGV4_DATE_LEN + 1], scope[SIGV4_SCOPE_MAX];
    sigv4_date_format(r->now, date);
    int sl = snprintf(scope, sizeof(scope), "%.8s/%s/%s", date, r->region, s->service);
    if (sl <= 0 || (size_t)sl >= sizeof(scope)) return -1;

    int n = 0;
    struct http_header *h = xmalloc((size_t)(r->nheaders + 3) * sizeof(*h));
    for (int i = 0; i < r->nheaders; i++)
        h[n++] = r->headers[i];
    h[n++] = header("host", r->host);
    h[n++] = header("x-amz-date", date);
    if (s->token) h[n++] = header("x-amz-security-token", s->token);
    sort_headers(h, n);

    struct buf names = BUF_INIT, creq = BUF_INIT, sts = BUF_INIT;
    for (int i = 0; i < n; i++) {
        if (i && strcasecmp(h[i].name, h[i - 1].name) == 0) continue;
        if (names.len) buf_append_char(&names, ';');
        for (const char *c = h[i].name; *c; c++)
            buf_append_char(&names, (*c >= 'A' && *c <= 'Z') ? (char)(*c + 32) : *c);
    }
    char hash[SIGV4_HEX_LEN + 1], sig[SIGV4_HEX_LEN + 1];
    sigv4_sha256_hex(r->body ? r->body : "", r->body_len, hash);
    struct sigv4_request req = {
        r->method, r->path, strlen(r->path), r->query,   r->query ? strlen(r->query) : 0,
        h,         n,       r->body,         r->body_len};
    struct sigv4_canonical c = {names.data, names.len, hash, false};
    sigv4_canonical_request(&creq, &req, &c);
    sigv4_string_to_sign(&sts, date, scope, (size_t)sl, creq.data, creq.len);
    uint8_t key[SIGV4_KEY_LEN];
    signing_key(s, scope, (size_t)sl, date, r->region, key);
    sigv4_signature(key, sts.data, sts.len, sig);
    OPENSSL_cleanse(key, sizeof(key));

    buf_printf(authorization,
               SIGV4_ALGORITHM " Credential=%s/%s/" SIGV4_TERMINATOR
                               ", SignedHeaders=%s, Signature=%s",
               s->key_id, scope, names.data, sig);
    memcpy(amz_date, date, sizeof(date));
    free(h);
    buf_free(&names);
    buf_free(&creq);
    buf_free(&sts);
    return 0;
}
