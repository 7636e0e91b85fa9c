/*
 * clock.h: time sources. Monotonic time measures latency and ages cache
 * entries; wall time stamps logs and the HTTP Date header.
 */
#ifndef DDBX_UTIL_CLOCK_H
#define DDBX_UTIL_CLOCK_H

#include <stddef.h>
#include <stdint.h>

uint64_t clock_mono_ns(void);
uint64_t clock_mono_ms(void);
uint64_t clock_wall_ms(void);
/* Writes an RFC 7231 date ("Thu, 26 Nov 2026 04:20:23 GMT") for wall time `sec`. */
size_t clock_http_date(char *out, size_t outlen, int64_t sec);

#endif
