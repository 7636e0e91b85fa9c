/*
 * test_number.c: DynamoDB numbers (proto/number.h): one canonical key per
 * decimal value whatever its text, the plain text DynamoDB stores, the
 * 38-digit and 1E-130..9.99E+125 limits, rejected texts, ordering, the
 * error messages, and a generated round-trip property.
 */
#include "proto_test.h"

#include "proto/number.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static int parse(const char *s, struct number *n)
{
    return number_parse(s, strlen(s), n);
}

static struct number num(const char *s)
{
    struct number n;
    int rc = parse(s, &n);
    if (rc != NUMBER_OK) print_error("number_parse(\"%s\") = %d\n", s, rc);
    assert_int_equal(rc, NUMBER_OK);
    return n;
}

static int status(const char *s)
{
    struct number n;
    return parse(s, &n);
}

struct nkey {
    size_t len;
    uint8_t b[NUMBER_KEY_MAX];
};

static struct nkey key_of(const char *s)
{
    struct number n = num(s);
    struct nkey k;
    k.len = number_key(&n, k.b);
    assert_in_range(k.len, 1, NUMBER_KEY_MAX);
    return k;
}

static bool same_key(const struct nkey *a, const struct nkey *b)
{
    return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

static void assert_same_key(const char *a, const char *b)
{
    struct nkey ka = key_of(a), kb = key_of(b);
    if (!same_key(&ka, &kb)) print_error("keys of \"%s\" and \"%s\" differ\n", a, b);
    assert_true(same_key(&ka, &kb));
}

/* The plain text of s, in a static buffer. */
static const char *fmt(const char *s)
{
    static char out[NUMBER_TEXT_MAX];
    struct number n = num(s);
    size_t len = number_format(&n, out);
    assert_int_equal(len, strlen(out));
    return out;
}

static int cmp(const char *a, const char *b)
{
    struct number na = num(a), nb = num(b);
    return number_compare(&na, &nb);
}

/* "1" or "-1" followed by n zeros, or "0." with n zeros then tail: built in buf. */
static const char *digits_then_zeros(char *buf, const char *head, size_t zeros, const char *tail)
{
    size_t h = strlen(head);
    memcpy(buf, head, h);
    memset(buf + h, '0', zeros);
    strcpy(buf + h + zeros, tail);
    return buf;
}

static const char DIGITS38[] = "12345678901234567890123456789012345678";
static const char DIGITS39[] = "123456789012345678901234567890123456789";

static void test_equal_forms_one_key(void **state)
{
    const char *ones[] = {
        "1",    "1.0",      "01",     "1E0",
        "1e0",  "+1",       "10E-1",  "0.1E1",
        "1.",   "001.000",  "100e-2", "1E+0",
        "1e-0", "0.001E+3", "1E00",   "10000000000000000000000000000000000000000000000000E-49"};
    for (size_t i = 0; i < ARRAY_LEN(ones); i++) {
        assert_same_key("1", ones[i]);
        assert_int_equal(cmp("1", ones[i]), 0);
        struct number n = num(ones[i]);
        assert_false(n.negative);
        assert_int_equal(n.ndigits, 1);
        assert_int_equal(n.digits[0], '1');
        assert_int_equal(n.exp, 0);
    }
    assert_same_key("-12.5", "-125E-1");
    assert_same_key("-12.5", "-0.0125e3");
    assert_same_key("-12.5", "-00012.50000");
    assert_same_key("123456789", "1.23456789E8");
    assert_same_key("0.000123", "1.23e-4");
}

static void test_zero_forms(void **state)
{
    const char *zeros[] = {"0",   "-0", "+0", "0.000", "0E99",           "0e-999",   "-0.0E-5",
                           "000", ".0", "0.", "-.0",   "0E999999999999", "00.00e+00"};
    struct nkey z = key_of("0");
    assert_int_equal(z.len, 1);
    for (size_t i = 0; i < ARRAY_LEN(zeros); i++) {
        struct number n = num(zeros[i]);
        assert_int_equal(n.ndigits, 0);
        assert_false(n.negative); /* -0 is 0 */
        assert_same_key("0", zeros[i]);
        assert_string_equal(fmt(zeros[i]), "0");
    }
    /* zero is not the smallest numbers around it */
    struct nkey small = key_of("1E-130"), nsmall = key_of("-1E-130");
    assert_false(same_key(&z, &small));
    assert_false(same_key(&z, &nsmall));
}

static void test_distinct_values(void **state)
{
    const char *vals[] = {
        "1",   "-1",  "10",     "0.1",   "2",      "11",
        "1.1", "-10", "-0.1",   "0",     "100",    "12",
        "21",  "1.2", "1E-130", "1E125", "-1E125", "9.9999999999999999999999999999999999999E125",
        "99",  "0.01"};
    for (size_t i = 0; i < ARRAY_LEN(vals); i++)
        for (size_t j = 0; j < ARRAY_LEN(vals); j++) {
            struct nkey a = key_of(vals[i]), b = key_of(vals[j]);
            if (same_key(&a, &b) != (i == j))
                print_error("\"%s\" vs \"%s\": same key %d\n", vals[i], vals[j], same_key(&a, &b));
            assert_int_equal(same_key(&a, &b), i == j);
            assert_int_equal(cmp(vals[i], vals[j]) == 0, i == j);
        }
}

static void test_parse_fields(void **state)
{
    struct number n = num("123.45");
    assert_false(n.negative);
    assert_int_equal(n.ndigits, 5);
    assert_memory_equal(n.digits, "12345", 5);
    assert_int_equal(n.exp, 2);

    n = num("-0.00120");
    assert_true(n.negative);
    assert_int_equal(n.ndigits, 2);
    assert_memory_equal(n.digits, "12", 2);
    assert_int_equal(n.exp, -3);

    n = num("1200");
    assert_int_equal(n.ndigits, 2);
    assert_int_equal(n.exp, 3);

    n = num("120E-5");
    assert_int_equal(n.ndigits, 2);
    assert_int_equal(n.exp, -3);

    n = num("1.0203E+2");
    assert_int_equal(n.ndigits, 5);
    assert_memory_equal(n.digits, "10203", 5);
    assert_int_equal(n.exp, 2);

    /* the length is honoured: no reading past it, no need for a NUL */
    assert_int_equal(number_parse("12", 1, &n), NUMBER_OK);
    assert_int_equal(n.ndigits, 1);
    assert_int_equal(n.exp, 0);
    assert_int_equal(number_parse("5e3xyz", 3, &n), NUMBER_OK);
    assert_int_equal(n.exp, 3);
    assert_int_equal(number_parse("1\0", 2, &n), NUMBER_EINVALID);
}

static void test_format(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"1E2", "100"},
        {"1.50", "1.5"},
        {"-0.000123", "-0.000123"},
        {"-1.23E-4", "-0.000123"},
        {"12345E-6", "0.012345"},
        {"0.0", "0"},
        {"+7", "7"},
        {"123.450", "123.45"},
        {"1.2345E2", "123.45"},
        {"-12E1", "-120"},
        {"0.5", "0.5"},
        {".5", "0.5"},
        {"5.", "5"},
        {"1E0", "1"},
        {"1.0", "1"},
        {"01", "1"},
        {"-3", "-3"},
        {"1E-1", "0.1"},
        {"123456", "123456"},
        {"12.3456E2", "1234.56"},
        {"1234.56E-2", "12.3456"},
        {"9.5", "9.5"},
        {"-9.05", "-9.05"},
        {"100.001", "100.001"},
        {"1e1", "10"},
        {DIGITS38, DIGITS38},
        {"1.2345678901234567890123456789012345678E37", DIGITS38},
        {"0.0012345678901234567890123456789012345678",
         "0.0012345678901234567890123456789012345678"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        assert_string_equal(fmt(cases[i].in), cases[i].out);

    char want[NUMBER_TEXT_MAX];
    /* 1E125: "1" and 125 zeros */
    assert_string_equal(fmt("1E125"), digits_then_zeros(want, "1", 125, ""));
    assert_int_equal(strlen(fmt("1E125")), 126);
    /* 1E-130: "0." then 129 zeros then "1" */
    assert_string_equal(fmt("1E-130"), digits_then_zeros(want, "0.", 129, "1"));
    assert_int_equal(strlen(fmt("1E-130")), 132);
    /* the widest numbers still fit NUMBER_TEXT_MAX */
    char nines[64];
    snprintf(nines, sizeof(nines), "-9.%.37sE125", "9999999999999999999999999999999999999");
    const char *big = fmt(nines);
    assert_int_equal(strlen(big), 1 + 126);
    assert_memory_equal(big, "-99999999999999999999999999999999999999", 39);
    assert_int_equal(strspn(big + 39, "0"), 88);
    const char *tiny = fmt("-1.2345678901234567890123456789012345678E-130");
    assert_int_equal(strlen(tiny), 3 + 129 + 38);
    assert_memory_equal(tiny, "-0.000", 6);
    assert_int_equal(strspn(tiny + 3, "0"), 129);
    assert_string_equal(tiny + 3 + 129, DIGITS38);
}

static void test_canonical_text(void **state)
{
    const char *yes[] = {"100", "0.5", "-3", "0", "1", "-0.000123", "123.45", DIGITS38};
    const char *no[] = {"1.0", "01",   "1E2", ".5",  "5.", "+7", "-0",    "0.0",    "00",
                        "1e0", "0.50", "-03", "abc", "",   " 1", "1E126", "1E-130", DIGITS39};
    for (size_t i = 0; i < ARRAY_LEN(yes); i++)
        assert_true(number_is_canonical_text(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < ARRAY_LEN(no); i++) {
        if (number_is_canonical_text(no[i], strlen(no[i])))
            print_error("\"%s\" canonical?\n", no[i]);
        assert_false(number_is_canonical_text(no[i], strlen(no[i])));
    }
    char buf[NUMBER_TEXT_MAX];
    assert_true(number_is_canonical_text(digits_then_zeros(buf, "0.", 129, "1"), 132));
    /* only the first len bytes count */
    assert_true(number_is_canonical_text("12.0", 2));
    assert_false(number_is_canonical_text("12.0", 4));
}

static void test_significant_digits(void **state)
{
    char buf[512];
    struct number n = num(DIGITS38);
    assert_int_equal(n.ndigits, 38);
    assert_memory_equal(n.digits, DIGITS38, 38);
    assert_int_equal(status(DIGITS39), NUMBER_EDIGITS);
    snprintf(buf, sizeof(buf), "-%s", DIGITS38);
    assert_int_equal(status(buf), NUMBER_OK);
    snprintf(buf, sizeof(buf), "-%s", DIGITS39);
    assert_int_equal(status(buf), NUMBER_EDIGITS);
    /* the point does not count */
    assert_int_equal(status("1234567890123456789.0123456789012345678"), NUMBER_OK);
    assert_int_equal(status("1234567890123456789.01234567890123456789"), NUMBER_EDIGITS);
    assert_int_equal(status("0.12345678901234567890123456789012345678"), NUMBER_OK);
    assert_int_equal(status("0.123456789012345678901234567890123456789"), NUMBER_EDIGITS);
    /* trailing zeros are not significant, before or after the point */
    snprintf(buf, sizeof(buf), "%s%s", DIGITS38,
             "00000000000000000000000000000000000000000000000000");
    n = num(buf);
    assert_int_equal(n.ndigits, 38);
    assert_int_equal(n.exp, 87);
    snprintf(buf, sizeof(buf), "%s.000000000000000000000", DIGITS38);
    assert_int_equal(num(buf).ndigits, 38);
    n = num(digits_then_zeros(buf, "1", 50, ""));
    assert_int_equal(n.ndigits, 1);
    assert_int_equal(n.exp, 50);
    n = num(digits_then_zeros(buf, "1", 100, ""));
    assert_int_equal(n.ndigits, 1);
    assert_int_equal(n.exp, 100);
    assert_int_equal(num(digits_then_zeros(buf, "1", 125, "")).exp, 125);
    /* 1 and 126 zeros fails on magnitude, not digits */
    assert_int_equal(status(digits_then_zeros(buf, "1", 126, "")), NUMBER_EOVERFLOW);
    assert_int_equal(num(digits_then_zeros(buf, "1.", 100, "")).ndigits, 1);
    /* zeros between significant digits do count */
    assert_int_equal(num(digits_then_zeros(buf, "1", 36, "1")).ndigits, 38);
    assert_int_equal(status(digits_then_zeros(buf, "1", 37, "1")), NUMBER_EDIGITS);
    assert_int_equal(status(digits_then_zeros(buf, "1.", 37, "1")), NUMBER_EDIGITS);
    /* leading zeros, before and after the point, do not */
    snprintf(buf, sizeof(buf), "0000000000000000000000000000000000000000000000%s", DIGITS38);
    assert_int_equal(num(buf).ndigits, 38);
    n = num(digits_then_zeros(buf, "0.", 60, DIGITS38));
    assert_int_equal(n.ndigits, 38);
    assert_int_equal(n.exp, -61);
    assert_int_equal(status(digits_then_zeros(buf, "0.", 60, DIGITS39)), NUMBER_EDIGITS);
    n = num(digits_then_zeros(buf, "0.", 91, DIGITS38)); /* 1.23...E-92, 38 digits */
    assert_int_equal(n.ndigits, 38);
    assert_int_equal(n.exp, -92);
    snprintf(buf, sizeof(buf), "%sE-50", DIGITS38);
    assert_int_equal(num(buf).ndigits, 38);
    snprintf(buf, sizeof(buf), "%sE-50", DIGITS39);
    assert_int_equal(status(buf), NUMBER_EDIGITS);
}

static void test_magnitude(void **state)
{
    char buf[512];
    struct number n;
    static const struct {
        const char *s;
        int rc;
    } cases[] = {
        {"9.9999999999999999999999999999999999999E125", NUMBER_OK},
        {"-9.9999999999999999999999999999999999999E125", NUMBER_OK},
        {"1E125", NUMBER_OK},
        {"1E126", NUMBER_EOVERFLOW},
        {"-1E126", NUMBER_EOVERFLOW},
        {"10E125", NUMBER_EOVERFLOW},
        {"0.1E126", NUMBER_OK},
        {"0.1E127", NUMBER_EOVERFLOW},
        {"0.000001E+131", NUMBER_OK},
        {"1E-130", NUMBER_OK},
        {"-1E-130", NUMBER_OK},
        {"1.5E-130", NUMBER_OK},
        {"9.9999999999999999999999999999999999999E-130", NUMBER_OK},
        {"10E-131", NUMBER_OK},
        {"100000E-135", NUMBER_OK},
        {"1E-131", NUMBER_EUNDERFLOW},
        {"-1E-131", NUMBER_EUNDERFLOW},
        {"0.1E-130", NUMBER_EUNDERFLOW},
        {"9.9E-131", NUMBER_EUNDERFLOW},
        {"1E999999999999999999", NUMBER_EOVERFLOW},
        {"1E-999999999999999999", NUMBER_EUNDERFLOW},
        {"0E999999999999999999", NUMBER_OK},
        {"0E-200", NUMBER_OK},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        int rc = status(cases[i].s);
        if (rc != cases[i].rc) print_error("\"%s\": %d, want %d\n", cases[i].s, rc, cases[i].rc);
        assert_int_equal(rc, cases[i].rc);
    }
    assert_int_equal(num("1E-130").exp, NUMBER_MIN_EXP);
    assert_int_equal(num("1E125").exp, NUMBER_MAX_EXP);
    /* written out in full */
    assert_int_equal(status(digits_then_zeros(buf, "0.", 129, "1")), NUMBER_OK);
    assert_int_equal(status(digits_then_zeros(buf, "0.", 130, "1")), NUMBER_EUNDERFLOW);
    assert_int_equal(status(digits_then_zeros(buf, "-0.", 130, "1")), NUMBER_EUNDERFLOW);
    /* an exponent that brings a long fraction back into range, exactly */
    assert_int_equal(num(digits_then_zeros(buf, "0.", 200, "1E+140")).exp, -61);
    assert_int_equal(num(digits_then_zeros(buf, "1", 200, "E-300")).exp, -100);
    assert_int_equal(status("1E1000"), NUMBER_EOVERFLOW);
    assert_int_equal(status("1E-1000"), NUMBER_EUNDERFLOW);
    assert_int_equal(num("1E+000000000000000000000000125").exp, 125);
    /* exponents far outside the range, balanced by as many zeros */
    size_t big = 100000;
    char *long_text = malloc(big + 32);
    assert_non_null(long_text);
    n = num(digits_then_zeros(long_text, "0.", big, "25E+100001"));
    assert_int_equal(n.exp, 0);
    assert_int_equal(n.ndigits, 2);
    assert_int_equal(num(digits_then_zeros(long_text, "-7", big, "E-100005")).exp, -5);
    assert_int_equal(status(digits_then_zeros(long_text, "0.", big, "1E+100127")),
                     NUMBER_EOVERFLOW);
    free(long_text);
}

static void test_rejects(void **state)
{
    const char *bad[] = {
        "",     " ",     " 1",    "1 ",    "abc",   "NaN", "nan",     "Infinity", "-Infinity",
        "inf",  "1e",    "1e+",   "1E-",   "e5",    "E",   ".",       "-",        "+",
        "1..2", "1.2.3", "0x10",  "1_000", "1,000", "--1", "+-1",     "-+1",      "1-",
        "1+",   "1e5.5", "1E5E5", "1 e5",  "1e 5",  "\t1", "1\n",     "1f",       "0b1",
        ".e1",  "-.",    "1e1.0", "12a",   "a12",   "1/2", "\xd9\xa1" /* ARABIC-INDIC DIGIT ONE */};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        int rc = status(bad[i]);
        if (rc != NUMBER_EINVALID) print_error("\"%s\": %d\n", bad[i], rc);
        assert_int_equal(rc, NUMBER_EINVALID);
    }
    struct number n;
    assert_int_equal(number_parse(NULL, 0, &n), NUMBER_EINVALID);
    /* text that is no number is that, however many digits come first */
    char buf[128];
    const char *tails[] = {"x", "e", "E+", " ", ".1.", "e5x", "NaN", "E1.5", "-"};
    for (size_t i = 0; i < ARRAY_LEN(tails); i++) {
        snprintf(buf, sizeof(buf), "%s%s", DIGITS39, tails[i]);
        assert_int_equal(status(buf), NUMBER_EINVALID);
    }
    snprintf(buf, sizeof(buf), "%sE5", DIGITS39);
    assert_int_equal(status(buf), NUMBER_EDIGITS);
}

static void test_compare(void **state)
{
    /* ascending; each entry greater than the one before */
    const char *asc[] = {"-1E125",
                         "-100",
                         "-99.9",
                         "-10",
                         "-2",
                         "-1.5",
                         "-1",
                         "-0.5",
                         "-0.1",
                         "-0.01",
                         "-1E-130",
                         "0",
                         "1E-130",
                         "0.0099",
                         "0.01",
                         "0.1",
                         "0.5",
                         "1",
                         "1.0000000000000000000000000000000000001",
                         "1.5",
                         "2",
                         "9",
                         "10",
                         "10.5",
                         "11",
                         "99",
                         "100",
                         "1E125",
                         "9.9999999999999999999999999999999999999E125"};
    for (size_t i = 0; i < ARRAY_LEN(asc); i++)
        for (size_t j = 0; j < ARRAY_LEN(asc); j++) {
            int c = cmp(asc[i], asc[j]);
            int want = i < j ? -1 : i > j ? 1 : 0;
            if ((c > 0) - (c < 0) != want) print_error("cmp(%s, %s) = %d\n", asc[i], asc[j], c);
            assert_int_equal((c > 0) - (c < 0), want);
        }
    /* equal values in different forms */
    assert_int_equal(cmp("1E2", "100.000"), 0);
    assert_int_equal(cmp("-0.5", "-5E-1"), 0);
    assert_int_equal(cmp("0", "-0.0E7"), 0);
    /* same exponent, digit strings of different lengths */
    assert_true(cmp("12", "12.5") < 0);
    assert_true(cmp("-12", "-12.5") > 0);
    assert_true(cmp("1.25", "1.3") < 0);
    assert_true(cmp("-1.25", "-1.3") > 0);
}

static void test_error_messages(void **state)
{
    assert_string_equal(number_error_message(NUMBER_EINVALID),
                        "The parameter cannot be converted to a numeric value");
    assert_string_equal(number_error_message(NUMBER_EDIGITS),
                        "Attempting to store more than 38 significant digits in a Number");
    assert_string_equal(number_error_message(NUMBER_EOVERFLOW),
                        "Number overflow. Attempting to store a number with magnitude larger "
                        "than supported range");
    assert_string_equal(number_error_message(NUMBER_EUNDERFLOW),
                        "Number underflow. Attempting to store a number with magnitude smaller "
                        "than supported range");
}

/* ---- generated numbers ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n) /* 0..n-1, xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32) % n;
}

static void add_zeros(char *s, size_t *o, uint32_t n)
{
    while (n--)
        s[(*o)++] = '0';
}

/* Random decimal text: sign, digits, point anywhere, optional exponent. */
static void random_text(char *s)
{
    size_t o = 0;
    uint32_t sign = rnd(3);
    if (sign) s[o++] = sign == 1 ? '-' : '+';
    uint32_t nd = 1 + rnd(45);
    uint32_t point = rnd(nd + 2); /* nd + 1: no point */
    for (uint32_t i = 0; i < nd; i++) {
        if (i == point) s[o++] = '.';
        /* zeros are common, to exercise leading, inner and trailing zeros */
        s[o++] = (char)(rnd(3) == 0 ? '0' : '0' + rnd(10));
    }
    if (point == nd) s[o++] = '.';
    if (rnd(2)) {
        s[o++] = rnd(2) ? 'e' : 'E';
        uint32_t es = rnd(3);
        if (es) s[o++] = es == 1 ? '-' : '+';
        o += (size_t)sprintf(s + o, "%u", rnd(140));
    }
    s[o] = '\0';
}

static void test_random_round_trip(void **state)
{
    char text[128], out[NUMBER_TEXT_MAX];
    int ok = 0;
    for (int i = 0; i < 5000; i++) {
        random_text(text);
        struct number a, b;
        int rc = parse(text, &a);
        assert_true(rc == NUMBER_OK || rc == NUMBER_EDIGITS || rc == NUMBER_EOVERFLOW ||
                    rc == NUMBER_EUNDERFLOW);
        if (rc != NUMBER_OK) continue;
        ok++;
        size_t len = number_format(&a, out);
        assert_int_equal(len, strlen(out));
        if (!number_is_canonical_text(out, len)) print_error("%s -> %s not canonical\n", text, out);
        assert_true(number_is_canonical_text(out, len));
        assert_int_equal(number_parse(out, len, &b), NUMBER_OK);
        uint8_t ka[NUMBER_KEY_MAX], kb[NUMBER_KEY_MAX];
        size_t la = number_key(&a, ka), lb = number_key(&b, kb);
        assert_int_equal(la, lb);
        assert_memory_equal(ka, kb, la);
        assert_int_equal(number_compare(&a, &b), 0);
        struct number back; /* the key bytes give the number back */
        assert_int_equal(number_from_key(ka, la, &back), NUMBER_OK);
        assert_int_equal(number_compare(&a, &back), 0);
        assert_int_equal(number_key(&back, kb), la);
        assert_memory_equal(ka, kb, la);
    }
    assert_true(ok > 2500); /* the generator must mostly make valid numbers */
    struct number n;        /* bytes number_key never writes */
    assert_int_equal(number_from_key((const uint8_t *)"", 0, &n), NUMBER_EINVALID);
    assert_int_equal(number_from_key((const uint8_t *)"x\x03\xe8"
                                                      "1",
                                     4, &n),
                     NUMBER_EINVALID);
    assert_int_equal(number_from_key((const uint8_t *)"+\x03\xe8"
                                                      "a",
                                     4, &n),
                     NUMBER_EINVALID);
    assert_int_equal(number_from_key((const uint8_t *)"z", 1, &n), NUMBER_OK);
    assert_int_equal(n.ndigits, 0);
}

/* Renders the value digits[0..nd) x 10^exp as random text with written
 * exponent x: padding zeros, a point somewhere, "e"/"E", signs. */
static void render(char *s, bool negative, const char *digits, int nd, int exp, int x)
{
    size_t o = 0;
    if (negative)
        s[o++] = '-';
    else if (rnd(4) == 0)
        s[o++] = '+';
    int k = exp - x - (nd - 1); /* value = digits (as an integer) x 10^k x 10^x */
    add_zeros(s, &o, rnd(3));
    if (k >= 0) {
        memcpy(s + o, digits, (size_t)nd);
        o += (size_t)nd;
        add_zeros(s, &o, (uint32_t)k);
        if (rnd(2)) {
            s[o++] = '.';
            add_zeros(s, &o, rnd(3));
        }
    } else if (-k < nd) {
        memcpy(s + o, digits, (size_t)(nd + k));
        o += (size_t)(nd + k);
        s[o++] = '.';
        memcpy(s + o, digits + nd + k, (size_t)-k);
        o += (size_t)-k;
        add_zeros(s, &o, rnd(3));
    } else {
        if (rnd(2)) s[o++] = '0';
        s[o++] = '.';
        add_zeros(s, &o, (uint32_t)(-k - nd));
        memcpy(s + o, digits, (size_t)nd);
        o += (size_t)nd;
        add_zeros(s, &o, rnd(3));
    }
    if (x != 0 || rnd(2))
        o += (size_t)sprintf(s + o, x >= 0 && rnd(2) ? "%c+%d" : "%c%d", rnd(2) ? 'e' : 'E', x);
    s[o] = '\0';
}

static void test_random_renderings_of_one_value(void **state)
{
    char digits[NUMBER_MAX_DIGITS + 1], text[512];
    for (int i = 0; i < 3000; i++) {
        int nd = 1 + (int)rnd(NUMBER_MAX_DIGITS);
        for (int d = 0; d < nd; d++)
            digits[d] = (char)('0' + rnd(10));
        digits[0] = (char)('1' + rnd(9));
        digits[nd - 1] = (char)('1' + rnd(9));
        bool negative = rnd(2);
        int exp = NUMBER_MIN_EXP + (int)rnd(NUMBER_MAX_EXP - NUMBER_MIN_EXP + 1);
        uint8_t first[NUMBER_KEY_MAX];
        size_t first_len = 0;
        for (int r = 0; r < 4; r++) {
            render(text, negative, digits, nd, exp, (int)rnd(61) - 30);
            struct number n;
            int rc = parse(text, &n);
            if (rc != NUMBER_OK) print_error("\"%s\": %d\n", text, rc);
            assert_int_equal(rc, NUMBER_OK);
            assert_int_equal(n.negative, negative);
            assert_int_equal(n.ndigits, nd);
            assert_int_equal(n.exp, exp);
            assert_memory_equal(n.digits, digits, (size_t)nd);
            uint8_t k[NUMBER_KEY_MAX];
            size_t kl = number_key(&n, k);
            if (r == 0) {
                memcpy(first, k, kl);
                first_len = kl;
            } else {
                assert_int_equal(kl, first_len);
                assert_memory_equal(k, first, kl);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_forms_one_key),
        cmocka_unit_test(test_zero_forms),
        cmocka_unit_test(test_distinct_values),
        cmocka_unit_test(test_parse_fields),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_canonical_text),
        cmocka_unit_test(test_significant_digits),
        cmocka_unit_test(test_magnitude),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_random_round_trip),
        cmocka_unit_test(test_random_renderings_of_one_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
