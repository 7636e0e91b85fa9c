/*
 * tables.c: relayed operations that still concern the cache.
 *
 *   CreateTable, DeleteTable, Restore*, ImportTable   once applied (or of unknown
 *                      outcome) the table is forgotten: its schema, and through
 *                      its epoch every cached entry; a refused one changes nothing
 *   ExecuteStatement, BatchExecuteStatement, ExecuteTransaction
 *                      a PartiQL statement that writes drops every entry of its
 *                      table (of all tables when its table cannot be read from
 *                      the statement) once it may have been applied
 *   TransactGetItems   always the backend; takes leases on its keys so older
 *                      fills do not land after it, and installs the whole items it saw
 *
 * (Answers that describe a table teach ddbx its key schema in relay.c, for
 * every operation proto/operations.tsv marks so.)
 */
#include <stdio.h>
#include <string.h>

#include "handler/cluster.h"
#include "handler/item.h"
#include "handler/schema.h"
#include "proto/params.h"
#include "proto/partiql.h"
#include "util/common.h"
#include "util/crc.h"

/* ---- table administration ---- */

struct relayed {
    struct request *r;
    struct ddb_table_op q;
};

/* Drops every entry of a table (of all tables when `table` names none) once
 * a change may have been applied; holds it when the outcome is unknown.
 * forget: the table itself may be gone or new (its schema is described again).
 * The peers of a cluster drop it too (fo). */
static void table_changed(struct cluster_fanout *fo, const struct json *table,
                          enum write_outcome outcome, bool forget)
{
    if (outcome == WO_UNCHANGED) return;
    uint64_t holdoff = outcome == WO_AMBIGUOUS ? handler_holdoff_ms() : 0;
    uint64_t hold = holdoff ? item_now() + holdoff : 0;
    const char *name;
    size_t len;
    if (!schema_table_name(table, &name, &len)) {
        schema_invalidate_all(hold);
        cluster_fan_forget(fo, NULL, 0, PEER_FORGET_ITEMS | PEER_FORGET_QUERIES, holdoff);
        return;
    }
    schema_invalidate(name, len, hold);
    if (forget) schema_forget(name, len);
    cluster_fan_forget(fo, name, len, PEER_FORGET_ITEMS | PEER_FORGET_QUERIES, holdoff);
}

static void on_table_changed(struct backend_result *res, void *arg)
{
    struct relayed *x = arg;
    struct cluster_fanout *fo = cluster_fanout_new(x->r);
    table_changed(fo, x->q.table, item_relay_outcome(x->r, res), true);
    /* learns the new table from the answer; answers once the peers dropped it */
    cluster_fan_answer(fo, x->r, handler_relay_take(res, x->r));
}

/* Parses a relayed request that is looked at; NULL after answering. */
static struct relayed *relayed_new(struct request *r)
{
    struct relayed *x = arena_alloc(r->arena, sizeof(*x));
    x->r = r;
    struct attr_error err;
    if (ddb_parse_table_op(r->arena, r->body, r->body_len, &x->q, &err) != DDB_PARAMS_OK) {
        item_send_attr_error(r, &err);
        return NULL;
    }
    return x;
}

void handler_table_change(struct request *r)
{
    struct relayed *x = relayed_new(r);
    if (x) handler_forward(r, r->body, r->body_len, on_table_changed, x);
}

/* ---- PartiQL ---- */

/* Drops what a statement may have written. */
static void statement_done(struct request *r, struct cluster_fanout *fo, const struct json *st,
                           enum write_outcome outcome)
{
    const char *table = NULL;
    size_t len = 0;
    enum partiql_effect e =
        json_is_string(st) ? partiql_statement(st->str, st->len, &table, &len) : PARTIQL_WRITES_ANY;
    if (e == PARTIQL_READS) return;
    table_changed(fo, e == PARTIQL_WRITES ? item_string_node(r, table, len) : NULL, outcome, false);
}

static void on_partiql(struct backend_result *res, void *arg)
{
    struct relayed *x = arg;
    enum write_outcome outcome = item_relay_outcome(x->r, res);
    struct cluster_fanout *fo = cluster_fanout_new(x->r);
    for (int i = 0; i < x->q.nstatements; i++)
        statement_done(x->r, fo, x->q.statements[i], outcome);
    cluster_fan_answer(fo, x->r, request_backend_take(x->r, res));
}

void handler_partiql(struct request *r)
{
    struct relayed *x = relayed_new(r);
    if (x) handler_forward(r, r->body, r->body_len, on_partiql, x);
}

/* ---- TransactGetItems ---- */

struct tget {
    struct request *r;
    struct ddb_transact_get q;
    struct cache_fill **fills;
    const struct key_schema **ks; /* the items' tables (in the arena) */
};

static void on_transact_got(struct backend_result *res, void *arg)
{
    struct tget *t = arg;
    struct request *r = t->r;
    struct json *doc = NULL;
    bool ok = res->outcome == BACKEND_ANSWERED && res->status == 200 &&
              json_parse(r->arena, res->body.data, res->body.len, &doc, NULL, 0) == JSON_OK;
    const struct json *resp = ok ? json_get(doc, "Responses") : NULL;
    const struct json *e =
        json_is_array(resp) && resp->len == (uint32_t)t->q.n ? resp->child : NULL;
    uint64_t now = item_now();
    for (int i = 0; i < t->q.n; i++, e = e ? e->next : NULL) {
        struct cache_result cr = {CACHE_FAILED, NULL, 0, 0, 0};
        struct buf value = BUF_INIT;
        const struct json *item = e ? json_get(e, "Item") : NULL;
        if (e && t->q.items[i].whole && json_is_object(item)) {
            item_value_compose(&value, item);
            cr = (struct cache_result){CACHE_HIT, value.data, value.len,
                                       crc32_of(value.data, value.len), 200};
        } else if (e && t->q.items[i].whole) {
            cr.kind = CACHE_NEGATIVE;
        }
        cr.ttl_ms = cluster_fill_ttl(t->ks[i]->table, t->ks[i]->table_len, 0);
        cache_fill_done(t->fills[i], &cr, now);
        buf_free(&value);
    }
    request_send_backend(r, res);
}

static void on_transact_schemas(struct request *r, const struct key_schema **ks, void *arg)
{
    struct tget *t = arg;
    for (int i = 0; i < t->q.n; i++)
        if (!ks[i] || ks[i]->held) { /* not cached, or nothing to cache now */
            handler_relay(r);
            return;
        }
    t->ks = ks;
    struct cache_key *k = arena_alloc(r->arena, sizeof(*k) * (size_t)t->q.n);
    for (int i = 0; i < t->q.n; i++)
        if (!item_key_or_answer(r, ks[i], t->q.items[i].key, true, &k[i])) return;
    for (int i = 0; i < t->q.n; i++)
        t->fills[i] = cache_lease(&k[i]);
    handler_forward(r, r->body, r->body_len, on_transact_got, t);
}

void handler_transact_get_items(struct request *r)
{
    struct tget *t = arena_alloc(r->arena, sizeof(*t));
    t->r = r;
    struct attr_error err;
    int rc = ddb_parse_transact_get(r->arena, r->body, r->body_len, &t->q, &err);
    if (!item_params_ok(r, rc, &err)) return;
    t->fills = arena_alloc(r->arena, sizeof(*t->fills) * (size_t)t->q.n);
    const struct json **tables = arena_alloc(r->arena, sizeof(*tables) * (size_t)t->q.n);
    for (int i = 0; i < t->q.n; i++)
        tables[i] = t->q.items[i].table;
    schema_get_all(r, tables, t->q.n, on_transact_schemas, t);
}
