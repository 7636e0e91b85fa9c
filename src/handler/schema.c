/*
 * schema.c: the table schema registry. A small chained hash under one mutex:
 * lookups copy a record into the request's arena, so no lock is held while a
 * request uses its schema.
 */
#include "handler/schema.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "handler/handler.h"
#include "util/common.h"
#include "util/hash.h"
#include "util/log.h"

#define SCHEMA_BUCKETS 256

struct record {
    struct record *next;
    char *table;
    size_t table_len;
    uint32_t epoch;
    int nattrs;
    char *names[2];
    size_t lens[2];
    char types[2];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct record *buckets[SCHEMA_BUCKETS];
static uint32_t next_epoch = 1;

static unsigned bucket(const char *t, size_t len)
{
    return hash_fnv1a(t, len) % SCHEMA_BUCKETS;
}

static struct record **find(const char *t, size_t len)
{
    struct record **link = &buckets[bucket(t, len)];
    while (*link && !((*link)->table_len == len && memcmp((*link)->table, t, len) == 0))
        link = &(*link)->next;
    return link;
}

static void record_free(struct record *rec)
{
    free(rec->table);
    free(rec->names[0]);
    free(rec->names[1]);
    free(rec);
}

void schema_setup(void) {}

void schema_teardown(void)
{
    schema_forget_all();
}

static const struct key_schema *copy_out(struct request *r, const struct record *rec)
{
    struct key_schema *ks = arena_alloc(r->arena, sizeof(*ks));
    ks->table = arena_strndup(r->arena, rec->table, rec->table_len);
    ks->table_len = rec->table_len;
    ks->epoch = rec->epoch;
    ks->nattrs = rec->nattrs;
    for (int i = 0; i < rec->nattrs; i++) {
        ks->attr[i].name = arena_strndup(r->arena, rec->names[i], rec->lens[i]);
        ks->attr[i].len = rec->lens[i];
        ks->attr[i].type = rec->types[i];
    }
    return ks;
}

const struct key_schema *schema_peek(struct request *r, const char *table, size_t len)
{
    const struct key_schema *ks = NULL;
    pthread_mutex_lock(&lock);
    struct record *rec = *find(table, len);
    if (rec) ks = copy_out(r, rec);
    pthread_mutex_unlock(&lock);
    return ks;
}

/* The type ('S', 'N', 'B') AttributeDefinitions gives `name`, or 0. */
static char attr_type(const struct json *defs, const struct json *name)
{
    for (const struct json *d = defs ? defs->child : NULL; d; d = d->next) {
        const struct json *n = json_get(d, "AttributeName"), *t = json_get(d, "AttributeType");
        if (json_is_string(n) && json_is_string(t) && n->len == name->len &&
            memcmp(n->str, name->str, n->len) == 0 && t->len == 1 && strchr("SNB", t->str[0]))
            return t->str[0];
    }
    return 0;
}

void schema_learn(const struct json *d)
{
    const struct json *name = json_get(d, "TableName"), *ks = json_get(d, "KeySchema"),
                      *defs = json_get(d, "AttributeDefinitions");
    if (!json_is_string(name) || !json_is_array(ks) || !json_is_array(defs)) return;
    struct record *rec = xcalloc(1, sizeof(*rec));
    for (const struct json *k = ks->child; k; k = k->next) {
        const struct json *an = json_get(k, "AttributeName"), *kt = json_get(k, "KeyType");
        if (!json_is_string(an) || !json_is_string(kt)) goto bad;
        int slot = strcmp(kt->str, "HASH") == 0 ? 0 : strcmp(kt->str, "RANGE") == 0 ? 1 : -1;
        char type = attr_type(defs, an);
        if (slot < 0 || rec->names[slot] || !type) goto bad;
        rec->names[slot] = xstrndup(an->str, an->len);
        rec->lens[slot] = an->len;
        rec->types[slot] = type;
    }
    if (!rec->names[0]) goto bad;
    rec->nattrs = rec->names[1] ? 2 : 1;
    rec->table = xstrndup(name->str, name->len);
    rec->table_len = name->len;
    pthread_mutex_lock(&lock);
    struct record **link = find(rec->table, rec->table_len);
    struct record *old = *link;
    bool same = old && old->nattrs == rec->nattrs;
    for (int i = 0; same && i < rec->nattrs; i++)
        same = old->lens[i] == rec->lens[i] && old->types[i] == rec->types[i] &&
               memcmp(old->names[i], rec->names[i], rec->lens[i]) == 0;
    if (same) { /* already known: keep its epoch and entries */
        pthread_mutex_unlock(&lock);
        record_free(rec);
        return;
    }
    rec->epoch = next_epoch++;
    if (old) {
        rec->next = old->next;
        *link = rec;
    } else {
        rec->next = NULL;
        *link = rec;
    }
    pthread_mutex_unlock(&lock);
    if (old) record_free(old);
    log_debug("learnt the key schema of table %.*s", (int)rec->table_len, rec->table);
    return;
bad:
    record_free(rec);
}

void schema_forget(const char *table, size_t len)
{
    pthread_mutex_lock(&lock);
    struct record **link = find(table, len), *rec = *link;
    if (rec) *link = rec->next;
    pthread_mutex_unlock(&lock);
    if (rec) record_free(rec);
}

void schema_forget_all(void)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < SCHEMA_BUCKETS; i++) {
        while (buckets[i]) {
            struct record *rec = buckets[i];
            buckets[i] = rec->next;
            record_free(rec);
        }
    }
    pthread_mutex_unlock(&lock);
}

