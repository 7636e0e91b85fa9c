/*
 * http_header.h: one HTTP header as the network layer hands it to the layers
 * above (handlers, request authentication): borrowed pointers into the
 * connection's header buffer, valid until the request's reply is sent.
 */
#ifndef DDBX_UTIL_HTTP_HEADER_H
#define DDBX_UTIL_HTTP_HEADER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

struct http_header {
    const char *name;  /* lower-case, NUL-terminated */
    const char *value; /* NUL-terminated */
    uint32_t name_len, value_len;
};

/* The value of the first header named `name` (case-insensitive) in h[0..n),
 * or NULL; *len (if not NULL) gets its length. */
static inline const char *http_header_find(const struct http_header *h, int n, const char *name,
                                           size_t *len)
{
    size_t nl = strlen(name);
    for (int i = 0; i < n; i++)
        if (h[i].name_len == nl && strncasecmp(h[i].name, name, nl) == 0) {
            if (len) *len = h[i].value_len;
            return h[i].value;
        }
    return NULL;
}

#endif
