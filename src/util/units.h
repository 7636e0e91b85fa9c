/*
 * units.h: parsing of the sizes and durations options take.
 * Sizes: a number with B, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB,
 * TB (powers of 1000); a bare number is bytes. Durations: a number with us,
 * ms, s, m, h; a bare number is seconds. Fractions are allowed ("1.5s").
 */
#ifndef DDBX_UTIL_UNITS_H
#define DDBX_UTIL_UNITS_H

#include <stdint.h>

/* Returns DDBX_OK and stores bytes, or DDBX_ERR if `s` is not a size. */
int units_parse_size(const char *s, uint64_t *bytes);
/* Returns DDBX_OK and stores milliseconds, or DDBX_ERR if `s` is not a duration. */
int units_parse_duration(const char *s, uint64_t *ms);

#endif
