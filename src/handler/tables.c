/*
 * tables.c: relayed operations that still concern the cache.
 *
 *   CreateTable, DeleteTable, Restore*, ImportTable   the table is forgotten (its
 *                      schema, and through its epoch every cached entry)
 *   DescribeTable      the answer teaches ddbx the table's key schema
 *   ExecuteStatement, BatchExecuteStatement, ExecuteTransaction
 *                      a PartiQL statement that writes forgets its table (all
 *                      tables when its table cannot be read from the statement)
 *   TransactGetItems   always the backend; takes leases on its keys so older
 *                      fills do not land after it, and installs the whole items it saw
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "handler/item.h"
#include "handler/schema.h"
#include "util/common.h"

/* ---- table administration ---- */

struct relayed {
    struct request *r;
    const struct json *table; /* the table the request names, or NULL */
    struct json *doc;
};

static const struct json *named_table(struct request *r, const struct json *doc)
{
    const struct json *t = json_get(doc, "TableName");
    if (!t) t = json_get(doc, "TargetTableName");
    if (!t) t = json_get(json_get(doc, "TableCreationParameters"), "TableName");
    return item_table_name(r, t);
}

static void on_table_changed(struct backend_result *res, void *arg)
{
    struct relayed *x = arg;
    struct request *r = x->r;
    if (x->table)
        schema_forget(x->table->str, x->table->len);
    else
        schema_forget_all();
    struct json *doc;
    /* a new table's answer carries its key schema: no DescribeTable needed */
    if (r->op->id == OP_DynamoDB_20120810_CreateTable && res->outcome == BACKEND_ANSWERED &&
        res->status == 200 &&
        json_parse(r->arena, res->body.data, res->body.len, &doc, NULL, 0) == JSON_OK)
        schema_learn(json_get(doc, "TableDescription"));
    request_send_backend(r, res);
}

/* Parses the body for a relayed request that is looked at; NULL after
 * answering SerializationException. */
static struct relayed *relayed_new(struct request *r)
{
    struct json *doc = item_parse_body(r);
    if (!doc) return NULL;
    struct relayed *x = arena_alloc(r->arena, sizeof(*x));
    *x = (struct relayed){r, NULL, doc};
    return x;
}

void handler_table_change(struct request *r)
{
    struct relayed *x = relayed_new(r);
    if (!x) return;
    x->table = named_table(r, x->doc);
    handler_forward(r, r->body, r->body_len, on_table_changed, x);
}

static void on_described(struct backend_result *res, void *arg)
{
    struct request *r = arg;
    struct json *doc;
    if (res->outcome == BACKEND_ANSWERED && res->status == 200 &&
        json_parse(r->arena, res->body.data, res->body.len, &doc, NULL, 0) == JSON_OK)
        schema_learn(json_get(doc, "Table"));
    request_send_backend(r, res);
}

void handler_describe_table(struct request *r)
{
    if (json_validate_object(r->body, r->body_len) != JSON_OK) {
        request_send_error(r, DDB_SerializationException, NULL);
        return;
    }
    handler_forward(r, r->body, r->body_len, on_described, r);
}

/* ---- PartiQL ---- */

