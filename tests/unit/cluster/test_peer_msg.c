/*
 * test_peer_msg.c: the peer message codec (cluster/peer_msg.h) against
 * proto/peer-protocol.md: every message round trip, frames truncated at
 * every byte and fed byte by byte, wrong versions, bad HMACs, frames over
 * the cap, malformed bodies built by hand with msgpack-c and signed with
 * OpenSSL's one-shot HMAC() (so the layout is checked independently of the
 * encoder), and the specification's test vectors.
 */
#include "testutil.h"

#include <msgpack.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cluster/peer_msg.h"

#define SECRET "correct horse battery staple"
#define VECTOR_SECRET "ddbx-test-vector-secret"

static struct peer_key key;

static int setup(void **state)
{
    return peer_key_init(&key, SECRET, strlen(SECRET));
}

static void release_last(void);

static int teardown(void **state)
{
    release_last();
    peer_key_free(&key);
    return 0;
}

static struct peer_bytes B(const char *s, size_t len) {
    return (struct peer_bytes){(const uint8_t *)s, len};
}
#define S(lit) B(lit, sizeof(lit) - 1)

/* ---- sample messages: every field set, bytes with NULs, lists ---- */

static const struct peer_bytes sample_keys[] = {{(const uint8_t *)"S\0\x06user#1", 9},
                                                {(const uint8_t *)"N\0\x04+\x03\xe9"
                                                                  "7",
                                                 7},
                                                {NULL, 0}};
static const struct peer_shard_pos sample_shards[] = {
    {{(const uint8_t *)"shardId-00000001700000000000-aaaa", 33},
     {(const uint8_t *)"49600000000000000000000000000000000000000000001", 47}},
    {{(const uint8_t *)"shardId-00000001700000000001-bbbb", 33}, {NULL, 0}}};

static void sample(int type, struct peer_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->hdr = (struct peer_hdr){
        (enum peer_msg_type)type, 1, 2, UINT64_C(1700000000123456), UINT64_C(1700000000654321), 42,
        UINT64_C(1700000000123)};
    switch (type) {
    case PEER_HELLO: m->u.hello = (struct peer_hello){UINT64_MAX - 5, 0, S("ddbx2:7000")}; break;
    case PEER_PING: m->u.ping.live = 0x7; break;
    case PEER_PONG: m->u.pong = (struct peer_pong){41, UINT64_C(1700000000100), 0x5}; break;
    case PEER_GET:
        m->u.get =
            (struct peer_get){PEER_GET_NO_FILL, S("Users"), sample_keys[0],
                              S("{\"TableName\":\"Users\",\"Key\":{\"id\":{\"S\":\"user#1\"}}}")};
        break;
    case PEER_GET_REPLY:
        m->u.get_reply = (struct peer_get_reply){41, PEER_GET_VALUE, 250, 0xdeadbeef,
                                                 S("{\"Item\":{\"id\":{\"S\":\"user#1\"}}}")};
        break;
    case PEER_INVALIDATE:
        m->u.invalidate = (struct peer_keyset){S("Users"), {3, sample_keys}, 20000};
        break;
    case PEER_TAG: m->u.tag = (struct peer_keyset){S("Scores"), {2, sample_keys + 1}, 0}; break;
    case PEER_FORGET:
        m->u.forget =
            (struct peer_forget){{NULL, 0}, PEER_FORGET_ITEMS | PEER_FORGET_QUERIES, UINT64_MAX};
        break;
    case PEER_ACK: m->u.ack.upto = 41; break;
    case PEER_STREAM_POSITION:
        m->u.stream_position = (struct peer_stream_position){
            S("Users"),
            S("arn:aws:dynamodb:us-east-1:000000000000:table/Users/stream/2024"),
            {2, sample_shards}};
        break;
    case PEER_BYE: m->u.bye.reason = 0; break;
    }
}

/* ---- a message as text, for comparisons that show what differs ---- */

struct span {
    const uint8_t *lo;
    size_t len;
};

static void text_bytes(struct buf *t, const char *name, struct peer_bytes b, struct span *in)
{
    buf_printf(t, " %s=\"", name);
    for (size_t i = 0; i < b.len; i++)
        buf_printf(t, (b.data[i] >= 0x20 && b.data[i] < 0x7f) ? "%c" : "\\x%02x", b.data[i]);
    buf_append_char(t, '"');
    /* borrowed bytes must lie within the frame they were decoded from */
    if (in && b.len) assert_true(b.data >= in->lo && b.data + b.len <= in->lo + in->len);
}

static void text_list(struct buf *t, const char *name, struct peer_bytes_list l, struct span *in)
{
    buf_printf(t, " %s[%zu]", name, l.n);
    for (size_t i = 0; i < l.n; i++)
        text_bytes(t, "", l.items[i], in);
}

