/*
 * fixture.c: see fixture.h.
 */
#include "fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics/metrics.h"
#include "util/common.h"

const char *fx_client = "auto";
const char *fx_session_token;

static bool in_call; /* backend_call is on the stack */

static void on_result(struct backend_result *res, void *arg)
{
    struct got *g = arg;
    g->calls++;
    g->inside = in_call;
    g->outcome = res->outcome;
    g->status = res->status;
    g->crc = res->crc;
    g->crc_known = res->crc_known;
    g->error = res->error;
    snprintf(g->request_id, sizeof(g->request_id), "%s", res->request_id);
    buf_move(&g->body, &res->body);
}

void fx_start(struct fx *f, const char *url, uint64_t timeout_ms)
{
    memset(f, 0, sizeof(*f));
    metrics_setup();
    metrics_thread_register();
    setenv("AWS_ACCESS_KEY_ID", FX_KEY_ID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", FX_SECRET, 1);
    setenv("AWS_REGION", "us-east-1", 1);
    if (fx_session_token)
        setenv("AWS_SESSION_TOKEN", fx_session_token, 1);
    else
        unsetenv("AWS_SESSION_TOKEN");
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->srv = ts_start(&f->loop);
    config_defaults(&f->cfg);
    free(f->cfg.backend);
    free(f->cfg.backend_client);
    char own[256];
    snprintf(own, sizeof(own), url ? url : "http://127.0.0.1:%d", ts_port(f->srv));
    f->cfg.backend = xstrdup(own);
    f->cfg.backend_client = xstrdup(fx_client);
    f->cfg.backend_timeout = timeout_ms;
    f->cfg.backend_connect_timeout = timeout_ms;
    assert_int_equal(backend_setup(&f->cfg), 0);
    f->b = backend_create(&f->loop);
}

void fx_stop(struct fx *f)
{
    backend_destroy(f->b);
    ts_stop(f->srv);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    backend_teardown();
    config_free(&f->cfg);
    metrics_teardown();
}

void fx_call(struct fx *f, const char *target, const char *body, size_t len, struct got *g)
{
    struct buf b = BUF_INIT;
    buf_append(&b, body, len);
    in_call = true;
    backend_call(f->b, target, &b, on_result, g);
    in_call = false;
    assert_int_equal(b.len, 0); /* taken */
    buf_free(&b);
}

static void on_guard(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

void fx_run_for(struct fx *f, uint64_t ms)
{
    bool fired = false;
    uv_timer_t t;
    uv_timer_init(&f->loop, &t);
    t.data = &fired;
    uv_timer_start(&t, on_guard, ms, 0);
    while (!fired)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

void fx_wait(struct fx *f, struct got *g)
{
    bool expired = false;
    uv_timer_t t;
    uv_timer_init(&f->loop, &t);
    t.data = &expired;
    uv_timer_start(&t, on_guard, 10000, 0);
    while (!g->calls && !expired)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    if (!g->calls) fail_msg("no answer within 10 s");
    assert_int_equal(g->calls, 1);
    assert_false(g->inside);
}

void fx_roundtrip(struct fx *f, const char *body, struct got *g)
{
    fx_call(f, "DynamoDB_20120810.GetItem", body, strlen(body), g);
    fx_wait(f, g);
}

void got_free(struct got *g)
{
    buf_free(&g->body);
    memset(g, 0, sizeof(*g));
}

int64_t fx_opened(void)
{
    return metrics_tls->backend_connections_opened;
}
