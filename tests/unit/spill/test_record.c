/*
 * test_record.c: the spill record format (spill/record.h): round trips, the
 * exact bytes proto/spill-record.md shows, and refusals of truncated,
 * corrupted, wrong-version, wrong-checksum and malformed records.
 */
#include "testutil.h"

#include <msgpack.h>
#include <zlib.h>

#include "spill/record.h"

static const struct spill_record_fields sample = {
    .flags = 0,
    .epoch = 7,
    .written_ms = 1700000000000ull,
    .seq = 42,
    .expires_ms = 1700000300000ull,
    .key = "k1",
    .klen = 2,
    .value_crc = 0x12345678,
    .value = "{\"Item\":{}}",
    .vlen = 11,
};

static void encode(struct buf *b, const struct spill_record_fields *f)
{
    buf_reset(b);
    spill_record_encode(b, f);
}

static void assert_same_fields(const struct spill_record_fields *a,
                               const struct spill_record_fields *b)
{
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->epoch, b->epoch);
    assert_int_equal(a->written_ms, b->written_ms);
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->expires_ms, b->expires_ms);
    assert_int_equal(a->value_crc, b->value_crc);
    assert_int_equal(a->klen, b->klen);
    assert_int_equal(a->vlen, b->vlen);
    assert_memory_equal(a->key, b->key, a->klen);
    assert_memory_equal(a->value, b->value, a->vlen);
}

static void test_round_trip(void **state)
{
    struct buf b = BUF_INIT;
    struct spill_record_fields out;
    encode(&b, &sample);
    assert_int_equal(spill_record_decode(b.data, b.len, &out), SPILL_RECORD_OK);
    assert_same_fields(&sample, &out);
    /* decoded pointers are into the input */
    assert_true(out.value >= b.data && out.value + out.vlen <= b.data + b.len);

    /* extremes: a negative entry with no value, the largest numbers, binary
     * bytes, a key and a value needing bin16 and bin32 lengths */
    char *key = malloc(70000), *value = malloc(300000);
    for (size_t i = 0; i < 300000; i++) {
        value[i] = (char)(i * 131);
        if (i < 70000) key[i] = (char)(i * 7);
    }
    struct spill_record_fields cases[] = {
        {SPILL_RECORD_NEGATIVE, 0, 0, 0, 0, "", 0, 0, NULL, 0},
        {UINT32_MAX, UINT32_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, "\0\1\2", 3, UINT32_MAX,
         "\0\377", 2},
        {0, 1, 2, 3, 4, key, 300, 5, value, 70000},
        {0, 1, 2, 3, 4, key, 70000, 5, value, 300000},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        encode(&b, &cases[i]);
        assert_int_equal(spill_record_decode(b.data, b.len, &out), SPILL_RECORD_OK);
        if (!cases[i].value) cases[i].value = "";
        assert_same_fields(&cases[i], &out);
    }
    free(key);
    free(value);
    buf_free(&b);
}

/* The example in proto/spill-record.md, byte for byte. */
static void test_documented_bytes(void **state)
{
    static const unsigned char expected[] = {
        0x9a,                                                 /* array of 10 */
        0x01,                                                 /* version 1 */
        0x00,                                                 /* flags */
        0x07,                                                 /* epoch 7 */
        0xcf, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, /* written_ms */
        0x2a,                                                 /* seq 42 */
        0xcf, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe9, 0xfb, 0xe0, /* expires_ms */
        0xc4, 0x02, 'k',  '1',                                /* key: bin8 "k1" */
        0xce, 0x12, 0x34, 0x56, 0x78,                         /* value_crc */
        0xc4, 0x0b, '{',  '"',  'I',  't',  'e',  'm',  '"',  ':', '{', '}', '}', /* value */
    };
    struct buf b = BUF_INIT;
    encode(&b, &sample);
    assert_int_equal(b.len, sizeof(expected) + 5);
    assert_memory_equal(b.data, expected, sizeof(expected));
    uint32_t crc = (uint32_t)crc32(0, expected, sizeof(expected));
    const unsigned char *tail = (const unsigned char *)b.data + sizeof(expected);
    assert_int_equal(tail[0], 0xce);
    assert_int_equal((uint32_t)tail[1] << 24 | tail[2] << 16 | tail[3] << 8 | tail[4], crc);
    buf_free(&b);
}

static void test_truncated(void **state)
{
    struct buf b = BUF_INIT;
    struct spill_record_fields out;
    encode(&b, &sample);
    /* shorter than any record; then the tail no longer holds the checksum */
    for (size_t len = 0; len < b.len; len++)
        assert_int_equal(spill_record_decode(b.data, len, &out),
                         len < 17 ? SPILL_RECORD_ETRUNCATED : SPILL_RECORD_ECHECKSUM);
    buf_free(&b);
}

static void test_corrupted(void **state)
{
    struct buf b = BUF_INIT;
    struct spill_record_fields out;
    encode(&b, &sample);
    static const unsigned char flips[] = {0x01, 0x10, 0x80, 0xff};
    for (size_t i = 0; i < b.len; i++)
        for (size_t j = 0; j < sizeof(flips); j++) {
            b.data[i] ^= (char)flips[j];
            int rc = spill_record_decode(b.data, b.len, &out);
            if (rc == SPILL_RECORD_OK) fail_msg("flip %#x at %zu accepted", flips[j], i);
            b.data[i] ^= (char)flips[j];
        }
    assert_int_equal(spill_record_decode(b.data, b.len, &out), SPILL_RECORD_OK);
    buf_free(&b);
}

