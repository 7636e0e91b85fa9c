/*
 * test_credentials.c: the --credentials file (auth/credentials.h): what it
 * accepts, what it refuses and how the refusal names the line, the file's
 * permissions, table grants, the signing-key cache, and the keyring
 * replaced while other threads read it (run under ASan and TSan).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "testutil.h"

#include "auth/credentials.h"

static struct auth_keys *parse_ok(const char *text)
{
    struct auth_keys *k = NULL;
    struct buf err = BUF_INIT;
    if (credentials_parse(text, strlen(text), "creds", &k, &err) != 0) fail_msg("%s", err.data);
    buf_free(&err);
    return k;
}

/* Parses text expecting a refusal; returns the message (owned by *err). */
static const char *parse_bad(const char *text, struct buf *err)
{
    struct auth_keys *k = NULL;
    buf_reset(err);
    assert_int_equal(credentials_parse(text, strlen(text), "creds", &k, err), -1);
    assert_null(k);
    return err->data;
}

static const char good[] =
    "# ddbx principals\n"
    "\n"
    "AKIDADMIN   admin/Secret+Key==\n"
    "AKIDREADER\treader-secret  Music Albums  Music  # Music twice\n"
    "   # an indented comment\n"
    "AKIDARN arn-secret arn:aws:dynamodb:us-east-1:123456789012:table/Music\r\n"
    "AKID.with_odd-chars s3cr#t";

static void test_parse(void **state)
{
    struct auth_keys *k = parse_ok(good);
    assert_int_equal(auth_keys_count(k), 4);
    const struct auth_principal *admin = auth_keys_find(k, "AKIDADMIN", 9);
    assert_non_null(admin);
    assert_string_equal(auth_principal_key_id(admin), "AKIDADMIN");
    assert_int_equal(auth_principal_line(admin), 3);
    assert_int_equal(auth_principal_table_count(admin), 0);
    const struct auth_principal *reader = auth_keys_find(k, "AKIDREADER", 10);
    assert_int_equal(auth_principal_line(reader), 4);
    assert_int_equal(auth_principal_table_count(reader), 2); /* repeats dropped, sorted */
    assert_string_equal(auth_principal_table(reader, 0), "Albums");
    assert_string_equal(auth_principal_table(reader, 1), "Music");
    assert_null(auth_principal_table(reader, 2));
    const struct auth_principal *arn = auth_keys_find(k, "AKIDARN", 7);
    assert_int_equal(auth_principal_line(arn), 6); /* CRLF line endings are fine */
    assert_string_equal(auth_principal_table(arn, 0),
                        "arn:aws:dynamodb:us-east-1:123456789012:table/Music");
    /* '#' starts a comment only at the start of a field */
    const struct auth_principal *odd = auth_keys_find(k, "AKID.with_odd-chars", 19);
    assert_non_null(odd);
    assert_int_equal(auth_principal_line(odd), 7);
    assert_null(auth_keys_find(k, "AKIDADMI", 8));
    assert_null(auth_keys_find(k, "AKIDADMINX", 10));
    assert_null(auth_keys_find(k, "", 0));
    auth_keys_release(k);
    /* nothing but comments: an empty (but valid) snapshot */
    k = parse_ok("# none yet\n\n");
    assert_int_equal(auth_keys_count(k), 0);
    auth_keys_release(k);
}

