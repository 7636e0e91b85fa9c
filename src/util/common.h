/*
 * common.h: conventions every module shares.
 *
 * Return codes (twemproxy's rstatus_t, libuv's negative errno): a function
 * that can fail returns int, DDBX_OK (0) on success and a negative code
 * otherwise: DDBX_ERR, or a module's enum of negatives when callers must tell
 * failures apart (HTTP_EBODY, CONFIG_ERROR, ...). Outcomes that are not
 * errors but stop the normal path are negative too, as libuv's UV_EOF is
 * (HTTP_NEED_MORE, CONFIG_HELP). Never a positive status, never 1/0 for
 * success/failure. The exceptions, each documented where declared:
 *   - predicates return bool and are named as questions (cache_fill_valid,
 *     server_stopped);
 *   - lookups return a pointer (NULL: absent) or a count/size;
 *   - classifiers return an enum of kinds, not of errors (cache_get's
 *     enum cache_kind);
 *   - callbacks a library calls follow that library's contract (http_parser
 *     and libcurl callbacks return what those libraries expect).
 * Test a result with `< 0` (or against the named code), never `== -1`.
 *
 * Memory for control structures comes from xmalloc() and friends, which abort
 * on exhaustion (h2o's policy): the cache bounds its own memory by budget, so
 * an allocation failure elsewhere means the process is already lost.
 *
 * Magic numbers (Varnish's CHECK_OBJ): a struct that comes back through a
 * void * (libuv handle->data, a libcurl private pointer) starts with a
 * uint32_t magic field, set when it is created and cleared when it is freed;
 * each callback checks it with CHECK_MAGIC before use. The check is an
 * assert(): it runs in Debug builds (the ASan build) and is compiled out with
 * NDEBUG (CMake's Release and RelWithDebInfo, the default build).
 */
#ifndef DDBX_UTIL_COMMON_H
#define DDBX_UTIL_COMMON_H

#include <assert.h>
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

/* Asserts that ptr is not NULL and ptr->magic == m (debug builds only). */
#define CHECK_MAGIC(ptr, m) assert((ptr) != NULL && (ptr)->magic == (m))

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
