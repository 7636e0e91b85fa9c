/*
 * credentials.c: the --credentials file (parsed by hand: the format is
 * ddbx's own, three kinds of field on a line), snapshots of it with their
 * signing-key caches, and the keyring that swaps snapshots (see
 * credentials.h for why a locked pointer and reference counts).
 */
#include "auth/credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/common.h"

#define KEY_ID_MAX 128
#define SECRET_MAX 256
#define TABLE_MAX 255
#define ARN_MAX 1024

struct key_slot {
    char scope[SIGV4_SCOPE_MAX]; /* "date/region/service"; "" when empty */
    uint8_t key[SIGV4_KEY_LEN];
};

struct auth_principal {
    char *key_id;
    size_t key_id_len;
    char *secret;
    size_t secret_len;
    char **tables; /* sorted, no repeats; NULL when every table */
    size_t ntables;
    int line;
    struct auth_keys *owner;
    pthread_mutex_t lock; /* guards slots and next */
    struct key_slot slots[2];
    unsigned next; /* the slot the next derived key replaces */
};

struct auth_keys {
    atomic_int refs;
    atomic_uint_fast64_t derivations;
    size_t n;
    struct auth_principal *p; /* sorted by key id */
    bool ready;               /* principals' mutexes initialised */
};

struct keyring {
    pthread_mutex_t lock;
    struct auth_keys *current;
    atomic_uint_fast64_t generation;
};

static int slice_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, MIN(al, bl));
    return c ? c : (al > bl) - (al < bl);
}

static int principal_cmp(const void *a, const void *b)
{
    const struct auth_principal *x = a, *y = b;
    return slice_cmp(x->key_id, x->key_id_len, y->key_id, y->key_id_len);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* --- parsing --- */

struct field {
    const char *p;
    size_t n;
};

#define LINE_FIELDS_MAX 1024

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static bool key_id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

static bool all(const struct field *f, bool (*ok)(char))
{
    for (size_t i = 0; i < f->n; i++)
        if (!ok(f->p[i])) return false;
    return true;
}

static bool printable(char c)
{
    return c > ' ' && c < 0x7f;
}

static bool valid_table(const struct field *f)
{
    if (f->n > 4 && memcmp(f->p, "arn:", 4) == 0) return f->n <= ARN_MAX && all(f, printable);
    return f->n >= 3 && f->n <= TABLE_MAX && all(f, key_id_char);
}

/* Splits one line into fields, stopping at a field that starts with '#'.
 * Returns the number of fields, or -1 if there are more than `max`. */
static int split_fields(const char *s, size_t len, struct field *out, int max)
{
    int n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_space(s[i]))
            i++;
        if (i == len || s[i] == '#') break;
        size_t start = i;
        while (i < len && !is_space(s[i]))
            i++;
        if (n == max) return -1;
        out[n++] = (struct field){s + start, i - start};
    }
    return n;
}

static void principal_free(struct auth_principal *p)
{
    OPENSSL_cleanse(p->secret, p->secret_len);
    free(p->secret);
    free(p->key_id);
    for (size_t i = 0; i < p->ntables; i++)
        free(p->tables[i]);
    free(p->tables);
    OPENSSL_cleanse(p->slots, sizeof(p->slots));
}

static void keys_free(struct auth_keys *k)
{
    for (size_t i = 0; i < k->n; i++) {
        principal_free(&k->p[i]);
        if (k->ready) pthread_mutex_destroy(&k->p[i].lock);
    }
    free(k->p);
    free(k);
}

static int line_error(struct buf *err, const char *source, int line, const char *what,
                      const struct field *f)
{
    buf_printf(err, "%s:%d: %s", source, line, what);
    if (f) buf_printf(err, " '%.*s'", (int)MIN(f->n, 64), f->p);
    return -1;
}

