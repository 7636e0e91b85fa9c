/*
 * tls.h: TLS for the API port (--tls-cert, --tls-key) on OpenSSL, with
 * memory BIOs: OpenSSL never touches a socket. The connection (net/conn.c)
 * hands it the bytes libuv read and writes out the bytes it produces, so the
 * event loop never blocks on a handshake, and a record split over any number
 * of reads is handled as OpenSSL reassembles it.
 *
 *   socket --read--> tls_conn_read --> plaintext (HTTP framing)
 *                         '--> bytes to send (handshake, alerts, tickets)
 *   reply  --------> tls_conn_write --> records to send --> socket
 *
 * A tls_server holds the certificate and key; tls_server_reload (SIGHUP)
 * swaps in freshly read ones without touching connections already open:
 * each connection keeps the context it was accepted with. TLS 1.2 and 1.3
 * only; renegotiation is refused (OpenSSL's SSL_OP_NO_RENEGOTIATION: a
 * client asking for it gets a no_renegotiation alert and the connection
 * goes on as it was).
 *
 * Thread-safety: a tls_server may be used by every worker at once; a
 * tls_conn belongs to one connection (one thread).
 */
#ifndef DDBX_NET_TLS_H
#define DDBX_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

struct tls_server;
struct tls_conn;

enum tls_status {
    TLS_OK = 0,
    TLS_ECLOSED = -1, /* the peer sent close_notify: no more data will come */
    TLS_EFAIL = -2,   /* handshake failure or bad record: send what `out` holds, then close */
};

/* Reads the PEM certificate chain and private key. Returns DDBX_OK with
 * *out, or DDBX_ERR with a message in err (OpenSSL's reason included). */
int tls_server_create(const char *cert_file, const char *key_file, struct tls_server **out,
                      struct buf *err);
/* Reads the same files again and, if they load and match, uses them for
 * connections accepted from now on. Returns DDBX_OK; or DDBX_ERR with a
 * message in err, the current certificate kept. */
int tls_server_reload(struct tls_server *s, struct buf *err);
void tls_server_destroy(struct tls_server *s);

/* A server-side connection using s's current certificate; free with
 * tls_conn_free. */
struct tls_conn *tls_conn_new(struct tls_server *s);
void tls_conn_free(struct tls_conn *t);
/* Takes len bytes received from the peer: appends the application data they
 * complete to `plain` and whatever must be sent back to `out`. Returns a
 * tls_status; after TLS_ECLOSED or TLS_EFAIL feed nothing more. */
int tls_conn_read(struct tls_conn *t, const void *data, size_t len, struct buf *plain,
                  struct buf *out);
/* Encrypts len bytes of application data (the handshake must be done),
 * appending the records to `out`. Returns TLS_OK or TLS_EFAIL. */
int tls_conn_write(struct tls_conn *t, const void *data, size_t len, struct buf *out);
/* Appends a close_notify alert to `out` (nothing if the handshake is not done). */
void tls_conn_close_notify(struct tls_conn *t, struct buf *out);
/* True once the handshake has completed. */
bool tls_conn_established(const struct tls_conn *t);
/* Why the connection failed (OpenSSL's reason), or "" (static storage). */
const char *tls_conn_error(const struct tls_conn *t);

#endif
