/*
 * test_request.c: the per-thread mailbox (src/handler/request.c): work posted
 * from other threads runs on the thread's own loop, each post exactly once
 * and in the order one thread posted it; run under ThreadSanitizer in CI
 * (DDBX_TSAN), since waking a waiter on another worker goes through it.
 * And request_splice's pieces: a piece that starts the body is spliced
 * whatever its size, one under 4 KB after text is copied into the text, a
 * larger one spliced; the body reads back the same either way.
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

static void on_done(struct request *r) {}

static void test_splice_copies_small_pieces_after_text(void **state)
{
    static char big[5000], small[] = "<small>", first[] = "<first>";
    memset(big, 'B', sizeof(big));
    struct arena a;
    arena_init(&a);
    struct request r = {.zero_copy = true, .arena = &a, .done = on_done};
    request_splice(&r, first, strlen(first)); /* starts the body: spliced */
    assert_int_equal(r.npieces, 1);
    assert_ptr_equal(r.pieces[0].data, first);
    buf_append_str(&r.reply, "[");
    request_splice(&r, small, strlen(small)); /* after text: copied */
    assert_int_equal(r.npieces, 1);
    buf_append_str(&r.reply, ",");
    request_splice(&r, big, sizeof(big)); /* 4 KB or more: spliced */
    assert_int_equal(r.npieces, 3);       /* first, the text "[<small>,", big */
    assert_ptr_equal(r.pieces[2].data, big);
    request_splice(&r, small, strlen(small)); /* after a piece, text before it: copied */
    buf_append_str(&r.reply, "]");
    request_send(&r, 200);
    struct buf body = BUF_INIT;
    request_body_copy(&r, &body);
    assert_int_equal(body.len,
                     strlen(first) + 1 + strlen(small) + 1 + sizeof(big) + strlen(small) + 1);
    assert_memory_equal(body.data, "<first>[<small>,", 16);
    assert_memory_equal(body.data + 16, big, sizeof(big));
    assert_string_equal(body.data + 16 + sizeof(big), "<small>]");
    assert_int_equal(request_body_size(&r), body.len);
    assert_int_equal(r.npieces, 4); /* and the text after big */
    buf_free(&body);
    buf_free(&r.reply);
    request_release(&r);
    arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_posts_from_other_threads_run_once_in_order_on_the_loop,
                                        ht_setup, ht_teardown),
        cmocka_unit_test(test_splice_copies_small_pieces_after_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