/* Validates the fields of one line and fills p. */
static int principal_init(struct auth_principal *p, const struct field *f, int nf, int line,
                          const char *source, struct buf *err)
{
    if (nf < 2)
        return line_error(err, source, line,
                          "expected ACCESS_KEY_ID SECRET_ACCESS_KEY [TABLE ...], found no secret",
                          NULL);
    if (f[0].n > KEY_ID_MAX || !all(&f[0], key_id_char))
        return line_error(err, source, line,
                          "access key id must be 1-128 characters of A-Z a-z 0-9 _ . -", &f[0]);
    if (f[1].n > SECRET_MAX || !all(&f[1], printable))
        return line_error(err, source, line,
                          "secret access key must be 1-256 printable ASCII characters", NULL);
    for (int i = 2; i < nf; i++)
        if (!valid_table(&f[i]))
            return line_error(
                err, source, line,
                "table must be a table name (3-255 of A-Z a-z 0-9 _ . -) or an ARN (arn:...)",
                &f[i]);
    memset(p, 0, sizeof(*p));
    p->key_id = xstrndup(f[0].p, f[0].n);
    p->key_id_len = f[0].n;
    p->secret = xstrndup(f[1].p, f[1].n);
    p->secret_len = f[1].n;
    p->line = line;
    if (nf > 2) {
        p->tables = xmalloc((size_t)(nf - 2) * sizeof(char *));
        for (int i = 2; i < nf; i++)
            p->tables[p->ntables++] = xstrndup(f[i].p, f[i].n);
        qsort(p->tables, p->ntables, sizeof(char *), str_cmp);
        size_t w = 1; /* drop repeats */
        for (size_t r = 1; r < p->ntables; r++) {
            if (strcmp(p->tables[r], p->tables[w - 1]) == 0)
                free(p->tables[r]);
            else
                p->tables[w++] = p->tables[r];
        }
        p->ntables = w;
    }
    return 0;
}

static struct auth_keys *keys_new(void)
{
    struct auth_keys *k = xcalloc(1, sizeof(*k));
    atomic_init(&k->refs, 1);
    atomic_init(&k->derivations, 0);
    return k;
}

/* After sorting, a repeated key id sits next to its first occurrence. */
static int check_repeats(struct auth_keys *k, const char *source, struct buf *err)
{
    for (size_t i = 1; i < k->n; i++) {
        struct auth_principal *a = &k->p[i - 1], *b = &k->p[i];
        if (principal_cmp(a, b) != 0) continue;
        int first = MIN(a->line, b->line), again = MAX(a->line, b->line);
        buf_printf(err, "%s:%d: access key id '%s' repeats the one on line %d", source, again,
                   a->key_id, first);
        return -1;
    }
    return 0;
}

int credentials_parse(const char *text, size_t len, const char *source, struct auth_keys **out,
                      struct buf *err)
{
    struct auth_keys *k = keys_new();
    size_t cap = 0;
    struct field *f = xmalloc(LINE_FIELDS_MAX * sizeof(*f));
    int line = 0, rc = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - i;
        line++;
        if (n && text[i + n - 1] == '\r') n--;
        for (size_t j = 0; j < n && rc == 0; j++)
            if (!is_space(text[i + j]) && !printable(text[i + j]))
                rc = line_error(err, source, line, "control or non-ASCII character", NULL);
        int nf = rc ? 0 : split_fields(text + i, n, f, LINE_FIELDS_MAX);
        if (nf < 0) rc = line_error(err, source, line, "more than 1022 tables", NULL);
        if (nf > 0 && rc == 0) {
            if (k->n == cap) {
                cap = cap ? cap * 2 : 8;
                k->p = xrealloc(k->p, cap * sizeof(*k->p));
            }
            rc = principal_init(&k->p[k->n], f, nf, line, source, err);
            if (rc == 0) k->n++;
        }
        i = end + 1;
    }
    free(f);
    if (rc == 0) {
        if (k->n) qsort(k->p, k->n, sizeof(*k->p), principal_cmp);
        rc = check_repeats(k, source, err);
    }
    if (rc) {
        keys_free(k);
        return -1;
    }
    /* mutexes are initialised in place, once the array stops moving */
    for (size_t i = 0; i < k->n; i++) {
        k->p[i].owner = k;
        pthread_mutex_init(&k->p[i].lock, NULL);
    }
    k->ready = true;
    *out = k;
    return 0;
}