static void describe(const struct peer_msg *m, struct buf *t, struct span *in)
{
    const struct peer_hdr *h = &m->hdr;
    buf_reset(t);
    buf_printf(
        t, "%s from=%u to=%u from_inc=%lu to_inc=%lu seq=%lu ts=%lu:", peer_msg_type_name(h->type),
        h->from, h->to, h->from_inc, h->to_inc, h->seq, h->ts_ms);
    switch (h->type) {
    case PEER_HELLO:
        buf_printf(t, " digest=%lu features=%lu", m->u.hello.peers_digest, m->u.hello.features);
        text_bytes(t, "addr", m->u.hello.addr, in);
        break;
    case PEER_PING: buf_printf(t, " live=%lx", m->u.ping.live); break;
    case PEER_PONG:
        buf_printf(t, " ping_seq=%lu ping_ts=%lu live=%lx", m->u.pong.ping_seq,
                   m->u.pong.ping_ts_ms, m->u.pong.live);
        break;
    case PEER_GET:
        buf_printf(t, " flags=%lu", m->u.get.flags);
        text_bytes(t, "table", m->u.get.table, in);
        text_bytes(t, "key", m->u.get.key, in);
        text_bytes(t, "request", m->u.get.request, in);
        break;
    case PEER_GET_REPLY:
        buf_printf(t, " req_seq=%lu status=%d ttl=%lu crc=%08x", m->u.get_reply.req_seq,
                   (int)m->u.get_reply.status, m->u.get_reply.ttl_ms, m->u.get_reply.crc);
        text_bytes(t, "body", m->u.get_reply.body, in);
        break;
    case PEER_INVALIDATE:
    case PEER_TAG:
        text_bytes(t, "table", m->u.invalidate.table, in);
        text_list(t, "keys", m->u.invalidate.keys, in);
        buf_printf(t, " hold=%lu", m->u.invalidate.hold_ms);
        break;
    case PEER_FORGET:
        text_bytes(t, "table", m->u.forget.table, in);
        buf_printf(t, " scope=%lu hold=%lu", m->u.forget.scope, m->u.forget.hold_ms);
        break;
    case PEER_ACK: buf_printf(t, " upto=%lu", m->u.ack.upto); break;
    case PEER_STREAM_POSITION:
        text_bytes(t, "table", m->u.stream_position.table, in);
        text_bytes(t, "arn", m->u.stream_position.stream_arn, in);
        buf_printf(t, " shards[%zu]", m->u.stream_position.shards.n);
        for (size_t i = 0; i < m->u.stream_position.shards.n; i++) {
            text_bytes(t, "shard", m->u.stream_position.shards.items[i].shard, in);
            text_bytes(t, "seq", m->u.stream_position.shards.items[i].sequence, in);
        }
        break;
    case PEER_BYE: buf_printf(t, " reason=%lu", m->u.bye.reason); break;
    }
}

static void assert_same_msg(const struct peer_msg *want, const struct peer_msg *got,
                            struct span *in)
{
    struct buf a = BUF_INIT, b = BUF_INIT;
    describe(want, &a, NULL);
    describe(got, &b, in);
    assert_string_equal(a.data, b.data);
    buf_free(&a);
    buf_free(&b);
}

static void encode_ok(const struct peer_msg *m, struct buf *out)
{
    assert_int_equal(peer_msg_encode(m, &key, out), PEER_MSG_OK);
}

/* The sample message of a type, and its frame. */
static void sample_frame(int type, struct peer_msg *m, struct buf *f)
{
    sample(type, m);
    encode_ok(m, f);
}

static uint8_t *copy_exact(const void *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1); /* exactly n: ASan catches a read past it */
    memcpy(c, p, n);
    return c;
}

/* ---- frames built by hand from the specification ---- */

/* length, body, HMAC-SHA256(secret, body) computed by OpenSSL's HMAC() */
static void frame_raw(const void *body, size_t len, const char *secret, struct buf *out)
{
    uint8_t l[4] = {(uint8_t)((len + 32) >> 24), (uint8_t)((len + 32) >> 16),
                    (uint8_t)((len + 32) >> 8), (uint8_t)(len + 32)};
    unsigned char mac[32];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), body, len, mac, &maclen);
    assert_int_equal(maclen, 32);
    buf_reset(out);
    buf_append(out, l, 4);
    buf_append(out, body, len);
    buf_append(out, mac, 32);
}

/* The decoder and frame of the last decode_all / decode_body, kept until
 * the next call: the message they returned points into them. */
static struct peer_msg_decoder last_decoder;
static struct buf last_frame;
static bool have_last;

static void release_last(void)
{
    if (have_last) peer_msg_decoder_free(&last_decoder);
    buf_free(&last_frame);
    have_last = false;
}

static int decode_all(const struct buf *frame, size_t max, struct peer_msg *m)
{
    release_last();
    buf_append(&last_frame, frame->data, frame->len);
    peer_msg_decoder_init(&last_decoder, &key, max);
    have_last = true;
    size_t used;
    int rc =
        peer_msg_decode(&last_decoder, (const uint8_t *)last_frame.data, last_frame.len, &used, m);
    if (rc == PEER_MSG_OK) assert_int_equal(used, frame->len);
    /* an error is sticky */
    struct peer_msg ignored;
    if (rc < 0)
        assert_int_equal(peer_msg_decode(&last_decoder, (const uint8_t *)"x", 1, &used, &ignored),
                         rc);
    return rc;
}

/* Decodes a hand-packed body framed with a valid MAC. */
static int decode_body(msgpack_sbuffer *sb, struct peer_msg *m)
{
    struct buf f = BUF_INIT;
    frame_raw(sb->data, sb->size, SECRET, &f);
    int rc = decode_all(&f, PEER_MSG_MAX_FRAME, m);
    buf_free(&f);
    msgpack_sbuffer_clear(sb);
    return rc;
}

/* A packer writing into sb (release with msgpack_sbuffer_destroy). */
static void packer_init(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
}

