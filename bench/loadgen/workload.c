/*
 * workload.c: request bodies for each workload (see workload.h).
 *
 * Keys follow YCSB's scrambled zipfian: a rank drawn with Gray et al.'s
 * zipfian generator (as YCSB's ZipfianGenerator), then hashed (FNV-1a) onto
 * the key space so hot keys are spread rather than clustered at key 0.
 */
#include "workload.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const op_name[OP_COUNT] = {"GetItem",    "BatchGetItem", "Query",
                                       "UpdateItem", "PutItem",      "BatchWriteItem"};
const char *const wl_kind_name[WL_KIND_COUNT] = {
    "catalog", "catalog-batch", "leaderboard", "session", "write-heavy", "load", "prewarm"};

/* Attribute names and fixed parts of an item, counted the way DynamoDB sizes
 * items (name bytes + value bytes), without the payload's value. */
#define ITEM_FIXED_BYTES 43
#define PATTERN "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define PATTERN_LEN 52

struct zipf {
    uint64_t n;
    double theta, alpha, zetan, eta, half_pow_theta;
};

struct wl {
    struct wl_config c;
    struct zipf keys, boards;
    uint64_t rng;
    uint64_t cursor;  /* next key of a finite workload */
    uint64_t version; /* bumps payloads and scores so writes change items */
    unsigned payload_len;
    char *pattern;    /* payload source: PATTERN repeated, payload_len + PATTERN_LEN long */
    uint64_t *picked; /* distinct keys of one batch */
};

void sbuf_reserve(struct sbuf *b, size_t extra)
{
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        perror("realloc");
        exit(2);
    }
    b->data = d;
    b->cap = cap;
}

void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
    sbuf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

void sbuf_adds(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

void sbuf_addu(struct sbuf *b, uint64_t v)
{
    char tmp[24];
    int i = (int)sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sbuf_add(b, tmp + i, sizeof(tmp) - (size_t)i);
}

static uint64_t rng_next(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

static void zipf_init(struct zipf *z, uint64_t n, double theta)
{
    memset(z, 0, sizeof(*z));
    z->n = n;
    z->theta = theta;
    if (theta <= 0 || n < 3) return; /* uniform */
    double zetan = 0;
    for (uint64_t i = 1; i <= n; i++)
        zetan += 1.0 / pow((double)i, theta);
    double zeta2 = 1.0 + 1.0 / pow(2.0, theta);
    z->zetan = zetan;
    z->alpha = 1.0 / (1.0 - theta);
    z->eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta2 / zetan);
    z->half_pow_theta = pow(0.5, theta);
}

static uint64_t fnv1a64(uint64_t v)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (i * 8)) & 0xff;
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t zipf_next(struct zipf *z, uint64_t *rng)
{
    if (z->zetan == 0) return rng_next(rng) % z->n;
    double u = rng_unit(rng);
    double uz = u * z->zetan;
    uint64_t rank;
    if (uz < 1.0)
        rank = 0;
    else if (uz < 1.0 + z->half_pow_theta)
        rank = 1;
    else
        rank = (uint64_t)((double)z->n * pow(z->eta * u - z->eta + 1.0, z->alpha));
    if (rank >= z->n) rank = z->n - 1;
    return fnv1a64(rank) % z->n;
}

struct wl *wl_create(const struct wl_config *cfg)
{
    if (cfg->items == 0) {
        fprintf(stderr, "ddbx-load: --items must be at least 1\n");
        return NULL;
    }
    if (cfg->batch == 0 || cfg->batch > 100 ||
        (cfg->batch > cfg->items && cfg->kind == WL_CATALOG_BATCH)) {
        fprintf(stderr, "ddbx-load: --batch must be 1..100 and at most --items\n");
        return NULL;
    }
    if (cfg->zipf >= 1.0 && cfg->zipf <= 1.0) {
        fprintf(stderr, "ddbx-load: --zipf 1.0 is not supported (use 0.99)\n");
        return NULL;
    }
    struct wl *w = calloc(1, sizeof(*w));
    if (!w) return NULL;
    w->c = *cfg;
    w->rng = cfg->seed ? cfg->seed : 42;
    w->cursor = cfg->first;
    w->payload_len = cfg->item_size > ITEM_FIXED_BYTES + 1 ? cfg->item_size - ITEM_FIXED_BYTES : 1;
    w->pattern = malloc(w->payload_len + PATTERN_LEN + 1);
    w->picked = calloc(cfg->batch, sizeof(uint64_t));
    if (!w->pattern || !w->picked) {
        wl_destroy(w);
        return NULL;
    }
    for (unsigned i = 0; i < w->payload_len + PATTERN_LEN; i++)
        w->pattern[i] = PATTERN[i % PATTERN_LEN];
    zipf_init(&w->keys, cfg->items, cfg->zipf);
    zipf_init(&w->boards, cfg->boards ? cfg->boards : 1, cfg->zipf);
    return w;
}

