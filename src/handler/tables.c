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

static const struct json *named_table(const struct json *doc)
{
    const struct json *t = json_get(doc, "TableName");
    if (!t) t = json_get(doc, "TargetTableName");
    if (!t) t = json_get(json_get(doc, "TableCreationParameters"), "TableName");
    return t;
}

/* Drops every entry of a table (of all tables when `table` names none) once
 * a change may have been applied; holds it when the outcome is unknown.
 * forget: the table itself may be gone or new (its schema is described again). */
static void table_changed(const struct json *table, enum write_outcome outcome, bool forget)
{
    if (outcome == WO_UNCHANGED) return;
    uint64_t hold = outcome == WO_AMBIGUOUS ? item_now() + handler_holdoff_ms() : 0;
    const char *name;
    size_t len;
    if (!schema_table_name(table, &name, &len)) {
        schema_invalidate_all(hold);
        return;
    }
    schema_invalidate(name, len, hold);
    if (forget) schema_forget(name, len);
}

static void on_table_changed(struct backend_result *res, void *arg)
{
    struct relayed *x = arg;
    struct request *r = x->r;
    enum write_outcome outcome = item_relay_outcome(r, res);
    table_changed(x->table, outcome, true);
    struct json *doc;
    /* a new table's answer carries its key schema: no DescribeTable needed */
    if (r->op->id == OP_DynamoDB_20120810_CreateTable && outcome == WO_SUCCESS &&
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
    x->table = named_table(x->doc);
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

/* The table a statement may write: false for a SELECT (it writes nothing);
 * *w NULL when the statement writes but its table cannot be read. */
static bool statement_table(const struct json *st, const char **w, size_t *wl)
{
    size_t pos = 0;
    *w = NULL;
    if (!json_is_string(st)) return true;
    const char *s = st->str;
    size_t len = st->len;
    const char *word;
    size_t n;
    if (!next_word(s, len, &pos, &word, &n)) return true;
    if (word_is(word, n, "SELECT")) return false;
    /* INSERT INTO t, DELETE FROM t, UPDATE t */
    bool ok = false;
    if (word_is(word, n, "INSERT") || word_is(word, n, "DELETE")) {
        const char *into = word_is(word, n, "INSERT") ? "INTO" : "FROM";
        ok = next_word(s, len, &pos, &word, &n) && word_is(word, n, into) &&
             next_word(s, len, &pos, &word, &n);
    } else if (word_is(word, n, "UPDATE")) {
        ok = next_word(s, len, &pos, &word, &n);
    }
    if (ok) {
        *w = word;
        *wl = n;
    }
    return true;
}

/* Drops what a statement may have written. */
static void statement_done(struct request *r, const struct json *st, enum write_outcome outcome)
{
    const char *table;
    size_t len = 0;
    if (!statement_table(st, &table, &len)) return;
    table_changed(table ? item_string_node(r, table, len) : NULL, outcome, false);
}

static void on_partiql(struct backend_result *res, void *arg)
{
    struct relayed *x = arg;
    enum write_outcome outcome = item_relay_outcome(x->r, res);
    const struct json *one = json_get(x->doc, "Statement");
    if (one) statement_done(x->r, one, outcome);
    const struct json *list = json_get(x->doc, "Statements");
    if (!list) list = json_get(x->doc, "TransactStatements");
    for (const struct json *s = json_is_array(list) ? list->child : NULL; s; s = s->next)
        statement_done(x->r, json_get(s, "Statement"), outcome);
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
    for (int i = 0; i < t->n; i++)
        if (!ks[i] || ks[i]->held) { /* not cached, or nothing to cache now */
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
        t->tables[i] = json_get(get, "TableName");
        t->keys[i] = json_get(get, "Key");
        t->whole[i] = !json_get(get, "ProjectionExpression");
        if (!json_is_string(t->tables[i]) || !json_is_object(t->keys[i])) {
            handler_relay(r);
            return;
        }
    }
    schema_get_all(r, t->tables, n, on_transact_schemas, t);
}
