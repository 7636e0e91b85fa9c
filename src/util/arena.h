/*
 * arena.h: a bump allocator for per-request data (the parsed JSON tree, keys,
 * composed fragments). Everything is freed at once by arena_reset(); the first
 * block is kept so a steady stream of small requests allocates nothing.
 */
#ifndef DDBX_UTIL_ARENA_H
#define DDBX_UTIL_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
    struct arena_block *head; /* newest block first */
    size_t used;              /* bytes handed out from head */
};

void arena_init(struct arena *a);
/* Returns n bytes aligned to 16, valid until arena_reset()/arena_free(). */
void *arena_alloc(struct arena *a, size_t n);
/* Copies s[0..n) and NUL-terminates it. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* An array of n elements of size sz (room for *cap) with room for one more:
 * arr itself, or a copy twice as large (the old one stays until reset). */
void *arena_grow_array(struct arena *a, void *arr, unsigned n, unsigned *cap, size_t sz);
void arena_reset(struct arena *a);
void arena_free(struct arena *a);

#endif
