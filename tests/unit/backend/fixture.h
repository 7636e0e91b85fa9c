/*
 * fixture.h: a backend client (backend/backend.h, either HTTP client) and a
 * scripted test server (test_server.h) on one libuv loop, and the calls the
 * tests make through the public API. Shared by the backend module's tests.
 */
#ifndef DDBX_TESTS_BACKEND_FIXTURE_H
#define DDBX_TESTS_BACKEND_FIXTURE_H

#include <stdbool.h>
#include <uv.h>

#include "backend/backend.h"
#include "config/config.h"
#include "test_server.h"

#define FX_KEY_ID "AKIDBACKENDUNITTEST"
#define FX_SECRET "backend/unit+test=secret"

struct fx {
    uv_loop_t loop;
    struct test_server *srv;
    struct config cfg;
    struct backend *b;
};

/* What one call's callback saw. */
struct got {
    int calls;
    bool inside; /* the callback ran inside backend_call */
    enum backend_outcome outcome;
    int status;
    struct buf body;
    char request_id[128];
    const char *error;
    uint32_t crc;
    bool crc_known;
};

/* The client every fx_start uses: "auto" (http1 for http://) or "curl". */
extern const char *fx_client;
/* The session token fx_start puts in the environment (NULL: none). */
extern const char *fx_session_token;

/* Starts the server and a backend for it at url, a printf format given the
 * server's port (NULL: "http://127.0.0.1:%d"),
 * with the given --backend-timeout. The environment gets FX_KEY_ID,
 * FX_SECRET and fx_session_token as the credentials. */
void fx_start(struct fx *f, const char *url, uint64_t timeout_ms);
/* backend_destroy, the server stopped, the loop run until every handle has
 * closed (asserted), backend_teardown. */
void fx_stop(struct fx *f);
/* Sends body as X-Amz-Target target; g is filled by the callback. */
void fx_call(struct fx *f, const char *target, const char *body, size_t len, struct got *g);
/* Runs the loop until g's callback ran (failing after 10 s). */
void fx_wait(struct fx *f, struct got *g);
/* fx_call then fx_wait. */
void fx_roundtrip(struct fx *f, const char *body, struct got *g);
/* Runs the loop for about ms milliseconds. */
void fx_run_for(struct fx *f, uint64_t ms);
void got_free(struct got *g);
/* The backend's connections opened so far (the metric). */
int64_t fx_opened(void);

#endif
