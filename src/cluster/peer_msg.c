/*
 * peer_msg.c: the peer message codec (see peer_msg.h and
 * proto/peer-protocol.md). msgpack-c packs and unpacks the bodies, OpenSSL
 * computes the HMACs; each message type's fields are a table below, read by
 * both the encoder and the decoder, so the two cannot disagree on an order.
 */
#include "cluster/peer_msg.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"
#include "util/log.h"

/* ---- HMAC ---- */

int peer_key_init(struct peer_key *k, const void *secret, size_t len)
{
    k->ctx = NULL;
    if (len < PEER_MSG_SECRET_MIN) return PEER_MSG_EINVALID;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac) k->ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    if (!k->ctx || !EVP_MAC_init(k->ctx, secret, len, params)) {
        log_error("peer: OpenSSL has no HMAC-SHA256");
        abort();
    }
    return PEER_MSG_OK;
}

void peer_key_free(struct peer_key *k)
{
    EVP_MAC_CTX_free(k->ctx);
    k->ctx = NULL;
}

void peer_key_mac(struct peer_key *k, const void *data, size_t len, uint8_t out[PEER_MSG_MAC_LEN])
{
    size_t n = 0;
    /* a NULL key re-initialises with the key already set: no new context
     * per message (bench/micro/peer_codec: about a quarter of the cost of
     * OpenSSL's one-shot HMAC() for a 200-byte body) */
    if (!EVP_MAC_init(k->ctx, NULL, 0, NULL) || !EVP_MAC_update(k->ctx, data, len) ||
        !EVP_MAC_final(k->ctx, out, &n, PEER_MSG_MAC_LEN) || n != PEER_MSG_MAC_LEN) {
        log_error("peer: HMAC failed");
        abort();
    }
}

/* ---- the field tables ---- */

enum field_kind {
    F_UINT,       /* uint64_t: msgpack non-negative integer */
    F_U32,        /* uint32_t: the same, at most 2^32-1 */
    F_STATUS,     /* enum peer_get_status: the same, at most PEER_GET_STATUS_MAX */
    F_STR,        /* struct peer_bytes: msgpack str */
    F_BIN,        /* struct peer_bytes: msgpack bin */
    F_BIN_LIST,   /* struct peer_bytes_list: array of bin */
    F_SHARD_LIST, /* struct peer_shard_list: array of [str, str] */
};

struct field {
    enum field_kind kind;
    size_t off; /* in struct peer_msg */
};

#define FIELD(kind, member)                                                                        \
    {                                                                                              \
        kind, offsetof(struct peer_msg, u.member)                                                  \
    }

static const struct field hello_fields[] = {
    FIELD(F_UINT, hello.peers_digest), FIELD(F_UINT, hello.features), FIELD(F_STR, hello.addr)};
static const struct field ping_fields[] = {FIELD(F_UINT, ping.live)};
static const struct field pong_fields[] = {
    FIELD(F_UINT, pong.ping_seq), FIELD(F_UINT, pong.ping_ts_ms), FIELD(F_UINT, pong.live)};
static const struct field get_fields[] = {FIELD(F_UINT, get.flags), FIELD(F_STR, get.table),
                                          FIELD(F_BIN, get.key), FIELD(F_BIN, get.request)};
static const struct field get_reply_fields[] = {
    FIELD(F_UINT, get_reply.req_seq), FIELD(F_STATUS, get_reply.status),
    FIELD(F_UINT, get_reply.ttl_ms), FIELD(F_U32, get_reply.crc), FIELD(F_BIN, get_reply.body)};
/* hold_ms, the last field of INVALIDATE, TAG and FORGET, was appended after
 * the first release of version 1: optional (see struct type_desc) */
static const struct field invalidate_fields[] = {FIELD(F_STR, invalidate.table),
                                                 FIELD(F_BIN_LIST, invalidate.keys),
                                                 FIELD(F_UINT, invalidate.hold_ms)};
static const struct field tag_fields[] = {FIELD(F_STR, tag.table), FIELD(F_BIN_LIST, tag.keys),
                                          FIELD(F_UINT, tag.hold_ms)};
static const struct field forget_fields[] = {
    FIELD(F_STR, forget.table), FIELD(F_UINT, forget.scope), FIELD(F_UINT, forget.hold_ms)};
