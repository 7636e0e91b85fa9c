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
 * (zlib's own table, get_crc_table), so four steps reduce L.
 */
#include "util/crc.h"

#include <stdbool.h>

static const z_crc_t *table;
static bool has_clmul;

/* Set once at load, before any thread reads them. */
__attribute__((constructor)) static void crc_init(void)
{
    table = get_crc_table();
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
    for (int i = 0; i < 4; i++)
        lo = (lo >> 8) ^ (uint32_t)table[lo & 0xff];
    return (uint32_t)(r >> 32) ^ lo ^ crc2;
}
#endif

uint32_t crc_combine_op(uint32_t crc1, uint32_t crc2, uint32_t op)
{
#if defined(__x86_64__)
    if (has_clmul) return combine_clmul(crc1, crc2, op);
#endif
    return (uint32_t)crc32_combine_op(crc1, crc2, op);
}
