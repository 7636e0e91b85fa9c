/*
 * server.h: the worker threads serving the DynamoDB API, and the admin port.
 *
 * Each worker has its own libuv loop, its own listening socket on the shared
 * port (SO_REUSEPORT: the kernel spreads connections), its own backend client
 * and its own connections; workers share only the cache and the metrics
 * registry. The admin port runs on the main thread's loop.
 */
#ifndef DDBX_NET_SERVER_H
#define DDBX_NET_SERVER_H

#include <stdbool.h>
#include <uv.h>

#include "config/config.h"

/* Binds the API port (cfg->listen, HOST:PORT with HOST a name or an address:
 * util/addr.h) for cfg->threads workers (0: one per core) and starts them.
 * Returns DDBX_OK, or DDBX_ERR (logged) if the address does not resolve or
 * the port cannot be bound. */
int server_start(const struct config *cfg);
/* Asks every worker to stop: no new connections; in-flight requests finish. */
void server_stop(void);
/* True once every worker has finished. */
bool server_stopped(void);
/* Joins the worker threads (call when server_stopped()). */
void server_join(void);

/* Starts the admin port (/healthz, /metrics) on cfg->admin (HOST:PORT, as
 * --listen; empty: none) on `loop`. DDBX_OK, or DDBX_ERR (logged). */
int admin_start(uv_loop_t *loop, const struct config *cfg);
void admin_stop(void);

#endif
