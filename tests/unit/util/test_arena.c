/* test_arena.c: the bump allocator (util/arena.h). */
#include "testutil.h"

#include "util/arena.h"

#define ALIGNED(p) (((uintptr_t)(p)&15u) == 0)

static void test_alignment(void **state)
{
    struct arena a;
    arena_init(&a);
    static const size_t sizes[] = {1, 3, 7, 8, 15, 16, 17, 31, 33, 100, 1000};
    for (int round = 0; round < 50; round++)
        for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
            void *p = arena_alloc(&a, sizes[i]);
            assert_non_null(p);
            assert_true(ALIGNED(p));
        }
    arena_free(&a);
}

static void test_no_overlap(void **state)
{
    /* fill every allocation with its own byte and check none was overwritten */
    struct arena a;
    arena_init(&a);
    enum { N = 600 };
    unsigned char *ptrs[N];
    size_t lens[N];
    for (int i = 0; i < N; i++) {
        lens[i] = 1 + (size_t)(i * 37) % 200;
        ptrs[i] = arena_alloc(&a, lens[i]);
        memset(ptrs[i], i & 0xff, lens[i]);
    }
    for (int i = 0; i < N; i++)
        for (size_t j = 0; j < lens[i]; j++)
            assert_int_equal(ptrs[i][j], i & 0xff);
    arena_free(&a);
}

static void test_large_allocs(void **state)
{
    struct arena a;
    arena_init(&a);
    char *small = arena_alloc(&a, 10);
    memcpy(small, "small", 6);
    /* larger than a block: gets a block of its own, all of it usable */
    size_t big = 1u << 20;
    char *p = arena_alloc(&a, big);
    assert_true(ALIGNED(p));
    memset(p, 'L', big);
    assert_int_equal(p[0], 'L');
    assert_int_equal(p[big - 1], 'L');
    /* exactly one block, and just above it */
    char *q = arena_alloc(&a, 8192);
    memset(q, 'Q', 8192);
    char *r = arena_alloc(&a, 8193);
    memset(r, 'R', 8193);
    assert_string_equal(small, "small");
    assert_int_equal(p[big / 2], 'L');
    assert_int_equal(q[8191], 'Q');
    arena_free(&a);
}

static void test_strndup(void **state)
{
    struct arena a;
    arena_init(&a);
    char *s = arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    char *e = arena_strndup(&a, "x", 0);
    assert_string_equal(e, "");
    char *n = arena_strndup(&a, "a\0b", 3);
    assert_memory_equal(n, "a\0b\0", 4);
    assert_true(ALIGNED(s) && ALIGNED(e) && ALIGNED(n));
    arena_free(&a);
}

static void test_reset_reuses_first_block(void **state)
{
    struct arena a;
    arena_init(&a);
    arena_reset(&a); /* nothing allocated yet */
    char *first = arena_alloc(&a, 64);
    for (int i = 0; i < 100; i++)
        arena_alloc(&a, 1000); /* several more blocks */
    arena_alloc(&a, 100000);
    arena_reset(&a);
    /* the oldest block is kept and handed out again from its start */
    char *again = arena_alloc(&a, 64);
    assert_ptr_equal(again, first);
    /* and the arena keeps working through further growth and resets */
    for (int round = 0; round < 3; round++) {
        char *s = arena_strndup(&a, "after reset", 11);
        char *big = arena_alloc(&a, 50000);
        memset(big, round, 50000);
        assert_string_equal(s, "after reset");
        arena_reset(&a);
    }
    assert_ptr_equal(arena_alloc(&a, 1), first);
    arena_free(&a);
    assert_null(a.head);
    /* usable after free, like a fresh arena */
    char *p = arena_alloc(&a, 32);
    memset(p, 0, 32);
    arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_no_overlap),
        cmocka_unit_test(test_large_allocs),
        cmocka_unit_test(test_strndup),
        cmocka_unit_test(test_reset_reuses_first_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
