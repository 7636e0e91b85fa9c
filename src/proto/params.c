/*
 * params.c: per-operation request parsing and validation (see params.h).
 *
 * The rule everywhere: a parameter ddbx does not read with certainty makes
 * the request RELAY, so the backend judges it in DynamoDB's own words; only
 * the limits test backends do not enforce (proto/limits.tsv) and malformed
 * attribute values (proto/attr.h) are answered here.
 */
#include "proto/params.h"

#include <stdio.h>
#include <string.h>

#include "proto/limits.h"

/* ---- shared pieces ---- */

static int invalid(struct attr_error *err, enum ddb_limit l)
{
    attr_fail_limit(err, l);
    return DDB_PARAMS_INVALID;
}

/* A length-constraint refusal: DynamoDB quotes the offending value (as its
 * Java objects print; ddbx quotes the JSON, shortened). */
static int too_long(struct attr_error *err, enum ddb_msg m, const struct json *value,
                    const char *member)
{
    struct buf text = BUF_INIT;
    struct json_writer w;
    jw_init(&w, &text);
    jw_value(&w, value);
    jw_free(&w);
    if (text.len > 200) {
        text.len = 200;
        buf_append_str(&text, "...");
    }
    if (member)
        attr_fail(err, m, text.data, member);
    else
        attr_fail(err, m, text.data);
    buf_free(&text);
    return DDB_PARAMS_INVALID;
}

int ddb_parse_object(struct arena *a, const char *body, size_t len, struct json **doc,
                     struct attr_error *err)
{
    if (json_parse(a, body, len, doc, NULL, 0) != JSON_OK || (*doc)->type != JSON_OBJECT) {
        err->code = DDB_SerializationException;
        err->message[0] = '\0'; /* DynamoDB's has no message */
        return DDB_PARAMS_INVALID;
    }
    return DDB_PARAMS_OK;
}

/* True when every member of obj is named in `allowed` (NULL-terminated). */
static bool only_members(const struct json *obj, const char *const *allowed)
{
    for (const struct json *m = obj->child; m; m = m->next) {
        const char *const *n = allowed;
        while (*n && !json_key_is(m, *n))
            n++;
        if (!*n) return false;
    }
    return true;
}

/* ReturnConsumedCapacity; false when present and not one DynamoDB takes. */
static bool read_rcc(const struct json *doc, enum ddb_rcc *out)
{
    const struct json *v = json_get(doc, "ReturnConsumedCapacity");
    *out = DDB_RCC_NONE;
    if (!v || json_str_is(v, "NONE")) return true;
    if (json_str_is(v, "TOTAL"))
        *out = DDB_RCC_TOTAL;
    else if (json_str_is(v, "INDEXES"))
        *out = DDB_RCC_INDEXES;
    else
        return false;
    return true;
}

/* ConsistentRead; false when present and not a boolean. */
static bool read_consistent(const struct json *params, bool *out)
{
    const struct json *v = json_get(params, "ConsistentRead");
    *out = v && v->type == JSON_TRUE;
    return !v || json_is_bool(v);
}

/* ProjectionExpression (+ ExpressionAttributeNames) or AttributesToGet;
 * *proj NULL: whole items. False when ddbx cannot apply it with certainty. */
static bool read_projection(struct arena *a, const struct json *params, struct projection **proj)
{
    const struct json *pe = json_get(params, "ProjectionExpression"),
                      *names = json_get(params, "ExpressionAttributeNames"),
                      *atg = json_get(params, "AttributesToGet");
    *proj = NULL;
    if (pe && atg) return false;
    if (pe)
        return json_is_string(pe) &&
               projection_parse(a, pe->str, pe->len, names, proj) == PROJECTION_OK;
    if (names) return false; /* names without an expression: the backend's error */
    if (atg) return projection_from_names(a, atg, proj) == PROJECTION_OK;
    return true;
}

/* ---- reads ---- */

int ddb_parse_get_item(struct arena *a, const char *body, size_t len, struct ddb_get_item *out,
                       struct attr_error *err)
{
    static const char *const allowed[] = {"TableName",
                                          "Key",
                                          "ConsistentRead",
                                          "ProjectionExpression",
                                          "ExpressionAttributeNames",
                                          "AttributesToGet",
                                          "ReturnConsumedCapacity",
                                          NULL};
    struct json *doc;
    memset(out, 0, sizeof(*out));
    if (ddb_parse_object(a, body, len, &doc, err) != DDB_PARAMS_OK) return DDB_PARAMS_INVALID;
    out->doc = doc;
    out->table = json_get(doc, "TableName");
    out->key = json_get(doc, "Key");
    if (!json_is_string(out->table) || !json_is_object(out->key) || !only_members(doc, allowed) ||
        !read_consistent(doc, &out->consistent) || !read_rcc(doc, &out->rcc) ||
        !read_projection(a, doc, &out->proj))
        return DDB_PARAMS_RELAY;
    return DDB_PARAMS_OK;
}

