/*
 * peer_msg.h: the messages ddbx nodes send each other, and their frames.
 * proto/peer-protocol.md is the specification; this is its C codec. No I/O.
 *
 * A frame is a 4-byte big-endian length L, then L bytes: a msgpack body and
 * the 32-byte HMAC-SHA256 of that body under the shared peer secret.
 *
 *   +--------+--------------------------------------------+----------------+
 *   | L (4)  | body: msgpack array [version, type, from, to, | HMAC-SHA256   |
 *   | BE u32 |  from_inc, to_inc, seq, ts_ms, [fields...]]   | (body), 32 B  |
 *   +--------+--------------------------------------------+----------------+
 *
 * The decoder takes bytes as they arrive, split anywhere, checks the length
 * against its cap as soon as the 4 length bytes are in, authenticates the
 * body before parsing any of it, and never reads past what it was given.
 *
 * Ownership: an encoded frame is appended to the caller's buffer. A decoded
 * message's byte fields and arrays are borrowed, never copied: they point
 * into the frame (either the bytes given to peer_msg_decode, when the whole
 * frame was in them, or the decoder's own buffer) and into the decoder's
 * zone. They are valid until the next peer_msg_decode or peer_msg_decoder_free
 * on that decoder, and as long as the bytes given to the call that returned
 * the message are neither changed nor freed.
 *
 * Replays are not this module's business: peer_guard.h checks a decoded
 * header's timestamp, incarnations and sequence number.
 */
#ifndef DDBX_CLUSTER_PEER_MSG_H
#define DDBX_CLUSTER_PEER_MSG_H

#include <msgpack.h>
#include <openssl/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/owner.h"
#include "util/buf.h"

#define PEER_MSG_VERSION 1
#define PEER_MSG_MAC_LEN 32                   /* HMAC-SHA256 */
#define PEER_MSG_MAX_FRAME (4u * 1024 * 1024) /* L, every receiver accepts up to this */
#define PEER_MSG_SECRET_MIN 16                /* bytes of --peer-secret */
#define PEER_MSG_HEADER_FIELDS 9              /* elements of the body array */

/* Message types: name, its lower-case twin (peer_msg.c names its field
 * table after it) and number on the wire. The fields are in peer_msg.c's
 * tables and the specification. */
#define PEER_MSG_TYPES(X)                                                                          \
    X(HELLO, hello, 1)                                                                             \
    X(PING, ping, 2)                                                                               \
    X(PONG, pong, 3)                                                                               \
    X(GET, get, 4)                                                                                 \
    X(GET_REPLY, get_reply, 5)                                                                     \
    X(INVALIDATE, invalidate, 6)                                                                   \
    X(TAG, tag, 7)                                                                                 \
    X(FORGET, forget, 8)                                                                           \
    X(ACK, ack, 9)                                                                                 \
    X(STREAM_POSITION, stream_position, 10)                                                        \
    X(BYE, bye, 11)
#define PEER_MSG_TYPE_MAX 11

enum peer_msg_type {
#define X(NAME, lower, num) PEER_##NAME = num,
    PEER_MSG_TYPES(X)
#undef X
};

enum peer_msg_status {
    PEER_MSG_OK = 0,         /* a message was decoded (or a frame encoded) */
    PEER_MSG_NEED_MORE = 1,  /* every byte was taken; the frame is not complete yet */
    PEER_MSG_EINVALID = -1,  /* not a well-formed frame or message of this version */
    PEER_MSG_EOVERSIZE = -2, /* the length is above the cap */
    PEER_MSG_EVERSION = -3,  /* authentic, but another protocol version */
    PEER_MSG_EMAC = -4,      /* the HMAC does not match: not from a holder of the secret */
};

/* GET_REPLY status: what the owner did with a GET. */
enum peer_get_status {
    PEER_GET_VALUE = 0,     /* body is the stored answer, crc its CRC-32 */
    PEER_GET_MISS = 1,      /* the owner did not fill (NO_FILL, or it sheds load) */
    PEER_GET_FAILED = 2,    /* the owner's read failed; the asker reads the backend itself */
    PEER_GET_NOT_OWNER = 3, /* the owner's view of the live peers differs */
};
#define PEER_GET_STATUS_MAX PEER_GET_NOT_OWNER

#define PEER_GET_NO_FILL 1u  /* GET flag: answer from the cache only, MISS otherwise */
#define PEER_FORGET_ITEMS 1u /* FORGET scope bits */
#define PEER_FORGET_QUERIES 2u

/* Bytes owned by someone else (see "Ownership" above). */
struct peer_bytes {
    const uint8_t *data;
    size_t len;
};

struct peer_hdr {
    enum peer_msg_type type;
    uint8_t from, to;  /* peer ids (owner.h), < OWNER_MAX_PEERS */
    uint64_t from_inc; /* the sender's incarnation, never 0 */
    uint64_t to_inc;   /* the receiver's incarnation as the sender knows it; 0: not yet */
    uint64_t seq;      /* per sender incarnation and receiver: 1, 2, 3, ... */
    uint64_t ts_ms;    /* the sender's wall clock, ms since the Unix epoch */
};