/* Packs the 8 header elements of a body array of `size` elements. */
static void pack_header(msgpack_packer *pk, uint32_t size, uint64_t version, uint64_t type,
                        uint64_t from, uint64_t from_inc)
{
    msgpack_pack_array(pk, size);
    uint64_t v[] = {version, type, from, 2, from_inc, 7, 9, 1000};
    for (size_t i = 0; i < ARRAY_LEN(v); i++)
        msgpack_pack_uint64(pk, v[i]);
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static void pack_bin(msgpack_packer *pk, const char *s)
{
    msgpack_pack_bin(pk, strlen(s));
    msgpack_pack_bin_body(pk, s, strlen(s));
}

/* A STREAM_POSITION from peer 3 up to its one shard entry's first element,
 * in a body of `size` elements with `nfields` fields and an entry of
 * `entry` elements; the caller packs the rest. */
static void pack_one_shard(msgpack_packer *pk, uint32_t size, uint32_t nfields, uint32_t entry)
{
    pack_header(pk, size, 1, PEER_STREAM_POSITION, 3, 5);
    msgpack_pack_array(pk, nfields);
    pack_str(pk, "Users");
    pack_str(pk, "arn:x");
    msgpack_pack_array(pk, 1);
    msgpack_pack_array(pk, entry);
    pack_str(pk, "shardId-1");
}

/* ---- tests ---- */

static void test_round_trip_every_type(void **state)
{
    for (int type = 1; type <= PEER_MSG_TYPE_MAX; type++) {
        struct peer_msg m, got;
        struct buf f = BUF_INIT;
        sample_frame(type, &m, &f);
        const uint8_t *p = (const uint8_t *)f.data;
        /* the layout: length, msgpack array of 9, version 1, type; MAC last */
        uint32_t len = (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
        assert_int_equal(len + 4, f.len);
        assert_int_equal(p[4], 0x99);
        assert_int_equal(p[5], PEER_MSG_VERSION);
        assert_int_equal(p[6], type);
        unsigned char mac[32];
        unsigned int maclen;
        HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), p + 4, len - 32, mac, &maclen);
        assert_memory_equal(mac, p + f.len - 32, 32);

        /* decoded in place: the bytes point into the caller's frame */
        struct peer_msg_decoder d;
        peer_msg_decoder_init(&d, &key, PEER_MSG_MAX_FRAME);
        size_t used = 0;
        assert_int_equal(peer_msg_decode(&d, p, f.len, &used, &got), PEER_MSG_OK);
        assert_int_equal(used, f.len);
        struct span in = {p, f.len};
        assert_same_msg(&m, &got, &in);
        /* re-encoding gives the same bytes */
        struct buf again = BUF_INIT;
        encode_ok(&got, &again);
        assert_int_equal(again.len, f.len);
        assert_memory_equal(again.data, f.data, f.len);
        buf_free(&again);
        peer_msg_decoder_free(&d);
        buf_free(&f);
    }
}

/* Every frame of every type, back to back in one buffer. */
static void all_frames(struct buf *out, size_t *ends)
{
    for (int type = 1; type <= PEER_MSG_TYPE_MAX; type++) {
        struct peer_msg m;
        sample(type, &m);
        m.hdr.seq = (uint64_t)type;
        encode_ok(&m, out);
        ends[type - 1] = out->len;
    }
}

static void test_back_to_back_frames(void **state)
{
    struct buf all = BUF_INIT;
    size_t ends[PEER_MSG_TYPE_MAX];
    all_frames(&all, ends);
    struct peer_msg_decoder d;
    peer_msg_decoder_init(&d, &key, PEER_MSG_MAX_FRAME);
    size_t off = 0, used;
    for (int type = 1; type <= PEER_MSG_TYPE_MAX; type++) {
        struct peer_msg m, want;
        assert_int_equal(
            peer_msg_decode(&d, (const uint8_t *)all.data + off, all.len - off, &used, &m),
            PEER_MSG_OK);
        off += used;
        assert_int_equal(off, ends[type - 1]); /* exactly one frame taken */
        sample(type, &want);
        want.hdr.seq = (uint64_t)type;
        assert_same_msg(&want, &m, NULL);
    }
    struct peer_msg m;
    assert_int_equal(peer_msg_decode(&d, NULL, 0, &used, &m), PEER_MSG_NEED_MORE);
    assert_int_equal(used, 0);
    peer_msg_decoder_free(&d);
    buf_free(&all);
}

/* Runs check on every type's sample message and frame. */
static void for_each_sample(void (*check)(const struct peer_msg *m, const struct buf *f))
{
    for (int type = 1; type <= PEER_MSG_TYPE_MAX; type++) {
        struct peer_msg m;
        struct buf f = BUF_INIT;
        sample_frame(type, &m, &f);
        check(&m, &f);
        buf_free(&f);
    }
}

/* Cut anywhere, the head is kept whole and the tail completes it. */
static void check_truncated(const struct peer_msg *m, const struct buf *f)
{
    for (size_t cut = 0; cut < f->len; cut++) {
        struct peer_msg_decoder d;
        struct peer_msg got;
        peer_msg_decoder_init(&d, &key, PEER_MSG_MAX_FRAME);
        uint8_t *head = copy_exact(f->data, cut), *tail = copy_exact(f->data + cut, f->len - cut);
        size_t used = 99;
        assert_int_equal(peer_msg_decode(&d, head, cut, &used, &got), PEER_MSG_NEED_MORE);
        assert_int_equal(used, cut);
        assert_int_equal(peer_msg_decode(&d, tail, f->len - cut, &used, &got), PEER_MSG_OK);
        assert_int_equal(used, f->len - cut);
        struct span in = {(const uint8_t *)d.partial.data, d.partial.len};
        assert_same_msg(m, &got, cut ? &in : NULL);
        free(head);
        free(tail);
        peer_msg_decoder_free(&d);
    }
}

