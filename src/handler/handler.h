/*
 * handler.h: what the handler files share: forwarding to the backend and
 * (later) the cache-aware helpers. Only handler files include it.
 */
#ifndef DDBX_HANDLER_HANDLER_H
#define DDBX_HANDLER_HANDLER_H

#include "handler/request.h"

#include "config/config.h"

/* The options handlers read (valid between handler_setup and teardown). */
const struct config *handler_options(void);

/* How long keys stay uncached after a write of unknown outcome, in ms
 * (--write-holdoff, or twice --backend-timeout). */
uint64_t handler_holdoff_ms(void);

/* The region ddbx serves (the one its backend requests are signed for). */
const char *handler_region(void);

/* The handlers' clock in milliseconds (monotonic; a test may set its own). */
uint64_t handler_now(void);
void handler_set_clock(uint64_t (*now_ms)(void));

/* Sends body (taken) to r's thread's backend as X-Amz-Target `target`. */
void handler_call(struct request *r, const char *target, struct buf *body, backend_cb cb,
                  void *arg);
/* The backend_cb of a relayed request (arg: the request): learns a table
 * the answer describes, then sends the answer on. */
void handler_relay_done(struct backend_result *res, void *arg);
/* handler_relay_done without the sending: the answer made ready in r, its
 * status returned (for an answer that waits for the cluster's fan-out). */
int handler_relay_take(struct backend_result *res, struct request *r);
/* Sends a copy of body[0..len) to the backend as r's operation. */
void handler_forward(struct request *r, const char *body, size_t len, backend_cb cb, void *arg);

#endif
