/*
 * units.c: size and duration parsing. The number is read digit by digit into
 * an integer count of thousandths, so "1.5GiB" is exact and nothing goes
 * through strtod's locale or rounding.
 */
#include "util/units.h"

#include <string.h>

#include "util/common.h"

struct unit {
    const char *name;
    uint64_t mult; /* for durations: microseconds per unit */
};

/* Parses "<digits>[.<digits>]" into thousandths; returns the characters
 * used, or DDBX_ERR. */
static int parse_milli(const char *s, uint64_t *milli)
{
    uint64_t whole = 0, frac = 0;
    int i = 0, fd = 0;
    if (s[0] < '0' || s[0] > '9') return DDBX_ERR;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (whole > (UINT64_MAX / 10000)) return DDBX_ERR;
        whole = whole * 10 + (uint64_t)(s[i] - '0');
    }
    if (s[i] == '.') {
        i++;
        if (s[i] < '0' || s[i] > '9') return DDBX_ERR;
        for (; s[i] >= '0' && s[i] <= '9'; i++, fd++)
            if (fd < 3) frac = frac * 10 + (uint64_t)(s[i] - '0');
        for (; fd < 3; fd++)
            frac *= 10;
    }
    *milli = whole * 1000 + frac;
    return i;
}

static int parse_with_units(const char *s, const struct unit *units, uint64_t dflt, uint64_t *out)
{
    uint64_t milli;
    int n = parse_milli(s, &milli);
    if (n < 0) return DDBX_ERR;
    const char *suffix = s + n;
    uint64_t mult = 0;
    if (*suffix == '\0') {
        mult = dflt;
    } else {
        for (const struct unit *u = units; u->name; u++) {
            if (strcmp(suffix, u->name) == 0) {
                mult = u->mult;
                break;
            }
        }
        if (!mult) return DDBX_ERR;
    }
    if (milli && mult > UINT64_MAX / milli) return DDBX_ERR;
    *out = milli * mult / 1000;
    return DDBX_OK;
}

int units_parse_size(const char *s, uint64_t *bytes)
{
    static const struct unit units[] = {{"B", 1},
                                        {"KiB", 1ull << 10},
                                        {"MiB", 1ull << 20},
                                        {"GiB", 1ull << 30},
                                        {"TiB", 1ull << 40},
                                        {"KB", 1000},
                                        {"MB", 1000000},
                                        {"GB", 1000000000},
                                        {"TB", 1000000000000ull},
                                        {"k", 1ull << 10},
                                        {"K", 1ull << 10},
                                        {"M", 1ull << 20},
                                        {"G", 1ull << 30},
                                        {NULL, 0}};
    return parse_with_units(s, units, 1, bytes);
}

int units_parse_duration(const char *s, uint64_t *ms)
{
    static const struct unit units[] = {{"us", 1},       {"ms", 1000},         {"s", 1000000},
                                        {"m", 60000000}, {"h", 3600000000ull}, {NULL, 0}};
    uint64_t us;
    if (parse_with_units(s, units, 1000000, &us) < 0) return DDBX_ERR;
    *ms = us / 1000;
    return DDBX_OK;
}
