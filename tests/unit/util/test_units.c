/* test_units.c: size and duration parsing (util/units.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/units.h"

static uint64_t size_of(const char *s)
{
    uint64_t v = 0;
    assert_int_equal(units_parse_size(s, &v), 0);
    return v;
}

static uint64_t ms_of(const char *s)
{
    uint64_t v = 0;
    assert_int_equal(units_parse_duration(s, &v), 0);
    return v;
}

static void test_sizes(void **state)
{
    assert_int_equal(size_of("4MiB"), 4ull << 20);
    assert_int_equal(size_of("1GiB"), 1ull << 30);
    assert_int_equal(size_of("256MiB"), 256ull << 20);
    assert_int_equal(size_of("1.5KiB"), 1536);
    assert_int_equal(size_of("1000"), 1000);
    assert_int_equal(size_of("2MB"), 2000000);
    assert_int_equal(size_of("0"), 0);
}

static void test_durations(void **state)
{
    assert_int_equal(ms_of("500ms"), 500);
    assert_int_equal(ms_of("2s"), 2000);
    assert_int_equal(ms_of("5m"), 300000);
    assert_int_equal(ms_of("1h"), 3600000);
    assert_int_equal(ms_of("1.5s"), 1500);
    assert_int_equal(ms_of("3"), 3000);
}

static void test_rejects(void **state)
{
    uint64_t v;
    const char *bad[] = {"",   "MiB", "4 MiB", "4mib", "-1",
                         "1.", ".5s", "5x",    "1e3",  "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(units_parse_size(bad[i], &v), -1);
        assert_int_equal(units_parse_duration(bad[i], &v), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