static const struct field ack_fields[] = {FIELD(F_UINT, ack.upto)};
static const struct field stream_position_fields[] = {FIELD(F_STR, stream_position.table),
                                                      FIELD(F_STR, stream_position.stream_arn),
                                                      FIELD(F_SHARD_LIST, stream_position.shards)};
static const struct field bye_fields[] = {FIELD(F_UINT, bye.reason)};

/* Fields appended to version 1 after its first release (spec 13), at the end
 * of their message: a receiver takes a message without them (they read 0),
 * and a sender writes them only while one of them is not 0, so a message
 * that does not use them is the very frame an older node sends. Only F_UINT
 * fields may be optional. */
struct type_desc {
    const char *name;
    const struct field *fields;
    size_t nfields;
    size_t optional; /* the last `optional` fields */
};

/* hold_ms */
#define OPTIONAL_FIELDS(num) ((num) == PEER_INVALIDATE || (num) == PEER_TAG || (num) == PEER_FORGET)

static const struct type_desc types[PEER_MSG_TYPE_MAX + 1] = {
#define X(NAME, lower, num)                                                                        \
    [num] = {#NAME, lower##_fields, ARRAY_SIZE(lower##_fields), OPTIONAL_FIELDS(num)},
    PEER_MSG_TYPES(X)
#undef X
};

static const struct type_desc *type_desc(int type)
{
    if (type <= 0 || type > PEER_MSG_TYPE_MAX || !types[type].name) return NULL;
    return &types[type];
}

const char *peer_msg_type_name(int type)
{
    const struct type_desc *t = type_desc(type);
    return t ? t->name : NULL;
}

int peer_msg_type_fields(int type)
{
    const struct type_desc *t = type_desc(type);
    return t ? (int)t->nfields : -1;
}

int peer_msg_type_required(int type)
{
    const struct type_desc *t = type_desc(type);
    return t ? (int)(t->nfields - t->optional) : -1;
}

const char *peer_msg_status_name(int status)
{
    switch (status) {
    case PEER_MSG_OK: return "ok";
    case PEER_MSG_NEED_MORE: return "need more";
    case PEER_MSG_EINVALID: return "invalid";
    case PEER_MSG_EOVERSIZE: return "oversize";
    case PEER_MSG_EVERSION: return "bad version";
    case PEER_MSG_EMAC: return "bad mac";
    default: return "unknown";
    }
}

/* ---- encoding ---- */

static int append_to_buf(void *data, const char *p, size_t n)
{
    if (n) buf_append(data, p, n);
    return 0;
}

static void pack_bytes(msgpack_packer *pk, enum field_kind kind, struct peer_bytes b)
{
    if (kind == F_STR) {
        msgpack_pack_str(pk, b.len);
        msgpack_pack_str_body(pk, b.data, b.len);
    } else {
        msgpack_pack_bin(pk, b.len);
        msgpack_pack_bin_body(pk, b.data, b.len);
    }
}

static void pack_field(msgpack_packer *pk, const struct field *f, const struct peer_msg *m)
{
    const void *src = (const char *)m + f->off;
    switch (f->kind) {
    case F_UINT: msgpack_pack_uint64(pk, *(const uint64_t *)src); break;
    case F_U32: msgpack_pack_uint64(pk, *(const uint32_t *)src); break;
    case F_STATUS: msgpack_pack_uint64(pk, (uint64_t) * (const enum peer_get_status *)src); break;
    case F_STR:
    case F_BIN: pack_bytes(pk, f->kind, *(const struct peer_bytes *)src); break;
    case F_BIN_LIST: {
        const struct peer_bytes_list *l = src;
        msgpack_pack_array(pk, l->n);
        for (size_t i = 0; i < l->n; i++)
            pack_bytes(pk, F_BIN, l->items[i]);
        break;
    }
    case F_SHARD_LIST: {
        const struct peer_shard_list *l = src;
        msgpack_pack_array(pk, l->n);
        for (size_t i = 0; i < l->n; i++) {
            msgpack_pack_array(pk, 2);
            pack_bytes(pk, F_STR, l->items[i].shard);
            pack_bytes(pk, F_STR, l->items[i].sequence);
        }
        break;
    }
    }
}

/* PEER_MSG_EINVALID for an unknown status, PEER_MSG_EOVERSIZE for a field
 * beyond msgpack's 32-bit lengths; the frame's total length is checked once
 * packed. */
static int check_fields(const struct type_desc *t, const struct peer_msg *m)
{
    for (size_t i = 0; i < t->nfields; i++) {
        const void *src = (const char *)m + t->fields[i].off;
        size_t n = 0;
        switch (t->fields[i].kind) {
        case F_UINT:
        case F_U32: break;
        case F_STATUS:
            if (*(const enum peer_get_status *)src > PEER_GET_STATUS_MAX) return PEER_MSG_EINVALID;
            break;
        case F_STR:
        case F_BIN: n = ((const struct peer_bytes *)src)->len; break;
        case F_BIN_LIST: n = ((const struct peer_bytes_list *)src)->n; break;
        case F_SHARD_LIST: n = ((const struct peer_shard_list *)src)->n; break;
        }
        if (n > PEER_MSG_MAX_FRAME) return PEER_MSG_EOVERSIZE;
    }
    return PEER_MSG_OK;
}

/* The fields m is sent with: every required one, then the optional ones up
 * to the last that is not 0. */
static size_t fields_to_send(const struct type_desc *t, const struct peer_msg *m)
{
    size_t n = t->nfields;
    while (n > t->nfields - t->optional &&
           *(const uint64_t *)((const char *)m + t->fields[n - 1].off) == 0)
        n--;
    return n;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int peer_msg_encode(const struct peer_msg *m, struct peer_key *key, struct buf *out)
{
    const struct peer_hdr *h = &m->hdr;
    const struct type_desc *t = type_desc(h->type);
    if (!t || h->from >= OWNER_MAX_PEERS || h->to >= OWNER_MAX_PEERS || h->from_inc == 0)
        return PEER_MSG_EINVALID;
    int rc = check_fields(t, m);
    if (rc != PEER_MSG_OK) return rc;
    size_t start = out->len;
    buf_append(out, "\0\0\0\0", 4);
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, append_to_buf);
    msgpack_pack_array(&pk, PEER_MSG_HEADER_FIELDS);
    const uint64_t hdr[] = {PEER_MSG_VERSION, h->type,   h->from, h->to,
                            h->from_inc,      h->to_inc, h->seq,  h->ts_ms};
    for (size_t i = 0; i < ARRAY_SIZE(hdr); i++)
        msgpack_pack_uint64(&pk, hdr[i]);
    size_t nfields = fields_to_send(t, m);
    msgpack_pack_array(&pk, nfields);
    for (size_t i = 0; i < nfields; i++)
        pack_field(&pk, &t->fields[i], m);
    size_t body = out->len - start - 4;
    if (body + PEER_MSG_MAC_LEN > PEER_MSG_MAX_FRAME) {
        out->len = start;
        out->data[start] = '\0';
        return PEER_MSG_EOVERSIZE;
    }
    uint8_t mac[PEER_MSG_MAC_LEN];
    peer_key_mac(key, out->data + start + 4, body, mac);
    buf_append(out, mac, sizeof(mac));
    put_be32((uint8_t *)out->data + start, (uint32_t)(body + PEER_MSG_MAC_LEN));
    return PEER_MSG_OK;
}

/* ---- decoding ---- */

/*
 * msgpack-c sizes an array's storage from the count in its header before it
 * reads a single element, so a 5-byte body (dd ff ff ff ff) would make it
 * ask for 100 GB; it has no limit to set. skim() walks the body first,
 * allocating nothing, and accepts it only when it is one complete object
 * whose containers nest at most SKIM_DEPTH deep. Then every count msgpack-c
 * sees is backed by elements present in the body, and what it allocates is
 * bounded by the frame's length.
 */
#define SKIM_DEPTH 8

enum skim_kind { S_PAYLOAD, S_ARRAY, S_MAP, S_BAD };

/* Formats 0xc4..0xdf: width of the length/count field, fixed bytes, kind. */
static const struct {
    uint8_t lenw, fixed, kind;
} skim_formats[0xe0 - 0xc4] = {
    [0xc4 - 0xc4] = {1, 0, S_PAYLOAD},  [0xc5 - 0xc4] = {2, 0, S_PAYLOAD}, /* bin */
    [0xc6 - 0xc4] = {4, 0, S_PAYLOAD},  [0xc7 - 0xc4] = {1, 1, S_PAYLOAD}, /* ext */
    [0xc8 - 0xc4] = {2, 1, S_PAYLOAD},  [0xc9 - 0xc4] = {4, 1, S_PAYLOAD},
    [0xca - 0xc4] = {0, 4, S_PAYLOAD},  [0xcb - 0xc4] = {0, 8, S_PAYLOAD}, /* float */
    [0xcc - 0xc4] = {0, 1, S_PAYLOAD},  [0xcd - 0xc4] = {0, 2, S_PAYLOAD}, /* uint */
    [0xce - 0xc4] = {0, 4, S_PAYLOAD},  [0xcf - 0xc4] = {0, 8, S_PAYLOAD},
    [0xd0 - 0xc4] = {0, 1, S_PAYLOAD},  [0xd1 - 0xc4] = {0, 2, S_PAYLOAD}, /* int */
    [0xd2 - 0xc4] = {0, 4, S_PAYLOAD},  [0xd3 - 0xc4] = {0, 8, S_PAYLOAD},
    [0xd4 - 0xc4] = {0, 2, S_PAYLOAD},  [0xd5 - 0xc4] = {0, 3, S_PAYLOAD}, /* fixext */
    [0xd6 - 0xc4] = {0, 5, S_PAYLOAD},  [0xd7 - 0xc4] = {0, 9, S_PAYLOAD},
    [0xd8 - 0xc4] = {0, 17, S_PAYLOAD}, [0xd9 - 0xc4] = {1, 0, S_PAYLOAD}, /* str */
    [0xda - 0xc4] = {2, 0, S_PAYLOAD},  [0xdb - 0xc4] = {4, 0, S_PAYLOAD},
    [0xdc - 0xc4] = {2, 0, S_ARRAY},    [0xdd - 0xc4] = {4, 0, S_ARRAY},
    [0xde - 0xc4] = {2, 0, S_MAP},      [0xdf - 0xc4] = {4, 0, S_MAP},
};

static bool skim(const uint8_t **pp, const uint8_t *end, int depth)
{
    const uint8_t *p = *pp;
    if (p == end) return false;
    uint8_t b = *p++;
    uint64_t n = 0; /* payload bytes, or elements */
    int kind = S_PAYLOAD;
    if (b >= 0x80 && b <= 0x8f) {
        kind = S_MAP, n = b & 0x0f;
    } else if (b >= 0x90 && b <= 0x9f) {
        kind = S_ARRAY, n = b & 0x0f;
    } else if (b >= 0xa0 && b <= 0xbf) {
        n = b & 0x1f;
    } else if (b >= 0xc4 && b <= 0xdf) {
        unsigned lenw = skim_formats[b - 0xc4].lenw;
        if ((size_t)(end - p) < lenw) return false;
        for (unsigned i = 0; i < lenw; i++)
            n = n << 8 | *p++;
        n += skim_formats[b - 0xc4].fixed;
        kind = skim_formats[b - 0xc4].kind;
    } else if (b == 0xc1) {
        return false; /* never used */
    }                 /* else fixints, nil, booleans: the byte itself */
    if (kind == S_MAP) n *= 2;
    if (n > (size_t)(end - p)) return false; /* each element takes a byte at least */
    if (kind == S_PAYLOAD) {
        p += n;
    } else {
        if (depth == SKIM_DEPTH) return false;
        for (uint64_t i = 0; i < n; i++)
            if (!skim(&p, end, depth + 1)) return false;
    }
    *pp = p;
    return true;
}

static bool get_uint(const msgpack_object *o, uint64_t max, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max) return false;
    *out = o->via.u64;
    return true;
}

