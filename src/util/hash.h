/*
 * hash.h: FNV-1a, for the small fixed tables (operations by target, table
 * schemas by name) where a short, dependency-free hash is enough. The item
 * cache uses xxHash (XXH3) instead, for its quality on many keys.
 */
#ifndef DDBX_UTIL_HASH_H
#define DDBX_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t hash_fnv1a(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

#endif
