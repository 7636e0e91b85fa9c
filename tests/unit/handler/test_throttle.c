/*
 * test_throttle.c: --max-backend-inflight (handler/throttle.h) against the
 * fake backend: past the bound a request that needs the backend is answered
 * DynamoDB's ThrottlingException at once, without a backend call, and
 * changes nothing cached; hits are still served; a slot freed by an answer
 * is used again; 0 means no bound.
 */
#include "handler_test.h"

#include "handler/throttle.h"

static int setup_bound_1(void **state)
{
    static const char *const flags[] = {"--max-backend-inflight", "1"};
    return ht_setup_with(flags, 2, state);
}

static int setup_unbounded(void **state)
{
    static const char *const flags[] = {"--max-backend-inflight", "0"};
    return ht_setup_with(flags, 2, state);
}

static void expect_throttled(struct ht_req *q)
{
    struct buf want = BUF_INIT;
    ddb_msg_compose(&want, MSG_throttled);
    assert_contains(want.data, "ThrottlingException");
    ht_replied(q, 400, want.data);
    buf_free(&want);
}

static void test_past_the_bound(void **state)
{
    ht_known_table("t");
    ht_cached("t", "hot", "v1");
    int calls = ht.ncalls;
    struct ht_req *slow = ht_get("t", "cold");
    assert_int_equal(ht.ncalls, calls + 1);
    assert_int_equal(handler_backend_inflight(), 1);
    /* the one slot is taken: a miss and a write are throttled, without a call */
    expect_throttled(ht_get("t", "cold2"));
    expect_throttled(ht_put("t", "hot", "v2"));
    assert_int_equal(ht.ncalls, calls + 1);
    assert_int_equal(metrics_tls->backend_throttled, 2);
    /* hits are served, and the throttled write changed nothing */
    ht_hit("t", "hot", "v1");
    /* the slot comes back with the answer */
    ht_answer(calls, 200, ht_item("cold", "c"));
    ht_replied(slow, 200, ht_item("cold", "c"));
    assert_int_equal(handler_backend_inflight(), 0);
    ht_miss("t", "cold2", "c2");
    assert_int_equal(metrics_tls->backend_throttled, 2);
}

/* A throttled schema lookup: the request is answered, nothing is learnt. */
static void test_throttled_describe(void **state)
{
    struct ht_req *first = ht_get("a", "k"); /* DescribeTable a: the slot */
    expect_throttled(ht_get("b", "k"));
    ht_describe(0, "a");
    ht_expect(1, "GetItem", NULL);
    ht_answer(1, 200, "{}");
    ht_replied(first, 200, "{}");
    ht_known_table("b"); /* b was not learnt: described now */
}

static void test_no_bound(void **state)
{
    ht_known_table("t");
    int calls = ht.ncalls;
    struct ht_req *q[3] = {ht_get("t", "a"), ht_get("t", "b"), ht_get("t", "c")};
    assert_int_equal(ht.ncalls, calls + 3);
    assert_int_equal(handler_backend_inflight(), 3);
    for (int i = 0; i < 3; i++) {
        ht_answer(calls + i, 200, "{}");
        ht_replied(q[i], 200, "{}");
    }
    assert_int_equal(metrics_tls->backend_throttled, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_past_the_bound, setup_bound_1, ht_teardown),
        cmocka_unit_test_setup_teardown(test_throttled_describe, setup_bound_1, ht_teardown),
        cmocka_unit_test_setup_teardown(test_no_bound, setup_unbounded, ht_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
