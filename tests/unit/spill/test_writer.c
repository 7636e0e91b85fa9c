/*
 * test_writer.c: the spill tier's writer thread (spill/writer.c): batching
 * many operations into few commits, a full queue, eviction oldest-first in
 * a tiny map filled far past its size, and failed commits: a map filled
 * because another process pins old pages (MDB_MAP_FULL), a file that may not
 * grow (RLIMIT_FSIZE standing in for a full disk), deletes that cannot be
 * committed at all. None may crash or answer wrongly; spilling pauses with
 * one log line and resumes when space is freed.
 */
#include "spill_test.h"

#include <signal.h>
#include <sys/resource.h>
#include <time.h>

#define VALUE_LEN 1000

static char value_of_buf[VALUE_LEN + 1];

/* A 1000-byte value naming i, different for every i. */
static const char *value_of(int i)
{
    memset(value_of_buf, 'a' + i % 26, VALUE_LEN);
    int n = snprintf(value_of_buf, 32, "value %d ", i);
    value_of_buf[n] = '.';
    value_of_buf[VALUE_LEN] = '\0';
    return value_of_buf;
}

static const char *key_of(int i)
{
    static char key[32];
    snprintf(key, sizeof(key), "key-%06d", i);
    return key;
}

static bool present(int i)
{
    struct buf out = BUF_INIT;
    int rc = get(key_of(i), &out);
    if (rc == SPILL_OK) assert_string_equal(out.data, value_of(i));
    buf_free(&out);
    return rc == SPILL_OK;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Polls cond every 10 ms for up to 10 s. */
static bool eventually(bool (*cond)(void))
{
    for (int i = 0; i < 1000; i++) {
        if (cond()) return true;
        sleep_ms(10);
    }
    return cond();
}

/* While the log is captured, stderr goes through a pipe to a thread that
 * keeps a copy and still passes everything on (so a failing assertion's
 * message is seen). */
static struct {
    int saved, pipe_r;
    pthread_t thread;
    struct buf text;
    bool on;
} cap;

static void *capture_main(void *arg)
{
    char chunk[4096];
    ssize_t n;
    while ((n = read(cap.pipe_r, chunk, sizeof(chunk))) > 0) {
        buf_append(&cap.text, chunk, (size_t)n);
        if (write(cap.saved, chunk, (size_t)n) < 0) break;
    }
    return NULL;
}

static void log_capture_begin(void)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stderr);
    cap.saved = dup(STDERR_FILENO);
    cap.pipe_r = fds[0];
    buf_init(&cap.text);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    pthread_create(&cap.thread, NULL, capture_main, NULL);
    cap.on = true;
    log_set_level(LOG_INFO);
}

/* Returns the captured text (owned by the caller). */
static char *log_capture_end(void)
{
    if (!cap.on) return NULL;
    cap.on = false;
    log_set_level(LOG_ERROR);
    dup2(cap.saved, STDERR_FILENO); /* the pipe's last writer is gone: the thread sees EOF */
    pthread_join(cap.thread, NULL);
    close(cap.saved);
    close(cap.pipe_r);
    buf_append(&cap.text, "", 0);
    return cap.text.data;
}

static int teardown_writer(void **state)
{
    free(log_capture_end()); /* after a failed assertion */
    return teardown_all(state);
}

static struct rlimit saved_fsize;

/* Files may not grow past `bytes` (a full disk, as LMDB sees it: EFBIG). */
static void limit_file_size(rlim_t bytes)
{
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved_fsize), 0);
    struct rlimit r = {bytes, saved_fsize.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &r), 0);
}

static void unlimit_file_size(void)
{
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved_fsize), 0);
}