static void test_truncated_at_every_byte(void **state)
{
    for_each_sample(check_truncated);
}

static void check_byte_by_byte(const struct peer_msg *m, const struct buf *f)
{
    struct peer_msg_decoder d;
    struct peer_msg got;
    peer_msg_decoder_init(&d, &key, PEER_MSG_MAX_FRAME);
    for (size_t i = 0; i < f->len; i++) {
        uint8_t *one = copy_exact(f->data + i, 1);
        size_t used = 0;
        int rc = peer_msg_decode(&d, one, 1, &used, &got);
        free(one); /* nothing may point into it */
        assert_int_equal(used, 1);
        assert_int_equal(rc, i + 1 < f->len ? PEER_MSG_NEED_MORE : PEER_MSG_OK);
    }
    /* the message points into the decoder's own copy of the frame */
    struct span in = {(const uint8_t *)d.partial.data, d.partial.len};
    assert_same_msg(m, &got, &in);
    peer_msg_decoder_free(&d);
}

static void test_byte_by_byte(void **state)
{
    for_each_sample(check_byte_by_byte);
}

static void test_random_chunks(void **state)
{
    struct buf all = BUF_INIT;
    size_t ends[PEER_MSG_TYPE_MAX];
    all_frames(&all, ends);
    srand(13);
    for (int round = 0; round < 200; round++) {
        struct peer_msg_decoder d;
        peer_msg_decoder_init(&d, &key, PEER_MSG_MAX_FRAME);
        size_t off = 0;
        int next = 1;
        while (off < all.len) {
            size_t n = (size_t)(rand() % 200) + 1;
            if (n > all.len - off) n = all.len - off;
            uint8_t *chunk = copy_exact(all.data + off, n);
            size_t pos = 0, used;
            struct peer_msg m, want;
            int rc;
            while ((rc = peer_msg_decode(&d, chunk + pos, n - pos, &used, &m)) == PEER_MSG_OK) {
                sample(next, &want);
                want.hdr.seq = (uint64_t)next++;
                assert_same_msg(&want, &m, NULL);
                pos += used;
            }
            assert_int_equal(rc, PEER_MSG_NEED_MORE);
            assert_int_equal(pos + used, n);
            free(chunk);
            off += n;
        }
        assert_int_equal(next, PEER_MSG_TYPE_MAX + 1);
        peer_msg_decoder_free(&d);
    }
    buf_free(&all);
}

static void test_wrong_version(void **state)
{
    struct peer_msg m;
    struct buf f = BUF_INIT, g = BUF_INIT;
    sample_frame(PEER_INVALIDATE, &m, &f);
    /* the version is the body's second byte; re-signed, it is authentic */
    const uint8_t versions[] = {0x00, 0x02, 0x7f, 0xcc};
    for (size_t i = 0; i < ARRAY_LEN(versions); i++) {
        struct buf body = BUF_INIT;
        buf_append(&body, f.data + 4, f.len - 4 - 32);
        body.data[1] = (char)versions[i];
        if (versions[i] == 0xcc) { /* uint8 200: the same value, a longer form */
            buf_reset(&body);
            buf_append(&body, f.data + 4, 1);
            buf_append(&body, "\xcc\xc8", 2);
            buf_append(&body, f.data + 6, f.len - 6 - 32);
        }
        frame_raw(body.data, body.len, SECRET, &g);
        struct peer_msg got;
        assert_int_equal(decode_all(&g, PEER_MSG_MAX_FRAME, &got), PEER_MSG_EVERSION);
        buf_free(&body);
    }
    /* a version in a longer integer form is still version 1 */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    packer_init(&pk, &sb);
    msgpack_pack_array(&pk, 9);
    msgpack_pack_fix_uint64(&pk, 1);
    uint64_t rest[] = {PEER_ACK, 1, 2, 5, 7, 9, 1000};
    for (size_t i = 0; i < ARRAY_LEN(rest); i++)
        msgpack_pack_fix_uint64(&pk, rest[i]);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_fix_uint32(&pk, 3);
    struct peer_msg got;
    assert_int_equal(decode_body(&sb, &got), PEER_MSG_OK);
    assert_int_equal(got.hdr.type, PEER_ACK);
    assert_int_equal(got.hdr.from_inc, 5);
    assert_int_equal(got.u.ack.upto, 3);
    /* a version that is not a number is no version */
    msgpack_pack_array(&pk, 9);
    pack_str(&pk, "1");
    assert_int_equal(decode_body(&sb, &got), PEER_MSG_EINVALID);
    msgpack_sbuffer_destroy(&sb);
    buf_free(&f);
    buf_free(&g);
}

