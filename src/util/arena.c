/* arena.c: the bump allocator. Blocks grow to fit large requests. */
#include "util/arena.h"

#include <stdlib.h>
#include <string.h>

#include "util/common.h"

#define ARENA_BLOCK 16384
#define ARENA_ALIGN 16

struct arena_block {
    struct arena_block *next;
    size_t size; /* usable bytes after the header */
    _Alignas(16) char data[];
};

void arena_init(struct arena *a)
{
    a->head = NULL;
    a->used = 0;
}

void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (!a->head || a->used + n > a->head->size) {
        size_t size = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        struct arena_block *b = xmalloc(sizeof(*b) + size);
        b->size = size;
        b->next = a->head;
        a->head = b;
        a->used = 0;
    }
    void *p = a->head->data + a->used;
    a->used += n;
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void arena_reset(struct arena *a)
{
    if (!a->head) return;
    /* keep the oldest block (the first allocated, normally ARENA_BLOCK) */
    struct arena_block *b = a->head;
    while (b->next) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = b;
    a->used = 0;
}

void arena_free(struct arena *a)
{
    while (a->head) {
        struct arena_block *next = a->head->next;
        free(a->head);
        a->head = next;
    }
    a->used = 0;
}

void *arena_grow_array(struct arena *a, void *arr, unsigned n, unsigned *cap, size_t sz)
{
    if (n < *cap) return arr;
    unsigned ncap = *cap ? *cap * 2 : 16;
    void *bigger = arena_alloc(a, sz * ncap);
    if (n) memcpy(bigger, arr, sz * n);
    *cap = ncap;
    return bigger;
}
