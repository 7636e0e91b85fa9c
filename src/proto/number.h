/*
 * number.h: DynamoDB numbers as decimal values.
 *
 * DynamoDB numbers are strings of up to 38 significant digits with a
 * magnitude from 1E-130 to 9.99...E+125. "1", "1.0", "01" and "1E0" are the
 * same number, hence the same key. Numbers are never converted to double:
 * a number is parsed into sign, significant digits and exponent, and from
 * that come its canonical key bytes and the plain text DynamoDB stores.
 * No Debian library does DynamoDB's decimal rules (libmpdec rounds to a
 * context and has no notion of the 38-digit limit), so this is written here.
 */
#ifndef DDBX_PROTO_NUMBER_H
#define DDBX_PROTO_NUMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NUMBER_MAX_DIGITS 38
#define NUMBER_MAX_EXP 125  /* largest power of ten of the leading digit */
#define NUMBER_MIN_EXP -130 /* smallest */
/* Plain text of the widest number: sign, "0." and 129 zeros, 38 digits. */
#define NUMBER_TEXT_MAX 192
#define NUMBER_KEY_MAX (1 + 2 + NUMBER_MAX_DIGITS)

struct number {
    bool negative;
    uint8_t ndigits;                /* 0 for zero */
    int16_t exp;                    /* value = d0.d1d2... x 10^exp */
    char digits[NUMBER_MAX_DIGITS]; /* '0'..'9', no leading or trailing zeros */
};

enum number_status {
    NUMBER_OK = 0,
    NUMBER_EINVALID = -1,   /* not a number: text, NaN, Infinity, spaces, empty */
    NUMBER_EDIGITS = -2,    /* more than 38 significant digits */
    NUMBER_EOVERFLOW = -3,  /* magnitude above 9.99...E+125 */
    NUMBER_EUNDERFLOW = -4, /* magnitude below 1E-130 (and not zero) */
};

/* Parses s[0..len). Returns a number_status. */
int number_parse(const char *s, size_t len, struct number *out);
/* DynamoDB's ValidationException message for a parse failure (proto/messages.tsv). */
const char *number_error_message(int status);
/* Canonical bytes for keys: equal numbers give equal bytes. Returns length. */
size_t number_key(const struct number *n, uint8_t out[NUMBER_KEY_MAX]);
/* The number whose canonical bytes number_key() wrote to k[0..len).
 * Returns NUMBER_OK, or NUMBER_EINVALID for bytes it cannot have written. */
int number_from_key(const uint8_t *k, size_t len, struct number *out);
/* Plain decimal text, as DynamoDB stores and returns it ("100", "0.5", "-3").
 * Returns the length (out is NUL-terminated). */
size_t number_format(const struct number *n, char out[NUMBER_TEXT_MAX]);
/* True when s[0..len) is a valid number already written in that form. */
bool number_is_canonical_text(const char *s, size_t len);
/* Compares two numbers by value: <0, 0, >0. */
int number_compare(const struct number *a, const struct number *b);

#endif
