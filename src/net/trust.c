/*
 * trust.c: the keyring of --credentials and the check every API request
 * goes through (see trust.h). The verification itself is auth/verify.c's.
 */
#include "net/trust.h"

#include <stdlib.h>
#include <string.h>

#include "auth/credentials.h"
#include "auth/verify.h"
#include "handler/handler.h"
#include "metrics/metrics.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/log.h"

static struct keyring *keyring; /* NULL: not enforced */
static char *path;
static int fam_failures = -1;

/* The failure metrics' label values: the __types authentication answers. */
static const enum ddb_error failure_types[] = {
    DDB_MissingAuthenticationTokenException, DDB_UnrecognizedClientException,
    DDB_InvalidSignatureException, DDB_IncompleteSignatureException};
static const char *failure_names[ARRAY_SIZE(failure_types)];

/* This thread's snapshot and the keyring generation it was taken at. */
static _Thread_local struct auth_keys *mine;
static _Thread_local uint64_t mine_generation;

int trust_setup(const struct config *cfg)
{
    for (size_t i = 0; i < ARRAY_SIZE(failure_types); i++)
        failure_names[i] = ddb_error_desc(failure_types[i])->name;
    fam_failures =
        metrics_family_setup(FAMILY_AUTH_FAILURES, failure_names, (int)ARRAY_SIZE(failure_names));
    if (!cfg->credentials[0]) {
        log_info("no --credentials: ddbx trusts its network and verifies no signature (it "
                 "still refuses requests without a well-formed Authorization, as DynamoDB does)");
        return DDBX_OK;
    }
    struct auth_keys *keys;
    struct buf err = BUF_INIT;
    if (credentials_load(cfg->credentials, &keys, &err) != 0) {
        log_error("--credentials %s", err.data);
        buf_free(&err);
        return DDBX_ERR;
    }
    buf_free(&err);
    log_info("verifying every request's SigV4 signature against %zu principal%s of %s",
             auth_keys_count(keys), auth_keys_count(keys) == 1 ? "" : "s", cfg->credentials);
    keyring = keyring_create(keys);
    path = xstrdup(cfg->credentials);
    return DDBX_OK;
}

void trust_teardown(void)
{
    trust_thread_done();
    keyring_destroy(keyring);
    keyring = NULL;
    free(path);
    path = NULL;
}

bool trust_enforced(void)
{
    return keyring != NULL;
}

int trust_reload(void)
{
    if (!keyring) return DDBX_OK;
    struct buf err = BUF_INIT;
    int rc = keyring_reload(keyring, path, &err);
    if (rc == 0) {
        struct auth_keys *k = keyring_acquire(keyring);
        log_info("reloaded --credentials %s: %zu principal%s", path, auth_keys_count(k),
                 auth_keys_count(k) == 1 ? "" : "s");
        auth_keys_release(k);
    } else {
        log_error("reloading --credentials %s; the principals loaded before stay in use", err.data);
    }
    buf_free(&err);
    return rc == 0 ? DDBX_OK : DDBX_ERR;
}

void trust_thread_done(void)
{
    auth_keys_release(mine);
    mine = NULL;
    mine_generation = 0;
}

/* The calling thread's snapshot, taken again when a reload replaced it. */
static const struct auth_keys *current_keys(void)
{
    uint64_t g = keyring_generation(keyring);
    if (!mine || g != mine_generation) {
        auth_keys_release(mine);
        mine = keyring_acquire(keyring);
        mine_generation = g;
    }
    return mine;
}

static void count_failure(const struct auth_failure *f)
{
    for (size_t i = 0; fam_failures >= 0 && i < ARRAY_SIZE(failure_types); i++)
        if (failure_types[i] == f->error) metrics_family_incr(fam_failures, (int)i);
}

int trust_check(const struct sigv4_request *r, const struct auth_principal **who,
                struct auth_failure *f)
{
    *who = NULL;
    int rc;
    if (!keyring) {
        rc = verify_precheck(r, f);
    } else {
        struct verify_params vp = {handler_region(), "dynamodb", (int64_t)(clock_wall_ms() / 1000)};
        rc = verify_request(r, &vp, current_keys(), who, f);
        if (rc == 0) METRIC_INCR(auth_verified);
    }
    if (rc != 0) {
        count_failure(f);
        return DDBX_ERR;
    }
    return DDBX_OK;
}