static int read_file(int fd, const char *path, struct buf *text, struct buf *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        buf_printf(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        buf_printf(err, "%s: not a regular file", path);
        return -1;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        buf_printf(err,
                   "%s: holds secrets but group or others may access it (mode %04o); "
                   "chmod 600 it",
                   path, (unsigned)(st.st_mode & 07777));
        return -1;
    }
    if (st.st_size > CREDENTIALS_MAX_FILE) {
        buf_printf(err, "%s: larger than %d bytes", path, CREDENTIALS_MAX_FILE);
        return -1;
    }
    buf_reserve(text, (size_t)st.st_size);
    for (;;) {
        buf_reserve(text, 4096);
        ssize_t r = read(fd, text->data + text->len, text->cap - text->len - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            buf_printf(err, "%s: %s", path, strerror(errno));
            return -1;
        }
        if (r == 0) break;
        text->len += (size_t)r;
        if (text->len > CREDENTIALS_MAX_FILE) {
            buf_printf(err, "%s: larger than %d bytes", path, CREDENTIALS_MAX_FILE);
            return -1;
        }
    }
    text->data[text->len] = '\0';
    return 0;
}

int credentials_load(const char *path, struct auth_keys **out, struct buf *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        buf_printf(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct buf text = BUF_INIT;
    int rc = read_file(fd, path, &text, err);
    close(fd);
    if (rc == 0) rc = credentials_parse(text.data, text.len, path, out, err);
    if (text.data) OPENSSL_cleanse(text.data, text.cap);
    buf_free(&text);
    if (rc == 0 && (*out)->n == 0) {
        buf_printf(err,
                   "%s: no principal (expected lines ACCESS_KEY_ID SECRET_ACCESS_KEY [TABLE ...])",
                   path);
        auth_keys_release(*out);
        *out = NULL;
        rc = -1;
    }
    return rc;
}

/* --- snapshots --- */

struct auth_keys *auth_keys_retain(struct auth_keys *k)
{
    atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
    return k;
}

void auth_keys_release(struct auth_keys *k)
{
    if (k && atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) == 1) keys_free(k);
}

size_t auth_keys_count(const struct auth_keys *k)
{
    return k->n;
}

const struct auth_principal *auth_keys_at(const struct auth_keys *k, size_t i)
{
    return i < k->n ? &k->p[i] : NULL;
}

struct lookup {
    const char *p;
    size_t n;
};

static int lookup_principal(const void *key, const void *elem)
{
    const struct lookup *l = key;
    const struct auth_principal *p = elem;
    return slice_cmp(l->p, l->n, p->key_id, p->key_id_len);
}

static int lookup_table(const void *key, const void *elem)
{
    const struct lookup *l = key;
    const char *t = *(char *const *)elem;
    return slice_cmp(l->p, l->n, t, strlen(t));
}

const struct auth_principal *auth_keys_find(const struct auth_keys *k, const char *key_id,
                                            size_t len)
{
    struct lookup l = {key_id, len};
    return k->n ? bsearch(&l, k->p, k->n, sizeof(*k->p), lookup_principal) : NULL;
}

uint64_t auth_keys_derivations(const struct auth_keys *k)
{
    return atomic_load_explicit(&k->derivations, memory_order_relaxed);
}

void auth_keys_forget_signing_keys(const struct auth_keys *k)
{
    for (size_t i = 0; i < k->n; i++) {
        struct auth_principal *p = &k->p[i];
        pthread_mutex_lock(&p->lock);
        OPENSSL_cleanse(p->slots, sizeof(p->slots));
        pthread_mutex_unlock(&p->lock);
    }
}

const char *auth_principal_key_id(const struct auth_principal *p)
{
    return p->key_id;
}