static void test_bad_mac(void **state)
{
    struct peer_msg m, got;
    struct buf f = BUF_INIT;
    sample_frame(PEER_GET_REPLY, &m, &f);
    /* any flipped bit after the length, in the body or in the MAC */
    for (size_t i = 4; i < f.len; i++) {
        struct buf g = BUF_INIT;
        buf_append(&g, f.data, f.len);
        g.data[i] ^= (char)(1 << (i % 8));
        assert_int_equal(decode_all(&g, PEER_MSG_MAX_FRAME, &got), PEER_MSG_EMAC);
        buf_free(&g);
    }
    /* another secret */
    struct buf g = BUF_INIT;
    frame_raw(f.data + 4, f.len - 36, "another secret, long enough", &g);
    assert_int_equal(decode_all(&g, PEER_MSG_MAX_FRAME, &got), PEER_MSG_EMAC);
    /* a frame one byte shorter: the MAC is read from the wrong place */
    buf_reset(&g);
    buf_append(&g, f.data, f.len - 1);
    g.data[3]--;
    assert_int_equal(decode_all(&g, PEER_MSG_MAX_FRAME, &got), PEER_MSG_EMAC);
    /* garbage with a wrong MAC is refused for its MAC: nothing unauthenticated is parsed */
    buf_reset(&g);
    buf_append(&g, "\x00\x00\x00\x28", 4);
    for (int i = 0; i < 40; i++)
        buf_append_char(&g, (char)0xc1);
    assert_int_equal(decode_all(&g, PEER_MSG_MAX_FRAME, &got), PEER_MSG_EMAC);
    buf_free(&g);
    buf_free(&f);
    /* a secret under 16 bytes is refused */
    struct peer_key k;
    assert_int_equal(peer_key_init(&k, "fifteen bytes!!", 15), PEER_MSG_EINVALID);
    assert_int_equal(peer_key_init(&k, "sixteen bytes!!!", 16), PEER_MSG_OK);
    peer_key_free(&k);
}

static void test_oversize(void **state)
{
    struct peer_msg m, got;
    struct buf f = BUF_INIT;
    sample_frame(PEER_GET_REPLY, &m, &f);
    size_t len = f.len - 4;
    /* at the cap: accepted; one below: refused */
    assert_int_equal(decode_all(&f, len, &got), PEER_MSG_OK);
    assert_int_equal(decode_all(&f, len - 1, &got), PEER_MSG_EOVERSIZE);
    /* refused as soon as the length is in, before the rest arrives */
    struct peer_msg_decoder d;
    peer_msg_decoder_init(&d, &key, len - 1);
    size_t used;
    for (int i = 0; i < 3; i++)
        assert_int_equal(peer_msg_decode(&d, (const uint8_t *)f.data + i, 1, &used, &got),
                         PEER_MSG_NEED_MORE);
    assert_int_equal(peer_msg_decode(&d, (const uint8_t *)f.data + 3, 1, &used, &got),
                     PEER_MSG_EOVERSIZE);
    assert_int_equal(peer_msg_decode(&d, (const uint8_t *)f.data + 4, 1, &used, &got),
                     PEER_MSG_EOVERSIZE);
    peer_msg_decoder_free(&d);
    peer_msg_decoder_init(&d, &key, PEER_MSG_MAX_FRAME);
    assert_int_equal(peer_msg_decode(&d, (const uint8_t *)"\xff\xff\xff\xff", 4, &used, &got),
                     PEER_MSG_EOVERSIZE);
    peer_msg_decoder_free(&d);

    /* the encoder: a frame of exactly PEER_MSG_MAX_FRAME is sent and received */
    size_t overhead = len - m.u.get_reply.body.len;
    char *big = calloc(1, PEER_MSG_MAX_FRAME);
    m.u.get_reply.body =
        B(big, PEER_MSG_MAX_FRAME - overhead - 3); /* bin32: 3 more length bytes than bin8 */
    buf_reset(&f);
    encode_ok(&m, &f);
    assert_int_equal(f.len, 4 + PEER_MSG_MAX_FRAME);
    assert_int_equal(decode_all(&f, PEER_MSG_MAX_FRAME, &got), PEER_MSG_OK);
    assert_int_equal(got.u.get_reply.body.len, m.u.get_reply.body.len);
    /* one byte more is refused, and nothing is appended */
    m.u.get_reply.body.len++;
    buf_reset(&f);
    buf_append_str(&f, "kept");
    assert_int_equal(peer_msg_encode(&m, &key, &f), PEER_MSG_EOVERSIZE);
    assert_int_equal(f.len, 4);
    assert_string_equal(f.data, "kept");
    m.u.get_reply.body.len = (size_t)UINT32_MAX + 2; /* never read: refused on its length */
    assert_int_equal(peer_msg_encode(&m, &key, &f), PEER_MSG_EOVERSIZE);
    assert_int_equal(f.len, 4);
    free(big);
    buf_free(&f);
}

static void test_encode_refuses(void **state)
{
    struct buf f = BUF_INIT;
    buf_append_str(&f, "kept");
    struct peer_msg m;
    int types[] = {0, PEER_MSG_TYPE_MAX + 1, -1, 255};
    for (size_t i = 0; i < ARRAY_LEN(types); i++) {
        sample(PEER_PING, &m);
        m.hdr.type = (enum peer_msg_type)types[i];
        assert_int_equal(peer_msg_encode(&m, &key, &f), PEER_MSG_EINVALID);
    }
    sample(PEER_PING, &m);
    m.hdr.from = OWNER_MAX_PEERS;
    assert_int_equal(peer_msg_encode(&m, &key, &f), PEER_MSG_EINVALID);
    sample(PEER_PING, &m);
    m.hdr.to = OWNER_MAX_PEERS;
    assert_int_equal(peer_msg_encode(&m, &key, &f), PEER_MSG_EINVALID);
    sample(PEER_PING, &m);
    m.hdr.from_inc = 0;
    assert_int_equal(peer_msg_encode(&m, &key, &f), PEER_MSG_EINVALID);
    sample(PEER_GET_REPLY, &m);
    m.u.get_reply.status = (enum peer_get_status)(PEER_GET_STATUS_MAX + 1);
    assert_int_equal(peer_msg_encode(&m, &key, &f), PEER_MSG_EINVALID);
    assert_int_equal(f.len, 4);
    assert_string_equal(f.data, "kept");
    buf_free(&f);
}

