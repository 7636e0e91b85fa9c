/*
 * buf.h: a growable byte buffer (owned memory, always NUL-terminated so its
 * contents can be logged or parsed as text). Growth aborts on exhaustion.
 */
#ifndef DDBX_UTIL_BUF_H
#define DDBX_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

struct buf {
    char *data; /* owned; NULL until the first append */
    size_t len;
    size_t cap;
};

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void buf_init(struct buf *b);
/* Grows the memory to hold `need` bytes (the terminating NUL included). */
void buf_grow(struct buf *b, size_t need);

/* Makes room for `extra` more bytes (plus the terminating NUL). */
static inline void buf_reserve(struct buf *b, size_t extra)
{
    if (b->len + extra + 1 > b->cap) buf_grow(b, b->len + extra + 1);
}

/* The appends are inline: composing an answer or a cache key makes many
 * small ones, where a call cost as much as the copy (callgrind). */
static inline void buf_append(struct buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static inline void buf_append_str(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

static inline void buf_append_char(struct buf *b, char c)
{
    buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Drops the first `n` bytes, keeping the rest (used for pipelined input). */
void buf_consume(struct buf *b, size_t n);
/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Frees the memory; the buffer is empty and reusable afterwards. */
void buf_free(struct buf *b);
/* Moves src's memory into dst (dst's old memory is freed); src becomes empty. */
void buf_move(struct buf *dst, struct buf *src);

#endif