static off_t data_file_size(void)
{
    char path[128];
    struct stat st;
    snprintf(path, sizeof(path), "%s/data.mdb", spill_dir);
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static bool unpaused(void)
{
    return !stats().paused;
}

static bool paused(void)
{
    return stats().paused;
}

static bool unreadable(void)
{
    return !stats().readable;
}

static bool readable(void)
{
    return stats().readable;
}

/* Puts from key i on, flushing every 8, until a flush fails (spilling
 * paused); returns the next key. */
static int fill_until_paused(int i)
{
    for (int end = i + 10000; i < end; i++) {
        put(key_of(i), value_of(i));
        if (i % 8 == 7 && spill_flush() != SPILL_OK) return i + 1;
    }
    fail_msg("spilling never paused");
    return i;
}

/* Ends the log capture: one pause line (`pause`), one resume line. */
static void assert_one_pause_logged(const char *pause)
{
    char *log = log_capture_end();
    assert_int_equal(count_occurrences(log, pause), 1);
    assert_int_equal(count_occurrences(log, "spill: resumed"), 1);
    free(log);
}

/* ---- tests ---- */

static void test_batching(void **state)
{
    enum { N = 500 };
    hold_writer();
    assert_int_equal(put("first", "v"), SPILL_OK);
    wait_writer_held();
    for (int i = 0; i < N; i++)
        assert_int_equal(put(key_of(i), value_of(i)), SPILL_OK);
    assert_int_equal(stats().commits, 0);
    release_writer();
    assert_int_equal(spill_flush(), SPILL_OK);
    /* "first", then the 500 in batches of up to 64 (1/64 of a 16 MiB map's pages) */
    assert_int_equal(stats().commits, 1 + (N + 63) / 64);
    assert_int_equal(metric("ddbx_spill_writes_total"), N + 1);
    for (int i = 0; i < N; i++)
        assert_true(present(i));
}

static void test_queue_full(void **state)
{
    struct spill_options o = spill_opts(16 * MIB);
    o.queue_bytes = 64 * 1024;
    restart_fresh(o);
    hold_writer();
    assert_int_equal(put("first", "v"), SPILL_OK);
    wait_writer_held();
    int accepted = 0;
    while (put(key_of(accepted), value_of(accepted)) == SPILL_OK)
        accepted++;
    assert_in_range(accepted, 50, 64); /* 64 KiB of 1 KB puts, with their headers */
    assert_int_equal(metric("ddbx_spill_dropped_total"), 1);
    assert_false(present(accepted));
    /* deletes are never refused, and hide the value at once */
    spill_delete(key_of(3), strlen(key_of(3)));
    assert_false(present(3));
    release_writer();
    assert_int_equal(spill_flush(), SPILL_OK);
    for (int i = 0; i < accepted; i++)
        assert_int_equal(present(i), i != 3);
    assert_int_equal(put(key_of(accepted), value_of(accepted)), SPILL_OK);
}

/* Present records must be the newest of those accepted: a suffix. */
static int assert_oldest_gone_first(const bool *accepted, int n)
{
    int first = -1, count = 0;
    for (int i = 0; i < n; i++) {
        if (!accepted[i]) continue;
        bool p = present(i);
        if (p && first < 0) first = i;
        if (!p && first >= 0)
            fail_msg("%s is gone but the older %s is kept", key_of(i), key_of(first));
        count += p;
    }
    return count;
}

static void test_tiny_map_evicts_oldest(void **state)
{
    enum { N = 4000, BURST = 20000 };
    static bool accepted[BURST];
    restart_fresh(spill_opts(1 * MIB));
    /* 4 MB through a 1 MiB map, flushed as it goes: nothing is dropped */
    for (int i = 0; i < N; i++) {
        accepted[i] = put(key_of(i), value_of(i)) == SPILL_OK;
        assert_true(accepted[i]);
        if (i % 8 == 7) assert_int_equal(spill_flush(), SPILL_OK);
    }
    assert_int_equal(spill_flush(), SPILL_OK);
    int kept = assert_oldest_gone_first(accepted, N);
    assert_true(kept >= 200); /* about 5/8 to 3/4 of the map holds records */
    assert_int_equal(stats().entries, kept);
    assert_true(present(N - 1));
    assert_int_equal(metric("ddbx_spill_evictions_total"), N - kept);
    assert_int_equal(metric("ddbx_spill_dropped_total"), 0);
    assert_int_equal(metric("ddbx_spill_pauses_total"), 0); /* eviction kept ahead of the map */
    assert_true(stats().used_bytes <= MIB);
    assert_true(data_file_size() <= (off_t)MIB);

    /* 20 MB at once: whatever the queue takes, the newest stay */
    for (int i = 0; i < BURST; i++)
        accepted[i] = put(key_of(i), value_of(i)) == SPILL_OK;
    assert_int_equal(spill_flush(), SPILL_OK);
    kept = assert_oldest_gone_first(accepted, BURST);
    assert_true(kept >= 200);
    assert_true(data_file_size() <= (off_t)MIB);
}

static bool flush_ok(void)
{
    return spill_flush() == SPILL_OK;
}

/* Another process holds a read transaction: pages freed since its snapshot
 * cannot be reused, the file grows to the map's size, and commits fail with
 * MDB_MAP_FULL however much is evicted, until it lets go. */
static void test_map_full_pauses_and_resumes(void **state)
{
    restart_fresh(spill_opts(1 * MIB));
    for (int i = 0; i < 100; i++)
        assert_int_equal(put(key_of(i), value_of(i)), SPILL_OK);
    assert_int_equal(spill_flush(), SPILL_OK);
    struct helper h = helper_start(true);
    log_capture_begin();
    int i = fill_until_paused(100);
    assert_true(metric("ddbx_spill_pauses_total") >= 1);
    assert_true(metric("ddbx_spill_errors_total") >= 1);
    assert_true(metric("ddbx_spill_dropped_total") >= 1);
    /* a key written meanwhile is never served from the spill again */
    int victim = i - 40;
    assert_true(present(victim));
    spill_delete(key_of(victim), strlen(key_of(victim)));
    assert_false(present(victim));
    for (int j = 0; j < 200; j++, i++)
        put(key_of(i), value_of(i)); /* mostly dropped; never a crash */
    sleep_ms(300);
    assert_false(present(victim));
    helper_stop(&h);
    assert_true(eventually(unpaused));
    for (int j = 0; j < 200; j++, i++) {
        assert_int_equal(put(key_of(i), value_of(i)), SPILL_OK);
        if (j % 8 == 7) assert_true(flush_ok());
    }
    assert_true(flush_ok());
    assert_true(present(i - 1));
    assert_false(present(victim));
    assert_int_equal(metric("ddbx_spill_paused"), 0);
    assert_one_pause_logged("spill: paused: MDB_MAP_FULL");
}

static void test_disk_full_pauses_and_resumes(void **state)
{
    restart_fresh(spill_opts(64 * MIB));
    for (int i = 0; i < 50; i++)
        assert_int_equal(put(key_of(i), value_of(i)), SPILL_OK);
    assert_int_equal(spill_flush(), SPILL_OK);
    log_capture_begin();
    limit_file_size((rlim_t)data_file_size());
    int i = fill_until_paused(50);
    assert_true(metric("ddbx_spill_pauses_total") >= 1);
    spill_delete(key_of(10), strlen(key_of(10)));
    assert_false(present(10));
    for (int j = 0; j < 500; j++, i++)
        put(key_of(i), value_of(i));
    sleep_ms(200);
    unlimit_file_size();
    assert_true(eventually(unpaused));
    assert_true(flush_ok());
    for (int j = 0; j < 100; j++, i++)
        assert_int_equal(put(key_of(i), value_of(i)), SPILL_OK);
    assert_true(flush_ok());
    assert_true(present(i - 1));
    assert_false(present(10));
    assert_one_pause_logged("spill: paused: File too large");
}

/* No page can be written at all (the file is capped below its data), so
 * deletes pile up uncommitted; past a bound the tier gives up on them and
 * answers nothing until it could empty itself. */
static void test_unreadable_until_emptied(void **state)
{
    struct spill_options o = spill_opts(64 * MIB);
    o.queue_bytes = 16 * 1024;
    restart_fresh(o);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(put(key_of(i), value_of(i)), SPILL_OK);
        assert_int_equal(spill_flush(), SPILL_OK); /* the queue holds 16 KiB */
    }
    assert_int_equal(spill_meta_put("epoch/t", "7", 1), SPILL_OK);
    assert_int_equal(spill_flush(), SPILL_OK);
    log_capture_begin();
    limit_file_size(8192);        /* the two meta pages only */
    for (int i = 10; i < 20; i++) /* stored: removing them needs a page written */
        spill_delete(key_of(i), strlen(key_of(i)));
    assert_true(eventually(paused));
    assert_true(stats().readable); /* so far the deletes are carried */
    for (int i = 100; i < 2000; i++)
        spill_delete(key_of(i), strlen(key_of(i)));
    assert_true(eventually(unreadable));
    assert_false(present(5)); /* never deleted, but nothing is served now */
    assert_int_equal(put(key_of(5), value_of(5)), SPILL_DROPPED);
    assert_int_equal(spill_flush(), SPILL_ERR);
    unlimit_file_size();
    assert_true(eventually(readable));
    assert_int_equal(stats().entries, 0);
    assert_false(present(5));
    struct buf v = BUF_INIT;
    assert_int_equal(spill_meta_get("epoch/t", &v), SPILL_OK);
    assert_memory_equal(v.data, "7", 1);
    buf_free(&v);
    assert_int_equal(put(key_of(5), value_of(5)), SPILL_OK);
    assert_true(flush_ok());
    assert_true(present(5));
    /* the named values were written back: a clean restart keeps them */
    spill_teardown();
    assert_int_equal(reopen(), SPILL_OK);
    assert_int_equal(stats().start, SPILL_START_WARM);
    assert_int_equal(spill_meta_get("epoch/t", &v), SPILL_OK);
    buf_free(&v);
    char *log = log_capture_end();
    assert_int_equal(count_occurrences(log, "spill: paused"), 1);
    assert_int_equal(count_occurrences(log, "the tier answers nothing"), 1);
    assert_int_equal(count_occurrences(log, "spill: emptied"), 1);
    free(log);
}

int main(int argc, char **argv)
{
    if (argc > 1) return lmdb_reader_main(argc, argv);
#define T(name) cmocka_unit_test_setup_teardown(name, setup_16m, teardown_writer)
    const struct CMUnitTest tests[] = {
        T(test_batching),
        T(test_queue_full),
        T(test_tiny_map_evicts_oldest),
        T(test_map_full_pauses_and_resumes),
        T(test_disk_full_pauses_and_resumes),
        T(test_unreadable_until_emptied),
    };
#undef T
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
