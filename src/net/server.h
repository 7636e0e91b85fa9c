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
 * util/addr.h) for cfg->threads workers (0: one per core) and starts them,
 * serving TLS when cfg->tls_cert and cfg->tls_key are set (net/tls.h).
 * Returns DDBX_OK, or DDBX_ERR (logged) if the address does not resolve,
 * the port cannot be bound, or the certificate and key cannot be loaded. */
int server_start(const struct config *cfg);
/* Reads --tls-cert and --tls-key again (SIGHUP): connections accepted from
 * now on use them, open ones keep theirs. DDBX_OK (also without TLS), or
 * DDBX_ERR (logged) with the certificate loaded before kept. */
int server_reload(void);
/* Asks every worker to stop: no new connections; in-flight requests finish. */
void server_stop(void);
/* True once every worker has finished. */
bool server_stopped(void);
/* Joins the worker threads (call when server_stopped()). */
void server_join(void);

/* Starts the admin port (/healthz, /metrics) on cfg->admin (HOST:PORT, as
 * --listen; empty: none) on `loop`; /metrics wants cfg->admin_token (or the
 * first line of cfg->admin_token_file, readable by its owner only) as a
 * bearer token when one is set. DDBX_OK, or DDBX_ERR (logged). */
int admin_start(uv_loop_t *loop, const struct config *cfg);
void admin_stop(void);

#endif
