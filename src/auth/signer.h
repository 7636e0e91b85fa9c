/*
 * signer.h: SigV4 signatures for ddbx's own requests to the backend, with
 * the canonicalisation the verifier uses (auth/sigv4.h) and the derived
 * signing key cached per (date, region), so a request costs two SHA-256
 * passes and one HMAC, not five HMACs.
 *
 * The signer signs the headers it is given plus host, x-amz-date and, with
 * temporary credentials, x-amz-security-token; the caller sends exactly
 * those (Host as given, X-Amz-Date and Authorization as returned, and the
 * session token in X-Amz-Security-Token), with the body it signed.
 * Thread-safe: one signer may serve every worker.
 */
#ifndef DDBX_AUTH_SIGNER_H
#define DDBX_AUTH_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include "auth/sigv4.h"
#include "util/buf.h"
#include "util/http_header.h"

struct signer;

struct signer_request {
    const char *method; /* "POST" */
    const char *host;   /* the Host header's value, port included when sent */
    const char *path;   /* as sent, percent-encoded, without the query */
    const char *query;  /* what follows '?', or NULL */
    /* Other headers to sign (e.g. content-type, x-amz-target); not host,
     * x-amz-date, x-amz-security-token or authorization. Borrowed. */
    const struct http_header *headers;
    int nheaders;
    const void *body;
    size_t body_len;
    const char *region; /* e.g. "us-east-1" */
    int64_t now;        /* wall clock, seconds since the epoch */
};

/* A signer for these credentials (copied; token NULL without temporary
 * credentials) and service ("dynamodb"). Free with signer_destroy. */
struct signer *signer_create(const char *key_id, const char *secret, const char *token,
                             const char *service);
void signer_destroy(struct signer *s);
/* The session token to send in X-Amz-Security-Token, or NULL. */
const char *signer_token(const struct signer *s);

/* Signs r: appends the Authorization header's value to `authorization` and
 * writes the X-Amz-Date value to amz_date. Returns 0, or -1 (nothing
 * written) when the region and service would not fit a scope. */
int signer_sign(struct signer *s, const struct signer_request *r, struct buf *authorization,
                char amz_date[SIGV4_DATE_LEN + 1]);
/* How many signing keys s has derived (cache misses). */
uint64_t signer_derivations(const struct signer *s);

#endif
