/* test_owner.c: rendezvous ownership (cluster/owner.h): parsing the peer
 * list, the documented arithmetic, balance, minimal movement, failover order. */
#include "testutil.h"

#include <xxhash.h>

#include "cluster/owner.h"

#define NKEYS 100000

/* A routing key as the cache builds it: table, NUL, 'S', u16 length, value. */
static size_t routing_key(uint8_t *out, const char *table, unsigned i)
{
    size_t t = strlen(table);
    memcpy(out, table, t + 1);
    char v[32];
    int n = snprintf(v, sizeof(v), "user#%u", i);
    out[t + 1] = 'S';
    out[t + 2] = 0;
    out[t + 3] = (uint8_t)n;
    memcpy(out + t + 4, v, (size_t)n);
    return t + 4 + (size_t)n;
}

/* The owner's address for key i, or NULL when none is live. */
static const char *owner_addr(const struct owner_peers *p, uint64_t live, unsigned i)
{
    uint8_t k[64];
    int id = owner_of_key(p, live, k, routing_key(k, "Users", i));
    return id < 0 ? NULL : p->addr[id];
}

static void parse_ok(struct owner_peers *p, const char *list)
{
    assert_int_equal(owner_peers_parse(p, list), OWNER_OK);
}

static void test_parse_sorts_and_trims(void **state)
{
    struct owner_peers p;
    parse_ok(&p, " node-c:7000,node-a:7000 ,\tnode-b:7000");
    assert_int_equal(p.n, 3);
    assert_string_equal(p.addr[0], "node-a:7000");
    assert_string_equal(p.addr[1], "node-b:7000");
    assert_string_equal(p.addr[2], "node-c:7000");
    assert_int_equal(owner_peers_find(&p, "node-b:7000", 11), 1);
    assert_int_equal(owner_peers_find(&p, "node-b:700", 10), OWNER_EINVALID);
    assert_int_equal(owner_peers_find(&p, "node-d:7000", 11), OWNER_EINVALID);
    assert_int_equal(owner_peers_all(&p), 7);
    for (size_t i = 0; i < p.n; i++)
        assert_int_equal(p.seed[i], XXH3_64bits(p.addr[i], strlen(p.addr[i])));
    const char *joined = "node-a:7000\nnode-b:7000\nnode-c:7000";
    assert_int_equal(p.digest, XXH3_64bits(joined, strlen(joined)));

    /* the same peers in another order: the same ids and digest */
    struct owner_peers q;
    parse_ok(&q, "node-b:7000,node-c:7000,node-a:7000");
    assert_int_equal(q.digest, p.digest);
    for (size_t i = 0; i < p.n; i++)
        assert_string_equal(q.addr[i], p.addr[i]);
    owner_peers_free(&q);
    parse_ok(&q, "node-a:7000,node-b:7000");
    assert_int_not_equal(q.digest, p.digest);
    owner_peers_free(&q);
    owner_peers_free(&p);
    assert_int_equal(p.n, 0);
}

