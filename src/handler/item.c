/* item.c: helpers shared by the item handlers. */
#include "handler/item.h"

#include "proto/params.h"

#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/common.h"

bool item_params_ok(struct request *r, int rc, const struct attr_error *err)
{
    if (rc == DDB_PARAMS_OK) return true;
    if (rc == DDB_PARAMS_INVALID)
        item_send_attr_error(r, err);
    else
        handler_relay(r); /* the backend words whatever is wrong */
    return false;
}

const struct json *item_string_node(struct request *r, const char *s, size_t len)
{
    struct json *n = arena_alloc(r->arena, sizeof(*n));
    *n = (struct json){.type = JSON_STRING, .len = (uint32_t)len, .str = s};
    return n;
}

void item_send_attr_error(struct request *r, const struct attr_error *e)
{
    if (e->message[0])
        request_send_error(r, e->code, "%s", e->message);
    else
        request_send_error(r, e->code, NULL);
}

uint64_t item_now(void)
{
    return handler_now();
}

void item_value_compose(struct buf *out, const struct json *item)
{
    struct json_writer w;
    jw_init(&w, out);
    jw_object_begin(&w);
    jw_cstr(&w, "Item");
    jw_value(&w, item);
    jw_object_end(&w);
    jw_free(&w);
}

void item_value_from_answer(struct buf *out, const struct json *doc, const struct json *item,
                            struct buf *body)
{
    static const char prefix[] = "{\"Item\":";
    size_t n = sizeof(prefix) - 1;
    if (doc->len == 1 && body->len > n + 1 && memcmp(body->data, prefix, n) == 0 &&
        body->data[n] == '{' && body->data[body->len - 1] == '}') {
        buf_move(out, body); /* parsed already: the bytes are that one member */
        return;
    }
    item_value_compose(out, item);
}

/* Copies the key built in b to r's arena as k. */
static void keep_key(struct request *r, const struct key_schema *ks, const struct buf *b,
                     struct cache_key *k)
{
    char *copy = arena_alloc(r->arena, b->len);
    memcpy(copy, b->data, b->len);
    cache_key_init(k, copy, b->len);
    k->epoch = ks->epoch;
}

/* The buffer keys are built in: the thread's scratch buffer, or `local`. */
static struct buf *key_buffer(struct buf *local)
{
    /* a BatchGetItem builds 25 keys, and a buffer of their own cost each a
     * malloc and a free (callgrind) */
    struct buf *b = handler_current ? &handler_current->scratch : local;
    buf_reset(b);
    return b;
}

int item_cache_key(struct request *r, const struct key_schema *ks, const struct json *obj,
                   bool exact, struct cache_key *k, struct attr_error *err)
{
    struct buf local = BUF_INIT, *b = key_buffer(&local);
    int rc = exact ? key_from_key(ks, obj, b, err) : key_from_item(ks, obj, b, err);
    if (rc == KEY_OK) keep_key(r, ks, b, k);
    buf_free(&local);
    return rc;
}

bool item_cache_key_text(struct request *r, const struct key_schema *ks, const struct key_text *key,
                         struct cache_key *k)
{
    struct buf local = BUF_INIT, *b = key_buffer(&local);
    bool ok = key_from_text(ks, key, b) == KEY_OK;
    if (ok) keep_key(r, ks, b, k);
    buf_free(&local);
    return ok;
}

bool item_key_or_answer(struct request *r, const struct key_schema *ks, const struct json *obj,
                        bool exact, struct cache_key *k)
{
    struct attr_error err;
    int rc = item_cache_key(r, ks, obj, exact, k, &err);
    if (rc == KEY_EINVALID)
        item_send_attr_error(r, &err);
    else if (rc != KEY_OK)
        handler_relay(r);
    return rc == KEY_OK;
}

int item_backend_doc(struct request *r, struct backend_result *res, struct buf *body,
                     struct json **doc)
{
    /* the common case parsed once: request_backend_answer would check the
     * body is an object with a parse of its own, and this one again */
    if (res->outcome == BACKEND_ANSWERED &&
        json_parse(r->arena, res->body.data, res->body.len, doc, NULL, 0) == JSON_OK &&
        (*doc)->type == JSON_OBJECT) {
        buf_move(body, &res->body);
        return res->status;
    }
    int status = request_backend_answer(res, body);
    *doc = NULL;
    if (status == 200 && json_parse(r->arena, body->data, body->len, doc, NULL, 0) != JSON_OK) {
        buf_reset(body);
        ddb_msg_compose(body, MSG_backend_bad_json);
        status = 500;
    }
    return status;
}

