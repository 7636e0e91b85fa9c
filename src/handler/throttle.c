/*
 * throttle.c: --max-backend-inflight (see throttle.h). One counter shared by
 * every worker, touched twice per backend call (a backend round trip costs a
 * thousand times more); each call is wrapped so its answer gives its slot back.
 */
#include "handler/throttle.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "handler/handler.h"
#include "metrics/metrics.h"
#include "proto/errors.h"
#include "util/common.h"

#define THROTTLE_MAGIC 0x74746f72u

static atomic_int_fast64_t inflight;

struct slot {
    uint32_t magic;
    backend_cb cb;
    void *arg;
};

int64_t handler_backend_inflight(void)
{
    return atomic_load_explicit(&inflight, memory_order_relaxed);
}

static void on_answer(struct backend_result *res, void *arg)
{
    struct slot *s = arg;
    CHECK_MAGIC(s, THROTTLE_MAGIC);
    atomic_fetch_sub_explicit(&inflight, 1, memory_order_relaxed);
    backend_cb cb = s->cb;
    void *cb_arg = s->arg;
    s->magic = 0;
    free(s);
    cb(res, cb_arg);
}

/* On the loop's next turn: the ThrottlingException the backend was not asked for. */
static void on_throttled(void *arg)
{
    struct slot *s = arg;
    CHECK_MAGIC(s, THROTTLE_MAGIC);
    struct backend_result res;
    memset(&res, 0, sizeof(res));
    res.outcome = BACKEND_ANSWERED;
    res.status = ddb_error_desc(ddb_msg_error(MSG_throttled))->status;
    ddb_msg_compose(&res.body, MSG_throttled);
    request_make_id(res.request_id, sizeof(res.request_id));
    backend_cb cb = s->cb;
    void *cb_arg = s->arg;
    s->magic = 0;
    free(s);
    cb(&res, cb_arg);
    buf_free(&res.body);
}

void throttle_call(struct request *r, const char *target, struct buf *body, backend_cb cb,
                   void *arg)
{
    struct slot *s = xmalloc(sizeof(*s));
    *s = (struct slot){THROTTLE_MAGIC, cb, arg};
    uint64_t max = handler_options() ? handler_options()->max_backend_inflight : 0;
    int64_t before = atomic_fetch_add_explicit(&inflight, 1, memory_order_relaxed);
    if (max && (uint64_t)before >= max) {
        atomic_fetch_sub_explicit(&inflight, 1, memory_order_relaxed);
        METRIC_INCR(backend_throttled);
        buf_free(body);
        handler_thread_post(r->thread, on_throttled, s);
        return;
    }
    r->thread->bops->call(r->thread->backend, target, body, on_answer, s);
}