static void test_parse_refuses(void **state)
{
    const char *bad[] = {"",          ",",       "a:1,,b:1",      "a:1,",
                         " , a:1",    "a:1,a:1", "b:1, a:1 ,b:1", "a 1:1",
                         "a:1\n,b:1", "a:\x7f"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct owner_peers p;
        assert_int_equal(owner_peers_parse(&p, bad[i]), OWNER_EINVALID);
        assert_int_equal(p.n, 0);
    }
    /* 64 entries is the limit (one bit each in a uint64_t mask) */
    char list[64 * 16 + 32] = "";
    for (int i = 0; i < 64; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%sn%d:7000", i ? "," : "", i);
    struct owner_peers p;
    parse_ok(&p, list);
    assert_int_equal(p.n, 64);
    assert_true(owner_peers_all(&p) == UINT64_MAX);
    owner_peers_free(&p);
    strcat(list, ",n64:7000");
    assert_int_equal(owner_peers_parse(&p, list), OWNER_EINVALID);
    /* 255 bytes per entry */
    char longest[OWNER_ADDR_MAX + 2];
    memset(longest, 'h', sizeof(longest));
    longest[OWNER_ADDR_MAX] = '\0';
    parse_ok(&p, longest);
    owner_peers_free(&p);
    longest[OWNER_ADDR_MAX] = 'h';
    longest[OWNER_ADDR_MAX + 1] = '\0';
    assert_int_equal(owner_peers_parse(&p, longest), OWNER_EINVALID);
}

/* The arithmetic of owner.h and proto/peer-protocol.md, computed here from
 * XXH3 directly, agrees with owner_of_key / owner_of_table. */
static int spec_owner(const struct owner_peers *p, uint64_t live, const void *key, size_t len,
                      uint64_t domain)
{
    uint64_t h = XXH3_64bits_withSeed(key, len, domain);
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(h >> (8 * i));
    int best = -1;
    uint64_t bw = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (!(live >> i & 1)) continue;
        uint64_t s = XXH3_64bits(p->addr[i], strlen(p->addr[i]));
        uint64_t w = XXH3_64bits_withSeed(le, 8, s);
        if (best < 0 || w > bw || (w == bw && s > p->seed[best])) best = (int)i, bw = w;
    }
    return best;
}

static void test_matches_documented_formula(void **state)
{
    struct owner_peers p;
    parse_ok(&p, "ddbx1:7000,ddbx2:7000,ddbx3:7000,ddbx4:7000,ddbx5:7000");
    uint64_t masks[] = {owner_peers_all(&p), 0x1b, 0x04, 0x11};
    for (size_t m = 0; m < ARRAY_LEN(masks); m++) {
        for (unsigned i = 0; i < 2000; i++) {
            uint8_t k[64];
            size_t len = routing_key(k, "Users", i);
            assert_int_equal(owner_of_key(&p, masks[m], k, len),
                             spec_owner(&p, masks[m], k, len, 0));
            char table[32];
            int tl = snprintf(table, sizeof(table), "table-%u", i);
            assert_int_equal(owner_of_table(&p, masks[m], table, (size_t)tl),
                             spec_owner(&p, masks[m], table, (size_t)tl, OWNER_TABLE_DOMAIN));
        }
    }
    owner_peers_free(&p);
}

/* The vectors printed in proto/peer-protocol.md, "Ownership". */
static void test_documented_vectors(void **state)
{
    struct owner_peers p;
    parse_ok(&p, "ddbx1:7000,ddbx2:7000,ddbx3:7000");
    const uint8_t key[] = {'U', 's', 'e', 'r', 's', 0, 'S', 0, 6, 'u', 's', 'e', 'r', '#', '1'};
    uint8_t c[OWNER_MAX_PEERS];
    assert_int_equal(owner_candidates_key(&p, 7, key, sizeof(key), c), 3);
    char order[64];
    snprintf(order, sizeof(order), "%s %s %s", p.addr[c[0]], p.addr[c[1]], p.addr[c[2]]);
    assert_string_equal(order, "ddbx3:7000 ddbx2:7000 ddbx1:7000");
    assert_int_equal(owner_candidates_table(&p, 7, "Users", 5, c), 3);
    snprintf(order, sizeof(order), "%s %s %s", p.addr[c[0]], p.addr[c[1]], p.addr[c[2]]);
    assert_string_equal(order, "ddbx3:7000 ddbx1:7000 ddbx2:7000");
    owner_peers_free(&p);
}

