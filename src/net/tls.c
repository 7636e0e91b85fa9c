/*
 * tls.c: OpenSSL server contexts and memory-BIO connections (see tls.h).
 * The only code that calls libssl; the handshake and records are all
 * OpenSSL's, this file moves bytes between its BIOs and the caller's buffers.
 */
#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"

struct tls_server {
    pthread_mutex_t lock; /* guards ctx */
    SSL_CTX *ctx;
    char *cert_file, *key_file;
};

struct tls_conn {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    bool established;
    const char *error;
};

/* OpenSSL's last reason, appended to err after `what`, the queue cleared. */
static void ssl_error(struct buf *err, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char reason[256];
    ERR_error_string_n(e, reason, sizeof(reason));
    buf_printf(err, "%s: %s", what, e ? reason : "unknown error");
    ERR_clear_error();
}

static SSL_CTX *load(const char *cert_file, const char *key_file, struct buf *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_error(err, "SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* no renegotiation (a client could make the server redo handshakes at
     * will); idle connections give their buffers back */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        buf_printf(err, "--tls-cert %s: ", cert_file);
        ssl_error(err, "cannot read the certificate chain");
    } else if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        buf_printf(err, "--tls-key %s: ", key_file);
        ssl_error(err, "cannot use the private key (unreadable, or not the certificate's)");
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
        buf_printf(err, "--tls-key %s: ", key_file);
        ssl_error(err, "does not match the certificate of --tls-cert");
    } else {
        return ctx;
    }
    SSL_CTX_free(ctx);
    return NULL;
}

int tls_server_create(const char *cert_file, const char *key_file, struct tls_server **out,
                      struct buf *err)
{
    SSL_CTX *ctx = load(cert_file, key_file, err);
    if (!ctx) return DDBX_ERR;
    struct tls_server *s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->ctx = ctx;
    s->cert_file = xstrdup(cert_file);
    s->key_file = xstrdup(key_file);
    *out = s;
    return DDBX_OK;
}

int tls_server_reload(struct tls_server *s, struct buf *err)
{
    SSL_CTX *ctx = load(s->cert_file, s->key_file, err);
    if (!ctx) return DDBX_ERR;
    pthread_mutex_lock(&s->lock);
    SSL_CTX *old = s->ctx;
    s->ctx = ctx;
    pthread_mutex_unlock(&s->lock);
    SSL_CTX_free(old); /* connections made with it hold references of their own */
    return DDBX_OK;
}

void tls_server_destroy(struct tls_server *s)
{
    if (!s) return;
    SSL_CTX_free(s->ctx);
    pthread_mutex_destroy(&s->lock);
    free(s->cert_file);
    free(s->key_file);
    free(s);
}

struct tls_conn *tls_conn_new(struct tls_server *s)
{
    struct tls_conn *t = xcalloc(1, sizeof(*t));
    pthread_mutex_lock(&s->lock);
    t->ssl = SSL_new(s->ctx); /* takes its own reference to the context */
    pthread_mutex_unlock(&s->lock);
    if (!t->ssl) abort(); /* out of memory, as xmalloc */
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->rbio || !t->wbio) abort();
    /* a drained memory BIO reads as "retry", not end of file */
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_accept_state(t->ssl);
    t->error = "";
    return t;
}

void tls_conn_free(struct tls_conn *t)
{
    if (!t) return;
    SSL_free(t->ssl);
    free(t);
}

bool tls_conn_established(const struct tls_conn *t)
{
    return t->established;
}

const char *tls_conn_error(const struct tls_conn *t)
{
    return t->error;
}

/* Moves what OpenSSL wrote into its output BIO to out. */
static void drain(struct tls_conn *t, struct buf *out)
{
    char *data;
    long n = BIO_get_mem_data(t->wbio, &data);
    if (n > 0) {
        buf_append(out, data, (size_t)n);
        (void)BIO_reset(t->wbio);
    }
}

static int fail(struct tls_conn *t, struct buf *out)
{
    unsigned long e = ERR_peek_last_error();
    t->error = e ? ERR_reason_error_string(e) : "connection failed";
    if (!t->error) t->error = "connection failed";
    ERR_clear_error();
    drain(t, out); /* an alert, if OpenSSL composed one */
    return TLS_EFAIL;
}

int tls_conn_read(struct tls_conn *t, const void *data, size_t len, struct buf *plain,
                  struct buf *out)
{
    if (len && BIO_write(t->rbio, data, (int)len) != (int)len) return fail(t, out);
    for (;;) {
        buf_reserve(plain, 16 * 1024);
        size_t room = plain->cap - plain->len - 1;
        int n = SSL_read(t->ssl, plain->data + plain->len, (int)MIN(room, (size_t)INT32_MAX));
        if (!t->established && SSL_is_init_finished(t->ssl)) t->established = true;
        if (n > 0) {
            plain->len += (size_t)n;
            plain->data[plain->len] = '\0';
            continue;
        }
        int e = SSL_get_error(t->ssl, n);
        if (e == SSL_ERROR_WANT_READ) break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            drain(t, out);
            return TLS_ECLOSED;
        }
        return fail(t, out);
    }
    drain(t, out);
    return TLS_OK;
}

int tls_conn_write(struct tls_conn *t, const void *data, size_t len, struct buf *out)
{
    const char *p = data;
    while (len > 0) {
        int chunk = (int)MIN(len, (size_t)INT32_MAX);
        int n = SSL_write(t->ssl, p, chunk);
        if (n <= 0) return fail(t, out);
        p += n;
        len -= (size_t)n;
    }
    drain(t, out);
    return TLS_OK;
}

void tls_conn_close_notify(struct tls_conn *t, struct buf *out)
{
    if (!t->established) return;
    SSL_shutdown(t->ssl);
    ERR_clear_error();
    drain(t, out);
}
