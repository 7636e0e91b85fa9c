/*
 * testutil.h: small helpers the cmocka unit tests share: substring
 * assertions, capturing what a function prints to a FILE *, temporary files
 * and reading the TSV tables in proto/. Header-only (static inline), so a
 * test includes it and links nothing extra.
 */
#ifndef DDBX_TESTS_TESTUTIL_H
#define DDBX_TESTS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Fails the test, showing both strings, unless `needle` occurs in `hay`. */
#define assert_contains(hay, needle) testutil_assert_contains((hay), (needle), __FILE__, __LINE__)
#define assert_not_contains(hay, needle)                                                           \
    testutil_assert_not_contains((hay), (needle), __FILE__, __LINE__)

static inline void testutil_assert_contains(const char *hay, const char *needle, const char *file,
                                            int line)
{
    if (!hay || !strstr(hay, needle)) {
        print_error("\"%s\" not found in:\n%s\n", needle, hay ? hay : "(null)");
        _fail(file, line);
    }
}

static inline void testutil_assert_not_contains(const char *hay, const char *needle,
                                                const char *file, int line)
{
    if (hay && strstr(hay, needle)) {
        print_error("\"%s\" unexpectedly found in:\n%s\n", needle, hay);
        _fail(file, line);
    }
}

/* Number of non-overlapping occurrences of needle in hay. */
static inline int count_occurrences(const char *hay, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);
    for (const char *p = strstr(hay, needle); p; p = strstr(p + len, needle))
        n++;
    return n;
}

/* An in-memory FILE * whose text is read back with capture_end(). */
struct capture {
    FILE *f;
    char *text;
    size_t len;
};

static inline FILE *capture_begin(struct capture *c)
{
    c->text = NULL;
    c->len = 0;
    c->f = open_memstream(&c->text, &c->len);
    assert_non_null(c->f);
    return c->f;
}

/* Closes the stream; the text stays in c->text until capture_free(). */
static inline const char *capture_end(struct capture *c)
{
    fclose(c->f);
    c->f = NULL;
    return c->text;
}

static inline void capture_free(struct capture *c)
{
    free(c->text);
    c->text = NULL;
}

/* A private temporary directory, removed (with the files written through
 * tmpdir_write) by tmpdir_remove. */
struct tmpdir {
    char path[64];
    char files[16][128];
    int nfiles;
    char dirs[4][128];
    int ndirs;
};

static inline void tmpdir_create(struct tmpdir *d)
{
    snprintf(d->path, sizeof(d->path), "/tmp/ddbx-test-XXXXXX");
    assert_non_null(mkdtemp(d->path));
    d->nfiles = d->ndirs = 0;
}

/* Writes <dir>/<name> to out (128 bytes; a local copy keeps -Wrestrict quiet,
 * as out and d->path are in the same struct). */
static inline void tmpdir_join(const struct tmpdir *d, const char *name, char *out)
{
    char full[128];
    snprintf(full, sizeof(full), "%s/%s", d->path, name);
    memcpy(out, full, sizeof(full));
}

/* Makes the sub-directory <dir>/<name>; returns its path (owned by d). */
static inline const char *tmpdir_mkdir(struct tmpdir *d, const char *name)
{
    assert_true(d->ndirs < 4);
    char *path = d->dirs[d->ndirs++];
    tmpdir_join(d, name, path);
    assert_int_equal(mkdir(path, 0700), 0);
    return path;
}

/* Writes `content` to <dir>/<name> and returns the path (owned by d). */
static inline const char *tmpdir_write(struct tmpdir *d, const char *name, const char *content)
{
    assert_true(d->nfiles < 16);
    char *path = d->files[d->nfiles++];
    tmpdir_join(d, name, path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(content, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return path;
}

static inline void tmpdir_remove(struct tmpdir *d)
{
    for (int i = 0; i < d->nfiles; i++)
        unlink(d->files[i]);
    for (int i = d->ndirs - 1; i >= 0; i--)
        rmdir(d->dirs[i]);
    assert_int_equal(rmdir(d->path), 0);
}

/* Rows of a tab-separated table in proto/ (comments and blank lines skipped),
 * each split into at most TSV_MAX_COLS NUL-terminated columns. */
#define TSV_MAX_ROWS 256
#define TSV_MAX_COLS 8

struct tsv {
    char *text; /* owned; the columns point into it */
    int nrows;
    int ncols[TSV_MAX_ROWS];
    char *col[TSV_MAX_ROWS][TSV_MAX_COLS];
};

static inline void tsv_load(struct tsv *t, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    size_t cap = 1 << 16, len = 0, n;
    t->text = malloc(cap);
    while ((n = fread(t->text + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap) t->text = realloc(t->text, cap *= 2);
    }
    fclose(f);
    t->text[len] = '\0';
    t->nrows = 0;
    for (char *line = strtok(t->text, "\n"); line; line = strtok(NULL, "\n")) {
        if (*line == '#' || *line == '\0') continue;
        assert_true(t->nrows < TSV_MAX_ROWS);
        int r = t->nrows++, c = 0;
        for (char *p = line; p && c < TSV_MAX_COLS; c++) {
            t->col[r][c] = p;
            p = strchr(p, '\t');
            if (p) *p++ = '\0';
        }
        t->ncols[r] = c;
    }
}

static inline void tsv_free(struct tsv *t)
{
    free(t->text);
    t->text = NULL;
}

#endif
