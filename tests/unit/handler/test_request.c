/*
 * test_request.c: the per-thread mailbox (src/handler/request.c): work posted
 * from other threads runs on the thread's own loop, each post exactly once
 * and in the order one thread posted it; run under ThreadSanitizer in CI
 * (DDBX_TSAN), since waking a waiter on another worker goes through it.
 */
#include "handler_test.h"

#include <pthread.h>

#define POSTERS 4
#define POSTS 5000

static struct {
    pthread_t loop_thread;
    int ran[POSTERS];
    int last[POSTERS];
    bool in_order;
    bool on_loop;
} m;

struct post_arg {
    int poster, seq;
};

static void run_post(void *arg)
{
    struct post_arg *p = arg;
    m.on_loop &= pthread_equal(pthread_self(), m.loop_thread);
    m.in_order &= p->seq == m.last[p->poster] + 1;
    m.last[p->poster] = p->seq;
    m.ran[p->poster]++;
    free(p);
}

static void *poster(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 1; i <= POSTS; i++) {
        struct post_arg *p = malloc(sizeof(*p));
        *p = (struct post_arg){id, i};
        handler_thread_post(&ht.thread, run_post, p);
    }
    return NULL;
}

static int total(void)
{
    int n = 0;
    for (int i = 0; i < POSTERS; i++)
        n += m.ran[i];
    return n;
}

static void test_posts_from_other_threads_run_once_in_order_on_the_loop(void **state)
{
    memset(&m, 0, sizeof(m));
    m.loop_thread = pthread_self();
    m.in_order = m.on_loop = true;
    pthread_t th[POSTERS];
    for (int i = 0; i < POSTERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, poster, (void *)(intptr_t)i), 0);
    while (total() < POSTERS * POSTS)
        uv_run(&ht.loop, UV_RUN_ONCE);
    for (int i = 0; i < POSTERS; i++)
        pthread_join(th[i], NULL);
    ht_pump();
    for (int i = 0; i < POSTERS; i++)
        assert_int_equal(m.ran[i], POSTS);
    assert_true(m.in_order);
    assert_true(m.on_loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_posts_from_other_threads_run_once_in_order_on_the_loop,
                                        ht_setup, ht_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