static int read_batch_table(struct arena *a, const struct json *m, struct ddb_batch_get_table *t)
{
    static const char *const allowed[] = {"Keys",
                                          "ConsistentRead",
                                          "ProjectionExpression",
                                          "ExpressionAttributeNames",
                                          "AttributesToGet",
                                          NULL};
    const struct json *keys = json_get(m, "Keys");
    if (!json_is_object(m) || !only_members(m, allowed) || !json_is_array(keys) || keys->len == 0 ||
        !read_consistent(m, &t->consistent) || !read_projection(a, m, &t->proj))
        return DDB_PARAMS_RELAY;
    struct json *name = arena_alloc(a, sizeof(*name));
    *name = (struct json){.type = JSON_STRING, .len = m->keylen, .str = m->key};
    t->name = name;
    t->params = m;
    t->keys = keys;
    t->nkeys = (int)keys->len;
    return DDB_PARAMS_OK;
}

int ddb_parse_batch_get(struct arena *a, const char *body, size_t len, struct ddb_batch_get *out,
                        struct attr_error *err)
{
    static const char *const allowed[] = {"RequestItems", "ReturnConsumedCapacity", NULL};
    struct json *doc;
    memset(out, 0, sizeof(*out));
    if (ddb_parse_object(a, body, len, &doc, err) != DDB_PARAMS_OK) return DDB_PARAMS_INVALID;
    const struct json *items = json_get(doc, "RequestItems");
    if (!json_is_object(items) || items->len == 0 || !read_rcc(doc, &out->rcc) ||
        !only_members(doc, allowed))
        return DDB_PARAMS_RELAY;
    out->tables = arena_alloc(a, sizeof(*out->tables) * items->len);
    memset(out->tables, 0, sizeof(*out->tables) * items->len);
    uint64_t total = 0;
    for (const struct json *m = items->child; m; m = m->next) {
        const struct json *keys = json_get(m, "Keys");
        if (json_is_array(keys) && keys->len > ddb_limit(DDB_LIMIT_batch_get_keys))
            return too_long(err, MSG_batch_get_table_keys, keys, m->key);
    }
    for (const struct json *m = items->child; m; m = m->next) {
        struct ddb_batch_get_table *t = &out->tables[out->ntables++];
        if (read_batch_table(a, m, t) != DDB_PARAMS_OK) return DDB_PARAMS_RELAY;
        total += (uint64_t)t->nkeys;
    }
    if (total > ddb_limit(DDB_LIMIT_batch_get_keys)) return invalid(err, DDB_LIMIT_batch_get_keys);
    return DDB_PARAMS_OK;
}

/* ---- BatchGetItem without a tree ----
 *
 * A 25-key BatchGetItem spent a third of its instructions building the tree
 * of its request and walking it again for each key (callgrind); the shape
 * below is read in one pass instead. It accepts a strict subset of what
 * ddb_parse_batch_get accepts (fuzz_batch_scan checks that it gives the
 * same tables, keys and cache keys); anything else falls back to the tree. */

struct bscan {
    const char *p, *end;
};

static bool next_is(struct bscan *s, char c)
{
    s->p = json_skip_ws(s->p, s->end);
    if (s->p == s->end || *s->p != c) return false;
    s->p++;
    return true;
}

static bool next_string(struct bscan *s, const char **v, size_t *len)
{
    s->p = json_skip_ws(s->p, s->end);
    return s->p < s->end && *s->p == '"' && json_plain_string(&s->p, s->end, v, len);
}

static bool text_is(const char *v, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(v, word, len) == 0;
}

/* {"<name>":{"S"|"N":"<value>"}[,...]}: at most two members (a Key has one
 * or two), with distinct names (a repeated one is yajl's error to give). */