static bool get_bytes(const msgpack_object *o, enum field_kind kind, struct peer_bytes *out)
{
    if (kind == F_STR && o->type == MSGPACK_OBJECT_STR) {
        out->data = (const uint8_t *)o->via.str.ptr;
        out->len = o->via.str.size;
    } else if (kind == F_BIN && o->type == MSGPACK_OBJECT_BIN) {
        out->data = (const uint8_t *)o->via.bin.ptr;
        out->len = o->via.bin.size;
    } else {
        return false;
    }
    if (out->len == 0) out->data = NULL; /* never a pointer to nothing */
    return true;
}

/* An array of n elements from the decoder's zone (NULL for none). */
static void *zone_array(struct peer_msg_decoder *d, size_t n, size_t size)
{
    return n ? msgpack_zone_malloc(d->tree.zone, n * size) : NULL;
}

static bool decode_bin_list(struct peer_msg_decoder *d, const msgpack_object *o,
                            struct peer_bytes_list *out)
{
    if (o->type != MSGPACK_OBJECT_ARRAY) return false;
    struct peer_bytes *items = zone_array(d, o->via.array.size, sizeof(*items));
    if (o->via.array.size && !items) return false;
    for (uint32_t i = 0; i < o->via.array.size; i++)
        if (!get_bytes(&o->via.array.ptr[i], F_BIN, &items[i])) return false;
    out->n = o->via.array.size;
    out->items = items;
    return true;
}