static void test_refusals_name_the_line(void **state)
{
    struct buf err = BUF_INIT;
    assert_string_equal(parse_bad("AKIDA s1\nAKIDONLY\n", &err),
                        "creds:2: expected ACCESS_KEY_ID SECRET_ACCESS_KEY [TABLE ...], found no "
                        "secret");
    assert_string_equal(parse_bad("AKIDONLY # secret-looking comment\n", &err),
                        "creds:1: expected ACCESS_KEY_ID SECRET_ACCESS_KEY [TABLE ...], found no "
                        "secret");
    assert_string_equal(parse_bad("AKID/SLASH secret\n", &err),
                        "creds:1: access key id must be 1-128 characters of A-Z a-z 0-9 _ . - "
                        "'AKID/SLASH'");
    assert_string_equal(parse_bad("\n\nAKIDA s1 ab\n", &err),
                        "creds:3: table must be a table name (3-255 of A-Z a-z 0-9 _ . -) or an "
                        "ARN (arn:...) 'ab'");
    parse_bad("AKIDA s1 Music Bad!Name\n", &err);
    assert_contains(err.data, "'Bad!Name'");
    parse_bad("AKIDA s1 arn:\n", &err);
    assert_contains(err.data, "creds:1: table must be");
    assert_string_equal(parse_bad("AKIDA s\x01"
                                  "ecret\n",
                                  &err),
                        "creds:1: control or non-ASCII character");
    assert_string_equal(parse_bad("AKIDA s\xc3\xa9\n", &err),
                        "creds:1: control or non-ASCII character");
    assert_string_equal(parse_bad("AKIDA first-secret\n"
                                  "AKIDB other\n"
                                  "# comment\n"
                                  "AKIDA second-secret Music\n",
                                  &err),
                        "creds:4: access key id 'AKIDA' repeats the one on line 1");
    char long_id[200];
    memset(long_id, 'A', 129);
    strcpy(long_id + 129, " secret\n");
    parse_bad(long_id, &err);
    assert_contains(err.data, "creds:1: access key id must be");
    char long_secret[300] = "AKIDA ";
    memset(long_secret + 6, 's', 257);
    strcpy(long_secret + 263, "\n");
    parse_bad(long_secret, &err);
    assert_contains(err.data, "creds:1: secret access key must be 1-256");
    buf_free(&err);
}

/* A refusal never repeats a secret. */
static void test_refusals_hide_secrets(void **state)
{
    struct buf err = BUF_INIT;
    const char *cases[] = {"AKIDA TopSecretValue1 x\n", "AKIDA TopSecretValue1\x7f\n",
                           "AKIDA TopSecretValue1\nAKIDA TopSecretValue1\n"};
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        assert_not_contains(parse_bad(cases[i], &err), "TopSecret");
    buf_free(&err);
}

static void test_grants(void **state)
{
    struct auth_keys *k = parse_ok(good);
    const struct auth_principal *admin = auth_keys_find(k, "AKIDADMIN", 9);
    const struct auth_principal *reader = auth_keys_find(k, "AKIDREADER", 10);
    const struct auth_principal *arn = auth_keys_find(k, "AKIDARN", 7);
    assert_true(auth_principal_allows(admin, "Anything", 8));
    assert_true(auth_principal_allows(reader, "Music", 5));
    assert_true(auth_principal_allows(reader, "Albums", 6));
    assert_false(auth_principal_allows(reader, "music", 5)); /* table names are case-sensitive */
    assert_false(auth_principal_allows(reader, "Musi", 4));
    assert_false(auth_principal_allows(reader, "MusicX", 6));
    assert_false(auth_principal_allows(reader, "Orders", 6));
    assert_true(auth_principal_allows(reader, "Music and more", 5)); /* length-bounded */
    /* an ARN entry matches that ARN as written; the plain name is the caller's to map */
    const char *a = "arn:aws:dynamodb:us-east-1:123456789012:table/Music";
    assert_true(auth_principal_allows(arn, a, strlen(a)));
    assert_false(auth_principal_allows(arn, "Music", 5));
    auth_keys_release(k);
}