/* Authentic bodies that break one rule each. */
static void test_invalid_bodies(void **state)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    packer_init(&pk, &sb);
    struct peer_msg m;
#define EXPECT_INVALID() assert_int_equal(decode_body(&sb, &m), PEER_MSG_EINVALID)
#define RAW(bytes) msgpack_sbuffer_write(&sb, bytes, sizeof(bytes) - 1)

    RAW("\xc1"); /* not msgpack */
    EXPECT_INVALID();
    pack_header(&pk, 9, 1, PEER_ACK, 1, 5); /* a byte after the object */
    msgpack_pack_array(&pk, 1);
    msgpack_pack_uint64(&pk, 3);
    msgpack_pack_nil(&pk);
    EXPECT_INVALID();
    msgpack_pack_map(&pk, 0); /* not an array */
    EXPECT_INVALID();
    pack_header(&pk, 8, 1, PEER_ACK, 1, 5); /* no fields element */
    EXPECT_INVALID();
    uint64_t bad_type[] = {0, PEER_MSG_TYPE_MAX + 1, UINT64_MAX};
    for (size_t i = 0; i < ARRAY_LEN(bad_type); i++) {
        pack_header(&pk, 9, 1, bad_type[i], 1, 5);
        msgpack_pack_array(&pk, 1);
        msgpack_pack_uint64(&pk, 3);
        EXPECT_INVALID();
    }
    pack_header(&pk, 9, 1, PEER_ACK, OWNER_MAX_PEERS, 5); /* from beyond 63 */
    msgpack_pack_array(&pk, 1);
    msgpack_pack_uint64(&pk, 3);
    EXPECT_INVALID();
    pack_header(&pk, 9, 1, PEER_ACK, 1, 0); /* incarnation 0 */
    msgpack_pack_array(&pk, 1);
    msgpack_pack_uint64(&pk, 3);
    EXPECT_INVALID();
    pack_header(&pk, 9, 1, PEER_ACK, 1, 5); /* fields not an array */
    msgpack_pack_uint64(&pk, 3);
    EXPECT_INVALID();
    pack_header(&pk, 9, 1, PEER_PONG, 1, 5); /* too few fields */
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint64(&pk, 3);
    msgpack_pack_uint64(&pk, 3);
    EXPECT_INVALID();
    pack_header(&pk, 9, 1, PEER_ACK, 1, 5); /* a negative integer */
    msgpack_pack_array(&pk, 1);
    msgpack_pack_int64(&pk, -3);
    EXPECT_INVALID();
    pack_header(&pk, 9, 1, PEER_HELLO, 1, 5); /* addr as bin, not str */
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_uint64(&pk, 0);
    pack_bin(&pk, "ddbx2:7000");
    EXPECT_INVALID();
    pack_header(&pk, 9, 1, PEER_GET, 1, 5); /* key as str, not bin */
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint64(&pk, 0);
    pack_str(&pk, "Users");
    pack_str(&pk, "S\x00\x01x");
    pack_bin(&pk, "{}");
    EXPECT_INVALID();
    /* an unknown status; a CRC over 32 bits */
    const uint64_t status_crc[][2] = {{PEER_GET_STATUS_MAX + 1, 0}, {PEER_GET_VALUE, 1ull << 32}};
    for (size_t i = 0; i < ARRAY_LEN(status_crc); i++) {
        pack_header(&pk, 9, 1, PEER_GET_REPLY, 1, 5);
        msgpack_pack_array(&pk, 5);
        msgpack_pack_uint64(&pk, 1);
        msgpack_pack_uint64(&pk, status_crc[i][0]);
        msgpack_pack_uint64(&pk, 0);
        msgpack_pack_uint64(&pk, status_crc[i][1]);
        pack_bin(&pk, "{}");
        EXPECT_INVALID();
    }
    pack_header(&pk, 9, 1, PEER_INVALIDATE, 1, 5); /* a key that is not bin */
    msgpack_pack_array(&pk, 2);
    pack_str(&pk, "Users");
    msgpack_pack_array(&pk, 2);
    pack_bin(&pk, "k1");
    msgpack_pack_nil(&pk);
    EXPECT_INVALID();
    pack_one_shard(&pk, 9, 3, 1); /* a shard entry of one element */
    EXPECT_INVALID();
    /* counts larger than the body: refused without allocating for them */
    pack_header(&pk, 9, 1, PEER_INVALIDATE, 1, 5);
    msgpack_pack_array(&pk, 2);
    pack_str(&pk, "Users");
    RAW("\xdd\xff\xff\xff\xff"); /* array of 4 billion */
    EXPECT_INVALID();
    RAW("\xdf\xff\xff\xff\xff\xc0"); /* map of 4 billion */
    EXPECT_INVALID();
    /* a str32 whose 65536 bytes are not there */
    RAW("\x99\x01\x06\x01\x02\x05\x07\x09\xcd\x03\xe8\x92\xa5Users\xdb\x00\x01\x00\x00");
    EXPECT_INVALID();
    /* nesting beyond 8 levels, even in a field a later version added */
    pack_header(&pk, 10, 1, PEER_ACK, 1, 5);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_uint64(&pk, 3);
    for (int i = 0; i < 8; i++)
        msgpack_pack_array(&pk, 1);
    msgpack_pack_nil(&pk);
    EXPECT_INVALID();
    /* empty body */
    struct buf f = BUF_INIT;
    buf_append(&f, "\x00\x00\x00\x20", 4);
    for (int i = 0; i < 32; i++)
        buf_append_char(&f, 0);
    assert_int_equal(decode_all(&f, PEER_MSG_MAX_FRAME, &m), PEER_MSG_EINVALID);
    buf_reset(&f);
    buf_append(&f, "\x00\x00\x00\x00", 4);
    assert_int_equal(decode_all(&f, PEER_MSG_MAX_FRAME, &m), PEER_MSG_EINVALID);
    buf_free(&f);
    msgpack_sbuffer_destroy(&sb);
