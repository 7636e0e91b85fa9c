/*
 * node_options.c: a cluster node's options (node.h): defaults, the --peer-*
 * options of ddbx's table with the secret file's checks, and which entry of
 * --peers is this node.
 */
#include "cluster/node_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/addr.h"

void node_options_default(struct node_options *o)
{
    memset(o, 0, sizeof(*o));
    o->ping_interval_ms = 100;
    o->dead_after_ms = 500;
    o->ack_timeout_ms = 200;
    o->get_timeout_ms = 100;
    o->window_ms = PEER_GUARD_WINDOW_MS;
    o->outbox_keys = 10000;
    o->connect_timeout_ms = 1000;
    o->name = "cluster";
}

/* The secret file: a regular file nobody but its owner may read or write. */
static int read_secret_file(const char *path, struct buf *out, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "--peer-secret-file %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return NODE_EINVALID;
    }
    int rc = NODE_EINVALID;
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "--peer-secret-file %s: not a regular file", path);
    } else if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
        snprintf(err, errlen,
                 "--peer-secret-file %s: group or others may read or write it (chmod 600)", path);
    } else {
        char tmp[4096];
        ssize_t len = read(fd, tmp, sizeof(tmp));
        if (len < 0) {
            snprintf(err, errlen, "--peer-secret-file %s: %s", path, strerror(errno));
        } else {
            if (len > 0 && tmp[len - 1] == '\n') len--;
            if (len > 0 && tmp[len - 1] == '\r') len--;
            buf_reset(out);
            buf_append(out, tmp, (size_t)len);
            rc = NODE_OK;
        }
    }
    close(fd);
    return rc;
}

int node_options_from_config(struct node_options *o, const struct config *c, struct buf *secret,
                             char *err, size_t errlen)
{
    node_options_default(o);
    if (!*c->peers) return NODE_OK;
    if (!*c->peer_listen) {
        snprintf(err, errlen, "--peers needs --peer-listen");
        return NODE_EINVALID;
    }
    if (*c->peer_secret && *c->peer_secret_file) {
        snprintf(err, errlen, "give --peer-secret or --peer-secret-file, not both");
        return NODE_EINVALID;
    }
    if (*c->peer_secret_file) {
        if (read_secret_file(c->peer_secret_file, secret, err, errlen) < 0) return NODE_EINVALID;
    } else if (*c->peer_secret) {
        buf_reset(secret);
        buf_append_str(secret, c->peer_secret);
    } else {
        snprintf(err, errlen, "--peers needs --peer-secret or --peer-secret-file");
        return NODE_EINVALID;
    }
    if (secret->len < PEER_MSG_SECRET_MIN) {
        snprintf(err, errlen, "the peer secret must be at least %d bytes", PEER_MSG_SECRET_MIN);
        return NODE_EINVALID;
    }
    o->listen = c->peer_listen;
    o->peers = c->peers;
    o->self = c->peer_self;
    o->secret = secret->data;
    o->secret_len = secret->len;
    o->ping_interval_ms = c->peer_ping_interval;
    o->dead_after_ms = c->peer_dead_after;
    o->ack_timeout_ms = c->peer_ack_timeout;
    o->get_timeout_ms = c->peer_get_timeout;
    return NODE_OK;
}

/* ---- which entry is this node ---- */

static bool same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family) return false;
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->sa_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return false;
}

static bool is_local(const struct ifaddrs *ifs, const char *host)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0) return false;
    bool local = false;
    for (const struct addrinfo *ai = res; ai && !local; ai = ai->ai_next)
        for (const struct ifaddrs *i = ifs; i && !local; i = i->ifa_next)
            local = i->ifa_addr && same_addr(ai->ai_addr, i->ifa_addr);
    freeaddrinfo(res);
    return local;
}

int node_find_self(const struct owner_peers *p, const char *listen, const char *self)
{
    if (self && *self) {
        int id = owner_peers_find(p, self, strlen(self));
        return id >= 0 ? id : NODE_EINVALID;
    }
    if (!listen) return NODE_ESELF;
    int id = owner_peers_find(p, listen, strlen(listen));
    if (id >= 0) return id;
    char host[OWNER_ADDR_MAX + 1];
    uint16_t lport, port;
    struct ifaddrs *ifs = NULL;
    if (addr_split(listen, host, sizeof(host), &lport) < 0 || getifaddrs(&ifs) < 0)
        return NODE_ESELF;
    int found = NODE_ESELF;
    for (size_t i = 0; i < p->n; i++) {
        if (addr_split(p->addr[i], host, sizeof(host), &port) < 0 || port != lport ||
            !is_local(ifs, host))
            continue;
        if (found >= 0) { /* two entries of this machine with our port */
            found = NODE_ESELF;
            break;
        }
        found = (int)i;
    }
    freeifaddrs(ifs);
    return found;
}
