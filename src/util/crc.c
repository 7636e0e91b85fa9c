/*
 * crc.c: crc_combine_op, zlib's crc32_combine_op with a carry-less multiply.
 *
 * zlib keeps CRCs reflected: bit 31 is the coefficient of x^0, bit 0 that of
 * x^31, and crc32_combine_op(crc1, crc2, op) = op(x) * crc1(x) mod P(x) ^ crc2
 * with op = x^(8 len2) mod P. For reflected a and b, the 64-bit carry-less
 * product shifted left by one holds a(x) b(x) with bit 63 - k the
 * coefficient of x^k: its high half is the product's x^0..x^31 part, its low
 * half L the x^32..x^63 part, i.e. L(x) x^32, and multiplying a reflected
 * register by x^8 mod P is one step of the byte-wise CRC with a zero byte
 * (zlib's own table, get_crc_table), so four steps reduce L; they are taken
 * at once with four tables derived from zlib's (the slice-by-4 tables: entry
 * b of table k is b's byte followed by k zero bytes), whose lookups do not
 * wait for one another.
 */
#include "util/crc.h"

#include <stdbool.h>

static uint32_t slice[4][256];
static bool has_clmul;
const z_crc_t *crc_byte_table;

/* Set once at load, before any thread reads them. */
__attribute__((constructor)) static void crc_init(void)
{
    crc_byte_table = get_crc_table();
    for (int b = 0; b < 256; b++) {
        slice[0][b] = (uint32_t)crc_byte_table[b];
        for (int k = 1; k < 4; k++)
            slice[k][b] = (slice[k - 1][b] >> 8) ^ (uint32_t)crc_byte_table[slice[k - 1][b] & 0xff];
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    has_clmul = __builtin_cpu_supports("pclmul");
#endif
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("pclmul,sse2"))) static uint32_t combine_clmul(uint32_t crc1, uint32_t crc2,
                                                                     uint32_t op)
{
    __m128i p = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)op), _mm_cvtsi32_si128((int)crc1), 0);
    uint64_t r = (uint64_t)_mm_cvtsi128_si64(p) << 1;
    uint32_t lo = (uint32_t)r;
    lo = slice[3][lo & 0xff] ^ slice[2][(lo >> 8) & 0xff] ^ slice[1][(lo >> 16) & 0xff] ^
         slice[0][lo >> 24];
    return (uint32_t)(r >> 32) ^ lo ^ crc2;
}
#endif

bool crc_combine_uses_clmul(void)
{
    return has_clmul;
}

uint32_t crc_combine_op(uint32_t crc1, uint32_t crc2, uint32_t op)
{
#if defined(__x86_64__)
    if (has_clmul) return combine_clmul(crc1, crc2, op);
#endif
    return (uint32_t)crc32_combine_op(crc1, crc2, op);
}
