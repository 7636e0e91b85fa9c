/*
 * crc.h: CRC-32 as DynamoDB's x-amz-crc32 header carries it (zlib's CRC-32,
 * IEEE polynomial), over whole bodies or stored values.
 */
#ifndef DDBX_UTIL_CRC_H
#define DDBX_UTIL_CRC_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

static inline uint32_t crc32_of(const void *data, size_t len)
{
    return (uint32_t)crc32(0, (const Bytef *)data, (uInt)len);
}

#endif