static void test_signing_key_cache(void **state)
{
    struct auth_keys *k = parse_ok("AKIDEXAMPLE wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n");
    const struct auth_principal *p = auth_keys_find(k, "AKIDEXAMPLE", 11);
    uint8_t key[SIGV4_KEY_LEN], want[SIGV4_KEY_LEN];
    sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 40, "20150830", "us-east-1", 9,
                      "iam", 3, want);
    for (int i = 0; i < 3; i++) {
        auth_principal_signing_key(p, "20150830", "us-east-1", 9, "iam", 3, key);
        assert_memory_equal(key, want, SIGV4_KEY_LEN);
    }
    assert_int_equal(auth_keys_derivations(k), 1);
    /* two dates (around midnight) are both kept */
    auth_principal_signing_key(p, "20150831", "us-east-1", 9, "iam", 3, key);
    auth_principal_signing_key(p, "20150830", "us-east-1", 9, "iam", 3, key);
    auth_principal_signing_key(p, "20150831", "us-east-1", 9, "iam", 3, key);
    assert_int_equal(auth_keys_derivations(k), 2);
    assert_memory_not_equal(key, want, SIGV4_KEY_LEN);
    /* the region and service are part of the cache key */
    auth_principal_signing_key(p, "20150830", "us-east-2", 9, "iam", 3, key);
    assert_memory_not_equal(key, want, SIGV4_KEY_LEN);
    assert_int_equal(auth_keys_derivations(k), 3);
    auth_keys_forget_signing_keys(k);
    auth_principal_signing_key(p, "20150830", "us-east-1", 9, "iam", 3, key);
    assert_memory_equal(key, want, SIGV4_KEY_LEN);
    assert_int_equal(auth_keys_derivations(k), 4);
    auth_keys_release(k);
}

static struct tmpdir dir;

