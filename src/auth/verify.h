/*
 * verify.h: SigV4 verification of client requests, with DynamoDB's answers.
 *
 * Two entry points:
 * - verify_precheck: what DynamoDB refuses before any key is looked at, run
 *   by ddbx even without --credentials, so a client that forgot its
 *   credentials fails against ddbx as it would against DynamoDB: no
 *   Authorization header and no X-Amz-Algorithm query parameter
 *   (MissingAuthenticationTokenException), both at once
 *   (InvalidSignatureException), and a malformed header or query
 *   (IncompleteSignatureException, every missing part listed);
 * - verify_request: the precheck, then every other rule, in DynamoDB's
 *   order: date format; X-Amz-Date within 15 minutes of `now` (and, for a
 *   pre-signed request, X-Amz-Expires); host and the date header signed;
 *   algorithm AWS4-HMAC-SHA256; a 5-part credential scope whose region is
 *   the one ddbx serves, service `dynamodb` (the configured service),
 *   terminator aws4_request and date X-Amz-Date's date; a known key id;
 *   x-amz-content-sha256, when present, equal to the body's SHA-256; the
 *   signature (compared in constant time); and an X-Amz-Security-Token
 *   header only when it is signed (ddbx keeps no session tokens: a signed
 *   token is accepted as part of a request the key's secret signed).
 *
 * Both fill an auth_failure (auth/messages.h) with DynamoDB's __type and
 * message when they refuse. Both are thread-safe; the signing keys verify
 * derives are cached in the principal (auth/credentials.h).
 */
#ifndef DDBX_AUTH_VERIFY_H
#define DDBX_AUTH_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/credentials.h"
#include "auth/messages.h"
#include "auth/sigv4.h"

#define VERIFY_SKEW_SECONDS (15 * 60)

/* What the server expects of every request. */
struct verify_params {
    const char *region;  /* the region ddbx serves */
    const char *service; /* "dynamodb" */
    int64_t now;         /* wall clock, seconds since the epoch */
};

/* A string borrowed from the request (or from verify_auth's own storage). */
struct verify_str {
    const char *p;
    size_t n;
};

/* The authentication parts of a request, as verify_parse found them. */
struct verify_auth {
    bool presigned;           /* the query form (X-Amz-Algorithm, ...) */
    struct verify_str header; /* the Authorization header's value (header form) */
    struct verify_str algorithm, credential, signed_headers, signature, date, token, expires;
    const char *date_name; /* "X-Amz-Date" or "Date": where the date came from */
    struct buf store[7];   /* query form: the decoded values (owned) */
};

/* Finds and checks the form of the request's authentication (the
 * precheck's rules, up to and including the date's format). Returns 0 with a
 * filled, which must then be freed with verify_auth_free; or -1 with f
 * filled (a needs no freeing). */
int verify_parse(const struct sigv4_request *r, struct verify_auth *a, struct auth_failure *f);
void verify_auth_free(struct verify_auth *a);

/* The checks DynamoDB makes before looking at any key (see above).
 * Returns 0, or -1 with f filled. */
int verify_precheck(const struct sigv4_request *r, struct auth_failure *f);

/* Verifies r against `keys` (a snapshot the caller holds). Returns 0 and
 * sets *who to the principal (valid while `keys` is held); or -1 with f
 * filled. */
int verify_request(const struct sigv4_request *r, const struct verify_params *vp,
                   const struct auth_keys *keys, const struct auth_principal **who,
                   struct auth_failure *f);

#endif
