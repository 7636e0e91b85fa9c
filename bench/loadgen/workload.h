/*
 * workload.h: what the load generator asks for, YCSB-style.
 *
 * Every workload draws keys from the same item population that `load`
 * writes (key i is "k" and i in nine digits, with a board, a score, a hit
 * counter and a payload sized so the item is about --item-size bytes as
 * DynamoDB counts them), so the loader and every workload agree on data.
 */
#ifndef BENCH_WORKLOAD_H
#define BENCH_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum op { OP_GET, OP_BATCHGET, OP_QUERY, OP_UPDATE, OP_PUT, OP_BATCHWRITE, OP_COUNT };
extern const char *const op_name[OP_COUNT]; /* the X-Amz-Target operation */

enum wl_kind {
    WL_CATALOG,       /* GetItem, zipfian keys */
    WL_CATALOG_BATCH, /* BatchGetItem of --batch distinct zipfian keys */
    WL_LEADERBOARD,   /* Query top-10 of a board on the score index; --write-fraction UpdateItem */
    WL_SESSION,       /* GetItem / UpdateItem, --write-fraction of updates */
    WL_WRITE_HEAVY,   /* PutItem, --write-fraction of puts, the rest GetItem */
    WL_LOAD,          /* BatchWriteItem of --batch sequential items, each item once */
    WL_PREWARM,       /* BatchGetItem of --batch sequential keys, each key once */
    WL_KIND_COUNT
};
extern const char *const wl_kind_name[WL_KIND_COUNT];

struct wl_config {
    enum wl_kind kind;
    const char *table;
    const char *index;     /* the score index (leaderboard) */
    uint64_t items;        /* item population */
    uint64_t first;        /* first key of a finite workload (load, prewarm) */
    unsigned item_size;    /* approximate DynamoDB item size in bytes */
    double zipf;           /* skew; 0 or less: uniform */
    unsigned boards;       /* leaderboard partitions */
    unsigned batch;        /* keys per batch call */
    double write_fraction; /* share of writes in mixed workloads */
    bool consistent;       /* ConsistentRead=true on GetItem (always relayed) */
    uint64_t seed;
};

/* A growable byte buffer. */
struct sbuf {
    char *data;
    size_t len, cap;
};
void sbuf_reserve(struct sbuf *b, size_t extra);
void sbuf_add(struct sbuf *b, const char *s, size_t n);
void sbuf_adds(struct sbuf *b, const char *s);
void sbuf_addu(struct sbuf *b, uint64_t v);

struct wl;

/* Returns NULL (after printing why) on a bad configuration. */
struct wl *wl_create(const struct wl_config *cfg);
void wl_destroy(struct wl *w);
/* Composes the next request body into `body` (cleared first). Returns its
 * operation and sets *nkeys to the keys or items it names; returns -1 once a
 * finite workload has issued everything. */
int wl_next(struct wl *w, struct sbuf *body, unsigned *nkeys);
/* The exact item `load` writes for key i (JSON map of attributes), for
 * callers that need to know item bytes. */
void wl_item_json(struct wl *w, struct sbuf *out, uint64_t i, uint64_t version);

#endif
