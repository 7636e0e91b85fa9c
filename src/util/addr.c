/*
 * addr.c: HOST:PORT parsing and resolution on getaddrinfo(3). Only the split
 * of "HOST:PORT" is written here (getaddrinfo takes host and port apart);
 * the resolving, numeric or by name, is the C library's.
 */
#include "util/addr.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "util/common.h"

int addr_split(const char *s, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || colon[1] == '\0') return ADDR_ESYNTAX;
    const char *h = s, *hend = colon;
    if (*s == '[') { /* an IPv6 literal: "[::1]:0" */
        if (colon[-1] != ']' || colon - s < 3) return ADDR_ESYNTAX;
        h = s + 1;
        hend = colon - 1;
    } else if (memchr(s, ':', (size_t)(colon - s))) {
        return ADDR_ESYNTAX; /* "::1:80": IPv6 needs its brackets */
    }
    size_t hl = (size_t)(hend - h);
    if (hl >= hostlen || memchr(h, '[', hl) || memchr(h, ']', hl)) return ADDR_ESYNTAX;
    unsigned long p = 0;
    for (const char *d = colon + 1; *d; d++) {
        if (*d < '0' || *d > '9') return ADDR_ESYNTAX;
        p = p * 10 + (unsigned long)(*d - '0');
        if (p > 65535) return ADDR_ESYNTAX;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)p;
    return DDBX_OK;
}

int addr_resolve_host(const char *host, uint16_t port, struct sockaddr_storage *out, socklen_t *len,
                      char *err, size_t errlen)
{
    char service[8];
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *list = NULL;
    int rc = getaddrinfo(host, service, &hints, &list);
    if (rc != 0 || !list) {
        snprintf(err, errlen, "cannot resolve \"%s\": %s", host,
                 rc == EAI_SYSTEM ? "system error" : gai_strerror(rc));
        if (list) freeaddrinfo(list);
        return ADDR_ERESOLVE;
    }
    const struct addrinfo *pick = list;
    for (const struct addrinfo *a = list; a; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    memset(out, 0, sizeof(*out));
    memcpy(out, pick->ai_addr, pick->ai_addrlen);
    *len = pick->ai_addrlen;
    freeaddrinfo(list);
    return DDBX_OK;
}

int addr_resolve(const char *s, struct sockaddr_storage *out, socklen_t *len, char *err,
                 size_t errlen)
{
    char host[256];
    uint16_t port;
    if (addr_split(s, host, sizeof(host), &port) < 0) {
        snprintf(err, errlen,
                 "not HOST:PORT with a port of 0 to 65535 (IPv6 in brackets: [::1]:8111)");
        return ADDR_ESYNTAX;
    }
    return addr_resolve_host(host, port, out, len, err, errlen);
}

void addr_format(const struct sockaddr *a, char *out, size_t outlen)
{
    char host[NI_MAXHOST], port[NI_MAXSERV];
    socklen_t len =
        a->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (getnameinfo(a, len, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, outlen, "?");
        return;
    }
    snprintf(out, outlen, a->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}