int auth_principal_line(const struct auth_principal *p)
{
    return p->line;
}

size_t auth_principal_table_count(const struct auth_principal *p)
{
    return p->ntables;
}

const char *auth_principal_table(const struct auth_principal *p, size_t i)
{
    return i < p->ntables ? p->tables[i] : NULL;
}

bool auth_principal_allows(const struct auth_principal *p, const char *table, size_t len)
{
    struct lookup l = {table, len};
    return p->ntables == 0 || bsearch(&l, p->tables, p->ntables, sizeof(char *), lookup_table);
}

void auth_principal_signing_key(const struct auth_principal *cp, const char *date8,
                                const char *region, size_t region_len, const char *service,
                                size_t service_len, uint8_t key[SIGV4_KEY_LEN])
{
    /* The cache is the one mutable part of a snapshot, guarded by p->lock. */
    struct auth_principal *p = (struct auth_principal *)cp;
    /* the cache key "date/region/service", built without snprintf (it
     * showed in the verification profile) */
    char scope[SIGV4_SCOPE_MAX];
    size_t sl = 8 + 1 + region_len + 1 + service_len;
    bool cacheable = sl < sizeof(scope);
    if (cacheable) {
        memcpy(scope, date8, 8);
        scope[8] = '/';
        memcpy(scope + 9, region, region_len);
        scope[9 + region_len] = '/';
        memcpy(scope + 10 + region_len, service, service_len);
        scope[sl] = '\0';
    }
    if (cacheable) {
        pthread_mutex_lock(&p->lock);
        for (int i = 0; i < 2; i++)
            if (strcmp(p->slots[i].scope, scope) == 0) {
                memcpy(key, p->slots[i].key, SIGV4_KEY_LEN);
                pthread_mutex_unlock(&p->lock);
                return;
            }
        pthread_mutex_unlock(&p->lock);
    }
    sigv4_signing_key(p->secret, p->secret_len, date8, region, region_len, service, service_len,
                      key);
    atomic_fetch_add_explicit(&p->owner->derivations, 1, memory_order_relaxed);
    if (!cacheable) return;
    pthread_mutex_lock(&p->lock);
    struct key_slot *s = &p->slots[p->next];
    p->next ^= 1;
    memcpy(s->scope, scope, sl + 1);
    memcpy(s->key, key, SIGV4_KEY_LEN);
    pthread_mutex_unlock(&p->lock);
}

/* --- the keyring --- */

struct keyring *keyring_create(struct auth_keys *initial)
{
    struct keyring *kr = xcalloc(1, sizeof(*kr));
    pthread_mutex_init(&kr->lock, NULL);
    if (!initial) {
        initial = keys_new();
        initial->ready = true;
    }
    kr->current = initial;
    atomic_init(&kr->generation, 1);
    return kr;
}

void keyring_destroy(struct keyring *kr)
{
    if (!kr) return;
    auth_keys_release(kr->current);
    pthread_mutex_destroy(&kr->lock);
    free(kr);
}

struct auth_keys *keyring_acquire(struct keyring *kr)
{
    pthread_mutex_lock(&kr->lock);
    struct auth_keys *k = auth_keys_retain(kr->current);
    pthread_mutex_unlock(&kr->lock);
    return k;
}

void keyring_replace(struct keyring *kr, struct auth_keys *next)
{
    pthread_mutex_lock(&kr->lock);
    struct auth_keys *old = kr->current;
    kr->current = next;
    atomic_fetch_add_explicit(&kr->generation, 1, memory_order_release);
    pthread_mutex_unlock(&kr->lock);
    auth_keys_release(old);
}

int keyring_reload(struct keyring *kr, const char *path, struct buf *err)
{
    struct auth_keys *next;
    if (credentials_load(path, &next, err) != 0) return -1;
    keyring_replace(kr, next);
    return 0;
}

uint64_t keyring_generation(struct keyring *kr)
{
    return atomic_load_explicit(&kr->generation, memory_order_acquire);
}
