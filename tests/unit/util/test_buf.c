/* test_buf.c: the growable byte buffer (util/buf.h). */
#include "testutil.h"

#include "util/buf.h"

static void test_empty(void **state)
{
    struct buf b = BUF_INIT;
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    buf_reset(&b); /* no memory yet: must not touch data */
    buf_consume(&b, 10);
    assert_int_equal(b.len, 0);
    buf_append(&b, "", 0); /* an empty append still gives a terminated string */
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
}

static void test_append_grows_and_terminates(void **state)
{
    struct buf b;
    buf_init(&b);
    char expect[5000];
    for (size_t i = 0; i < sizeof(expect) - 1; i++) {
        char c = (char)('a' + i % 26);
        buf_append_char(&b, c);
        expect[i] = c;
        assert_int_equal(b.len, i + 1);
        assert_true(b.cap > b.len); /* room for the NUL */
        assert_int_equal(b.data[b.len], '\0');
    }
    expect[sizeof(expect) - 1] = '\0';
    assert_string_equal(b.data, expect);
    /* capacity doubles from 256 */
    assert_int_equal(b.cap, 8192);
    buf_free(&b);
}

static void test_append_binary_and_str(void **state)
{
    struct buf b = BUF_INIT;
    buf_append(&b, "a\0b", 3);
    buf_append_str(&b, "cd");
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "a\0bcd", 6);
    /* one large append reserves enough at once */
    char big[3000];
    memset(big, 'x', sizeof(big));
    buf_append(&b, big, sizeof(big));
    assert_int_equal(b.len, 3005);
    assert_true(b.cap >= 3006);
    assert_memory_equal(b.data + 5, big, sizeof(big));
    assert_int_equal(b.data[b.len], '\0');
    buf_free(&b);
}

static void test_reserve(void **state)
{
    struct buf b = BUF_INIT;
    buf_reserve(&b, 1000);
    assert_true(b.cap >= 1001);
    char *before = b.data;
    size_t cap = b.cap;
    buf_append(&b, "0123456789", 10);
    for (int i = 0; i < 99; i++)
        buf_append(&b, "0123456789", 10);
    assert_int_equal(b.len, 1000);
    assert_ptr_equal(b.data, before); /* reserved room: no reallocation */
    assert_int_equal(b.cap, cap);
    buf_free(&b);
}

static void test_printf(void **state)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s=%d", "n", 42);
    buf_printf(&b, ";%05.1f", 2.5);
    assert_string_equal(b.data, "n=42;002.5");
    assert_int_equal(b.len, strlen("n=42;002.5"));
    /* longer than the first reservation: must retry with room */
    char long_arg[2000];
    memset(long_arg, 'y', sizeof(long_arg) - 1);
    long_arg[sizeof(long_arg) - 1] = '\0';
    buf_printf(&b, "[%s]", long_arg);
    assert_int_equal(b.len, 10 + 2 + 1999);
    assert_int_equal(b.data[10], '[');
    assert_int_equal(b.data[b.len - 1], ']');
    assert_int_equal(b.data[b.len], '\0');
    assert_int_equal(strlen(b.data), b.len);
    buf_printf(&b, "%s", ""); /* printing nothing changes nothing */
    assert_int_equal(b.len, 10 + 2 + 1999);
    buf_free(&b);
}

static void test_printf_exact_boundary(void **state)
{
    /* outputs whose length lands exactly on the room left, either side */
    for (size_t n = 240; n < 280; n++) {
        struct buf b = BUF_INIT;
        buf_append(&b, "ab", 2);
        buf_printf(&b, "%*s", (int)n, "z");
        assert_int_equal(b.len, n + 2);
        assert_int_equal(strlen(b.data), n + 2);
        assert_int_equal(b.data[b.len - 1], 'z');
        buf_free(&b);
    }
}

static void test_consume(void **state)
{
    struct buf b = BUF_INIT;
    buf_append_str(&b, "GET / HTTP/1.1\r\n\r\nPOST");
    buf_consume(&b, 18);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "POST");
    buf_consume(&b, 0);
    assert_string_equal(b.data, "POST");
    buf_consume(&b, 1);
    assert_string_equal(b.data, "OST");
    buf_consume(&b, 3); /* all of it */
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_append_str(&b, "xy");
    buf_consume(&b, 100); /* more than there is */
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_free(&b);
}

static void test_reset_keeps_memory(void **state)
{
    struct buf b = BUF_INIT;
    buf_append_str(&b, "hello");
    char *p = b.data;
    size_t cap = b.cap;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_ptr_equal(b.data, p);
    assert_int_equal(b.cap, cap);
    buf_append_str(&b, "again");
    assert_string_equal(b.data, "again");
    buf_free(&b);
    buf_append_str(&b, "reusable after free");
    assert_string_equal(b.data, "reusable after free");
    buf_free(&b);
}

static void test_move(void **state)
{
    struct buf src = BUF_INIT, dst = BUF_INIT;
    buf_append_str(&dst, "old contents, freed by the move");
    buf_append_str(&src, "payload");
    char *p = src.data;
    buf_move(&dst, &src);
    assert_ptr_equal(dst.data, p);
    assert_string_equal(dst.data, "payload");
    assert_int_equal(dst.len, 7);
    assert_null(src.data);
    assert_int_equal(src.len, 0);
    assert_int_equal(src.cap, 0);
    buf_append_str(&src, "src still usable");
    assert_string_equal(src.data, "src still usable");
    buf_free(&src);
    buf_free(&dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_append_grows_and_terminates),
        cmocka_unit_test(test_append_binary_and_str),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_printf_exact_boundary),
        cmocka_unit_test(test_consume),
        cmocka_unit_test(test_reset_keeps_memory),
        cmocka_unit_test(test_move),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