struct peer_hello {
    uint64_t peers_digest;  /* owner_peers.digest: nodes with different lists refuse each other */
    uint64_t features;      /* bits for later additions; 0 in version 1 */
    struct peer_bytes addr; /* the sender's own entry in the peer list */
};
struct peer_ping {
    uint64_t live; /* the sender's liveness mask (informational) */
};
struct peer_pong {
    uint64_t ping_seq, ping_ts_ms; /* of the PING answered */
    uint64_t live;
};
struct peer_get {
    uint64_t flags;            /* PEER_GET_NO_FILL */
    struct peer_bytes table;   /* str */
    struct peer_bytes key;     /* the key attributes of the cache key (after the table's NUL) */
    struct peer_bytes request; /* GetItem JSON body the owner fills with on a miss */
};
struct peer_get_reply {
    uint64_t req_seq; /* seq of the GET answered */
    enum peer_get_status status;
    uint64_t ttl_ms;        /* how long the asker may keep a near copy; 0: not at all */
    uint32_t crc;           /* VALUE: CRC-32 of body */
    struct peer_bytes body; /* VALUE: the stored GetItem answer; otherwise empty */
};
struct peer_bytes_list {
    size_t n;
    const struct peer_bytes *items; /* n entries */
};
/* INVALIDATE (item keys) and TAG (query-cache tags) have one shape. */
struct peer_keyset {
    struct peer_bytes table;     /* str */
    struct peer_bytes_list keys; /* bin each: INVALIDATE as GET's key, TAG the query cache's tags */
    uint64_t hold_ms; /* optional (0: absent): a write of unknown outcome may still land this
                         long: INVALIDATE holds the keys uncached, TAG the table's pages */
};
struct peer_forget {
    struct peer_bytes table; /* empty: every table */
    uint64_t scope;          /* PEER_FORGET_ITEMS | PEER_FORGET_QUERIES */
    uint64_t hold_ms;        /* optional (0: absent): the table (tables) held uncached this long */
};
struct peer_ack {
    uint64_t upto; /* every frame the acker received from the ACK's receiver up to this seq */
};
struct peer_shard_pos {
    struct peer_bytes shard;    /* str: ShardId */
    struct peer_bytes sequence; /* str: the last applied SequenceNumber; empty: none yet */
};
struct peer_shard_list {
    size_t n;
    const struct peer_shard_pos *items; /* n entries */
};
struct peer_stream_position {
    struct peer_bytes table, stream_arn; /* str */
    struct peer_shard_list shards;
};
struct peer_bye {
    uint64_t reason; /* 0: shutting down */
};

struct peer_msg {
    struct peer_hdr hdr;
    union {
        struct peer_hello hello;
        struct peer_ping ping;
        struct peer_pong pong;
        struct peer_get get;
        struct peer_get_reply get_reply;
        struct peer_keyset invalidate; /* PEER_INVALIDATE */
        struct peer_keyset tag;        /* PEER_TAG */
        struct peer_forget forget;
        struct peer_ack ack;
        struct peer_stream_position stream_position;
        struct peer_bye bye;
    } u;
};

/* The HMAC key: the peer secret, prepared once. One thread at a time may use
 * a peer_key; give each thread its own. */
struct peer_key {
    EVP_MAC_CTX *ctx;
};

/* Returns 0, or PEER_MSG_EINVALID for a secret shorter than
 * PEER_MSG_SECRET_MIN bytes. Release with peer_key_free. */
int peer_key_init(struct peer_key *k, const void *secret, size_t len);
void peer_key_free(struct peer_key *k);
/* HMAC-SHA256 of data[0..len) under k. */
void peer_key_mac(struct peer_key *k, const void *data, size_t len, uint8_t out[PEER_MSG_MAC_LEN]);

/* Appends m's frame to out. Returns PEER_MSG_OK; PEER_MSG_EINVALID (out
 * unchanged) for an unknown type or status, a peer id or incarnation out of
 * range; PEER_MSG_EOVERSIZE (out unchanged) when the frame would be longer
 * than PEER_MSG_MAX_FRAME. */
int peer_msg_encode(const struct peer_msg *m, struct peer_key *key, struct buf *out);

struct peer_msg_decoder {
    struct peer_key *key;  /* borrowed */
    size_t max_frame;      /* the cap on L */
    struct buf partial;    /* an incomplete frame's bytes */
    bool partial_done;     /* partial holds the last message's frame: drop it on the next call */
    msgpack_unpacked tree; /* the last message's msgpack objects; its zone holds our arrays */
    int error;             /* sticky: once failed, every call fails alike */
};

/* key: borrowed, must outlive the decoder. max_frame: the cap on L
 * (PEER_MSG_MAX_FRAME unless a test wants a smaller one). */
void peer_msg_decoder_init(struct peer_msg_decoder *d, struct peer_key *key, size_t max_frame);
void peer_msg_decoder_free(struct peer_msg_decoder *d);
/* Takes bytes as they arrive. *consumed gets how many were used; the rest
 * belong to the next frame and must be given again. Returns:
 *   PEER_MSG_OK         *out holds a message (see "Ownership");
 *   PEER_MSG_NEED_MORE  *consumed == len: every byte is kept, give more;
 *   PEER_MSG_E*         the stream is unusable (close the connection): every
 *                       later call returns the same error.
 * *out is meaningful only after PEER_MSG_OK. */
int peer_msg_decode(struct peer_msg_decoder *d, const uint8_t *data, size_t len, size_t *consumed,
                    struct peer_msg *out);

/* "HELLO", ...; NULL for a number that is no type. */
const char *peer_msg_type_name(int type);
/* Number of fields a type has in this version; -1 for a number that is no type. */
int peer_msg_type_fields(int type);
/* Of those, how many a frame must carry: the rest are optional trailing
 * fields appended later (hold_ms), 0 when absent and sent only when not 0. */
int peer_msg_type_required(int type);
/* "ok", "need more", "invalid", "oversize", "bad version", "bad mac". */
const char *peer_msg_status_name(int status);

#endif