/* The next word of s at *pos (letters, digits, _, or a "quoted" name). */
static bool next_word(const char *s, size_t len, size_t *pos, const char **w, size_t *wl)
{
    size_t i = *pos;
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    if (i < len && s[i] == '"') {
        size_t start = ++i;
        while (i < len && s[i] != '"')
            i++;
        if (i >= len) return false;
        *w = s + start;
        *wl = i - start;
        *pos = i + 1;
        return true;
    }
    size_t start = i;
    while (i < len && (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-' || s[i] == '.'))
        i++;
    *w = s + start;
    *wl = i - start;
    *pos = i;
    return *wl > 0;
}

static bool word_is(const char *w, size_t wl, const char *kw)
{
    return strlen(kw) == wl && strncasecmp(w, kw, wl) == 0;
}

/* Forgets what a statement may write. SELECTs change nothing. */
static void forget_statement(const struct json *st)
{
    if (!json_is_string(st)) return;
    size_t pos = 0, wl;
    const char *w;
    if (!next_word(st->str, st->len, &pos, &w, &wl) || word_is(w, wl, "SELECT")) return;
    /* INSERT INTO t, UPDATE t, DELETE FROM t */
    if ((word_is(w, wl, "INSERT") || word_is(w, wl, "DELETE")) &&
        next_word(st->str, st->len, &pos, &w, &wl) &&
        (word_is(w, wl, "INTO") || word_is(w, wl, "FROM")) &&
        next_word(st->str, st->len, &pos, &w, &wl)) {
        schema_forget(w, wl);
        return;
    }
    pos = 0;
    next_word(st->str, st->len, &pos, &w, &wl);
    if (word_is(w, wl, "UPDATE") && next_word(st->str, st->len, &pos, &w, &wl)) {
        schema_forget(w, wl);
        return;
    }
    schema_forget_all(); /* a statement ddbx cannot read: forget everything */
}

static void on_partiql(struct backend_result *res, void *arg)
{
    struct relayed *x = arg;
    forget_statement(json_get(x->doc, "Statement"));
    const struct json *list = json_get(x->doc, "Statements");
    if (!list) list = json_get(x->doc, "TransactStatements");
    for (const struct json *s = json_is_array(list) ? list->child : NULL; s; s = s->next)
        forget_statement(json_get(s, "Statement"));
    request_send_backend(x->r, res);
}

void handler_partiql(struct request *r)
{
    struct relayed *x = relayed_new(r);
    if (!x) return;
    handler_forward(r, r->body, r->body_len, on_partiql, x);
}

/* ---- TransactGetItems ---- */

struct tget {
    struct request *r;
    const struct json **tables;
    const struct json **keys;
    bool *whole; /* no projection: the answer is the whole item */
    struct cache_fill **fills;
    int n;
};

static void on_transact_got(struct backend_result *res, void *arg)
{
    struct tget *t = arg;
    struct request *r = t->r;
    struct json *doc = NULL;
    bool ok = res->outcome == BACKEND_ANSWERED && res->status == 200 &&
              json_parse(r->arena, res->body.data, res->body.len, &doc, NULL, 0) == JSON_OK;
    const struct json *resp = ok ? json_get(doc, "Responses") : NULL;
    const struct json *e = json_is_array(resp) && resp->len == (uint32_t)t->n ? resp->child : NULL;
    uint64_t now = item_now();
    for (int i = 0; i < t->n; i++, e = e ? e->next : NULL) {
        struct cache_result cr = {CACHE_FAILED, NULL, 0, 0, 0};
        struct buf value = BUF_INIT;
        const struct json *item = e ? json_get(e, "Item") : NULL;
        if (e && t->whole[i] && json_is_object(item)) {
            item_value_compose(&value, item);
            cr = (struct cache_result){CACHE_HIT, value.data, value.len, 0, 200};
        } else if (e && t->whole[i]) {
            cr.kind = CACHE_NEGATIVE;
        }
        cache_fill_done(t->fills[i], &cr, now);
        buf_free(&value);
    }
    request_send_backend(r, res);
}

static void on_transact_schemas(struct request *r, const struct key_schema **ks, void *arg)
{
    struct tget *t = arg;
    if (!ks) {
        handler_relay(r);
        return;
    }
    struct cache_key *k = arena_alloc(r->arena, sizeof(*k) * (size_t)t->n);
    for (int i = 0; i < t->n; i++)
        if (!item_key_or_answer(r, ks[i], t->keys[i], true, &k[i])) return;
    for (int i = 0; i < t->n; i++)
        t->fills[i] = cache_lease(&k[i]);
    handler_forward(r, r->body, r->body_len, on_transact_got, t);
}

void handler_transact_get_items(struct request *r)
{
    struct json *doc = item_parse_body(r);
    if (!doc) return;
    const struct json *items = json_get(doc, "TransactItems");
    if (!json_is_array(items) || items->len == 0 || items->len > 100) {
        handler_relay(r);
        return;
    }
    struct tget *t = arena_alloc(r->arena, sizeof(*t));
    int n = (int)items->len;
    *t = (struct tget){r,
                       arena_alloc(r->arena, sizeof(*t->tables) * (size_t)n),
                       arena_alloc(r->arena, sizeof(*t->keys) * (size_t)n),
                       arena_alloc(r->arena, (size_t)n),
                       arena_alloc(r->arena, sizeof(*t->fills) * (size_t)n),
                       n};
    int i = 0;
    for (const struct json *q = items->child; q; q = q->next, i++) {
        const struct json *get = json_get(q, "Get");
        t->tables[i] = item_table_name(r, json_get(get, "TableName"));
        t->keys[i] = json_get(get, "Key");
        t->whole[i] = !json_get(get, "ProjectionExpression");
        if (!t->tables[i] || !json_is_object(t->keys[i])) {
            handler_relay(r);
            return;
        }
    }
    schema_get_all(r, t->tables, n, on_transact_schemas, t);
}
