/*
 * addr.h: "HOST:PORT" addresses as the options give them (--listen, --admin,
 * the backend URL's host, later the cluster's peers), parsed and resolved
 * with getaddrinfo(3) at startup, so names work as well as literals:
 * "0.0.0.0:8111", "localhost:0", "ddbx-2:7000", "[::1]:0".
 *
 * Resolution blocks (it may ask DNS): call it while starting up, never on an
 * event loop.
 */
#ifndef DDBX_UTIL_ADDR_H
#define DDBX_UTIL_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum addr_error {
    ADDR_ESYNTAX = -1,  /* not HOST:PORT, or the port is not 0..65535 */
    ADDR_ERESOLVE = -2, /* the host has no address (getaddrinfo failed) */
};

/* Splits "HOST:PORT" or "[V6]:PORT" into host (without brackets; at most
 * hostlen - 1 characters) and port. Returns DDBX_OK or ADDR_ESYNTAX. */
int addr_split(const char *s, char *host, size_t hostlen, uint16_t *port);

/* Resolves host (a name, an IPv4 address or an IPv6 address without
 * brackets) for a TCP socket on port into *out and *len. Of several
 * addresses the first IPv4 one is taken (what "localhost" meant before
 * names were resolved, and what container networks hand out), else the
 * first. Returns DDBX_OK, or ADDR_ERESOLVE with getaddrinfo's reason in err. */
int addr_resolve_host(const char *host, uint16_t port, struct sockaddr_storage *out, socklen_t *len,
                      char *err, size_t errlen);

/* addr_split then addr_resolve_host, with a message for either error in err
 * ("not HOST:PORT", "cannot resolve \"ddbx-2\": Name or service not known"). */
int addr_resolve(const char *s, struct sockaddr_storage *out, socklen_t *len, char *err,
                 size_t errlen);

/* Writes a numeric "A.B.C.D:PORT" or "[V6]:PORT" for a (at most outlen
 * bytes, NUL included; 64 are always enough). */
void addr_format(const struct sockaddr *a, char *out, size_t outlen);

#endif