enum write_outcome item_write_outcome(struct request *r, const struct backend_result *res,
                                      int status, const struct buf *body)
{
    if (status == 200) return WO_SUCCESS;
    if (res->outcome == BACKEND_UNREACHABLE) return WO_INVALIDATE; /* never sent */
    if (res->outcome != BACKEND_ANSWERED) return WO_AMBIGUOUS;
    const char *name = NULL;
    size_t len = 0;
    ddb_error_parse_type(r->arena, body->data, body->len, &name, &len);
    const struct ddb_error_desc *d = ddb_error_find(name, len);
    if (!d) return status >= 500 ? WO_AMBIGUOUS : WO_UNCHANGED;
    static const enum write_outcome effect[] = {[DDB_WRITE_UNCHANGED] = WO_UNCHANGED,
                                                [DDB_WRITE_INVALIDATE] = WO_INVALIDATE,
                                                [DDB_WRITE_AMBIGUOUS] = WO_AMBIGUOUS};
    return status >= 500 ? WO_AMBIGUOUS : effect[d->write];
}

bool item_error_forgets_table(struct request *r, int status, const struct buf *body)
{
    const char *name = NULL;
    size_t len = 0;
    if (status == 200 || ddb_error_parse_type(r->arena, body->data, body->len, &name, &len) < 0)
        return false;
    const struct ddb_error_desc *d = ddb_error_find(name, len);
    return d && d->forgets_table;
}

bool item_projection_allowed(struct request *r, const struct key_schema *ks,
                             const struct projection *proj)
{
    for (int i = 0; proj && i < ks->nattrs; i++)
        if (projection_inside(proj, ks->attr[i].name, ks->attr[i].len)) {
            request_send_msg(r, MSG_projection_key_path, ks->attr[i].name);
            return false;
        }
    return true;
}

bool item_same_key(const struct cache_key *a, const struct cache_key *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

void item_send_duplicate_keys(struct request *r)
{
    request_send_msg(r, MSG_keys_duplicate);
}

enum write_outcome item_relay_outcome(struct request *r, const struct backend_result *res)
{
    return item_write_outcome(r, res, res->outcome == BACKEND_ANSWERED ? res->status : 500,
                              &res->body);
}

void item_capacity(struct json_writer *w, const char *table, size_t len, double units, bool indexes)
{
    jw_object_begin(w);
    jw_cstr(w, "TableName");
    jw_string(w, table, len);
    jw_cstr(w, "CapacityUnits");
    jw_double(w, units);
    if (indexes) {
        jw_cstr(w, "Table");
        jw_object_begin(w);
        jw_cstr(w, "CapacityUnits");
        jw_double(w, units);
        jw_object_end(w);
    }
    jw_object_end(w);
}

size_t item_value_size(struct request *r, const char *value, size_t len)
{
    const struct json *item = item_value_item(r, value, len);
    struct attr_check chk;
    struct attr_error err;
    if (!item || attr_check_item(item, &chk, &err) < 0) return 0;
    return chk.size;
}

const struct json *item_value_item(struct request *r, const char *value, size_t len)
{
    struct json *doc;
    if (!value || json_parse(r->arena, value, len, &doc, NULL, 0) != JSON_OK) return NULL;
    return json_get(doc, "Item");
}

static void run_wakeup(void *arg)
{
    struct item_wakeup *wk = arg;
    wk->resume(wk);
}

void item_post_wakeup(struct handler_thread *thread, const struct cache_result *r, void *ctx,
                      void (*resume)(struct item_wakeup *wk))
{
    struct item_wakeup *wk = xmalloc(sizeof(*wk) + r->len + 1);
    wk->res = *r;
    memcpy(wk->bytes, r->data ? r->data : "", r->len);
    wk->bytes[r->len] = '\0';
    wk->res.data = wk->bytes;
    wk->ctx = ctx;
    wk->resume = resume;
    handler_thread_post(thread, run_wakeup, wk);
}
