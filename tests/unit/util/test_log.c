/* test_log.c: log levels by name and the line format (util/log.h). */
#include "testutil.h"

#include <fcntl.h>

#include "util/log.h"

/* Runs fn with stderr redirected to a temporary file; returns what it wrote
 * (owned by the caller). */
static char *stderr_of(void (*fn)(void))
{
    char path[] = "/tmp/ddbx-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t n = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)n + 1);
    assert_int_equal(pread(fd, text, (size_t)n, 0), n);
    close(fd);
    return text;
}

static void test_level_names(void **state)
{
    static const struct {
        const char *name;
        enum log_level level;
    } ok[] = {{"error", LOG_ERROR}, {"warn", LOG_WARN}, {"info", LOG_INFO}, {"debug", LOG_DEBUG}};
    for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
        log_set_level(i == 0 ? LOG_DEBUG : LOG_ERROR); /* something else first */
        assert_int_equal(log_set_level_name(ok[i].name), 0);
        assert_int_equal(log_level(), ok[i].level);
    }
}

static void test_bad_level_names_keep_level(void **state)
{
    static const char *bad[] = {"", "INFO", "Debug", "warning", "err", "infos", "trace", " info"};
    log_set_level(LOG_WARN);
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_int_equal(log_set_level_name(bad[i]), -1);
        assert_int_equal(log_level(), LOG_WARN);
    }
}

static void write_some(void)
{
    log_set_level(LOG_WARN);
    log_error("first %d", 1);
    log_warn("second %s", "two");
    log_info("hidden info");
    log_debug("hidden debug");
    log_set_thread_name("worker-with-a-very-long-name");
    log_warn("third");
    log_set_thread_name("main");
}

static void test_line_format(void **state)
{
    char *out = stderr_of(write_some);
    assert_int_equal(count_occurrences(out, "\n"), 3);
    assert_contains(out, "Z ERROR [main] first 1\n");
    assert_contains(out, "Z WARN  [main] second two\n");
    assert_not_contains(out, "hidden");
    /* thread names are cut to 15 characters */
    assert_contains(out, "Z WARN  [worker-with-a-v] third\n");
    /* each line starts with an ISO-8601 UTC timestamp */
    int y, mo, d, h, mi, s, ms;
    assert_int_equal(sscanf(out, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ ", &y, &mo, &d, &h, &mi, &s, &ms),
                     7);
    assert_true(y >= 2024 && mo >= 1 && mo <= 12 && ms < 1000);
    free(out);
}

static void write_long(void)
{
    char msg[3000];
    memset(msg, 'm', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    log_set_level(LOG_INFO);
    log_info("%s", msg);
}

static void test_long_line_truncated(void **state)
{
    char *out = stderr_of(write_long);
    size_t len = strlen(out);
    assert_true(len <= 1024);
    assert_true(len > 900);
    assert_int_equal(out[len - 1], '\n');
    assert_int_equal(count_occurrences(out, "\n"), 1);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_names),
        cmocka_unit_test(test_bad_level_names_keep_level),
        cmocka_unit_test(test_line_format),
        cmocka_unit_test(test_long_line_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