static void test_no_live_peer(void **state)
{
    struct owner_peers p;
    parse_ok(&p, "a:1,b:1,c:1");
    uint8_t c[OWNER_MAX_PEERS];
    assert_int_equal(owner_of_key(&p, 0, "k", 1), OWNER_ENONE);
    assert_int_equal(owner_of_table(&p, 0, "t", 1), OWNER_ENONE);
    assert_int_equal(owner_candidates_key(&p, 0, "k", 1, c), 0);
    /* bits beyond the list are not peers */
    assert_int_equal(owner_of_key(&p, ~UINT64_C(7), "k", 1), OWNER_ENONE);
    assert_int_equal(owner_candidates_table(&p, UINT64_C(1) << 40 | 2, "t", 1, c), 1);
    assert_int_equal(c[0], 1);
    /* one live peer owns everything */
    for (unsigned i = 0; i < 100; i++)
        assert_string_equal(owner_addr(&p, 4, i), "c:1");
    owner_peers_free(&p);
}

/* Each of n peers owns NKEYS/n keys, within 2% (the expected deviation of
 * a fair split of 100k keys is about 0.5%). */
static void check_balance(const char *list)
{
    struct owner_peers p;
    parse_ok(&p, list);
    unsigned count[OWNER_MAX_PEERS] = {0};
    for (unsigned i = 0; i < NKEYS; i++) {
        uint8_t k[64];
        int id = owner_of_key(&p, owner_peers_all(&p), k, routing_key(k, "Users", i));
        assert_true(id >= 0 && (size_t)id < p.n);
        count[id]++;
    }
    double even = (double)NKEYS / (double)p.n;
    for (size_t i = 0; i < p.n; i++) {
        double dev = ((double)count[i] - even) / even;
        print_message("  %s owns %u keys (%+.2f%% of even)\n", p.addr[i], count[i], dev * 100);
        assert_true(dev > -0.02 && dev < 0.02);
    }
    owner_peers_free(&p);
}

static void test_balance(void **state)
{
    check_balance("ddbx1:7000,ddbx2:7000,ddbx3:7000");
    check_balance("ddbx1:7000,ddbx2:7000,ddbx3:7000,ddbx4:7000,ddbx5:7000");
    check_balance("10.0.0.1:7000,10.0.0.2:7000");
}

static void test_tables_balance_and_hash_apart(void **state)
{
    struct owner_peers p;
    parse_ok(&p, "ddbx1:7000,ddbx2:7000,ddbx3:7000");
    unsigned count[3] = {0}, same = 0, n = 30000;
    for (unsigned i = 0; i < n; i++) {
        char t[32];
        int len = snprintf(t, sizeof(t), "orders-%u", i);
        int id = owner_of_table(&p, 7, t, (size_t)len);
        count[id]++;
        same += id == owner_of_key(&p, 7, t, (size_t)len);
    }
    for (int i = 0; i < 3; i++)
        assert_true(count[i] > n / 3 * 0.96 && count[i] < n / 3 * 1.04);
    /* domain separation: a table's owner is not its name's item owner */
    assert_true(same > n / 3 * 0.9 && same < n / 3 * 1.1);
    owner_peers_free(&p);
}

/* Going from list `before` to list `after` (or the same list with other live
 * masks), only keys owned by `changed` (in either list) may move, and about
 * `fraction` of all keys do. */
static void check_movement(const char *before, uint64_t live_before, const char *after,
                           uint64_t live_after, const char *changed, double fraction)
{
    struct owner_peers a, b;
    parse_ok(&a, before);
    parse_ok(&b, after);
    unsigned moved = 0;
    for (unsigned i = 0; i < NKEYS; i++) {
        const char *x = owner_addr(&a, live_before, i), *y = owner_addr(&b, live_after, i);
        if (strcmp(x, y) == 0) continue;
        moved++;
        /* the key moved to or from the peer that came or went */
        assert_true(strcmp(x, changed) == 0 || strcmp(y, changed) == 0);
    }
    double f = (double)moved / NKEYS;
    print_message("  %s: %.2f%% of keys moved (expected about %.2f%%)\n", changed, f * 100,
                  fraction * 100);
    assert_true(f > fraction * 0.95 && f < fraction * 1.05);
    owner_peers_free(&a);
    owner_peers_free(&b);
}