#undef EXPECT_INVALID
#undef RAW
}

/* What a later version of version 1 may add is ignored: more header
 * elements, more fields, more elements in a shard entry; integers in any
 * width. */
static void test_extensions_ignored(void **state)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    packer_init(&pk, &sb);
    struct peer_msg m;
    pack_one_shard(&pk, 10, 5, 3);
    pack_str(&pk, "100");
    msgpack_pack_true(&pk);
    msgpack_pack_map(&pk, 1); /* a later field */
    pack_str(&pk, "k");
    msgpack_pack_double(&pk, 1.5);
    msgpack_pack_nil(&pk);
    msgpack_pack_array(&pk, 0); /* a later header element */
    assert_int_equal(decode_body(&sb, &m), PEER_MSG_OK);
    assert_int_equal(m.hdr.type, PEER_STREAM_POSITION);
    assert_int_equal(m.hdr.from, 3);
    assert_int_equal(m.hdr.to, 2);
    assert_int_equal(m.hdr.seq, 9);
    assert_int_equal(m.u.stream_position.shards.n, 1);
    assert_memory_equal(m.u.stream_position.shards.items[0].sequence.data, "100", 3);
    /* a small value in the widest forms, signed or not */
    msgpack_pack_array(&pk, 9);
    uint8_t forms[] = {
        0xcf, 0,        0,    0,    0,    0,    0,    0,    1, /* version 1 as uint64 */
        0xd0, PEER_ACK,                                        /* type as int8 */
        0xd3, 0,        0,    0,    0,    0,    0,    0,    1, /* from 1 as int64 */
        0x02, 0x05,     0x07, 0x09, 0xcd, 0x03, 0xe8, 0x91, 0xce, 0, 0, 0, 3};
    msgpack_sbuffer_write(&sb, (const char *)forms, sizeof(forms));
    assert_int_equal(decode_body(&sb, &m), PEER_MSG_OK);
    assert_int_equal(m.hdr.type, PEER_ACK);
    assert_int_equal(m.hdr.from, 1);
    assert_int_equal(m.hdr.ts_ms, 1000);
    assert_int_equal(m.u.ack.upto, 3);
    msgpack_sbuffer_destroy(&sb);
}

/* hold_ms, appended to INVALIDATE, TAG and FORGET after version 1 shipped:
 * a frame from an older sender (without it) decodes with hold 0; a message
 * without a hold encodes exactly as an older sender's (two fields), one
 * with a hold carries it as a third field; a hold of the wrong type is
 * refused like any other field. */
static void test_optional_hold(void **state)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    packer_init(&pk, &sb);
    struct peer_msg m;
    pack_header(&pk, 9, 1, PEER_FORGET, 1, 5); /* an older sender's FORGET */
    msgpack_pack_array(&pk, 2);
    pack_str(&pk, "Users");
    msgpack_pack_uint64(&pk, PEER_FORGET_ITEMS);
    assert_int_equal(decode_body(&sb, &m), PEER_MSG_OK);
    assert_int_equal(m.u.forget.scope, PEER_FORGET_ITEMS);
    assert_int_equal(m.u.forget.hold_ms, 0);
    pack_header(&pk, 9, 1, PEER_INVALIDATE, 1, 5); /* a newer sender's, held */
    msgpack_pack_array(&pk, 3);
    pack_str(&pk, "Users");
    msgpack_pack_array(&pk, 1);
    pack_bin(&pk, "k1");
    msgpack_pack_uint64(&pk, 20000);
    assert_int_equal(decode_body(&sb, &m), PEER_MSG_OK);
    assert_int_equal(m.u.invalidate.keys.n, 1);
    assert_int_equal(m.u.invalidate.hold_ms, 20000);
    pack_header(&pk, 9, 1, PEER_TAG, 1, 5); /* a hold that is not a uint */
    msgpack_pack_array(&pk, 3);
    pack_str(&pk, "Users");
    msgpack_pack_array(&pk, 0);
    pack_str(&pk, "20000");
    assert_int_equal(decode_body(&sb, &m), PEER_MSG_EINVALID);
    pack_header(&pk, 9, 1, PEER_TAG, 1, 5); /* the required fields are still required */
    msgpack_pack_array(&pk, 1);
    pack_str(&pk, "Users");
    assert_int_equal(decode_body(&sb, &m), PEER_MSG_EINVALID);
    msgpack_sbuffer_destroy(&sb);

    /* the fields array on the wire: fixarray 2 without a hold, 3 with one */
    for (int held = 0; held < 2; held++) {
        struct peer_msg x;
        struct buf f = BUF_INIT;
        sample(PEER_INVALIDATE, &x);
        x.u.invalidate.hold_ms = held ? 1 : 0;
        encode_ok(&x, &f);
        const uint8_t *fields = memchr((const uint8_t *)f.data + 6, 0x92 + held, 40);
        assert_non_null(fields);
        assert_int_equal(fields[1], 0xa5); /* fixstr "Users" follows */
        struct peer_msg got;
        assert_int_equal(decode_all(&f, PEER_MSG_MAX_FRAME, &got), PEER_MSG_OK);
        assert_int_equal(got.u.invalidate.hold_ms, (uint64_t)held);
        buf_free(&f);
    }
}

