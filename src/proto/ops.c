/*
 * ops.c: the operations table and lookup by X-Amz-Target. Lookup hashes the
 * target into a small open-addressing table built on first use, so the
 * dispatcher pays one hash and one memcmp per request.
 */
#include "proto/ops.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "util/hash.h"

static const struct op table[OP_COUNT] = {
#define OP(prefix, name, cls, handler, describes, note)                                            \
    {OP_##prefix##_##name,                                                                         \
     #name,                                                                                        \
     #prefix "." #name,                                                                            \
     OPC_##cls,                                                                                    \
     describes[0] == '-' ? NULL : describes,                                                       \
     note},
#include "operations.def"
#undef OP
};

const char *const ops_names[OP_COUNT] = {
#define OP(prefix, name, cls, handler, describes, note) #name,
#include "operations.def"
#undef OP
};

#define SLOTS 256 /* power of two, well above OP_COUNT */
static const struct op *slots[SLOTS];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build(void)
{
    for (int i = 0; i < OP_COUNT; i++) {
        uint32_t h = hash_fnv1a(table[i].target, strlen(table[i].target)) & (SLOTS - 1);
        while (slots[h])
            h = (h + 1) & (SLOTS - 1);
        slots[h] = &table[i];
    }
}

const struct op *ops_lookup(const char *target, size_t len)
{
    pthread_once(&once, build);
    for (uint32_t h = hash_fnv1a(target, len) & (SLOTS - 1); slots[h]; h = (h + 1) & (SLOTS - 1))
        if (strlen(slots[h]->target) == len && memcmp(slots[h]->target, target, len) == 0)
            return slots[h];
    return NULL;
}

const struct op *ops_get(enum op_id id)
{
    return &table[id];
}
