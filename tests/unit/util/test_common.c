/*
 * test_common.c: the conventions util/common.h gives every module: the
 * CHECK_MAGIC assertion (fires in Debug builds, compiled out with NDEBUG as
 * in CMake's RelWithDebInfo and Release).
 */
#include "testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "util/common.h"

#define THING_MAGIC 0x676e6874u

struct thing {
    uint32_t magic;
    int value;
};

static int evaluations;

/* The pointer, counting how often the check evaluated its argument. */
static struct thing *counted(struct thing *t)
{
    evaluations++;
    return t;
}

/* Runs CHECK_MAGIC(t, THING_MAGIC) in a child process; returns its wait
 * status (the child's assertion message goes to /dev/null). */
static int check_in_child(struct thing *t)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDERR_FILENO);
        CHECK_MAGIC(t, THING_MAGIC);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static bool aborted(int status)
{
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void test_good_magic_passes(void **state)
{
    struct thing t = {THING_MAGIC, 1};
    int status = check_in_child(&t);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_bad_magic(void **state)
{
    struct thing freed = {0, 1}, other = {THING_MAGIC + 1, 1};
#ifdef NDEBUG
    /* compiled out: nothing runs, not even the argument */
    assert_false(aborted(check_in_child(&freed)));
    assert_false(aborted(check_in_child(&other)));
    assert_false(aborted(check_in_child(NULL)));
    evaluations = 0;
    CHECK_MAGIC(counted(&freed), THING_MAGIC);
    assert_int_equal(evaluations, 0);
    (void)counted; /* referenced only by the compiled-out check */
#else
    assert_true(aborted(check_in_child(&freed)));
    assert_true(aborted(check_in_child(&other)));
    assert_true(aborted(check_in_child(NULL)));
    evaluations = 0;
    struct thing good = {THING_MAGIC, 2};
    CHECK_MAGIC(counted(&good), THING_MAGIC);
    assert_true(evaluations > 0);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_magic_passes),
        cmocka_unit_test(test_bad_magic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
