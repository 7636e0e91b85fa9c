/* test_peer_guard.c: the replay rules on authenticated frames
 * (cluster/peer_guard.h, proto/peer-protocol.md "Replays"). */
#include "testutil.h"

#include "cluster/peer_guard.h"

#define NOW UINT64_C(1700000000000)
#define SELF 1
#define SELF_INC UINT64_C(5000)
#define PEER 2
#define PEER_INC UINT64_C(7000)

static struct peer_hdr hdr(enum peer_msg_type type, uint64_t from_inc, uint64_t seq)
{
    return (struct peer_hdr){type, PEER, SELF, from_inc, SELF_INC, seq, NOW};
}

static void guard(struct peer_guard *g)
{
    peer_guard_init(g, 3, SELF, SELF_INC, PEER_GUARD_WINDOW_MS);
}

static int check(struct peer_guard *g, struct peer_hdr h)
{
    return peer_guard_check(g, &h, NOW);
}

static void test_in_order_and_replays(void **state)
{
    struct peer_guard g;
    guard(&g);
    assert_int_equal(check(&g, hdr(PEER_PING, PEER_INC, 1)), PEER_GUARD_ENOHELLO);
    struct peer_hdr hello = hdr(PEER_HELLO, PEER_INC, 1);
    hello.to_inc = 0; /* a HELLO need not know the receiver's incarnation */
    assert_int_equal(check(&g, hello), PEER_GUARD_NEW_LIFE);
    assert_int_equal(check(&g, hello), PEER_GUARD_EREPLAY);
    for (uint64_t seq = 2; seq < 50; seq++)
        assert_int_equal(check(&g, hdr(PEER_INVALIDATE, PEER_INC, seq)), PEER_GUARD_OK);
    /* the same frame again, or any older one, is refused */
    assert_int_equal(check(&g, hdr(PEER_INVALIDATE, PEER_INC, 49)), PEER_GUARD_EREPLAY);
    assert_int_equal(check(&g, hdr(PEER_GET_REPLY, PEER_INC, 10)), PEER_GUARD_EREPLAY);
    /* a gap (frames lost with a broken connection) is not refused */
    assert_int_equal(check(&g, hdr(PEER_ACK, PEER_INC, 60)), PEER_GUARD_OK);
    /* a reconnection: a HELLO of the same life with a higher seq */
    assert_int_equal(check(&g, hdr(PEER_HELLO, PEER_INC, 61)), PEER_GUARD_OK);
    assert_int_equal(check(&g, hdr(PEER_HELLO, PEER_INC, 30)), PEER_GUARD_EREPLAY);
    assert_int_equal(check(&g, hdr(PEER_PING, PEER_INC, 62)), PEER_GUARD_OK);
    /* another sender's sequence is its own */
    struct peer_hdr other = hdr(PEER_HELLO, 1, 1);
    other.from = 0;
    assert_int_equal(check(&g, other), PEER_GUARD_NEW_LIFE);
}

static void test_incarnations(void **state)
{
    struct peer_guard g;
    guard(&g);
    assert_int_equal(check(&g, hdr(PEER_HELLO, PEER_INC, 1)), PEER_GUARD_NEW_LIFE);
    assert_int_equal(check(&g, hdr(PEER_PING, PEER_INC, 2)), PEER_GUARD_OK);
    /* addressed to an earlier life of this node: refused */
    struct peer_hdr h = hdr(PEER_PING, PEER_INC, 3);
    h.to_inc = SELF_INC - 1;
    assert_int_equal(check(&g, h), PEER_GUARD_EINCARNATION);
    h.to_inc = 0;
    assert_int_equal(check(&g, h), PEER_GUARD_EINCARNATION);
    /* a frame of a newer life before its HELLO */
    assert_int_equal(check(&g, hdr(PEER_PING, PEER_INC + 1, 1)), PEER_GUARD_ENOHELLO);
    /* the sender restarted: its new life starts over at seq 1 */
    assert_int_equal(check(&g, hdr(PEER_HELLO, PEER_INC + 10, 1)), PEER_GUARD_NEW_LIFE);
    assert_int_equal(check(&g, hdr(PEER_PING, PEER_INC + 10, 2)), PEER_GUARD_OK);
    /* the old life's frames and HELLO are refused, whatever their seq */
    assert_int_equal(check(&g, hdr(PEER_PING, PEER_INC, 100)), PEER_GUARD_EINCARNATION);
    assert_int_equal(check(&g, hdr(PEER_HELLO, PEER_INC, 100)), PEER_GUARD_EINCARNATION);
}

