/*
 * test_spill.c: the spill tier's calls (spill/spill.h): round trips through
 * the queue and through LMDB, expiry, epochs, the delete rule (a delete
 * hides the old value before the writer commits it), put/delete ordering,
 * named values, corrupt records on disk, and the warm-restart rules: a
 * clean stop is kept, a missing clean mark (a child process that exits
 * without teardown, as kill -9 would) or a clock that went back discards.
 */
#include "spill_test.h"

/* Starts fn in a child process that exits without any teardown, as a
 * killed process would; fn returns the child's exit status. */
static pid_t spawn(int (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(fn());
    return pid;
}

static void reap(pid_t pid)
{
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void in_child(int (*fn)(void))
{
    reap(spawn(fn));
}

static void test_round_trip(void **state)
{
    struct buf out = BUF_INIT;
    struct spill_entry e;
    hold_writer();
    assert_int_equal(put("a", "{\"Item\":{\"k\":{\"S\":\"a\"}}}"), SPILL_OK);
    assert_int_equal(put("n", NULL), SPILL_OK);
    wait_writer_held();
    /* answered from the queue while the writer has not committed */
    assert_get("a", "{\"Item\":{\"k\":{\"S\":\"a\"}}}");
    assert_int_equal(stats().entries, 0);
    release_writer();
    assert_int_equal(spill_flush(), SPILL_OK);
    assert_int_equal(stats().entries, 2);
    assert_int_equal(stats().queued, 0);
    /* now from LMDB */
    assert_get("a", "{\"Item\":{\"k\":{\"S\":\"a\"}}}");
    assert_int_equal(spill_get("n", 1, 1, &out, &e), SPILL_OK);
    assert_int_equal(e.flags & SPILL_NEGATIVE, SPILL_NEGATIVE);
    assert_int_equal(out.len, 0);
    assert_int_equal(e.expires_ms, T0 + TTL);
    assert_int_equal(e.epoch, 1);
    assert_int_equal(e.written_ms, T0);
    assert_get("absent", NULL);
    assert_int_equal(metric("ddbx_spill_writes_total"), 2);
    assert_int_equal(metric("ddbx_spill_hits_total"), 3);
    assert_int_equal(metric("ddbx_spill_misses_total"), 1);
    assert_int_equal(metric("ddbx_spill_entries"), 2);
    assert_true(metric("ddbx_spill_bytes") > 0);
    /* get appends to what out holds */
    buf_reset(&out);
    buf_append_str(&out, "x");
    assert_int_equal(spill_get("a", 1, 1, &out, &e), SPILL_OK);
    assert_int_equal(out.len, 1 + strlen("{\"Item\":{\"k\":{\"S\":\"a\"}}}"));
    assert_int_equal(spill_get("absent", 6, 1, &out, &e), SPILL_MISS);
    assert_int_equal(out.len, 1 + strlen("{\"Item\":{\"k\":{\"S\":\"a\"}}}"));
    buf_free(&out);
}

static void test_expiry(void **state)
{
    assert_int_equal(put_ttl("x", "vx", 1000), SPILL_OK);
    assert_int_equal(spill_flush(), SPILL_OK);
    fake_add(999);
    assert_get("x", "vx");
    fake_add(1);
    assert_get("x", NULL);
    assert_int_equal(metric("ddbx_spill_expired_total"), 1);
    assert_int_equal(spill_flush(), SPILL_OK); /* the get asked for its removal */
    assert_int_equal(stats().entries, 0);
    /* expired while still queued: the writer is busy with z's batch */
    hold_writer();
    assert_int_equal(put("z", "vz"), SPILL_OK);
    wait_writer_held();
    assert_int_equal(put_ttl("y", "vy", 10), SPILL_OK);
    assert_get("y", "vy");
    fake_add(10);
    assert_get("y", NULL);
    release_writer();
    assert_int_equal(spill_flush(), SPILL_OK);
    assert_int_equal(stats().entries, 1); /* z; y expired before the writer reached it */
}

static void test_epoch(void **state)
{
    struct buf out = BUF_INIT;
    struct spill_entry e;
    assert_int_equal(put("t", "v1"), SPILL_OK); /* epoch 1 */
    assert_int_equal(spill_flush(), SPILL_OK);
    assert_int_equal(spill_get("t", 1, 2, &out, &e), SPILL_MISS);
    assert_int_equal(spill_flush(), SPILL_OK);
    assert_int_equal(stats().entries, 0); /* a record of another epoch is removed */
    assert_get("t", NULL);
    buf_free(&out);
}

static void test_delete_before_commit(void **state)
{
    assert_int_equal(put("a", "old"), SPILL_OK);
    assert_int_equal(spill_flush(), SPILL_OK);
    assert_get("a", "old");
    hold_writer();
    spill_delete("a", 1);
    wait_writer_held(); /* the delete is in the writer's hands, not committed */
    assert_int_equal(stats().entries, 1);
    assert_get("a", NULL);
    /* a put after the delete is what gets see */
    assert_int_equal(put("a", "new"), SPILL_OK);
    assert_get("a", "new");
    spill_delete("a", 1);
    assert_get("a", NULL);
    release_writer();
    assert_int_equal(spill_flush(), SPILL_OK);
    assert_get("a", NULL);
    assert_int_equal(stats().entries, 0);
    assert_int_equal(metric("ddbx_spill_deletes_total"), 2); /* "old", then "new" */
}

static void test_put_delete_order(void **state)
{
    assert_int_equal(put("k", "v1"), SPILL_OK);
    spill_delete("k", 1);
    assert_get("k", NULL);
    assert_int_equal(spill_flush(), SPILL_OK);
    assert_get("k", NULL);
    assert_int_equal(stats().entries, 0);

    assert_int_equal(put("k", "v1"), SPILL_OK);
    assert_int_equal(put("k", "v2"), SPILL_OK);
    assert_get("k", "v2");
    assert_int_equal(spill_flush(), SPILL_OK);
    assert_get("k", "v2");
    assert_int_equal(stats().entries, 1);

    spill_delete("k", 1);
    assert_int_equal(put("k", "v3"), SPILL_OK);
    assert_get("k", "v3");
    assert_int_equal(spill_flush(), SPILL_OK);
    assert_get("k", "v3");
    assert_int_equal(stats().entries, 1);
}

/* Random puts and deletes of a few keys while the writer commits
 * concurrently: every get answers what the last call for its key said. */
static void test_order_under_load(void **state)
{
    enum { KEYS = 40, OPS = 20000 };
    char model[KEYS][16] = {{0}}; /* "" = deleted */
    uint64_t x = 88172645463325252ull;
    char key[8], value[16];
    for (int i = 0; i < OPS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int k = (int)(x % KEYS);
        snprintf(key, sizeof(key), "k%d", k);
        if ((x >> 20) % 3 == 0) {
            spill_delete(key, strlen(key));
            model[k][0] = '\0';
        } else {
            snprintf(value, sizeof(value), "v%d", i);
            if (put(key, value) == SPILL_OK) snprintf(model[k], sizeof(model[k]), "%s", value);
            /* a dropped put changes nothing only because the last call was
             * a delete or an older put of a value still correct: the queue is
             * far from full here, so nothing is dropped */
        }
        int j = (int)((x >> 32) % KEYS);
        snprintf(key, sizeof(key), "k%d", j);
        assert_get(key, model[j][0] ? model[j] : NULL);
    }
    assert_int_equal(metric("ddbx_spill_dropped_total"), 0);
    assert_int_equal(spill_flush(), SPILL_OK);
    for (int k = 0; k < KEYS; k++) {
        snprintf(key, sizeof(key), "k%d", k);
        assert_get(key, model[k][0] ? model[k] : NULL);
    }
    assert_true(stats().commits < OPS / 2);
}

static void test_clean_restart_kept(void **state)
{
    assert_int_equal(put("a", "va"), SPILL_OK);
    assert_int_equal(put("b", "vb"), SPILL_OK);
    assert_int_equal(spill_meta_put("epoch/t", "\0\0\0\5", 4), SPILL_OK);
    spill_delete("b", 1);
    spill_teardown();
    fake_add(1000);
    assert_int_equal(reopen(), SPILL_OK);
    assert_int_equal(stats().start, SPILL_START_WARM);
    assert_int_equal(stats().entries, 1);
    assert_get("a", "va");
    assert_get("b", NULL);
    struct buf v = BUF_INIT;
    assert_int_equal(spill_meta_get("epoch/t", &v), SPILL_OK);
    assert_int_equal(v.len, 4);
    assert_memory_equal(v.data, "\0\0\0\5", 4);
    buf_free(&v);
    assert_int_equal(metric("ddbx_spill_entries"), 1); /* the old writer's share is gone */
    /* a second clean stop at the same instant is kept too */
    spill_teardown();
    assert_int_equal(reopen(), SPILL_OK);
    assert_int_equal(stats().start, SPILL_START_WARM);
    assert_get("a", "va");
}

static void test_expired_while_stopped(void **state)
{
    assert_int_equal(put_ttl("short", "v", 1000), SPILL_OK);
    assert_int_equal(put_ttl("long", "v", 100000), SPILL_OK);
    spill_teardown();
    fake_add(5000);
    assert_int_equal(reopen(), SPILL_OK);
    assert_int_equal(stats().start, SPILL_START_WARM);
    assert_get("short", NULL);
    assert_get("long", "v");
}

/* Reopens and finds that `why` discarded record "a" and named value "m". */
static void assert_discarded(enum spill_start why)
{
    assert_int_equal(reopen(), SPILL_OK);
    assert_int_equal(stats().start, why);
    assert_int_equal(stats().entries, 0);
    assert_get("a", NULL);
    struct buf v = BUF_INIT;
    assert_int_equal(spill_meta_get("m", &v), SPILL_MISS);
    buf_free(&v);
}

static void test_clock_back_discarded(void **state)
{
    assert_int_equal(put("a", "va"), SPILL_OK);
    assert_int_equal(spill_meta_put("m", "1", 1), SPILL_OK);
    spill_teardown();
    fake_set(fake_clock() - (1));
    assert_discarded(SPILL_START_CLOCK_BACK);
}

static int child_put_and_die(void)
{
    if (reopen() != SPILL_OK) return 1;
    if (stats().start != SPILL_START_WARM) return 2;
    if (put("c", "from the child") != SPILL_OK || spill_flush() != SPILL_OK) return 3;
    return 0; /* no teardown: as kill -9 would leave it */
}

static void test_no_mark_discarded(void **state)
{
    assert_int_equal(put("a", "va"), SPILL_OK);
    assert_int_equal(spill_meta_put("m", "1", 1), SPILL_OK);
    spill_teardown(); /* clean: the child starts warm, and removes the mark */
    in_child(child_put_and_die);
    assert_discarded(SPILL_START_UNCLEAN);
    assert_get("c", NULL);
}

static int child_read_and_die(void)
{
    if (reopen() != SPILL_OK) return 1;
    struct buf out = BUF_INIT;
    if (get("a", &out) != SPILL_OK) return 2; /* takes a reader slot */
    return 0;
}

/* A process that died inside a read leaves its reader slot. LMDB resets
 * the table when no process has the environment open, so another process
 * keeps it open here, as a real one might. */
static void test_stale_readers_cleared(void **state)
{
    assert_int_equal(put("a", "va"), SPILL_OK);
    spill_teardown();
    struct helper h = helper_start(false);
    in_child(child_read_and_die);
    assert_int_equal(reopen(), SPILL_OK);
    assert_int_equal(stats().readers_cleared, 1);
    helper_stop(&h);
}

static int ready_pipe[2], go_pipe[2];

/* Holds the directory until the parent says go. */
static int child_hold_dir(void)
{
    char c = 1;
    if (reopen() != SPILL_OK) return 1;
    if (write(ready_pipe[1], &c, 1) != 1 || read(go_pipe[0], &c, 1) != 1) return 2;
    return 0;
}

static void test_dir_locked(void **state)
{
    struct spill_options o = spill_opts(16 * MIB);
    assert_int_equal(spill_setup(&o), SPILL_ERR); /* already set up here */
    spill_teardown();
    assert_int_equal(pipe(ready_pipe), 0);
    assert_int_equal(pipe(go_pipe), 0);
    pid_t pid = spawn(child_hold_dir);
    char c;
    assert_int_equal(read(ready_pipe[0], &c, 1), 1);
    assert_int_equal(reopen(), SPILL_ERR); /* another process holds it */
    assert_false(spill_enabled());
    assert_int_equal(write(go_pipe[1], &c, 1), 1);
    reap(pid);
    for (int i = 0; i < 2; i++) {
        close(ready_pipe[i]);
        close(go_pipe[i]);
    }
    assert_int_equal(reopen(), SPILL_OK);
}

/* Flips a byte of the first occurrence of `pattern` in data.mdb. */
static void damage_file(const char *pattern)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/data.mdb", spill_dir);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    char *data = malloc((size_t)size);
    rewind(f);
    assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
    char *hit = memmem(data, (size_t)size, pattern, strlen(pattern));
    assert_non_null(hit);
    fseek(f, hit - data, SEEK_SET);
    fputc(hit[0] ^ 0x20, f);
    fclose(f);
    free(data);
}

static void test_corrupt_record_on_disk(void **state)
{
    assert_int_equal(put("good", "an intact value"), SPILL_OK);
    assert_int_equal(put("bad", "a value that will be damaged"), SPILL_OK);
    spill_teardown();
    damage_file("will be damaged");
    assert_int_equal(reopen(), SPILL_OK);
    assert_int_equal(stats().start, SPILL_START_WARM);
    assert_int_equal(stats().entries, 2);
    assert_get("good", "an intact value");
    assert_get("bad", NULL);
    assert_int_equal(metric("ddbx_spill_errors_total"), 1);
    assert_int_equal(spill_flush(), SPILL_OK);
    assert_int_equal(stats().entries, 1); /* the corrupt record was removed */
    assert_get("bad", NULL);
    assert_int_equal(put("bad", "rewritten"), SPILL_OK);
    assert_int_equal(spill_flush(), SPILL_OK);
    assert_get("bad", "rewritten");
}

static void test_meta(void **state)
{
    struct buf v = BUF_INIT;
    assert_int_equal(spill_meta_get("stream/t", &v), SPILL_MISS);
    assert_int_equal(spill_meta_put("stream/t", "seq-1", 5), SPILL_OK);
    assert_int_equal(spill_meta_put("stream/t", "seq-22", 6), SPILL_OK);
    assert_int_equal(spill_meta_put("", "x", 1), SPILL_ERR);
    assert_int_equal(spill_meta_put("ddbx.clean_stop_ms", "x", 1), SPILL_ERR);
    assert_int_equal(spill_meta_get("stream/t", &v), SPILL_OK);
    assert_int_equal(v.len, 6);
    assert_memory_equal(v.data, "seq-22", 6);
    spill_teardown();
    assert_int_equal(reopen(), SPILL_OK);
    buf_reset(&v);
    assert_int_equal(spill_meta_get("stream/t", &v), SPILL_OK);
    assert_memory_equal(v.data, "seq-22", 6);
    buf_free(&v);
}

static void test_refusals(void **state)
{
    static char big[MIB / 2];
    struct spill_entry e = {0, fake_clock() + TTL, 1, 0, 0};
    assert_int_equal(spill_put("big", 3, big, sizeof(big), &e), SPILL_DROPPED); /* > map/64 */
    assert_int_equal(metric("ddbx_spill_dropped_total"), 1);
    spill_teardown();
    assert_int_equal(spill_put("a", 1, "v", 1, &e), SPILL_DROPPED); /* not set up */
    assert_int_equal(spill_get("a", 1, 1, &(struct buf)BUF_INIT, &e), SPILL_MISS);
    spill_delete("a", 1);
    assert_false(spill_enabled());
    assert_int_equal(reopen(), SPILL_OK);
    assert_true(spill_enabled());
}

int main(int argc, char **argv)
{
    if (argc > 1) return lmdb_reader_main(argc, argv);
#define T(name) cmocka_unit_test_setup_teardown(name, setup_16m, teardown_all)
    const struct CMUnitTest tests[] = {
        T(test_round_trip),
        T(test_expiry),
        T(test_epoch),
        T(test_delete_before_commit),
        T(test_put_delete_order),
        T(test_order_under_load),
        T(test_clean_restart_kept),
        T(test_expired_while_stopped),
        T(test_clock_back_discarded),
        T(test_no_mark_discarded),
        T(test_stale_readers_cleared),
        T(test_dir_locked),
        T(test_corrupt_record_on_disk),
        T(test_meta),
        T(test_refusals),
    };
#undef T
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
