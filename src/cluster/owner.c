/* owner.c: rendezvous hashing over the peer list (see owner.h). */
#include "cluster/owner.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util/common.h"

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Copies one trimmed entry of the list into p; false when it is unusable. */
static bool add_entry(struct owner_peers *p, const char *s, size_t len)
{
    while (len && is_blank(*s))
        s++, len--;
    while (len && is_blank(s[len - 1]))
        len--;
    if (len == 0 || len > OWNER_ADDR_MAX || p->n == OWNER_MAX_PEERS) return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f) return false;
    p->addr[p->n++] = xstrndup(s, len);
    return true;
}

/* Seeds from the addresses, and the digest of the whole (sorted) list. */
static bool derive(struct owner_peers *p)
{
    XXH3_state_t *st = XXH3_createState();
    XXH3_64bits_reset(st);
    for (size_t i = 0; i < p->n; i++) {
        size_t len = strlen(p->addr[i]);
        p->seed[i] = XXH3_64bits(p->addr[i], len);
        if (i) XXH3_64bits_update(st, "\n", 1);
        XXH3_64bits_update(st, p->addr[i], len);
    }
    p->digest = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    /* distinct seeds make the candidate order a strict total order */
    for (size_t i = 0; i < p->n; i++)
        for (size_t j = i + 1; j < p->n; j++)
            if (p->seed[i] == p->seed[j]) return false;
    return true;
}

int owner_peers_parse(struct owner_peers *p, const char *list)
{
    memset(p, 0, sizeof(*p));
    for (const char *s = list;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (!add_entry(p, s, len)) goto error;
        if (!comma) break;
        s = comma + 1;
    }
    qsort(p->addr, p->n, sizeof(p->addr[0]), by_string);
    for (size_t i = 1; i < p->n; i++)
        if (strcmp(p->addr[i - 1], p->addr[i]) == 0) goto error;
    if (!derive(p)) goto error;
    return OWNER_OK;
error:
    owner_peers_free(p);
    return OWNER_EINVALID;
}

void owner_peers_free(struct owner_peers *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->addr[i]);
    memset(p, 0, sizeof(*p));
}

int owner_peers_find(const struct owner_peers *p, const char *addr, size_t len)
{
    for (size_t i = 0; i < p->n; i++)
        if (strlen(p->addr[i]) == len && memcmp(p->addr[i], addr, len) == 0) return (int)i;
    return OWNER_EINVALID;
}

uint64_t owner_peers_all(const struct owner_peers *p)
{
    return p->n == 64 ? UINT64_MAX : (UINT64_C(1) << p->n) - 1;
}

struct weighted {
    uint64_t w, seed;
    uint8_t id;
};

static uint64_t weight(const struct owner_peers *p, uint64_t h, size_t id)
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(h >> (8 * i));
    return XXH3_64bits_withSeed(le, sizeof(le), p->seed[id]);
}

static bool heavier(const struct weighted *a, const struct weighted *b)
{
    return a->w != b->w ? a->w > b->w : a->seed > b->seed;
}

static int owner_of_hash(const struct owner_peers *p, uint64_t live, uint64_t h)
{
    live &= owner_peers_all(p);
    if (!live) return OWNER_ENONE;
    struct weighted best = {0, 0, 0};
    bool found = false;
    for (size_t i = 0; i < p->n; i++) {
        if (!(live >> i & 1)) continue;
        struct weighted c = {weight(p, h, i), p->seed[i], (uint8_t)i};
        if (!found || heavier(&c, &best)) best = c;
        found = true;
    }
    return best.id;
}

static size_t candidates_of_hash(const struct owner_peers *p, uint64_t live, uint64_t h,
                                 uint8_t out[OWNER_MAX_PEERS])
{
    struct weighted c[OWNER_MAX_PEERS];
    size_t n = 0;
    live &= owner_peers_all(p);
    for (size_t i = 0; i < p->n; i++) {
        if (!(live >> i & 1)) continue;
        struct weighted x = {weight(p, h, i), p->seed[i], (uint8_t)i};
        size_t j = n++;
        for (; j > 0 && heavier(&x, &c[j - 1]); j--) /* insertion sort: n <= 64 */
            c[j] = c[j - 1];
        c[j] = x;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = c[i].id;
    return n;
}

int owner_of_key(const struct owner_peers *p, uint64_t live, const void *key, size_t len)
{
    return owner_of_hash(p, live, XXH3_64bits_withSeed(key, len, 0));
}

size_t owner_candidates_key(const struct owner_peers *p, uint64_t live, const void *key, size_t len,
                            uint8_t out[OWNER_MAX_PEERS])
{
    return candidates_of_hash(p, live, XXH3_64bits_withSeed(key, len, 0), out);
}

int owner_of_table(const struct owner_peers *p, uint64_t live, const char *table, size_t len)
{
    return owner_of_hash(p, live, XXH3_64bits_withSeed(table, len, OWNER_TABLE_DOMAIN));
}

size_t owner_candidates_table(const struct owner_peers *p, uint64_t live, const char *table,
                              size_t len, uint8_t out[OWNER_MAX_PEERS])
{
    return candidates_of_hash(p, live, XXH3_64bits_withSeed(table, len, OWNER_TABLE_DOMAIN), out);
}
