/*
 * common.h: conventions every module shares.
 *
 * Return codes follow twemproxy/libuv: 0 is OK, negatives are errors. Memory
 * for control structures comes from xmalloc() and friends, which abort on
 * exhaustion (h2o's policy): the cache bounds its own memory by budget, so an
 * allocation failure elsewhere means the process is already lost.
 */
#ifndef DDBX_UTIL_COMMON_H
#define DDBX_UTIL_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DDBX_OK 0
#define DDBX_ERR (-1)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif
#define UNUSED(x) ((void)(x))

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