void wl_destroy(struct wl *w)
{
    if (!w) return;
    free(w->pattern);
    free(w->picked);
    free(w);
}

static void add_key_value(struct sbuf *b, uint64_t i)
{
    char k[16];
    int n = snprintf(k, sizeof(k), "k%09llu", (unsigned long long)i);
    sbuf_add(b, k, (size_t)n);
}

static void add_key(struct sbuf *b, uint64_t i)
{
    sbuf_adds(b, "{\"pk\":{\"S\":\"");
    add_key_value(b, i);
    sbuf_adds(b, "\"}}");
}

static uint64_t score_of(uint64_t i, uint64_t version)
{
    return fnv1a64(i * 31 + version) % 1000000;
}

void wl_item_json(struct wl *w, struct sbuf *b, uint64_t i, uint64_t version)
{
    char board[16];
    unsigned boards = w->c.boards ? w->c.boards : 1;
    int n = snprintf(board, sizeof(board), "b%04u", (unsigned)(i % boards));
    sbuf_adds(b, "{\"pk\":{\"S\":\"");
    add_key_value(b, i);
    sbuf_adds(b, "\"},\"board\":{\"S\":\"");
    sbuf_add(b, board, (size_t)n);
    sbuf_adds(b, "\"},\"score\":{\"N\":\"");
    sbuf_addu(b, score_of(i, version));
    sbuf_adds(b, "\"},\"hits\":{\"N\":\"0\"},\"payload\":{\"S\":\"");
    sbuf_add(b, w->pattern + (i + version) % PATTERN_LEN, w->payload_len);
    sbuf_adds(b, "\"}}");
}

static void open_request(struct wl *w, struct sbuf *b)
{
    sbuf_adds(b, "{\"TableName\":\"");
    sbuf_adds(b, w->c.table);
    sbuf_adds(b, "\",");
}

static void get_item(struct wl *w, struct sbuf *b, uint64_t i)
{
    open_request(w, b);
    sbuf_adds(b, "\"Key\":");
    add_key(b, i);
    if (w->c.consistent) sbuf_adds(b, ",\"ConsistentRead\":true");
    sbuf_adds(b, "}");
}

static void put_item(struct wl *w, struct sbuf *b, uint64_t i)
{
    open_request(w, b);
    sbuf_adds(b, "\"Item\":");
    wl_item_json(w, b, i, ++w->version);
    sbuf_adds(b, "}");
}

/* Draws batch distinct keys (DynamoDB refuses duplicates in one call). */
static void pick_distinct(struct wl *w, unsigned n)
{
    for (unsigned k = 0; k < n; k++) {
        uint64_t v;
        bool dup;
        do {
            v = zipf_next(&w->keys, &w->rng);
            dup = false;
            for (unsigned j = 0; j < k && !dup; j++)
                dup = w->picked[j] == v;
        } while (dup);
        w->picked[k] = v;
    }
}

static void batch_get(struct wl *w, struct sbuf *b, const uint64_t *keys, unsigned n)
{
    sbuf_adds(b, "{\"RequestItems\":{\"");
    sbuf_adds(b, w->c.table);
    sbuf_adds(b, "\":{\"Keys\":[");
    for (unsigned k = 0; k < n; k++) {
        if (k) sbuf_adds(b, ",");
        add_key(b, keys[k]);
    }
    sbuf_adds(b, "]}}}");
}