static void test_timestamp_window(void **state)
{
    struct peer_guard g;
    guard(&g);
    struct peer_hdr h = hdr(PEER_HELLO, PEER_INC, 1);
    h.ts_ms = NOW - PEER_GUARD_WINDOW_MS - 1;
    assert_int_equal(check(&g, h), PEER_GUARD_ESTALE);
    h.ts_ms = NOW + PEER_GUARD_WINDOW_MS + 1;
    assert_int_equal(check(&g, h), PEER_GUARD_ESTALE);
    h.ts_ms = NOW - PEER_GUARD_WINDOW_MS;
    assert_int_equal(check(&g, h), PEER_GUARD_NEW_LIFE);
    h = hdr(PEER_PING, PEER_INC, 2);
    h.ts_ms = NOW + PEER_GUARD_WINDOW_MS;
    assert_int_equal(check(&g, h), PEER_GUARD_OK);
    /* a refused frame leaves no trace: seq 3 in time is still accepted */
    h = hdr(PEER_PING, PEER_INC, 4);
    h.ts_ms = 0;
    assert_int_equal(check(&g, h), PEER_GUARD_ESTALE);
    assert_int_equal(check(&g, hdr(PEER_PING, PEER_INC, 3)), PEER_GUARD_OK);
}

static void test_misrouted(void **state)
{
    struct peer_guard g;
    guard(&g);
    struct peer_hdr h = hdr(PEER_HELLO, PEER_INC, 1);
    h.to = 0;
    assert_int_equal(check(&g, h), PEER_GUARD_EMISROUTED);
    h = hdr(PEER_HELLO, PEER_INC, 1);
    h.from = SELF;
    assert_int_equal(check(&g, h), PEER_GUARD_EMISROUTED);
    h.from = 3; /* beyond the list of 3 */
    assert_int_equal(check(&g, h), PEER_GUARD_EMISROUTED);
    h.from = 63;
    assert_int_equal(check(&g, h), PEER_GUARD_EMISROUTED);
}

/* A recording replayed to a node that restarted since: only the HELLO passes
 * (within the window), and nothing after it, as every recorded frame names
 * the receiver's old incarnation. */
static void test_replay_after_receiver_restart(void **state)
{
    struct peer_guard before, after;
    guard(&before);
    struct peer_hdr rec[4] = {hdr(PEER_HELLO, PEER_INC, 1), hdr(PEER_INVALIDATE, PEER_INC, 2),
                              hdr(PEER_GET_REPLY, PEER_INC, 3), hdr(PEER_FORGET, PEER_INC, 4)};
    for (int i = 0; i < 4; i++)
        assert_true(check(&before, rec[i]) >= 0);
    peer_guard_init(&after, 3, SELF, SELF_INC + 1, PEER_GUARD_WINDOW_MS);
    assert_int_equal(check(&after, rec[0]), PEER_GUARD_NEW_LIFE);
    for (int i = 1; i < 4; i++)
        assert_int_equal(check(&after, rec[i]), PEER_GUARD_EINCARNATION);
    /* the real sender's next HELLO (its seq kept counting) is accepted */
    assert_int_equal(check(&after, hdr(PEER_HELLO, PEER_INC, 5)), PEER_GUARD_OK);
    struct peer_hdr live = hdr(PEER_PING, PEER_INC, 6);
    live.to_inc = SELF_INC + 1;
    assert_int_equal(check(&after, live), PEER_GUARD_OK);
    /* and once the window has passed, not even the HELLO */
    peer_guard_init(&after, 3, SELF, SELF_INC + 2, PEER_GUARD_WINDOW_MS);
    assert_int_equal(peer_guard_check(&after, &rec[0], NOW + PEER_GUARD_WINDOW_MS + 1),
                     PEER_GUARD_ESTALE);
}

static void test_status_names(void **state)
{
    assert_string_equal(peer_guard_status_name(PEER_GUARD_OK), "ok");
    assert_string_equal(peer_guard_status_name(PEER_GUARD_EREPLAY), "replayed sequence");
    assert_string_equal(peer_guard_status_name(PEER_GUARD_ENOHELLO), "no hello");
    assert_string_equal(peer_guard_status_name(-99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_and_replays),
        cmocka_unit_test(test_incarnations),
        cmocka_unit_test(test_timestamp_window),
        cmocka_unit_test(test_misrouted),
        cmocka_unit_test(test_replay_after_receiver_restart),
        cmocka_unit_test(test_status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