static bool scan_key(struct bscan *s, struct key_text *k)
{
    s->p = json_skip_ws(s->p, s->end);
    k->json = s->p;
    k->nattrs = 0;
    if (!next_is(s, '{')) return false;
    do {
        const char *name, *type, *value;
        size_t nlen, tlen, vlen;
        if (k->nattrs == 2 || !next_string(s, &name, &nlen) || !next_is(s, ':') ||
            !next_is(s, '{') || !next_string(s, &type, &tlen) || tlen != 1 ||
            (*type != 'S' && *type != 'N') || !next_is(s, ':') || !next_string(s, &value, &vlen) ||
            !next_is(s, '}'))
            return false;
        if (k->nattrs == 1 && k->attr[0].name_len == nlen &&
            memcmp(k->attr[0].name, name, nlen) == 0)
            return false;
        k->attr[k->nattrs].name = name;
        k->attr[k->nattrs].name_len = (uint32_t)nlen;
        k->attr[k->nattrs].value = value;
        k->attr[k->nattrs].value_len = (uint32_t)vlen;
        k->attr[k->nattrs].type = *type;
        k->nattrs++;
    } while (next_is(s, ','));
    if (!next_is(s, '}')) return false;
    k->len = (uint32_t)(s->p - k->json);
    return true;
}

/* {"<table>":{"Keys":[<key>,...]},...}, tables of distinct names. */
static bool scan_tables(struct arena *a, struct bscan *s, struct ddb_batch_get *out)
{
    static const struct json no_params = {.type = JSON_OBJECT};
    uint64_t limit = ddb_limit(DDB_LIMIT_batch_get_keys), total = 0;
    unsigned tcap = 0;
    if (!next_is(s, '{')) return false;
    do {
        const char *name, *keys;
        size_t nlen, klen;
        if (!next_string(s, &name, &nlen) || !next_is(s, ':') || !next_is(s, '{') ||
            !next_string(s, &keys, &klen) || !text_is(keys, klen, "Keys") || !next_is(s, ':') ||
            !next_is(s, '['))
            return false;
        for (int i = 0; i < out->ntables; i++)
            if (out->tables[i].name->len == nlen &&
                memcmp(out->tables[i].name->str, name, nlen) == 0)
                return false;
        struct key_text *text = NULL;
        unsigned n = 0, cap = 0;
        do {
            if (++total > limit) return false; /* the limits' errors are the tree's to give */
            text = arena_grow_array(a, text, n, &cap, sizeof(*text));
            if (!scan_key(s, &text[n++])) return false;
        } while (next_is(s, ','));
        if (!next_is(s, ']') || !next_is(s, '}')) return false;
        struct json *node = arena_alloc(a, sizeof(*node));
        *node = (struct json){
            .type = JSON_STRING, .len = (uint32_t)nlen, .str = arena_strndup(a, name, nlen)};
        out->tables =
            arena_grow_array(a, out->tables, (unsigned)out->ntables, &tcap, sizeof(*out->tables));
        out->tables[out->ntables++] = (struct ddb_batch_get_table){
            .name = node, .params = &no_params, .text = text, .nkeys = (int)n};
    } while (next_is(s, ','));
    return next_is(s, '}');
}

bool ddb_scan_batch_get(struct arena *a, const char *body, size_t len, struct ddb_batch_get *out)
{
    struct bscan s = {body, body + len};
    bool items = false, rcc = false;
    memset(out, 0, sizeof(*out));
    if (!next_is(&s, '{')) return false;
    do {
        const char *name, *v;
        size_t nlen, vlen;
        if (!next_string(&s, &name, &nlen) || !next_is(&s, ':')) return false;
        if (!items && text_is(name, nlen, "RequestItems")) {
            if (!scan_tables(a, &s, out)) return false;
            items = true;
        } else if (!rcc && text_is(name, nlen, "ReturnConsumedCapacity") &&
                   next_string(&s, &v, &vlen)) {
            if (text_is(v, vlen, "TOTAL"))
                out->rcc = DDB_RCC_TOTAL;
            else if (text_is(v, vlen, "INDEXES"))
                out->rcc = DDB_RCC_INDEXES;
            else if (!text_is(v, vlen, "NONE"))
                return false;
            rcc = true;
        } else {
            return false;
        }
    } while (next_is(&s, ','));
    return items && next_is(&s, '}') && json_skip_ws(s.p, s.end) == s.end;
}

int ddb_parse_transact_get(struct arena *a, const char *body, size_t len,
                           struct ddb_transact_get *out, struct attr_error *err)
{
    struct json *doc;
    memset(out, 0, sizeof(*out));
    if (ddb_parse_object(a, body, len, &doc, err) != DDB_PARAMS_OK) return DDB_PARAMS_INVALID;
    const struct json *items = json_get(doc, "TransactItems");
    if (!json_is_array(items) || items->len == 0 ||
        items->len > ddb_limit(DDB_LIMIT_transact_items))
        return DDB_PARAMS_RELAY;
    out->items = arena_alloc(a, sizeof(*out->items) * items->len);
    for (const struct json *q = items->child; q; q = q->next) {
        const struct json *get = json_get(q, "Get");
        struct ddb_transact_get_item *it = &out->items[out->n++];
        it->table = json_get(get, "TableName");
        it->key = json_get(get, "Key");
        it->whole = !json_get(get, "ProjectionExpression");
        if (!json_is_string(it->table) || !json_is_object(it->key)) return DDB_PARAMS_RELAY;
    }
    return DDB_PARAMS_OK;
}

