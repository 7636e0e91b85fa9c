/*
 * owner.h: who owns what in a cluster. Rendezvous hashing (highest random
 * weight, Thaler and Ravishankar) over the configured peer list with a
 * liveness mask: an item key's owner, the ordered list of candidates that
 * gives the failover order when the owner is down, and the same for table
 * names (the node that reads a table's stream).
 *
 * Every node must compute the same answers, so everything here depends only
 * on the peers' address strings and the key bytes (proto/peer-protocol.md,
 * "Ownership", gives the exact arithmetic):
 *
 *   h      = XXH3_64bits_withSeed(key, len, domain)   domain: 0 items, OWNER_TABLE_DOMAIN tables
 *   seed_i = XXH3_64bits(address_i)
 *   w_i    = XXH3_64bits_withSeed(h as 8 little-endian bytes, 8, seed_i)
 *
 * and the candidates are the live peers by decreasing (w_i, seed_i). A
 * peer's weight for a key does not depend on the other peers, so adding or
 * removing a peer (or marking it dead) moves only the keys it wins or held.
 *
 * Peer ids are positions in the address list sorted by strcmp, so nodes
 * whose --peers lists differ only in order agree on ids too.
 *
 * Pure functions of their arguments; a struct owner_peers is read-only
 * after owner_peers_parse and may be shared between threads.
 */
#ifndef DDBX_CLUSTER_OWNER_H
#define DDBX_CLUSTER_OWNER_H

#include <stddef.h>
#include <stdint.h>

#define OWNER_MAX_PEERS 64                        /* a liveness mask is one uint64_t */
#define OWNER_ADDR_MAX 255                        /* bytes of one "host:port" entry */
#define OWNER_TABLE_DOMAIN UINT64_C(0x7461626c65) /* "table": tables and items hash apart */

enum owner_status {
    OWNER_OK = 0,
    OWNER_EINVALID = -1, /* a malformed list, or an address that is not in it */
    OWNER_ENONE = -2,    /* no peer of the list is live */
};

struct owner_peers {
    size_t n;
    char *addr[OWNER_MAX_PEERS]; /* owned, NUL-terminated, sorted by strcmp: id = index */
    uint64_t seed[OWNER_MAX_PEERS];
    uint64_t digest; /* XXH3_64bits of the sorted addresses joined by '\n' (sent in HELLO) */
};

/* Parses a comma-separated "host:port,host:port" list (blanks around entries
 * ignored). Fails with OWNER_EINVALID, leaving p empty, on an empty list or
 * entry, more than OWNER_MAX_PEERS entries, an entry longer than
 * OWNER_ADDR_MAX or holding a blank or control character, or a duplicate.
 * On success p owns copies of the entries; release with owner_peers_free. */
int owner_peers_parse(struct owner_peers *p, const char *list);
void owner_peers_free(struct owner_peers *p);
/* The id of the entry equal to addr[0..len), or OWNER_EINVALID. */
int owner_peers_find(const struct owner_peers *p, const char *addr, size_t len);
/* The mask with every peer's bit set (bit i = id i). */
uint64_t owner_peers_all(const struct owner_peers *p);

/* The owner of an item among the live peers (bits of `live` beyond p->n are
 * ignored): its id, or OWNER_ENONE when no listed peer is live. `key` is the
 * item's routing key (the cache key without its schema epoch: table name,
 * NUL, key attributes; proto/peer-protocol.md). */
int owner_of_key(const struct owner_peers *p, uint64_t live, const void *key, size_t len);
/* Every live peer in failover order (out[0] is the owner); returns how many. */
size_t owner_candidates_key(const struct owner_peers *p, uint64_t live, const void *key, size_t len,
                            uint8_t out[OWNER_MAX_PEERS]);
/* The same for a table name: the node that reads the table's stream. */
int owner_of_table(const struct owner_peers *p, uint64_t live, const char *table, size_t len);
size_t owner_candidates_table(const struct owner_peers *p, uint64_t live, const char *table,
                              size_t len, uint8_t out[OWNER_MAX_PEERS]);

#endif