static bool decode_shard_list(struct peer_msg_decoder *d, const msgpack_object *o,
                              struct peer_shard_list *out)
{
    if (o->type != MSGPACK_OBJECT_ARRAY) return false;
    struct peer_shard_pos *items = zone_array(d, o->via.array.size, sizeof(*items));
    if (o->via.array.size && !items) return false;
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        const msgpack_object *e = &o->via.array.ptr[i];
        /* [shard, sequence]; later versions may append more */
        if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size < 2 ||
            !get_bytes(&e->via.array.ptr[0], F_STR, &items[i].shard) ||
            !get_bytes(&e->via.array.ptr[1], F_STR, &items[i].sequence))
            return false;
    }
    out->n = o->via.array.size;
    out->items = items;
    return true;
}

static bool decode_field(struct peer_msg_decoder *d, const struct field *f, const msgpack_object *o,
                         struct peer_msg *m)
{
    void *dst = (char *)m + f->off;
    uint64_t v;
    switch (f->kind) {
    case F_UINT: return get_uint(o, UINT64_MAX, dst);
    case F_U32:
        if (!get_uint(o, UINT32_MAX, &v)) return false;
        *(uint32_t *)dst = (uint32_t)v;
        return true;
    case F_STATUS:
        if (!get_uint(o, PEER_GET_STATUS_MAX, &v)) return false;
        *(enum peer_get_status *)dst = (enum peer_get_status)v;
        return true;
    case F_STR:
    case F_BIN: return get_bytes(o, f->kind, dst);
    case F_BIN_LIST: return decode_bin_list(d, o, dst);
    case F_SHARD_LIST: return decode_shard_list(d, o, dst);
    }
    return false;
}