/* ---- writes ---- */

/* Adds a request; checks a put item's values and limits (DynamoDB's answers). */
static int add_req(struct ddb_write *w, const struct json *table, const struct json *obj,
                   enum ddb_write_kind kind, size_t *bytes, struct attr_error *err)
{
    struct ddb_write_req *q = &w->reqs[w->nreqs++];
    *q = (struct ddb_write_req){table, obj, kind, true};
    if (kind != DDB_WRITE_PUT) return DDB_PARAMS_OK;
    struct attr_check chk;
    if (attr_check_item(obj, &chk, err) < 0) return DDB_PARAMS_INVALID;
    q->canonical = chk.canonical;
    if (bytes) *bytes += chk.size;
    return DDB_PARAMS_OK;
}

static int single(struct arena *a, const char *body, size_t len, struct ddb_write *out,
                  const char *field, enum ddb_write_kind kind, struct attr_error *err)
{
    struct json *doc;
    memset(out, 0, sizeof(*out));
    if (ddb_parse_object(a, body, len, &doc, err) != DDB_PARAMS_OK) return DDB_PARAMS_INVALID;
    out->doc = doc;
    const struct json *table = json_get(doc, "TableName"), *obj = json_get(doc, field);
    if (kind == DDB_WRITE_PUT && obj && !json_is_object(obj)) { /* DynamoDB's exact words */
        struct attr_check chk;
        if (attr_check_item(obj, &chk, err) < 0) return DDB_PARAMS_INVALID;
    }
    if (!json_is_string(table) || !json_is_object(obj)) return DDB_PARAMS_RELAY;
    out->reqs = arena_alloc(a, sizeof(*out->reqs));
    return add_req(out, table, obj, kind, NULL, err);
}

int ddb_parse_put_item(struct arena *a, const char *body, size_t len, struct ddb_write *out,
                       struct attr_error *err)
{
    return single(a, body, len, out, "Item", DDB_WRITE_PUT, err);
}

int ddb_parse_delete_item(struct arena *a, const char *body, size_t len, struct ddb_write *out,
                          struct attr_error *err)
{
    return single(a, body, len, out, "Key", DDB_WRITE_DELETE, err);
}

int ddb_parse_update_item(struct arena *a, const char *body, size_t len, struct ddb_write *out,
                          struct attr_error *err)
{
    static const char *const names[] = {"NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"};
    int rc = single(a, body, len, out, "Key", DDB_WRITE_UPDATE, err);
    if (rc != DDB_PARAMS_OK) return rc;
    const struct json *rv = json_get(out->doc, "ReturnValues");
    out->return_values_member = rv;
    out->return_values = DDB_RV_NONE;
    if (!rv) return DDB_PARAMS_OK;
    for (int i = 0; i < 5; i++)
        if (json_str_is(rv, names[i])) {
            out->return_values = (enum ddb_return_values)i;
            return DDB_PARAMS_OK;
        }
    return DDB_PARAMS_RELAY; /* "NONE\u0000junk", a number, ...: the backend refuses it */
}

