/*
 * attr.c: AttributeValue checks and sizes. Sizes follow the DynamoDB
 * Developer Guide's rules (item size calculation): strings by UTF-8 bytes,
 * numbers about one byte per two significant digits plus one, binary by
 * decoded bytes, one byte for BOOL and NULL, three bytes plus one per
 * element for M and L.
 */
#include "proto/attr.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/number.h"

static int fail(struct attr_error *err, enum ddb_error code, const char *fmt, ...)
{
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

const struct json *attr_type_member(const struct json *v)
{
    if (!v || v->type != JSON_OBJECT || v->len != 1) return NULL;
    return v->child;
}

long attr_base64_length(const char *s, size_t len)
{
    if (len % 4) return -1;
    size_t pad = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '=' && i >= len - 2) {
            pad++;
            continue;
        }
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/';
        if (!ok || pad) return -1; /* no data after padding */
    }
    return (long)(len / 4 * 3 - pad);
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : 63;
}

bool attr_base64_canonical(const char *s, size_t len)
{
    if (attr_base64_length(s, len) < 0) return false;
    if (len == 0 || s[len - 1] != '=') return true;
    /* the bits padding leaves unused must be zero, else another text decodes
     * to the same bytes ("QR==" and "QQ==") */
    bool two = s[len - 2] == '=';
    int last = b64_value(s[len - (two ? 3 : 2)]);
    return (last & (two ? 0x0f : 0x03)) == 0;
}

long attr_base64_decode(const char *s, size_t len, unsigned char *out)
{
    long n = attr_base64_length(s, len);
    if (n <= 0) return n;
    /* EVP_DecodeBlock counts the padding as zero bytes; drop them */
    return EVP_DecodeBlock(out, (const unsigned char *)s, (int)len) < 0 ? -1 : n;
}

void attr_number_error(struct attr_error *err, int status, const char *s, size_t len)
{
    if (status == NUMBER_EINVALID && len > 0)
        fail(err, DDB_ValidationException, "%s: %.*s", number_error_message(status), (int)len, s);
    else
        fail(err, DDB_ValidationException, "%s", number_error_message(status));
}

static int check_string(const struct json *v, const char *type, struct attr_error *err)
{
    if (v->type != JSON_STRING)
        return fail(err, DDB_SerializationException,
                    "Unexpected value type in payload: %s must be a string", type);
    return 0;
}

static int check_number(const struct json *v, struct attr_check *out, struct attr_error *err)
{
    if (check_string(v, "N", err) < 0) return -1;
    struct number n;
    int rc = number_parse(v->str, v->len, &n);
    if (rc != NUMBER_OK) {
        attr_number_error(err, rc, v->str, v->len);
        return -1;
    }
    if (!number_is_canonical_text(v->str, v->len)) out->canonical = false;
    out->size += (size_t)(n.ndigits + 1) / 2 + 1;
    return 0;
}

static int check_binary(const struct json *v, struct attr_check *out, struct attr_error *err)
{
    if (check_string(v, "B", err) < 0) return -1;
    long n = attr_base64_length(v->str, v->len);
    if (n < 0) return fail(err, DDB_SerializationException, "Invalid base64 in binary value");
    if (!attr_base64_canonical(v->str, v->len)) out->canonical = false; /* read back as stored */
    out->size += (size_t)n;
    return 0;
}

static int check_set(const struct json *v, const char *type, int depth, struct attr_check *out,
                     struct attr_error *err)
{
    if (v->type != JSON_ARRAY)
        return fail(err, DDB_SerializationException,
                    "Unexpected value type in payload: %s must be a list", type);
    for (const struct json *e = v->child; e; e = e->next) {
        int rc = type[0] == 'N'   ? check_number(e, out, err)
                 : type[0] == 'B' ? check_binary(e, out, err)
                                  : check_string(e, type, err);
        if (rc < 0) return -1;
        if (type[0] == 'S') out->size += e->len;
    }
    return 0;
}

int attr_check_value(const struct json *v, int depth, struct attr_check *out,
                     struct attr_error *err)
{
    /* depth 0 (an attribute's own value) is DynamoDB's level 1: 32 levels
     * are depths 0..31, so a scalar inside 31 maps or lists is the deepest */
    if (depth >= ATTR_MAX_DEPTH)
        return fail(err, DDB_ValidationException, "Nesting Levels have exceeded supported limits");
    if (!v || v->type != JSON_OBJECT)
        return fail(err, DDB_SerializationException,
                    "Unexpected value type in payload: an AttributeValue must be an object");
    const struct json *m = attr_type_member(v);
    if (!m) return 0; /* empty or several types: the backend words that error */
    const char *t = m->key;
    if (json_key_is(m, "S")) {
        if (check_string(m, "S", err) < 0) return -1;
        out->size += m->len;
    } else if (json_key_is(m, "N")) {
        return check_number(m, out, err);
    } else if (json_key_is(m, "B")) {
        return check_binary(m, out, err);
    } else if (json_key_is(m, "SS") || json_key_is(m, "NS") || json_key_is(m, "BS")) {
        return check_set(m, t, depth, out, err);
    } else if (json_key_is(m, "BOOL") || json_key_is(m, "NULL")) {
        if (!json_is_bool(m))
            return fail(err, DDB_SerializationException,
                        "Unexpected value type in payload: %s must be a boolean", t);
        out->size += 1;
    } else if (json_key_is(m, "M")) {
        if (m->type != JSON_OBJECT)
            return fail(err, DDB_SerializationException,
                        "Unexpected value type in payload: M must be an object");
        out->size += 3;
        for (const struct json *e = m->child; e; e = e->next) {
            out->size += 1 + e->keylen;
            if (attr_check_value(e, depth + 1, out, err) < 0) return -1;
        }
    } else if (json_key_is(m, "L")) {
        if (m->type != JSON_ARRAY)
            return fail(err, DDB_SerializationException,
                        "Unexpected value type in payload: L must be a list");
        out->size += 3;
        for (const struct json *e = m->child; e; e = e->next) {
            out->size += 1;
            if (attr_check_value(e, depth + 1, out, err) < 0) return -1;
        }
    }
    return 0;
}

int attr_check_item(const struct json *item, struct attr_check *out, struct attr_error *err)
{
    out->size = 0;
    out->canonical = true;
    if (!item || item->type != JSON_OBJECT)
        return fail(err, DDB_SerializationException,
                    "Unexpected value type in payload: an item must be an object");
    for (const struct json *a = item->child; a; a = a->next) {
        out->size += a->keylen;
        if (attr_check_value(a, 0, out, err) < 0) return -1;
    }
    if (out->size > ITEM_MAX_BYTES)
        return fail(err, DDB_ValidationException,
                    "Item size has exceeded the maximum allowed size");
    return 0;
}