/* The header: body[0..8). Returns 0, PEER_MSG_EVERSION or PEER_MSG_EINVALID. */
static int decode_header(const msgpack_object *a, struct peer_hdr *h)
{
    uint64_t v[PEER_MSG_HEADER_FIELDS - 1];
    if (!get_uint(&a[0], UINT64_MAX, &v[0])) return PEER_MSG_EINVALID;
    if (v[0] != PEER_MSG_VERSION) return PEER_MSG_EVERSION;
    for (size_t i = 1; i < ARRAY_SIZE(v); i++)
        if (!get_uint(&a[i], UINT64_MAX, &v[i])) return PEER_MSG_EINVALID;
    if (!type_desc((int)MIN(v[1], (uint64_t)INT32_MAX)) || v[2] >= OWNER_MAX_PEERS ||
        v[3] >= OWNER_MAX_PEERS || v[4] == 0)
        return PEER_MSG_EINVALID;
    h->type = (enum peer_msg_type)v[1];
    h->from = (uint8_t)v[2];
    h->to = (uint8_t)v[3];
    h->from_inc = v[4];
    h->to_inc = v[5];
    h->seq = v[6];
    h->ts_ms = v[7];
    return PEER_MSG_OK;
}

/* An authentic body: msgpack array [header..., fields]; later versions'
 * extra elements, here or among the fields, are ignored. */
