/*
 * throttle.h: the bound on backend requests in flight over all workers
 * (--max-backend-inflight). Past it a handler's backend call is not made:
 * its callback gets DynamoDB's ThrottlingException (400, which the SDKs
 * retry with back-off) as if the backend had answered it, so every handler
 * treats it as a refused request (nothing written, nothing cached) and the
 * client is answered at once instead of queueing without bound. Requests
 * served from the cache never call the backend and are never throttled.
 */
#ifndef DDBX_HANDLER_THROTTLE_H
#define DDBX_HANDLER_THROTTLE_H

#include <stdint.h>

#include "handler/request.h"

/* Sends body (taken) to r's thread's backend as X-Amz-Target `target`, or
 * throttles it (above); cb runs later, on r's thread, either way. */
void throttle_call(struct request *r, const char *target, struct buf *body, backend_cb cb,
                   void *arg);
/* Backend requests in flight over all threads (the ddbx_backend_inflight gauge). */
int64_t handler_backend_inflight(void);

#endif