int ddb_parse_batch_write(struct arena *a, const char *body, size_t len, struct ddb_write *out,
                          struct attr_error *err)
{
    struct json *doc;
    memset(out, 0, sizeof(*out));
    if (ddb_parse_object(a, body, len, &doc, err) != DDB_PARAMS_OK) return DDB_PARAMS_INVALID;
    out->doc = doc;
    const struct json *items = json_get(doc, "RequestItems");
    if (!json_is_object(items) || items->len == 0) return DDB_PARAMS_RELAY;
    uint64_t total = 0;
    for (const struct json *t = items->child; t; t = t->next) {
        if (!json_is_array(t) || t->len == 0) return DDB_PARAMS_RELAY;
        if (t->len > ddb_limit(DDB_LIMIT_batch_write_requests))
            return too_long(err, MSG_batch_write_table_requests, items, NULL);
        total += t->len;
    }
    if (total > ddb_limit(DDB_LIMIT_batch_write_requests))
        return invalid(err, DDB_LIMIT_batch_write_requests);
    out->reqs = arena_alloc(a, sizeof(*out->reqs) * total);
    for (const struct json *t = items->child; t; t = t->next) {
        struct json *table = arena_alloc(a, sizeof(*table));
        *table = (struct json){.type = JSON_STRING, .len = t->keylen, .str = t->key};
        for (const struct json *q = t->child; q; q = q->next) {
            const struct json *put = json_get(json_get(q, "PutRequest"), "Item");
            const struct json *del = json_get(json_get(q, "DeleteRequest"), "Key");
            if (put && !json_is_object(put) && q->len == 1) { /* DynamoDB's exact words */
                struct attr_check chk;
                if (attr_check_item(put, &chk, err) < 0) return DDB_PARAMS_INVALID;
            }
            if (!json_is_object(q) || q->len != 1 || !(json_is_object(put) || json_is_object(del)))
                return DDB_PARAMS_RELAY;
            int rc = add_req(out, table, put ? put : del, put ? DDB_WRITE_PUT : DDB_WRITE_DELETE,
                             NULL, err);
            if (rc != DDB_PARAMS_OK) return rc;
        }
    }
    return DDB_PARAMS_OK;
}

int ddb_parse_transact_write(struct arena *a, const char *body, size_t len, struct ddb_write *out,
                             struct attr_error *err)
{
    static const char *const actions[] = {"Put", "Update", "Delete", "ConditionCheck"};
    static const enum ddb_write_kind kinds[] = {DDB_WRITE_PUT, DDB_WRITE_UPDATE, DDB_WRITE_DELETE,
                                                DDB_WRITE_CHECK};
    struct json *doc;
    memset(out, 0, sizeof(*out));
    if (ddb_parse_object(a, body, len, &doc, err) != DDB_PARAMS_OK) return DDB_PARAMS_INVALID;
    out->doc = doc;
    const struct json *items = json_get(doc, "TransactItems");
    if (!json_is_array(items) || items->len == 0) return DDB_PARAMS_RELAY;
    if (items->len > ddb_limit(DDB_LIMIT_transact_items))
        return too_long(err, MSG_transact_too_many, items, NULL);
    out->reqs = arena_alloc(a, sizeof(*out->reqs) * items->len);
    size_t bytes = 0;
    for (const struct json *q = items->child; q; q = q->next) {
        const struct json *act = NULL;
        int i = 0;
        while (i < 4 && !(act = json_get(q, actions[i])))
            i++;
        const struct json *table = json_get(act, "TableName");
        const struct json *obj = json_get(act, i == 0 ? "Item" : "Key");
        if (!json_is_object(q) || q->len != 1 || !json_is_string(table) || !json_is_object(obj))
            return DDB_PARAMS_RELAY;
        int rc = add_req(out, table, obj, kinds[i], &bytes, err);
        if (rc != DDB_PARAMS_OK) return rc;
    }
    if (bytes > ddb_limit(DDB_LIMIT_transact_bytes)) return invalid(err, DDB_LIMIT_transact_bytes);
    return DDB_PARAMS_OK;
}

double ddb_read_units(size_t item_bytes, bool consistent)
{
    size_t units = item_bytes ? (item_bytes + 4095) / 4096 : 1;
    return (double)units * (consistent ? 1.0 : 0.5);
}

/* ---- table administration and PartiQL ---- */

int ddb_parse_table_op(struct arena *a, const char *body, size_t len, struct ddb_table_op *out,
                       struct attr_error *err)
{
    struct json *doc;
    memset(out, 0, sizeof(*out));
    if (ddb_parse_object(a, body, len, &doc, err) != DDB_PARAMS_OK) return DDB_PARAMS_INVALID;
    out->doc = doc;
    const struct json *t = json_get(doc, "TableName");
    if (!t) t = json_get(doc, "TargetTableName");
    if (!t) t = json_get(json_get(doc, "TableCreationParameters"), "TableName");
    out->table = t;
    const struct json *one = json_get(doc, "Statement");
    const struct json *list = json_get(doc, "Statements");
    if (!list) list = json_get(doc, "TransactStatements");
    size_t n = (one ? 1 : 0) + (json_is_array(list) ? list->len : 0);
    out->statements = arena_alloc(a, sizeof(*out->statements) * (n ? n : 1));
    if (one) out->statements[out->nstatements++] = one;
    for (const struct json *s = json_is_array(list) ? list->child : NULL; s; s = s->next)
        out->statements[out->nstatements++] = json_get(s, "Statement");
    return DDB_PARAMS_OK;
}
