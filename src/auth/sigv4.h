/*
 * sigv4.h: the pieces of AWS Signature Version 4 that the verifier of client
 * requests (auth/verify.h) and the signer of ddbx's own backend requests
 * (auth/signer.h) share, so both canonicalise a request the same way:
 * the canonical request, the string to sign, the derived signing key, the
 * signature, and the X-Amz-Date form of a time.
 *
 * Canonicalisation follows the SigV4 documentation for services other than
 * S3, as botocore implements it: the path has its dot segments and empty
 * segments removed and is then URI-encoded (so an already percent-encoded
 * path is encoded a second time); the query's names and values are decoded
 * and re-encoded strictly (RFC 3986 unreserved characters kept, everything
 * else %XX in upper case), then sorted; header values are trimmed and their
 * inner runs of white space collapsed to one space, repeated headers joined
 * with ',' in the order they came.
 *
 * Hashing and HMAC are OpenSSL's (libcrypto); none of these functions keeps
 * state, so any thread may call them.
 */
#ifndef DDBX_AUTH_SIGV4_H
#define DDBX_AUTH_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/http_header.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR "aws4_request"
#define SIGV4_KEY_LEN 32   /* bytes of a derived signing key */
#define SIGV4_HEX_LEN 64   /* hex characters of a SHA-256 or a signature */
#define SIGV4_DATE_LEN 16  /* "20150830T123600Z" */
#define SIGV4_SCOPE_MAX 96 /* "20150830/<region>/<service>" fits, region and service up to 40 */

/* A request as received (or about to be sent). Every pointer is borrowed. */
struct sigv4_request {
    const char *method; /* NUL-terminated, e.g. "POST" */
    const char *path;   /* as on the wire (percent-encoded), without the query */
    size_t path_len;
    const char *query; /* what follows '?', raw; NULL or empty when none */
    size_t query_len;
    const struct http_header *headers; /* all of the request's headers */
    int nheaders;
    const void *body;
    size_t body_len;
};

/* What the canonical request is made from besides the request itself. */
struct sigv4_canonical {
    const char *signed_headers; /* "host;x-amz-date": the list as the signer wrote it */
    size_t signed_len;
    const char *payload_hash; /* 64 hex characters */
    bool presigned;           /* leave X-Amz-Signature out of the canonical query */
};

/* Appends the canonical request of r to out. */
void sigv4_canonical_request(struct buf *out, const struct sigv4_request *r,
                             const struct sigv4_canonical *c);
/* Appends the canonical form of a path (see above); "" gives "/". */
void sigv4_canonical_uri(struct buf *out, const char *path, size_t len);
/* Appends the canonical query string of `query` (raw, without '?'). */
void sigv4_canonical_query(struct buf *out, const char *query, size_t len, bool presigned);
/* Appends the percent-decoded value of the first parameter of `query` whose
 * decoded name is `name` (a parameter without '=' has an empty value).
 * Returns 0, or -1 when there is none. */
int sigv4_query_get(const char *query, size_t len, const char *name, struct buf *value);
/* Appends a header value trimmed, inner white space collapsed to one space. */
void sigv4_canonical_value(struct buf *out, const char *value, size_t len);

/* Appends the string to sign: algorithm, date, scope ("<date>/<region>/
 * <service>/aws4_request") and the hex SHA-256 of the canonical request. */
void sigv4_string_to_sign(struct buf *out, const char *amz_date, const char *scope,
                          size_t scope_len, const char *creq, size_t creq_len);
/* Derives the signing key: HMAC chain "AWS4"+secret, date (8 characters),
 * region, service, "aws4_request". */
void sigv4_signing_key(const char *secret, size_t secret_len, const char *date8, const char *region,
                       size_t region_len, const char *service, size_t service_len,
                       uint8_t key[SIGV4_KEY_LEN]);
/* hex[0..64) = lower-case hex of HMAC-SHA256(key, sts); hex[64] = NUL. */
void sigv4_signature(const uint8_t key[SIGV4_KEY_LEN], const char *sts, size_t sts_len,
                     char hex[SIGV4_HEX_LEN + 1]);
/* hex of SHA-256(data), NUL-terminated. */
void sigv4_sha256_hex(const void *data, size_t len, char hex[SIGV4_HEX_LEN + 1]);
/* Lower-case hex of n bytes into out (2n characters and a NUL). */
void sigv4_hex(const uint8_t *bytes, size_t n, char *out);

/* Parses "YYYYMMDDTHHMMSSZ" (exactly 16 characters, a real calendar time)
 * into seconds since the epoch. Returns 0, or -1 if s is not that form. */
int sigv4_date_parse(const char *s, size_t len, int64_t *sec);
/* Writes the X-Amz-Date form of `sec` (16 characters and a NUL). */
void sigv4_date_format(int64_t sec, char out[SIGV4_DATE_LEN + 1]);

#endif