static void test_minimal_movement(void **state)
{
    const char *three = "ddbx1:7000,ddbx2:7000,ddbx3:7000";
    const char *four = "ddbx1:7000,ddbx2:7000,ddbx3:7000,ddbx4:7000";
    const char *five = "ddbx1:7000,ddbx2:7000,ddbx3:7000,ddbx4:7000,ddbx5:7000";
    const char *five_b = "ddbx1:7000,ddbx2:7000,ddbx3:7000,ddbx4:7000,ddbx0:7000";
    /* a node added: it takes 1/N; one removed: its 1/N goes elsewhere */
    check_movement(three, 7, four, 15, "ddbx4:7000", 0.25);
    check_movement(five, 31, four, 15, "ddbx5:7000", 0.20);
    /* a node that sorts first shifts every id, and still moves only 1/N */
    check_movement(four, 15, five_b, 31, "ddbx0:7000", 0.20);
    /* a node marked dead, then live again (ddbx2 is id 1) */
    check_movement(five, 31, five, 31 & ~2u, "ddbx2:7000", 0.20);
    check_movement(three, 7 & ~2u, three, 7, "ddbx2:7000", 1.0 / 3);
}

static void test_candidates_failover_order(void **state)
{
    struct owner_peers p, q;
    parse_ok(&p, "ddbx1:7000,ddbx2:7000,ddbx3:7000,ddbx4:7000,ddbx5:7000");
    parse_ok(&q, "ddbx5:7000, ddbx3:7000,ddbx1:7000,ddbx4:7000,ddbx2:7000");
    uint64_t all = owner_peers_all(&p);
    for (unsigned i = 0; i < 5000; i++) {
        uint8_t k[64], full[OWNER_MAX_PEERS], fewer[OWNER_MAX_PEERS], other[OWNER_MAX_PEERS];
        size_t len = routing_key(k, "Orders", i);
        assert_int_equal(owner_candidates_key(&p, all, k, len, full), 5);
        assert_int_equal(full[0], owner_of_key(&p, all, k, len));
        /* every peer once */
        uint64_t seen = 0;
        for (int j = 0; j < 5; j++)
            seen |= UINT64_C(1) << full[j];
        assert_true(seen == all);
        /* the same answer from a list written in another order */
        assert_int_equal(owner_candidates_key(&q, all, k, len, other), 5);
        assert_memory_equal(full, other, 5);
        /* a dead peer drops out; the others keep their order, and the next
         * candidate becomes the owner when the owner dies */
        unsigned dead = i % 5;
        assert_int_equal(owner_candidates_key(&p, all & ~(UINT64_C(1) << dead), k, len, fewer), 4);
        for (int j = 0, f = 0; j < 5; j++)
            if (full[j] != dead) assert_int_equal(fewer[f++], full[j]);
        if (full[0] == dead)
            assert_int_equal(owner_of_key(&p, all & ~(1u << dead), k, len), full[1]);
        /* and two dead peers */
        uint64_t two = all & ~(UINT64_C(1) << full[0]) & ~(UINT64_C(1) << full[1]);
        assert_int_equal(owner_of_key(&p, two, k, len), full[2]);
    }
    /* tables the same way */
    uint8_t t1[OWNER_MAX_PEERS], t2[OWNER_MAX_PEERS];
    assert_int_equal(owner_candidates_table(&p, all, "Orders", 6, t1), 5);
    assert_int_equal(t1[0], owner_of_table(&p, all, "Orders", 6));
    assert_int_equal(owner_candidates_table(&p, all & ~(UINT64_C(1) << t1[0]), "Orders", 6, t2), 4);
    assert_memory_equal(t2, t1 + 1, 4);
    owner_peers_free(&p);
    owner_peers_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_sorts_and_trims),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_matches_documented_formula),
        cmocka_unit_test(test_documented_vectors),
        cmocka_unit_test(test_no_live_peer),
        cmocka_unit_test(test_balance),
        cmocka_unit_test(test_tables_balance_and_hash_apart),
        cmocka_unit_test(test_minimal_movement),
        cmocka_unit_test(test_candidates_failover_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