static const char *write_mode(const char *name, const char *text, mode_t mode)
{
    const char *path = tmpdir_write(&dir, name, text);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

/* Writes a file with these contents and mode; loading it must fail.
 * Returns the message (in err). */
static const char *load_refused(const char *name, const char *text, mode_t mode, struct buf *err)
{
    struct auth_keys *k = NULL;
    buf_reset(err);
    assert_int_equal(credentials_load(write_mode(name, text, mode), &k, err), -1);
    assert_null(k);
    return err->data;
}

static void test_load_permissions(void **state)
{
    tmpdir_create(&dir);
    struct auth_keys *k = NULL;
    struct buf err = BUF_INIT;
    assert_int_equal(credentials_load(write_mode("ok", "AKIDA secret\n", 0600), &k, &err), 0);
    assert_int_equal(auth_keys_count(k), 1);
    auth_keys_release(k);
    assert_int_equal(credentials_load(write_mode("ro", "AKIDA secret\n", 0400), &k, &err), 0);
    auth_keys_release(k);
    const char *msg = load_refused("world", "AKIDA secret\n", 0644, &err);
    assert_contains(msg, "/world: holds secrets but group or others may access it (mode 0644); "
                         "chmod 600 it");
    assert_contains(load_refused("group", "AKIDA secret\n", 0640, &err), "(mode 0640)");
    assert_contains(load_refused("group-writable", "AKIDA secret\n", 0620, &err), "(mode 0620)");
    assert_contains(load_refused("empty", "# nobody\n", 0600, &err), "no principal");
    assert_contains(load_refused("bad", "AKIDA secret\nAKIDB\n", 0600, &err),
                    "/bad:2: expected ACCESS_KEY_ID");
    buf_reset(&err);
    assert_int_equal(credentials_load(dir.path, &k, &err), -1);
    assert_contains(err.data, "not a regular file");
    buf_reset(&err);
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/missing", dir.path);
    assert_int_equal(credentials_load(missing, &k, &err), -1);
    assert_contains(err.data, "No such file or directory");
    buf_free(&err);
    tmpdir_remove(&dir);
}

static void test_load_size_cap(void **state)
{
    tmpdir_create(&dir);
    size_t n = CREDENTIALS_MAX_FILE + 2;
    char *big = malloc(n + 1);
    memset(big, '#', n);
    big[n] = '\0';
    struct buf err = BUF_INIT;
    assert_contains(load_refused("big", big, 0600, &err), "larger than");
    free(big);
    buf_free(&err);
    tmpdir_remove(&dir);
}

static void test_keyring_replace(void **state)
{
    struct keyring *kr = keyring_create(parse_ok("AKIDOLD old-secret Music\n"));
    uint64_t g = keyring_generation(kr);
    struct auth_keys *held = keyring_acquire(kr);
    keyring_replace(kr, parse_ok("AKIDNEW new-secret\n"));
    assert_int_equal(keyring_generation(kr), g + 1);
    /* a request holding the old snapshot still sees it, intact */
    const struct auth_principal *old = auth_keys_find(held, "AKIDOLD", 7);
    assert_non_null(old);
    assert_true(auth_principal_allows(old, "Music", 5));
    auth_keys_release(held);
    struct auth_keys *now = keyring_acquire(kr);
    assert_null(auth_keys_find(now, "AKIDOLD", 7));
    assert_non_null(auth_keys_find(now, "AKIDNEW", 7));
    auth_keys_release(now);
    /* a failed reload keeps what is there */
    tmpdir_create(&dir);
    struct buf err = BUF_INIT;
    const char *bad = write_mode("bad", "AKIDX\n", 0600);
    assert_int_equal(keyring_reload(kr, bad, &err), -1);
    assert_int_equal(keyring_generation(kr), g + 1);
    now = keyring_acquire(kr);
    assert_non_null(auth_keys_find(now, "AKIDNEW", 7));
    auth_keys_release(now);
    const char *good_file = write_mode("good", "AKIDRELOADED s\n", 0600);
    assert_int_equal(keyring_reload(kr, good_file, &err), 0);
    assert_int_equal(keyring_generation(kr), g + 2);
    now = keyring_acquire(kr);
    assert_non_null(auth_keys_find(now, "AKIDRELOADED", 12));
    auth_keys_release(now);
    buf_free(&err);
    tmpdir_remove(&dir);
    keyring_destroy(kr);
    /* an empty keyring knows nobody */
    kr = keyring_create(NULL);
    now = keyring_acquire(kr);
    assert_int_equal(auth_keys_count(now), 0);
    auth_keys_release(now);
    keyring_destroy(kr);
}

/* Readers verify-like work (find, grant, signing key) while the main thread
 * replaces the snapshot again and again; each reader either sees the old
 * principal set or the new one, never a torn or freed one. */
struct reader {
    struct keyring *kr;
    atomic_int *stop;
    long rounds, seen_a, seen_b, bad;
};

static void *reader_loop(void *arg)
{
    struct reader *r = arg;
    uint8_t key[SIGV4_KEY_LEN];
    while (!atomic_load(r->stop) || r->rounds < 1000) {
        struct auth_keys *k = keyring_acquire(r->kr);
        const struct auth_principal *a = auth_keys_find(k, "AKIDA", 5);
        const struct auth_principal *b = auth_keys_find(k, "AKIDB", 5);
        if ((a != NULL) == (b != NULL)) r->bad++; /* exactly one of the two sets */
        const struct auth_principal *p = a ? a : b;
        if (p) {
            auth_principal_signing_key(p, "20240101", "us-east-1", 9, "dynamodb", 8, key);
            if (!auth_principal_allows(p, a ? "TableA" : "TableB", 6)) r->bad++;
            a ? r->seen_a++ : r->seen_b++;
        }
        auth_keys_release(k);
        r->rounds++;
    }
    return NULL;
}

static void test_keyring_reload_under_readers(void **state)
{
    struct keyring *kr = keyring_create(parse_ok("AKIDA sa TableA\n"));
    atomic_int stop;
    atomic_init(&stop, 0);
    struct reader r[2] = {{kr, &stop, 0, 0, 0, 0}, {kr, &stop, 0, 0, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, reader_loop, &r[i]);
    for (int i = 0; i < 2000; i++)
        keyring_replace(kr, parse_ok(i % 2 ? "AKIDA sa TableA\n" : "AKIDB sb TableB\n"));
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r[i].bad, 0);
        assert_int_equal(r[i].seen_a + r[i].seen_b, r[i].rounds);
    }
    keyring_destroy(kr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_refusals_name_the_line),
        cmocka_unit_test(test_refusals_hide_secrets),
        cmocka_unit_test(test_grants),
        cmocka_unit_test(test_signing_key_cache),
        cmocka_unit_test(test_load_permissions),
        cmocka_unit_test(test_load_size_cap),
        cmocka_unit_test(test_keyring_replace),
        cmocka_unit_test(test_keyring_reload_under_readers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