static void batch_write(struct wl *w, struct sbuf *b, uint64_t first, unsigned n)
{
    sbuf_adds(b, "{\"RequestItems\":{\"");
    sbuf_adds(b, w->c.table);
    sbuf_adds(b, "\":[");
    for (unsigned k = 0; k < n; k++) {
        if (k) sbuf_adds(b, ",");
        sbuf_adds(b, "{\"PutRequest\":{\"Item\":");
        wl_item_json(w, b, first + k, 0);
        sbuf_adds(b, "}}");
    }
    sbuf_adds(b, "]}}");
}

static void query_top(struct wl *w, struct sbuf *b)
{
    char board[16];
    int n = snprintf(board, sizeof(board), "b%04u", (unsigned)zipf_next(&w->boards, &w->rng));
    open_request(w, b);
    sbuf_adds(b, "\"IndexName\":\"");
    sbuf_adds(b, w->c.index);
    sbuf_adds(b, "\",\"KeyConditionExpression\":\"board = :b\","
                 "\"ExpressionAttributeValues\":{\":b\":{\"S\":\"");
    sbuf_add(b, board, (size_t)n);
    sbuf_adds(b, "\"}},\"ScanIndexForward\":false,\"Limit\":10}");
}

static void update_score(struct wl *w, struct sbuf *b, uint64_t i)
{
    open_request(w, b);
    sbuf_adds(b, "\"Key\":");
    add_key(b, i);
    sbuf_adds(b, ",\"UpdateExpression\":\"SET score = :s\","
                 "\"ExpressionAttributeValues\":{\":s\":{\"N\":\"");
    sbuf_addu(b, score_of(i, ++w->version));
    sbuf_adds(b, "\"}}}");
}

static void update_session(struct wl *w, struct sbuf *b, uint64_t i)
{
    open_request(w, b);
    sbuf_adds(b, "\"Key\":");
    add_key(b, i);
    sbuf_adds(b, ",\"UpdateExpression\":\"ADD hits :one SET seen = :t\","
                 "\"ExpressionAttributeValues\":{\":one\":{\"N\":\"1\"},\":t\":{\"N\":\"");
    sbuf_addu(b, ++w->version);
    sbuf_adds(b, "\"}}}");
}

static bool coin(struct wl *w)
{
    return rng_unit(&w->rng) < w->c.write_fraction;
}

/* A mixed workload: a write of a zipfian key with probability
 * write_fraction, else a GetItem of one. */
static int write_or_get(struct wl *w, struct sbuf *b,
                        void (*write)(struct wl *, struct sbuf *, uint64_t), int op)
{
    if (coin(w)) {
        write(w, b, zipf_next(&w->keys, &w->rng));
        return op;
    }
    get_item(w, b, zipf_next(&w->keys, &w->rng));
    return OP_GET;
}

int wl_next(struct wl *w, struct sbuf *b, unsigned *nkeys)
{
    b->len = 0;
    *nkeys = 1;
    switch (w->c.kind) {
    case WL_CATALOG: get_item(w, b, zipf_next(&w->keys, &w->rng)); return OP_GET;
    case WL_CATALOG_BATCH:
        pick_distinct(w, w->c.batch);
        batch_get(w, b, w->picked, w->c.batch);
        *nkeys = w->c.batch;
        return OP_BATCHGET;
    case WL_LEADERBOARD:
        if (coin(w)) {
            update_score(w, b, zipf_next(&w->keys, &w->rng));
            return OP_UPDATE;
        }
        query_top(w, b);
        return OP_QUERY;
    case WL_SESSION: return write_or_get(w, b, update_session, OP_UPDATE);
    case WL_WRITE_HEAVY: return write_or_get(w, b, put_item, OP_PUT);
    case WL_LOAD:
    case WL_PREWARM: {
        uint64_t end = w->c.items;
        if (w->cursor >= end) return -1;
        unsigned n = (unsigned)(end - w->cursor < w->c.batch ? end - w->cursor : w->c.batch);
        *nkeys = n;
        if (w->c.kind == WL_LOAD) {
            batch_write(w, b, w->cursor, n);
            w->cursor += n;
            return OP_BATCHWRITE;
        }
        for (unsigned k = 0; k < n; k++)
            w->picked[k] = w->cursor + k;
        w->cursor += n;
        batch_get(w, b, w->picked, n);
        return OP_BATCHGET;
    }
    case WL_KIND_COUNT: break;
    }
    return -1;
}
