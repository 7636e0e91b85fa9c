/*
 * trust.h: who may use the API port. With --credentials FILE, every request's
 * SigV4 signature is verified (auth/verify.h) against the file's principals
 * before any cache lookup or backend call, and the principal goes with the
 * request to the grants (handler/grant.h). Without it ddbx trusts its
 * network (it says so once at start) but still refuses what DynamoDB
 * refuses before any signature check (verify_precheck): a request with no
 * Authorization header, one with both forms, a malformed header.
 *
 * The keyring (auth/credentials.h) is reloaded on SIGHUP; each worker thread
 * keeps a reference to the snapshot it last used and takes the new one at
 * its next request, so requests never wait on a reload.
 */
#ifndef DDBX_NET_TRUST_H
#define DDBX_NET_TRUST_H

#include <stdbool.h>

#include "auth/messages.h"
#include "auth/sigv4.h"
#include "config/config.h"

struct auth_principal;

/* Loads --credentials (when set) and sets the failure metrics up. Returns
 * DDBX_OK, or DDBX_ERR (logged) when the file is refused: unreadable,
 * readable by group or others, malformed, or without a principal. */
int trust_setup(const struct config *cfg);
void trust_teardown(void);
/* True when --credentials is in force. */
bool trust_enforced(void);
/* Reads --credentials again (SIGHUP). DDBX_OK; or DDBX_ERR, logged, the
 * principals already loaded kept. Nothing to do (DDBX_OK) without it. */
int trust_reload(void);

/* Judges the authentication of request r, as received. Returns DDBX_OK with
 * *who the principal that signed it (NULL when ddbx does not verify; valid
 * until this thread's next trust_check), or DDBX_ERR with f (initialised by
 * the caller) holding DynamoDB's error and message. Counts both in the
 * metrics. */
int trust_check(const struct sigv4_request *r, const struct auth_principal **who,
                struct auth_failure *f);
/* Releases the calling thread's snapshot (a worker thread that ends). */
void trust_thread_done(void);

#endif
