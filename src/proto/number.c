/*
 * number.c: decimal parsing without floating point. The exponent is tracked
 * as an integer while digits are read, so "0.000...001E+140" is exact.
 */
#include "proto/number.h"

#include <string.h>

#include "proto/errors.h"

int number_parse(const char *s, size_t len, struct number *out)
{
    memset(out, 0, sizeof(*out));
    size_t i = 0;
    if (i < len && (s[i] == '-' || s[i] == '+')) out->negative = s[i++] == '-';
    bool seen_digit = false, seen_point = false, seen_sig = false;
    int64_t int_digits = 0; /* digits before the point */
    int64_t frac_index = 0; /* digits after the point so far */
    int64_t lead_power = 0; /* power of ten of the first significant digit */
    bool lead_in_int = false;
    int64_t lead_int_index = 0;
    int nsig = 0, trailing = 0;
    bool too_many = false; /* over 38 significant digits: said once the text is valid */
    char sig[NUMBER_MAX_DIGITS];
    for (; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (seen_point) return NUMBER_EINVALID;
            seen_point = true;
            continue;
        }
        if (c < '0' || c > '9') break;
        seen_digit = true;
        if (!seen_sig && c != '0') {
            seen_sig = true;
            lead_in_int = !seen_point;
            lead_int_index = int_digits;
            lead_power = -(frac_index + 1);
        }
        if (seen_point)
            frac_index++;
        else
            int_digits++;
        if (!seen_sig) continue;
        if (c == '0') {
            trailing++; /* significant only if a non-zero digit follows */
            continue;
        }
        if (too_many || nsig + trailing + 1 > NUMBER_MAX_DIGITS) {
            too_many = true;
            trailing = 0;
            continue;
        }
        for (; trailing; trailing--)
            sig[nsig++] = '0';
        sig[nsig++] = c;
    }
    if (!seen_digit) return NUMBER_EINVALID;
    int64_t exp10 = 0;
    if (i < len) {
        if (s[i] != 'e' && s[i] != 'E') return NUMBER_EINVALID;
        i++;
        bool neg = false;
        if (i < len && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
        if (i >= len) return NUMBER_EINVALID;
        for (; i < len; i++) {
            if (s[i] < '0' || s[i] > '9') return NUMBER_EINVALID;
            if (exp10 < 1000000) exp10 = exp10 * 10 + (s[i] - '0');
        }
        if (neg) exp10 = -exp10;
    }
    if (too_many) return NUMBER_EDIGITS;
    if (nsig == 0) { /* zero, whatever its sign or exponent */
        out->negative = false;
        return NUMBER_OK;
    }
    if (lead_in_int) lead_power = int_digits - 1 - lead_int_index;
    int64_t e = lead_power + exp10;
    if (e > NUMBER_MAX_EXP) return NUMBER_EOVERFLOW;
    if (e < NUMBER_MIN_EXP) return NUMBER_EUNDERFLOW;
    out->exp = (int16_t)e;
    out->ndigits = (uint8_t)nsig;
    memcpy(out->digits, sig, (size_t)nsig);
    return NUMBER_OK;
}

const char *number_error_message(int status)
{
    switch (status) {
    case NUMBER_EDIGITS: return ddb_msg_text(MSG_number_digits);
    case NUMBER_EOVERFLOW: return ddb_msg_text(MSG_number_overflow);
    case NUMBER_EUNDERFLOW: return ddb_msg_text(MSG_number_underflow);
    default: return ddb_msg_text(MSG_number_invalid);
    }
}

size_t number_key(const struct number *n, uint8_t out[NUMBER_KEY_MAX])
{
    if (n->ndigits == 0) {
        out[0] = 'z';
        return 1;
    }
    out[0] = n->negative ? '-' : '+';
    uint16_t e = (uint16_t)(n->exp + 1000); /* biased, never negative */
    out[1] = (uint8_t)(e >> 8);
    out[2] = (uint8_t)e;
    memcpy(out + 3, n->digits, n->ndigits);
    return 3u + n->ndigits;
}

int number_from_key(const uint8_t *k, size_t len, struct number *out)
{
    memset(out, 0, sizeof(*out));
    if (len == 1 && k[0] == 'z') return NUMBER_OK;
    if (len < 4 || len > NUMBER_KEY_MAX || (k[0] != '+' && k[0] != '-')) return NUMBER_EINVALID;
    out->negative = k[0] == '-';
    out->exp = (int16_t)(((int)k[1] << 8 | k[2]) - 1000);
    out->ndigits = (uint8_t)(len - 3);
    memcpy(out->digits, k + 3, len - 3);
    for (size_t i = 0; i < len - 3; i++)
        if (k[3 + i] < '0' || k[3 + i] > '9') return NUMBER_EINVALID;
    return NUMBER_OK;
}

size_t number_format(const struct number *n, char out[NUMBER_TEXT_MAX])
{
    size_t o = 0;
    if (n->ndigits == 0) {
        out[0] = '0';
        out[1] = '\0';
        return 1;
    }
    if (n->negative) out[o++] = '-';
    int nd = n->ndigits, e = n->exp;
    if (e < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int z = 0; z < -e - 1; z++)
            out[o++] = '0';
        memcpy(out + o, n->digits, (size_t)nd);
        o += (size_t)nd;
    } else if (e >= nd - 1) {
        memcpy(out + o, n->digits, (size_t)nd);
        o += (size_t)nd;
        for (int z = 0; z < e - (nd - 1); z++)
            out[o++] = '0';
    } else {
        memcpy(out + o, n->digits, (size_t)e + 1);
        o += (size_t)e + 1;
        out[o++] = '.';
        memcpy(out + o, n->digits + e + 1, (size_t)(nd - e - 1));
        o += (size_t)(nd - e - 1);
    }
    out[o] = '\0';
    return o;
}

bool number_is_canonical_text(const char *s, size_t len)
{
    struct number n;
    char text[NUMBER_TEXT_MAX];
    if (number_parse(s, len, &n) != NUMBER_OK) return false;
    size_t tl = number_format(&n, text);
    return tl == len && memcmp(text, s, len) == 0;
}

int number_compare(const struct number *a, const struct number *b)
{
    int sa = a->ndigits == 0 ? 0 : a->negative ? -1 : 1;
    int sb = b->ndigits == 0 ? 0 : b->negative ? -1 : 1;
    if (sa != sb) return sa < sb ? -1 : 1;
    if (sa == 0) return 0;
    int mag;
    if (a->exp != b->exp) {
        mag = a->exp < b->exp ? -1 : 1;
    } else {
        int n = a->ndigits < b->ndigits ? a->ndigits : b->ndigits;
        mag = memcmp(a->digits, b->digits, (size_t)n);
        if (mag == 0) mag = a->ndigits - b->ndigits;
        mag = mag < 0 ? -1 : mag > 0;
    }
    return sa < 0 ? -mag : mag;
}
