/*
 * tlstest.h: what the TLS unit tests share: a self-signed certificate made
 * at run time (an EC P-256 key and a certificate for CN, in PEM, written to
 * a test's temporary directory) and OpenSSL client contexts that trust it.
 * Header-only, like nettest.h.
 */
#ifndef DDBX_TESTS_TLSTEST_H
#define DDBX_TESTS_TLSTEST_H

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "testutil.h"

struct tlstest_cert {
    EVP_PKEY *key;
    X509 *cert;
    char *key_pem, *cert_pem; /* malloc'd */
};

static inline char *tlstest_bio_text(BIO *b)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = malloc((size_t)n + 1);
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

/* A fresh key and a self-signed certificate for common name `cn`. */
static inline void tlstest_cert_make(struct tlstest_cert *c, const char *cn)
{
    c->key = EVP_EC_gen("P-256");
    assert_non_null(c->key);
    c->cert = X509_new();
    X509_set_version(c->cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c->cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(c->cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c->cert), 86400);
    X509_set_pubkey(c->cert, c->key);
    X509_NAME *name = X509_get_subject_name(c->cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c->cert, name);
    assert_true(X509_sign(c->cert, c->key, EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, c->key, NULL, NULL, 0, NULL, NULL);
    c->key_pem = tlstest_bio_text(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, c->cert);
    c->cert_pem = tlstest_bio_text(b);
}

static inline void tlstest_cert_free(struct tlstest_cert *c)
{
    EVP_PKEY_free(c->key);
    X509_free(c->cert);
    free(c->key_pem);
    free(c->cert_pem);
}

/* A client context that trusts c's certificate only, for TLS versions
 * min..max (0: OpenSSL's defaults). */
static inline SSL_CTX *tlstest_client_ctx(const struct tlstest_cert *c, int min, int max)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), c->cert);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (min && min < TLS1_2_VERSION) SSL_CTX_set_security_level(ctx, 0); /* allow old versions */
    if (min) SSL_CTX_set_min_proto_version(ctx, min);
    if (max) SSL_CTX_set_max_proto_version(ctx, max);
    return ctx;
}

/* The common name of the certificate the peer of `ssl` presented. */
static inline void tlstest_peer_cn(SSL *ssl, char *out, int len)
{
    X509 *peer = SSL_get1_peer_certificate(ssl);
    assert_non_null(peer);
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, out, len);
    X509_free(peer);
}

#endif