/* ---- fetching with DescribeTable ---- */

struct fetch {
    struct request *r;
    schema_cb cb;
    void *arg;
    const char *table;
    size_t len;
};

static void on_described(struct backend_result *res, void *arg)
{
    struct fetch *f = arg;
    struct request *r = f->r;
    if (res->outcome != BACKEND_ANSWERED) {
        /* no answer at all (timeout, unreachable): relaying the request would
         * wait as long again; answer the client with the failure now */
        request_send_backend(r, res);
        return;
    }
    if (res->status == 200) {
        struct json *doc;
        if (json_parse(r->arena, res->body.data, res->body.len, &doc, NULL, 0) == JSON_OK)
            schema_learn(json_get(doc, "Table"));
    }
    f->cb(r, schema_peek(r, f->table, f->len), f->arg);
}

void schema_get(struct request *r, const char *table, size_t len, schema_cb cb, void *arg)
{
    const struct key_schema *ks = schema_peek(r, table, len);
    if (ks) {
        cb(r, ks, arg);
        return;
    }
    struct fetch *f = arena_alloc(r->arena, sizeof(*f));
    *f = (struct fetch){r, cb, arg, table, len};
    struct buf body = BUF_INIT;
    struct json_writer w;
    jw_init(&w, &body);
    jw_object_begin(&w);
    jw_cstr(&w, "TableName");
    jw_string(&w, table, len);
    jw_object_end(&w);
    jw_free(&w);
    backend_call(r->thread->backend, "DynamoDB_20120810.DescribeTable", &body, on_described, f);
}

struct get_all {
    const struct json **names;
    const struct key_schema **ks;
    int n, done;
    schema_all_cb cb;
    void *arg;
};

static void next_schema(struct request *r, const struct key_schema *ks, void *arg)
{
    struct get_all *ga = arg;
    if (!ks) {
        ga->cb(r, NULL, ga->arg);
        return;
    }
    ga->ks[ga->done++] = ks;
    if (ga->done == ga->n) {
        ga->cb(r, ga->ks, ga->arg);
        return;
    }
    schema_get(r, ga->names[ga->done]->str, ga->names[ga->done]->len, next_schema, ga);
}

void schema_get_all(struct request *r, const struct json **names, int n, schema_all_cb cb,
                    void *arg)
{
    struct get_all *ga = arena_alloc(r->arena, sizeof(*ga));
    *ga = (struct get_all){
        names, arena_alloc(r->arena, sizeof(*ga->ks) * (size_t)(n ? n : 1)), n, 0, cb, arg};
    if (n == 0) {
        cb(r, ga->ks, arg);
        return;
    }
    schema_get(r, names[0]->str, names[0]->len, next_schema, ga);
}
