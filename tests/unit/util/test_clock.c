/*
 * test_clock.c: the time sources (util/clock.h): the HTTP Date format
 * (RFC 7231's IMF-fixdate, in English whatever the locale's language would
 * be), monotonic time that never goes back and advances with real time, and
 * wall time in milliseconds.
 */
#include "testutil.h"

#include <time.h>

#include "util/clock.h"

static void test_http_date(void **state)
{
    static const struct {
        int64_t sec;
        const char *text;
    } cases[] = {
        {0, "Thu, 01 Jan 1970 00:00:00 GMT"},
        {784111777, "Sun, 06 Nov 1994 08:49:37 GMT"}, /* RFC 7231's example */
        {951782400, "Tue, 29 Feb 2000 00:00:00 GMT"},
        {4102444799, "Thu, 31 Dec 2099 23:59:59 GMT"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char out[40];
        assert_int_equal(clock_http_date(out, sizeof(out), cases[i].sec), 29);
        assert_string_equal(out, cases[i].text);
    }
    /* too small a buffer gives nothing rather than a cut date */
    char small[29];
    assert_int_equal(clock_http_date(small, sizeof(small), 0), 0);
}

static void test_monotonic(void **state)
{
    uint64_t prev = clock_mono_ns();
    for (int i = 0; i < 10000; i++) {
        uint64_t now = clock_mono_ns();
        assert_true(now >= prev);
        prev = now;
    }
    uint64_t ms0 = clock_mono_ms(), ns0 = clock_mono_ns();
    struct timespec d = {0, 30 * 1000000};
    nanosleep(&d, NULL);
    uint64_t ms1 = clock_mono_ms(), ns1 = clock_mono_ns();
    assert_true(ns1 - ns0 >= 30 * 1000000ull);
    assert_true(ms1 - ms0 >= 29 && ms1 - ms0 < 5000);
    assert_true(ms1 <= ns1 / 1000000 && ns1 / 1000000 - ms1 < 1000);
}

static void test_wall(void **state)
{
    int64_t before = (int64_t)time(NULL) * 1000;
    int64_t ms = (int64_t)clock_wall_ms();
    int64_t after = (int64_t)time(NULL) * 1000 + 1000;
    assert_true(ms >= before && ms < after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_date),
        cmocka_unit_test(test_monotonic),
        cmocka_unit_test(test_wall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
