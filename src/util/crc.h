/*
 * crc.h: CRC-32 as DynamoDB's x-amz-crc32 header carries it (zlib's CRC-32,
 * IEEE polynomial), over whole bodies or stored values, and the CRC of a
 * concatenation from the CRCs of its parts.
 */
#ifndef DDBX_UTIL_CRC_H
#define DDBX_UTIL_CRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

static inline uint32_t crc32_of(const void *data, size_t len)
{
    return (uint32_t)crc32(0, (const Bytef *)data, (uInt)len);
}

extern const z_crc_t *crc_byte_table; /* zlib's byte table (get_crc_table), set at load */

/* crc32_of(&b, 1) from the table, without a call into zlib. */
static inline uint32_t crc32_of_byte(unsigned char b)
{
    return (uint32_t)crc_byte_table[b ^ 0xff] ^ 0xff000000u;
}

/* crc32_combine_op(crc1, crc2, op) as zlib computes it, op being
 * crc32_combine_gen64(len2): the CRC of A B from crc1 = crc(A) and
 * crc2 = crc(B). zlib multiplies bit by bit (about 370 instructions, a
 * tenth of a BatchGetItem call's, one per item); with the CPU's carry-less
 * multiply (PCLMULQDQ) it is a multiply and four table steps. Same answer
 * either way (zlib's when the CPU has no PCLMULQDQ). */
uint32_t crc_combine_op(uint32_t crc1, uint32_t crc2, uint32_t op);
/* Whether crc_combine_op multiplies with PCLMULQDQ here (test_crc checks the
 * fast path is the one it compares with zlib). */
bool crc_combine_uses_clmul(void);

#endif
