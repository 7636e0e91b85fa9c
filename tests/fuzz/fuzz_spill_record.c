/*
 * fuzz_spill_record.c: the spill record decoder (src/spill/record.h), the
 * bytes read back from LMDB after a crash, a bad disk or a future version.
 *
 * Each input is decoded twice: as it is, and with its last 5 bytes replaced
 * by the checksum the decoder expects (0xce + CRC-32 of the rest), so the
 * fuzzer also reaches the msgpack structure behind the checksum.
 *
 * Checked, besides ASan/UBSan: the decoder answers one of its codes; a
 * record it accepts is read the same way by msgpack-c's unpacker (an array
 * of 10 with the same values: the hand-written decoder agrees with the
 * library), re-encodes to bytes that decode to the same fields and
 * re-encode to themselves; the accepted record without its last byte, or
 * with its last byte changed, is refused.
 */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz.h"
#include "spill/record.h"

static uint64_t uint_at(const msgpack_object *e, int i)
{
    FUZZ_CHECK(e[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER);
    return e[i].via.u64;
}

static void bin_at(const msgpack_object *e, int i, const char *p, size_t len)
{
    FUZZ_CHECK(e[i].type == MSGPACK_OBJECT_BIN && e[i].via.bin.size == len);
    FUZZ_CHECK(len == 0 || memcmp(e[i].via.bin.ptr, p, len) == 0);
}

/* msgpack-c reads the accepted bytes as the fields f (safe here: accepted
 * bytes declare no container but the outer array). */
static void agrees_with_msgpack_c(const uint8_t *data, size_t size,
                                  const struct spill_record_fields *f)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    FUZZ_CHECK(msgpack_unpack_next(&u, (const char *)data, size, &off) == MSGPACK_UNPACK_SUCCESS);
    FUZZ_CHECK(off == size && u.data.type == MSGPACK_OBJECT_ARRAY &&
               u.data.via.array.size == SPILL_RECORD_FIELDS);
    const msgpack_object *e = u.data.via.array.ptr;
    FUZZ_CHECK(uint_at(e, 0) == SPILL_RECORD_VERSION && uint_at(e, 1) == f->flags &&
               uint_at(e, 2) == f->epoch && uint_at(e, 3) == f->written_ms &&
               uint_at(e, 4) == f->seq && uint_at(e, 5) == f->expires_ms &&
               uint_at(e, 7) == f->value_crc);
    bin_at(e, 6, f->key, f->klen);
    bin_at(e, 8, f->value, f->vlen);
    FUZZ_CHECK(uint_at(e, 9) == crc32(0, data, (uInt)(size - 5)));
    msgpack_unpacked_destroy(&u);
}

static int same(const struct spill_record_fields *a, const struct spill_record_fields *b)
{
    return a->flags == b->flags && a->epoch == b->epoch && a->written_ms == b->written_ms &&
           a->seq == b->seq && a->expires_ms == b->expires_ms && a->value_crc == b->value_crc &&
           a->klen == b->klen && a->vlen == b->vlen && memcmp(a->key, b->key, a->klen) == 0 &&
           memcmp(a->value, b->value, a->vlen) == 0;
}

static void check(const uint8_t *data, size_t size)
{
    struct spill_record_fields f, g;
    int rc = spill_record_decode(data, size, &f);
    FUZZ_CHECK(rc <= SPILL_RECORD_OK && rc >= SPILL_RECORD_EINVALID);
    if (rc != SPILL_RECORD_OK) return;
    FUZZ_CHECK(f.key >= (const char *)data && f.key + f.klen <= (const char *)data + size);
    agrees_with_msgpack_c(data, size, &f);
    FUZZ_CHECK(spill_record_decode(data, size - 1, &g) != SPILL_RECORD_OK);
    uint8_t *copy = malloc(size);
    memcpy(copy, data, size);
    copy[size - 1] ^= 0x5a;
    FUZZ_CHECK(spill_record_decode(copy, size, &g) != SPILL_RECORD_OK);
    free(copy);

    struct buf once = BUF_INIT, twice = BUF_INIT;
    spill_record_encode(&once, &f);
    FUZZ_CHECK(spill_record_decode(once.data, once.len, &g) == SPILL_RECORD_OK);
    FUZZ_CHECK(same(&f, &g));
    spill_record_encode(&twice, &g);
    FUZZ_CHECK(twice.len == once.len && memcmp(twice.data, once.data, once.len) == 0);
    buf_free(&once);
    buf_free(&twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    if (size < 6) return 0;
    uint8_t *fixed = malloc(size);
    memcpy(fixed, data, size);
    uint32_t crc = (uint32_t)crc32(0, fixed, (uInt)(size - 5));
    uint8_t *tail = fixed + size - 5;
    tail[0] = 0xce;
    for (int i = 0; i < 4; i++)
        tail[1 + i] = (uint8_t)(crc >> (24 - 8 * i));
    check(fixed, size);
    free(fixed);
    return 0;
}
