/*
 * fuzz_credentials.c: the --credentials file parser (src/auth/credentials.h).
 *
 * Input: the file's text. Checked, besides ASan/UBSan:
 * - a refusal has a message "fuzz:LINE: ..." whose line exists in the input;
 * - an accepted file has at most one principal per line, each found again by
 *   its key id (1-128 characters of [A-Za-z0-9_.-]), with its tables sorted,
 *   without repeats, each of them allowed and a name not listed refused
 *   (a principal without tables allows anything);
 * - a signing key can be derived for every principal, twice from the cache.
 */
#include <stdio.h>
#include <string.h>

#include "auth/credentials.h"
#include "fuzz.h"

static size_t count_lines(const char *s, size_t n)
{
    size_t lines = 1;
    for (size_t i = 0; i < n; i++)
        lines += s[i] == '\n';
    return lines;
}

static void check_principal(const struct auth_keys *k, const struct auth_principal *p)
{
    const char *id = auth_principal_key_id(p);
    size_t idl = strlen(id);
    FUZZ_CHECK(idl >= 1 && idl <= 128 &&
               strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
                          "tuvwxyz0123456789_.-") == idl);
    FUZZ_CHECK(auth_keys_find(k, id, idl) == p);
    size_t nt = auth_principal_table_count(p);
    for (size_t t = 0; t < nt; t++) {
        const char *name = auth_principal_table(p, t);
        FUZZ_CHECK(auth_principal_allows(p, name, strlen(name)));
        if (t) FUZZ_CHECK(strcmp(auth_principal_table(p, t - 1), name) < 0);
    }
    /* '!' is in no table name, and an ARN entry is at least "arn:x" */
    FUZZ_CHECK(auth_principal_allows(p, "!", 1) == (nt == 0));
    uint8_t a[SIGV4_KEY_LEN], b[SIGV4_KEY_LEN];
    auth_principal_signing_key(p, "20240101", "us-east-1", 9, "dynamodb", 8, a);
    auth_principal_signing_key(p, "20240101", "us-east-1", 9, "dynamodb", 8, b);
    FUZZ_CHECK(memcmp(a, b, sizeof(a)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct auth_keys *k = NULL;
    struct buf err = BUF_INIT;
    if (credentials_parse(s, size, "fuzz", &k, &err) != 0) {
        FUZZ_CHECK(k == NULL && err.len > 0);
        unsigned line = 0;
        FUZZ_CHECK(sscanf(err.data, "fuzz:%u: ", &line) == 1);
        FUZZ_CHECK(line >= 1 && line <= count_lines(s, size));
        buf_free(&err);
        return 0;
    }
    FUZZ_CHECK(err.len == 0);
    size_t n = auth_keys_count(k);
    FUZZ_CHECK(n <= count_lines(s, size));
    for (size_t i = 0; i < n; i++)
        check_principal(k, auth_keys_at(k, i));
    FUZZ_CHECK(auth_keys_at(k, n) == NULL);
    FUZZ_CHECK(auth_keys_derivations(k) == n); /* one each; the second came from the cache */
    auth_keys_release(k);
    return 0;
}