static int to_buf(void *data, const char *p, size_t len)
{
    buf_append(data, p, len);
    return 0;
}

/* A record of n elements led by `version`, whose other elements are those
 * of `sample` (key as str if key_as_str; flags as `flags`), with a correct
 * checksum. */
static void build_flags(struct buf *b, uint64_t version, unsigned n, bool key_as_str,
                        uint64_t flags)
{
    msgpack_packer pk;
    buf_reset(b);
    msgpack_packer_init(&pk, b, to_buf);
    msgpack_pack_array(&pk, n);
    msgpack_pack_uint64(&pk, version);
    uint64_t ints[] = {flags, sample.epoch, sample.written_ms, sample.seq, sample.expires_ms};
    for (unsigned i = 0; i < 5 && i + 2 < n; i++)
        msgpack_pack_uint64(&pk, ints[i]);
    if (n >= 8) {
        if (key_as_str)
            msgpack_pack_str_with_body(&pk, sample.key, sample.klen);
        else
            msgpack_pack_bin_with_body(&pk, sample.key, sample.klen);
        msgpack_pack_uint32(&pk, sample.value_crc);
    }
    if (n >= 10) msgpack_pack_bin_with_body(&pk, sample.value, sample.vlen);
    msgpack_pack_fix_uint32(&pk, (uint32_t)crc32(0, (const Bytef *)b->data, (uInt)b->len));
}

static void build(struct buf *b, uint64_t version, unsigned n, bool key_as_str)
{
    build_flags(b, version, n, key_as_str, sample.flags);
}

static void test_wrong_version(void **state)
{
    struct buf b = BUF_INIT;
    struct spill_record_fields out;
    build(&b, 1, 10, false); /* the builder itself makes valid records */
    assert_int_equal(spill_record_decode(b.data, b.len, &out), SPILL_RECORD_OK);
    assert_same_fields(&sample, &out);
    uint64_t versions[] = {0, 2, 255, UINT64_MAX};
    for (size_t i = 0; i < ARRAY_LEN(versions); i++) {
        build(&b, versions[i], 10, false);
        assert_int_equal(spill_record_decode(b.data, b.len, &out), SPILL_RECORD_EVERSION);
    }
    /* not an array, or an array not led by an unsigned integer */
    static const char map[] = "\x81\x01\x02", str_first[] = "\x91\xa1x", empty[] = "\x90";
    assert_int_equal(spill_record_decode(map, 3, &out), SPILL_RECORD_EVERSION);
    assert_int_equal(spill_record_decode(str_first, 3, &out), SPILL_RECORD_EVERSION);
    assert_int_equal(spill_record_decode(empty, 1, &out), SPILL_RECORD_EVERSION);
    buf_free(&b);
}

static void test_wrong_checksum(void **state)
{
    struct buf b = BUF_INIT;
    struct spill_record_fields out;
    encode(&b, &sample);
    b.data[b.len - 1] ^= 1; /* the checksum itself */
    assert_int_equal(spill_record_decode(b.data, b.len, &out), SPILL_RECORD_ECHECKSUM);
    b.data[b.len - 1] ^= 1;
    b.data[b.len - 8] ^= 0x20; /* a byte of the value */
    assert_int_equal(spill_record_decode(b.data, b.len, &out), SPILL_RECORD_ECHECKSUM);
    buf_free(&b);
}

static void test_malformed(void **state)
{
    struct buf b = BUF_INIT;
    struct spill_record_fields out;
    /* right checksum, wrong structure: what only a bug could write */
    build(&b, 1, 10, true); /* key as str */
    assert_int_equal(spill_record_decode(b.data, b.len, &out), SPILL_RECORD_EINVALID);
    build_flags(&b, 1, 10, false, 1ull << 32); /* flags beyond 32 bits */
    assert_int_equal(spill_record_decode(b.data, b.len, &out), SPILL_RECORD_EINVALID);
    build_flags(&b, 1, 10, false, 1); /* the builder's control: accepted */
    assert_int_equal(spill_record_decode(b.data, b.len, &out), SPILL_RECORD_OK);
    assert_int_equal(out.flags, 1);
    /* an element missing: the array no longer begins as version 1's */
    build(&b, 1, 9, false);
    assert_int_equal(spill_record_decode(b.data, b.len, &out), SPILL_RECORD_EVERSION);
    /* not msgpack at all (0xc1 is never used) */
    assert_int_equal(spill_record_decode("\xc1", 1, &out), SPILL_RECORD_EVERSION);
    /* a trailing byte, or the checksum packed in fewer than the fixed five
     * bytes: the tail is not where the checksum must be */
    encode(&b, &sample);
    buf_append_char(&b, 0);
    assert_int_equal(spill_record_decode(b.data, b.len, &out), SPILL_RECORD_ECHECKSUM);
    encode(&b, &sample);
    b.len -= 5;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, to_buf);
    msgpack_pack_uint16(&pk, 300);
    assert_int_equal(spill_record_decode(b.data, b.len, &out), SPILL_RECORD_ECHECKSUM);
    assert_string_equal(spill_record_strerror(SPILL_RECORD_ECHECKSUM), "checksum mismatch");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_documented_bytes),
        cmocka_unit_test(test_truncated),     cmocka_unit_test(test_corrupted),
        cmocka_unit_test(test_wrong_version), cmocka_unit_test(test_wrong_checksum),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
