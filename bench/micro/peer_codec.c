/*
 * peer_codec.c: what a peer message and an owner lookup cost in CPU
 * (proto/peer-protocol.md; the HMAC choice in src/cluster/peer_msg.c).
 *
 *   build/bench/micro/peer_codec [iterations]
 *
 * 1. HMAC-SHA256 of a 200-byte body: OpenSSL's one-shot HMAC() against the
 *    prepared key peer_key_mac() reuses;
 * 2. encode + decode of an INVALIDATE of one key, and of a GET_REPLY
 *    carrying a 1 KB item (the decode authenticates and parses);
 * 3. owner_of_key over 3 and over 64 live peers.
 *
 * Printed on the 2-core VM, shared (load average about 5), two runs:
 *   HMAC() one-shot, 200 bytes                                1540-1946 ns
 *   peer_key_mac (prepared key), 200 bytes                     392-489 ns
 *   encode + decode INVALIDATE, 1 key (92-byte frame)         934-1247 ns
 *   encode + decode GET_REPLY, 1 KB item (1111-byte frame)   2507-3131 ns
 *   owner_of_key, 3 peers                                        43-99 ns
 *   owner_of_key, 64 peers                                   1163-2198 ns
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/owner.h"
#include "cluster/peer_msg.h"
#include "util/clock.h"

#define SECRET "bench-peer-secret-0123456789"

static struct peer_key key;
static volatile uint64_t sink;

static void report(const char *what, uint64_t t0, long n)
{
    printf("%-56s %6.0f ns\n", what, (double)(clock_mono_ns() - t0) / (double)n);
}

static void bench_hmac(long n)
{
    uint8_t body[200], mac[PEER_MSG_MAC_LEN];
    unsigned int len;
    memset(body, 7, sizeof(body));
    uint64_t t0 = clock_mono_ns();
    for (long i = 0; i < n; i++) {
        HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), body, sizeof(body), mac, &len);
        sink += mac[0];
    }
    report("HMAC() one-shot, 200 bytes", t0, n);
    t0 = clock_mono_ns();
    for (long i = 0; i < n; i++) {
        peer_key_mac(&key, body, sizeof(body), mac);
        sink += mac[0];
    }
    report("peer_key_mac (prepared key), 200 bytes", t0, n);
}

static void bench_round_trip(const char *what, struct peer_msg *m, long n)
{
    struct buf b = BUF_INIT;
    struct peer_msg_decoder d;
    peer_msg_decoder_init(&d, &key, PEER_MSG_MAX_FRAME);
    uint64_t t0 = clock_mono_ns();
    for (long i = 0; i < n; i++) {
        buf_reset(&b);
        m->hdr.seq = (uint64_t)i + 1;
        if (peer_msg_encode(m, &key, &b) != PEER_MSG_OK) abort();
        struct peer_msg out;
        size_t used;
        if (peer_msg_decode(&d, (const uint8_t *)b.data, b.len, &used, &out) != PEER_MSG_OK)
            abort();
        sink += out.hdr.seq;
    }
    char label[80];
    snprintf(label, sizeof(label), "%s (%zu-byte frame)", what, b.len);
    report(label, t0, n);
    peer_msg_decoder_free(&d);
    buf_free(&b);
}

static void bench_owner(const char *what, const char *list, long n)
{
    struct owner_peers p;
    if (owner_peers_parse(&p, list) != OWNER_OK) abort();
    uint8_t k[32] = "Users\0S\0\x08user#";
    uint64_t t0 = clock_mono_ns();
    for (long i = 0; i < n; i++) {
        memcpy(k + 14, &i, sizeof(i));
        sink += (uint64_t)owner_of_key(&p, owner_peers_all(&p), k, 22);
    }
    report(what, t0, n);
    owner_peers_free(&p);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 300000;
    if (peer_key_init(&key, SECRET, strlen(SECRET)) != PEER_MSG_OK) return 1;
    bench_hmac(n);

    struct peer_msg m;
    memset(&m, 0, sizeof(m));
    m.hdr = (struct peer_hdr){
        PEER_INVALIDATE,        0, 1, UINT64_C(1700000000000000), UINT64_C(1700000000000001), 1,
        UINT64_C(1700000000000)};
    struct peer_bytes k = {(const uint8_t *)"S\0\x06user#1", 9};
    m.u.invalidate = (struct peer_keyset){{(const uint8_t *)"Users", 5}, {1, &k}};
    bench_round_trip("encode + decode INVALIDATE, 1 key", &m, n);

    static char item[1024];
    memset(item, 'x', sizeof(item));
    m.hdr.type = PEER_GET_REPLY;
    m.u.get_reply = (struct peer_get_reply){
        7, PEER_GET_VALUE, 1000, 0x12345678, {(const uint8_t *)item, sizeof(item)}};
    bench_round_trip("encode + decode GET_REPLY, 1 KB item", &m, n);

    bench_owner("owner_of_key, 3 peers", "a:1,b:1,c:1", n);
    char list[64 * 8] = "";
    for (int i = 0; i < 64; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%sn%d:1", i ? "," : "", i);
    bench_owner("owner_of_key, 64 peers", list, n);
    peer_key_free(&key);
    return 0;
}
