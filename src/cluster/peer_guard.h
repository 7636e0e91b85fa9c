/*
 * peer_guard.h: the replay rules a node applies to each authenticated frame
 * before acting on it (proto/peer-protocol.md, "Replays").
 *
 * The HMAC proves a frame was made by a holder of the peer secret, not that
 * it is fresh: someone on the network could record frames and send them
 * again. The guard accepts a frame only when
 *   - it is addressed to this node (to == self) from another listed peer;
 *   - its sender timestamp is within window_ms of this node's wall clock;
 *   - it is a HELLO from a newer incarnation of the sender, or its sequence
 *     number is above the last one accepted from the sender's incarnation;
 *   - it is not a HELLO: it comes from the incarnation whose HELLO was
 *     accepted, and names this node's own incarnation as its receiver's.
 * So a recorded frame is refused by a node that has seen it (sequence), by a
 * node restarted since (incarnation) and, for a HELLO, once window_ms has
 * passed (timestamp).
 *
 * One guard per node, used by one thread (the peer transport's loop); no
 * locking. State is a few words per peer.
 */
#ifndef DDBX_CLUSTER_PEER_GUARD_H
#define DDBX_CLUSTER_PEER_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/peer_msg.h"

#define PEER_GUARD_WINDOW_MS 10000 /* default: hosts' clocks must agree within this */

enum peer_guard_status {
    PEER_GUARD_OK = 0,
    PEER_GUARD_NEW_LIFE = 1,      /* OK: a HELLO from a new incarnation of the sender */
    PEER_GUARD_EMISROUTED = -1,   /* not for this node, or from itself or an unlisted id */
    PEER_GUARD_ESTALE = -2,       /* timestamp outside the window */
    PEER_GUARD_EREPLAY = -3,      /* sequence number not above the last accepted */
    PEER_GUARD_EINCARNATION = -4, /* from an older life of the sender, or to an older one of ours */
    PEER_GUARD_ENOHELLO = -5,     /* not a HELLO, and no HELLO accepted from this life yet */
};

struct peer_guard_link {
    uint64_t inc;      /* the sender incarnation accepted last; 0: none yet */
    uint64_t last_seq; /* the highest seq accepted from it */
};

struct peer_guard {
    uint8_t self;
    size_t npeers;
    uint64_t self_inc;
    uint64_t window_ms;
    struct peer_guard_link link[OWNER_MAX_PEERS];
};

/* npeers: the list's length; self: this node's id; self_inc: this node's
 * incarnation (non-zero; larger at every start: the wall clock in
 * microseconds at start is the rule). */
void peer_guard_init(struct peer_guard *g, size_t npeers, uint8_t self, uint64_t self_inc,
                     uint64_t window_ms);
/* Checks a decoded header at wall time now_ms and, when it is accepted,
 * records it. Returns a peer_guard_status: >= 0 act on the frame, < 0 drop
 * it. */
int peer_guard_check(struct peer_guard *g, const struct peer_hdr *h, uint64_t now_ms);
const char *peer_guard_status_name(int status);

#endif