static int decode_body(struct peer_msg_decoder *d, const uint8_t *body, size_t len,
                       struct peer_msg *m)
{
    const uint8_t *p = body;
    if (!skim(&p, body + len, 0) || p != body + len) return PEER_MSG_EINVALID;
    size_t off = 0;
    if (msgpack_unpack_next(&d->tree, (const char *)body, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len)
        return PEER_MSG_EINVALID;
    const msgpack_object *root = &d->tree.data;
    if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < PEER_MSG_HEADER_FIELDS)
        return PEER_MSG_EINVALID;
    const msgpack_object *a = root->via.array.ptr;
    memset(m, 0, sizeof(*m));
    int rc = decode_header(a, &m->hdr);
    if (rc != PEER_MSG_OK) return rc;
    const struct type_desc *t = type_desc(m->hdr.type);
    const msgpack_object *f = &a[PEER_MSG_HEADER_FIELDS - 1];
    if (f->type != MSGPACK_OBJECT_ARRAY || f->via.array.size < t->nfields - t->optional)
        return PEER_MSG_EINVALID;
    size_t n = MIN(t->nfields, (size_t)f->via.array.size); /* absent optional fields: 0 */
    for (size_t i = 0; i < n; i++)
        if (!decode_field(d, &t->fields[i], &f->via.array.ptr[i], m)) return PEER_MSG_EINVALID;
    return PEER_MSG_OK;
}

/* A whole frame (length prefix included): authenticate, then parse. */
static int decode_frame(struct peer_msg_decoder *d, const uint8_t *frame, struct peer_msg *m)
{
    size_t body = get_be32(frame) - PEER_MSG_MAC_LEN;
    uint8_t mac[PEER_MSG_MAC_LEN];
    peer_key_mac(d->key, frame + 4, body, mac);
    if (CRYPTO_memcmp(mac, frame + 4 + body, PEER_MSG_MAC_LEN) != 0) return PEER_MSG_EMAC;
    return decode_body(d, frame + 4, body, m);
}

static int check_length(const struct peer_msg_decoder *d, uint32_t len)
{
    if (len > d->max_frame) return PEER_MSG_EOVERSIZE;
    if (len <= PEER_MSG_MAC_LEN) return PEER_MSG_EINVALID; /* no body */
    return PEER_MSG_OK;
}

void peer_msg_decoder_init(struct peer_msg_decoder *d, struct peer_key *key, size_t max_frame)
{
    memset(d, 0, sizeof(*d));
    d->key = key;
    d->max_frame = max_frame;
    buf_init(&d->partial);
    msgpack_unpacked_init(&d->tree);
}

void peer_msg_decoder_free(struct peer_msg_decoder *d)
{
    buf_free(&d->partial);
    msgpack_unpacked_destroy(&d->tree);
}

static int fail(struct peer_msg_decoder *d, int rc)
{
    if (rc < 0) d->error = rc;
    return rc;
}

/* Gathers a frame split over several calls in d->partial. */
static int gather(struct peer_msg_decoder *d, const uint8_t *data, size_t len, size_t *consumed,
                  struct peer_msg *out)
{
    size_t used = 0;
    if (d->partial.len < 4) {
        used = MIN(4 - d->partial.len, len);
        buf_append(&d->partial, data, used);
        *consumed = used;
        if (d->partial.len < 4) return PEER_MSG_NEED_MORE;
        int rc = check_length(d, get_be32((const uint8_t *)d->partial.data));
        if (rc != PEER_MSG_OK) return fail(d, rc);
    }
    size_t total = 4 + (size_t)get_be32((const uint8_t *)d->partial.data);
    size_t n = MIN(total - d->partial.len, len - used);
    buf_reserve(&d->partial, total - d->partial.len);
    buf_append(&d->partial, data + used, n);
    *consumed = used + n;
    if (d->partial.len < total) return PEER_MSG_NEED_MORE;
    d->partial_done = true;
    return fail(d, decode_frame(d, (const uint8_t *)d->partial.data, out));
}

int peer_msg_decode(struct peer_msg_decoder *d, const uint8_t *data, size_t len, size_t *consumed,
                    struct peer_msg *out)
{
    *consumed = 0;
    if (d->error) return d->error;
    msgpack_unpacked_destroy(&d->tree);
    if (d->partial_done) {
        /* a large frame's buffer is not kept for the connection's life */
        if (d->partial.cap > 64 * 1024)
            buf_free(&d->partial);
        else
            buf_reset(&d->partial);
        d->partial_done = false;
    }
    if (d->partial.len == 0 && len >= 4) {
        uint32_t flen = get_be32(data);
        int rc = check_length(d, flen);
        if (rc != PEER_MSG_OK) return fail(d, rc);
        if (len - 4 >= flen) { /* the whole frame is here: decode it in place */
            *consumed = 4 + (size_t)flen;
            return fail(d, decode_frame(d, data, out));
        }
    }
    return gather(d, data, len, consumed, out);
}
