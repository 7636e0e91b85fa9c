/*
 * fuzz_number.c: DynamoDB number parsing (src/proto/number.h).
 *
 * Checked, besides ASan/UBSan:
 * - a parsed number has 1..38 digits without leading or trailing zeros (or
 *   none, for zero) and an exponent within DynamoDB's range;
 * - its plain text (number_format) parses back to the same key bytes, is
 *   canonical, and compares equal to the original;
 * - number_is_canonical_text agrees with "formats to itself".
 */
#include <string.h>

#include "fuzz.h"
#include "proto/number.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct number n, m;
    int rc = number_parse(s, size, &n);
    FUZZ_CHECK(rc <= 0 && rc >= NUMBER_EUNDERFLOW);
    if (rc != NUMBER_OK) {
        FUZZ_CHECK(!number_is_canonical_text(s, size));
        return 0;
    }
    FUZZ_CHECK(n.ndigits <= NUMBER_MAX_DIGITS);
    if (n.ndigits) {
        FUZZ_CHECK(n.digits[0] != '0' && n.digits[n.ndigits - 1] != '0');
        FUZZ_CHECK(n.exp >= NUMBER_MIN_EXP && n.exp <= NUMBER_MAX_EXP);
    } else {
        FUZZ_CHECK(!n.negative);
    }
    char text[NUMBER_TEXT_MAX];
    size_t len = number_format(&n, text);
    FUZZ_CHECK(len < NUMBER_TEXT_MAX && text[len] == '\0');
    FUZZ_CHECK(number_parse(text, len, &m) == NUMBER_OK);
    uint8_t k1[NUMBER_KEY_MAX], k2[NUMBER_KEY_MAX];
    size_t l1 = number_key(&n, k1), l2 = number_key(&m, k2);
    FUZZ_CHECK(l1 == l2 && memcmp(k1, k2, l1) == 0);
    FUZZ_CHECK(number_compare(&n, &m) == 0);
    FUZZ_CHECK(number_is_canonical_text(text, len));
    FUZZ_CHECK(number_is_canonical_text(s, size) == (len == size && memcmp(text, s, size) == 0));
    return 0;
}
