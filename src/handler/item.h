/*
 * item.h: what the item handlers (get.c, batch_get.c, write.c, tables.c)
 * share: the cache's clock, cached values, cache keys, what a backend answer
 * means for the cache, zero consumed capacity for hits, and waking requests
 * on their own thread.
 *
 * A cached value is the exact body of an unprojected GetItem answer,
 * {"Item":{...}}, so an unprojected hit is sent as stored.
 */
#ifndef DDBX_HANDLER_ITEM_H
#define DDBX_HANDLER_ITEM_H

#include "cache/cache.h"
#include "handler/handler.h"
#include "proto/attr.h"
#include "proto/json.h"
#include "proto/key.h"
#include "proto/projection.h"

/* What to do with a proto/params.h parse result: true when rc is
 * DDB_PARAMS_OK; otherwise the request was answered (INVALID: DynamoDB's
 * error in err) or relayed (RELAY), and the handler returns. */
bool item_params_ok(struct request *r, int rc, const struct attr_error *err);
/* A JSON string node for s[0..len) in r->arena (s itself is not copied). */
const struct json *item_string_node(struct request *r, const char *s, size_t len);
/* Answers an attr_error (an error DynamoDB answers that ddbx found itself). */
void item_send_attr_error(struct request *r, const struct attr_error *e);
/* The cache's clock, in milliseconds (handler_set_clock in tests). */
uint64_t item_now(void);
/* Appends {"Item":item} to out. */
void item_value_compose(struct buf *out, const struct json *item);
/* The value of a GetItem answer whose Item is `item` (doc: the parsed
 * answer, body: its bytes): the answer itself, moved out of body, when it is
 * exactly {"Item":...} (nothing else in it: DynamoDB answers compactly), else
 * composed from the tree. */
void item_value_from_answer(struct buf *out, const struct json *doc, const struct json *item,
                            struct buf *body);
/* Builds the cache key of `obj` in r->arena: a Key parameter (exact) or an
 * item; it carries ks's epoch. Returns a key_status; the key is valid for the
 * request's life. */
int item_cache_key(struct request *r, const struct key_schema *ks, const struct json *obj,
                   bool exact, struct cache_key *k, struct attr_error *err);
/* The same for a Key read as text (proto/key.h, key_from_text); false when
 * only item_cache_key on the parsed Key can say what to answer. */
bool item_cache_key_text(struct request *r, const struct key_schema *ks, const struct key_text *key,
                         struct cache_key *k);
/* item_cache_key, answering for the caller when it fails: a limit's error,
 * or the request relayed (a key that does not match the schema is the
 * backend's to refuse). Returns false when the request was answered. */
bool item_key_or_answer(struct request *r, const struct key_schema *ks, const struct json *obj,
                        bool exact, struct cache_key *k);
/* False after answering DynamoDB's refusal when `proj` reaches inside one of
 * the table's key attributes ("pk.a", "pk[0]"). */
bool item_projection_allowed(struct request *r, const struct key_schema *ks,
                             const struct projection *proj);
/* True when a and b are one key (whatever their epochs). */
bool item_same_key(const struct cache_key *a, const struct cache_key *b);
/* Answers DynamoDB's error for a request naming one key twice. */
void item_send_duplicate_keys(struct request *r);
/* The status a backend answer gives the client (request_backend_answer, into
 * body), with a 200 body parsed into *doc; a 200 that does not parse is 500. */
int item_backend_doc(struct request *r, struct backend_result *res, struct buf *body,
                     struct json **doc);

/* What a write's backend answer means for the cache (proto/errors.tsv's
 * "write" column for the errors it knows). */
enum write_outcome {
    WO_SUCCESS,    /* applied */
    WO_UNCHANGED,  /* refused: nothing changed */
    WO_INVALIDATE, /* not applied, but it proves the cached copy may be stale
                    * (ConditionalCheckFailed, TransactionCanceled), or never sent */
    WO_AMBIGUOUS,  /* may have been applied, or may still be: no answer, a 5xx,
                    * TransactionInProgress */
};
/* Classifies a write's answer (status as request_backend_answer gave it for
 * res, with body). */
enum write_outcome item_write_outcome(struct request *r, const struct backend_result *res,
                                      int status, const struct buf *body);
/* item_write_outcome for a relayed answer (res untouched). */
enum write_outcome item_relay_outcome(struct request *r, const struct backend_result *res);
/* True when an error answer says the table is gone (proto/errors.tsv's
 * "table" column), so its schema must be forgotten. */
bool item_error_forgets_table(struct request *r, int status, const struct buf *body);

/* Writes {"TableName":t,"CapacityUnits":units[,"Table":{"CapacityUnits":units}]}:
 * what the caller's read consumed, as DynamoDB reports it. */
void item_capacity(struct json_writer *w, const char *table, size_t len, double units,
                   bool indexes);
/* The size DynamoDB counts for the item of a cached value ({"Item":...});
 * 0 for "not found". */
size_t item_value_size(struct request *r, const char *value, size_t len);
/* Parses a cached value ({"Item":{...}} or {}) and returns its item or NULL. */
const struct json *item_value_item(struct request *r, const char *value, size_t len);

/* A fill result copied for a waiter on another thread. */
struct item_wakeup {
    struct cache_result res; /* data points into bytes */
    void *ctx;
    void (*resume)(struct item_wakeup *wk);
    char bytes[];
};
/* For cache_waiter.wake: copies r and posts resume(wk) to `thread`; resume
 * must free wk. */
void item_post_wakeup(struct handler_thread *thread, const struct cache_result *r, void *ctx,
                      void (*resume)(struct item_wakeup *wk));

#endif