static size_t unhex(const char *s, struct buf *out)
{
    buf_reset(out);
    for (; s[0] && s[1] && s[0] != '\n'; s += 2) {
        unsigned v;
        assert_int_equal(sscanf(s, "%2x", &v), 1);
        buf_append_char(out, (char)v);
    }
    return out->len;
}

/* proto/peer-vectors.txt: frames signed with VECTOR_SECRET that any
 * implementation must decode, and encode to the same bytes. */
static void test_vectors(void **state)
{
    struct peer_key vk;
    assert_int_equal(peer_key_init(&vk, VECTOR_SECRET, strlen(VECTOR_SECRET)), PEER_MSG_OK);
    FILE *fp = fopen(PROTO_DIR "/peer-vectors.txt", "r");
    assert_non_null(fp);
    char line[4096], name[64], hex[4000];
    int nvectors = 0, held = 0;
    struct buf frame = BUF_INIT, again = BUF_INIT;
    while (fgets(line, sizeof(line), fp)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        assert_int_equal(sscanf(line, "%63s %3999s", name, hex), 2);
        unhex(hex, &frame);
        struct peer_msg_decoder d;
        peer_msg_decoder_init(&d, &vk, PEER_MSG_MAX_FRAME);
        struct peer_msg m;
        size_t used;
        assert_int_equal(peer_msg_decode(&d, (const uint8_t *)frame.data, frame.len, &used, &m),
                         PEER_MSG_OK);
        assert_int_equal(used, frame.len);
        assert_string_equal(peer_msg_type_name(m.hdr.type), name);
        buf_reset(&again);
        assert_int_equal(peer_msg_encode(&m, &vk, &again), PEER_MSG_OK);
        assert_int_equal(again.len, frame.len);
        assert_memory_equal(again.data, frame.data, frame.len);
        /* the values the specification annotates */
        assert_int_equal(m.hdr.from, 0);
        assert_int_equal(m.hdr.to, 1);
        assert_int_equal(m.hdr.from_inc, UINT64_C(1700000000000000));
        assert_int_equal(m.hdr.ts_ms, UINT64_C(1700000000500));
        if (m.hdr.type == PEER_PING) assert_int_equal(m.u.ping.live, 7);
        if (m.hdr.type == PEER_INVALIDATE) {
            assert_int_equal(m.u.invalidate.keys.n, 1);
            assert_memory_equal(m.u.invalidate.keys.items[0].data, "S\x00\x06user#1", 9);
            held += m.u.invalidate.hold_ms == 20000;
        }
        peer_msg_decoder_free(&d);
        nvectors++;
    }
    fclose(fp);
    assert_true(nvectors >= 4);
    assert_int_equal(held, 1); /* the INVALIDATE with its optional hold_ms */
    buf_free(&frame);
    buf_free(&again);
    peer_key_free(&vk);
}

static void test_names(void **state)
{
    assert_string_equal(peer_msg_type_name(PEER_HELLO), "HELLO");
    assert_string_equal(peer_msg_type_name(PEER_STREAM_POSITION), "STREAM_POSITION");
    assert_string_equal(peer_msg_type_name(PEER_BYE), "BYE");
    assert_null(peer_msg_type_name(0));
    assert_null(peer_msg_type_name(PEER_MSG_TYPE_MAX + 1));
    assert_null(peer_msg_type_name(-1));
    int fields[] = {0, 3, 1, 3, 4, 5, 3, 3, 3, 1, 3, 1};
    for (int t = 1; t <= PEER_MSG_TYPE_MAX; t++) {
        assert_int_equal(peer_msg_type_fields(t), fields[t]);
        bool held = t == PEER_INVALIDATE || t == PEER_TAG || t == PEER_FORGET;
        assert_int_equal(peer_msg_type_required(t), fields[t] - held);
    }
    assert_int_equal(peer_msg_type_fields(0), -1);
    assert_int_equal(peer_msg_type_required(PEER_MSG_TYPE_MAX + 1), -1);
    assert_string_equal(peer_msg_status_name(PEER_MSG_NEED_MORE), "need more");
    assert_string_equal(peer_msg_status_name(PEER_MSG_EMAC), "bad mac");
    assert_string_equal(peer_msg_status_name(PEER_MSG_EVERSION), "bad version");
    assert_string_equal(peer_msg_status_name(42), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_type),
        cmocka_unit_test(test_back_to_back_frames),
        cmocka_unit_test(test_truncated_at_every_byte),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_random_chunks),
        cmocka_unit_test(test_wrong_version),
        cmocka_unit_test(test_bad_mac),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_invalid_bodies),
        cmocka_unit_test(test_extensions_ignored),
        cmocka_unit_test(test_optional_hold),
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
