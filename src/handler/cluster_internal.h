/*
 * cluster_internal.h: what cluster.c (setup, writes, peers' invalidations,
 * events, degraded mode, streams) and cluster_get.c (forwarded reads, both
 * sides) share. Not for the other handler files: they use cluster.h.
 */
#ifndef DDBX_HANDLER_CLUSTER_INTERNAL_H
#define DDBX_HANDLER_CLUSTER_INTERNAL_H

#include "handler/cluster.h"

/* The cluster as set up (all zero without one). ops and node are written
 * before `on` is released and read after it is acquired. */
struct cluster_state {
    const struct cluster_ops *ops;
    void *node;
    struct cluster_options o;
    bool on;
};
extern struct cluster_state cluster__s;

/* cluster_get.c: the recent invalidations (a near copy of a key a peer
 * invalidated less than recent_ms ago is not kept) */
void cluster__recent_key(const void *key, size_t len, uint64_t now_ms);
void cluster__recent_all(uint64_t now_ms);
/* The peers' GETs: answered from the cache, or filled on the serving thread. */
void cluster__on_get(void *arg, struct node_get_req *req);
int cluster__serve_start(void);
void cluster__serve_stop(void);

/* cluster.c: true when this node is degraded and the table has no stream
 * coverage (its entries may live only --peer-degraded-ttl). */
bool cluster__capped(const char *table, size_t len);

#endif
