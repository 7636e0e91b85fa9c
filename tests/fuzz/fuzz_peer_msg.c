/*
 * fuzz_peer_msg.c: the peer frame decoder (src/cluster/peer_msg.h).
 *
 * Input: one control byte, then data.
 *   bit 7  0: data is bytes off the wire (the corpus's frames are signed with
 *             FUZZ_SECRET, so mutations reach the MAC check and, when only
 *             the length or framing changed, the parser);
 *          1: data is a msgpack body, which the target frames and signs, so
 *             the body parser is reached past the MAC whatever the body.
 *   bit 6  decoder cap: 256 bytes instead of PEER_MSG_MAX_FRAME (oversize).
 *   bits 0-5  where the second run splits the bytes in two feeds.
 *
 * Checked, besides ASan/UBSan (every feed is a heap copy of exactly its
 * size, so reading past it is caught):
 * - consumed <= len, a NEED_MORE takes every byte, an error is sticky;
 * - every decoded message encodes again, and that frame decodes to a message
 *   that encodes to the same bytes (the codec's fixed point);
 * - the bytes fed whole, split in two, and one byte at a time give the same
 *   messages and the same final status; fed one byte at a time, no message
 *   points into a feed (they are freed before the message is read).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/peer_msg.h"
#include "fuzz.h"

#define FUZZ_SECRET "ddbx-fuzz-peer-secret"

static struct peer_key key;

/* Appends m's encoding to the transcript, after checking the fixed point. */
static void record(const struct peer_msg *m, struct buf *transcript)
{
    struct buf a = BUF_INIT, b = BUF_INIT;
    FUZZ_CHECK(peer_msg_encode(m, &key, &a) == PEER_MSG_OK);
    struct peer_msg_decoder d;
    peer_msg_decoder_init(&d, &key, PEER_MSG_MAX_FRAME);
    struct peer_msg again;
    size_t used = 0;
    FUZZ_CHECK(peer_msg_decode(&d, (const uint8_t *)a.data, a.len, &used, &again) == PEER_MSG_OK);
    FUZZ_CHECK(used == a.len);
    FUZZ_CHECK(peer_msg_encode(&again, &key, &b) == PEER_MSG_OK);
    FUZZ_CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    peer_msg_decoder_free(&d);
    buf_append(transcript, a.data, a.len);
    buf_free(&a);
    buf_free(&b);
}

/* Feeds data[0..len) in pieces of `step` bytes (0: in two pieces, split at
 * `split`), and writes what came out to the transcript. */
static void run(const uint8_t *data, size_t len, size_t cap, size_t split, size_t step,
                struct buf *transcript)
{
    struct peer_msg_decoder d;
    peer_msg_decoder_init(&d, &key, cap);
    int rc = PEER_MSG_NEED_MORE;
    for (size_t off = 0; off < len && rc >= 0;) {
        size_t n = step ? step : (off == 0 && split > 0 ? split : len - off);
        if (n > len - off) n = len - off;
        uint8_t *feed = malloc(n);
        memcpy(feed, data + off, n);
        size_t pos = 0, used = 0;
        struct peer_msg m;
        while (feed) {
            rc = peer_msg_decode(&d, feed + pos, n - pos, &used, &m);
            FUZZ_CHECK(used <= n - pos);
            if (rc != PEER_MSG_OK) break;
            pos += used;
            if (step == 1) { /* a frame never fits in one byte: m must not point there */
                free(feed);
                feed = NULL;
            }
            record(&m, transcript);
        }
        free(feed);
        if (rc == PEER_MSG_NEED_MORE) FUZZ_CHECK(pos + used == n);
        if (rc < 0) FUZZ_CHECK(peer_msg_decode(&d, data, len, &used, NULL) == rc); /* sticky */
        off += n;
    }
    if (rc == PEER_MSG_OK) rc = PEER_MSG_NEED_MORE; /* at a frame boundary, either way */
    buf_printf(transcript, "|%d", rc);
    peer_msg_decoder_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        FUZZ_CHECK(peer_key_init(&key, FUZZ_SECRET, strlen(FUZZ_SECRET)) == PEER_MSG_OK);
        ready = true;
    }
    if (size == 0) return 0;
    uint8_t control = data[0];
    data++, size--;
    struct buf frame = BUF_INIT;
    if (control & 0x80) { /* a body: frame and sign it */
        uint32_t l = (uint32_t)size + PEER_MSG_MAC_LEN;
        uint8_t hdr[4] = {(uint8_t)(l >> 24), (uint8_t)(l >> 16), (uint8_t)(l >> 8), (uint8_t)l};
        uint8_t mac[PEER_MSG_MAC_LEN];
        peer_key_mac(&key, data, size, mac);
        buf_append(&frame, hdr, 4);
        buf_append(&frame, data, size);
        buf_append(&frame, mac, sizeof(mac));
    } else {
        buf_append(&frame, data, size);
    }
    size_t cap = control & 0x40 ? 256 : PEER_MSG_MAX_FRAME;
    size_t split = frame.len * (control & 0x3f) / 64;
    struct buf whole = BUF_INIT, halves = BUF_INIT, bytes = BUF_INIT;
    const uint8_t *p = (const uint8_t *)frame.data;
    run(p, frame.len, cap, frame.len, 0, &whole);
    run(p, frame.len, cap, split, 0, &halves);
    FUZZ_CHECK(whole.len == halves.len && memcmp(whole.data, halves.data, whole.len) == 0);
    if (frame.len <= 4096) {
        run(p, frame.len, cap, 0, 1, &bytes);
        FUZZ_CHECK(whole.len == bytes.len && memcmp(whole.data, bytes.data, whole.len) == 0);
    }
    buf_free(&whole);
    buf_free(&halves);
    buf_free(&bytes);
    buf_free(&frame);
    return 0;
}
