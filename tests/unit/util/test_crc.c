/*
 * test_crc.c: crc_combine_op (util/crc.h) gives zlib's crc32_combine_op's
 * answer for random CRCs and lengths, the CRC of a concatenation from its
 * parts' CRCs, and the edge values (zero CRCs, lengths 0 and 1, a length
 * whose operator has every bit of one half set); the CRC of one byte from
 * the table.
 */
#include "testutil.h"

#include <zlib.h>

#include "util/crc.h"

static uint64_t rng = 88172645463325252ull;

static uint32_t next32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static void test_matches_zlib(void **state)
{
#if defined(__x86_64__)
    /* else zlib would be compared with itself */
    __builtin_cpu_init();
    assert_int_equal(crc_combine_uses_clmul(), __builtin_cpu_supports("pclmul") != 0);
#endif
    for (int i = 0; i < 200000; i++) {
        uint32_t a = next32(), b = next32();
        z_off64_t len = i < 1000 ? i : (z_off64_t)(next32() % (1u << 24));
        uint32_t op = (uint32_t)crc32_combine_gen64(len);
        assert_int_equal(crc_combine_op(a, b, op), (uint32_t)crc32_combine_op(a, b, op));
    }
}

static void test_edges(void **state)
{
    uint32_t ops[] = {0,
                      1,
                      0x80000000u,
                      0xffffffffu,
                      0x0000ffffu,
                      0xffff0000u,
                      (uint32_t)crc32_combine_gen64(0),
                      (uint32_t)crc32_combine_gen64(1)};
    uint32_t vals[] = {0, 1, 0x80000000u, 0xffffffffu, 0xedb88320u, 0x12345678u};
    for (size_t i = 0; i < ARRAY_LEN(ops); i++)
        for (size_t j = 0; j < ARRAY_LEN(vals); j++)
            for (size_t k = 0; k < ARRAY_LEN(vals); k++) {
                if (ops[i] == 0) continue; /* zlib's multiply asks for a non-zero operator */
                assert_int_equal(crc_combine_op(vals[j], vals[k], ops[i]),
                                 (uint32_t)crc32_combine_op(vals[j], vals[k], ops[i]));
            }
}

static void test_concatenation(void **state)
{
    static unsigned char data[5000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)next32();
    for (size_t cut = 0; cut <= sizeof(data); cut += 97) {
        uint32_t a = crc32_of(data, cut), b = crc32_of(data + cut, sizeof(data) - cut);
        uint32_t op = (uint32_t)crc32_combine_gen64((z_off64_t)(sizeof(data) - cut));
        assert_int_equal(crc_combine_op(a, b, op), crc32_of(data, sizeof(data)));
    }
}

static void test_one_byte(void **state)
{
    for (int b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        assert_int_equal(crc32_of_byte(c), crc32_of(&c, 1));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_zlib),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_concatenation),
        cmocka_unit_test(test_one_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
