/* peer_guard.c: replay checks on authenticated peer frames (see peer_guard.h). */
#include "cluster/peer_guard.h"

#include <string.h>

void peer_guard_init(struct peer_guard *g, size_t npeers, uint8_t self, uint64_t self_inc,
                     uint64_t window_ms)
{
    memset(g, 0, sizeof(*g));
    g->npeers = npeers;
    g->self = self;
    g->self_inc = self_inc;
    g->window_ms = window_ms;
}

static int check_hello(struct peer_guard_link *l, const struct peer_hdr *h)
{
    if (h->from_inc > l->inc) {
        l->inc = h->from_inc;
        l->last_seq = h->seq;
        return PEER_GUARD_NEW_LIFE;
    }
    if (h->from_inc < l->inc) return PEER_GUARD_EINCARNATION;
    if (h->seq <= l->last_seq) return PEER_GUARD_EREPLAY;
    l->last_seq = h->seq; /* a reconnection: the same life */
    return PEER_GUARD_OK;
}

int peer_guard_check(struct peer_guard *g, const struct peer_hdr *h, uint64_t now_ms)
{
    if (h->to != g->self || h->from == g->self || h->from >= g->npeers)
        return PEER_GUARD_EMISROUTED;
    uint64_t skew = h->ts_ms > now_ms ? h->ts_ms - now_ms : now_ms - h->ts_ms;
    if (skew > g->window_ms) return PEER_GUARD_ESTALE;
    struct peer_guard_link *l = &g->link[h->from];
    if (h->type == PEER_HELLO) return check_hello(l, h);
    if (l->inc == 0 || h->from_inc > l->inc) return PEER_GUARD_ENOHELLO;
    if (h->from_inc < l->inc || h->to_inc != g->self_inc) return PEER_GUARD_EINCARNATION;
    if (h->seq <= l->last_seq) return PEER_GUARD_EREPLAY;
    l->last_seq = h->seq;
    return PEER_GUARD_OK;
}

const char *peer_guard_status_name(int status)
{
    switch (status) {
    case PEER_GUARD_OK: return "ok";
    case PEER_GUARD_NEW_LIFE: return "new life";
    case PEER_GUARD_EMISROUTED: return "misrouted";
    case PEER_GUARD_ESTALE: return "stale timestamp";
    case PEER_GUARD_EREPLAY: return "replayed sequence";
    case PEER_GUARD_EINCARNATION: return "wrong incarnation";
    case PEER_GUARD_ENOHELLO: return "no hello";
    default: return "unknown";
    }
}
