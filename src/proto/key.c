/* key.c: canonical cache keys from Key parameters and items. */
#include "proto/key.h"

#include <string.h>

#include "proto/number.h"

static void put_u16(struct buf *out, size_t n)
{
    unsigned char b[2] = {(unsigned char)(n >> 8), (unsigned char)n};
    buf_append(out, b, 2);
}

/* A key attribute's string value s[0..len), of type letter `type`. */
static int encode_scalar(const struct key_attr *ka, bool is_range, const char *s, size_t len,
                         struct buf *out, struct attr_error *err)
{
    size_t max = is_range ? KEY_RANGE_MAX : KEY_HASH_MAX;
    buf_append_char(out, ka->type);
    if (ka->type == 'N') {
        struct number n;
        int rc = number_parse(s, len, &n);
        if (rc != NUMBER_OK) {
            attr_number_error(err, rc, s, len);
            return KEY_EINVALID;
        }
        uint8_t kb[NUMBER_KEY_MAX];
        size_t kl = number_key(&n, kb);
        put_u16(out, kl);
        buf_append(out, kb, kl);
        return KEY_OK;
    }
    size_t bytes = len;
    if (ka->type == 'B') {
        /* a non-canonical text ("QR==") would share a key with the canonical
         * one; whether DynamoDB accepts it is the backend's to say (the shape
         * check let only valid base64 through) */
        if (!attr_base64_canonical(s, len)) return KEY_EMISMATCH;
        bytes = (size_t)attr_base64_length(s, len);
    }
    if (bytes == 0) return KEY_EMISMATCH; /* empty key values: the backend's error */
    if (bytes > max) {
        attr_fail_limit(err, is_range ? DDB_LIMIT_range_key_bytes : DDB_LIMIT_hash_key_bytes);
        return KEY_EINVALID;
    }
    put_u16(out, bytes);
    if (ka->type == 'S') {
        buf_append(out, s, len);
    } else {
        buf_reserve(out, bytes + 4);
        attr_base64_decode(s, len, (unsigned char *)out->data + out->len);
        out->len += bytes;
        out->data[out->len] = '\0';
    }
    return KEY_OK;
}

/* key_encode_value for a value whose shape was checked (0: passed). */
static int encode_value(const struct key_attr *ka, bool is_range, const struct json *value,
                        int shape, struct buf *out, struct attr_error *err)
{
    const struct json *m = attr_type_member(value);
    if (shape != 0 || !m || m->keylen != 1 || m->key[0] != ka->type || m->type != JSON_STRING)
        return KEY_EMISMATCH; /* nulls, several or other types: the backend's answer */
    return encode_scalar(ka, is_range, m->str, m->len, out, err);
}

int key_encode_value(const struct key_attr *ka, bool is_range, const struct json *value,
                     struct buf *out, struct attr_error *err)
{
    int shape = attr_check_shape(value, err); /* DynamoDB's SerializationException */
    if (shape < 0) return KEY_EINVALID;
    return encode_value(ka, is_range, value, shape, out, err);
}

/* {"S":"..."}, which passes both checks below whatever the string: most
 * keys are strings, and the general walk was a third of building a key. */
static bool plain_string(const struct json *a)
{
    const struct json *m = attr_type_member(a);
    return m && m->type == JSON_STRING && m->keylen == 1 && m->key[0] == 'S';
}

static int encode(const struct key_schema *ks, const struct json *obj, bool exact, struct buf *out,
                  struct attr_error *err)
{
    if (!json_is_object(obj)) return KEY_EMISMATCH;
    /* a Key's values are checked as DynamoDB does before it looks at the
     * schema: a value of the wrong JSON type anywhere (SerializationException)
     * first, then invalid numbers, in document order (an item's values were
     * checked by attr_check_item already) */
    for (const struct json *a = exact ? obj->child : NULL; a; a = a->next) {
        if (plain_string(a)) continue;
        int shape = attr_check_shape(a, err);
        if (shape < 0) return KEY_EINVALID;
        if (shape == ATTR_RELAY) return KEY_EMISMATCH;
    }
    /* (every shape passed the loop above: its meaning next) */
    for (const struct json *a = exact ? obj->child : NULL; a; a = a->next) {
        if (plain_string(a)) continue;
        struct attr_check chk = {0, true, false};
        if (attr_check_meaning(a, 0, &chk, err) < 0) return KEY_EINVALID;
        if (chk.relay) return KEY_EMISMATCH;
    }
    if (exact && obj->len != (uint32_t)ks->nattrs) return KEY_EMISMATCH;
    buf_append(out, ks->table, ks->table_len);
    buf_append_char(out, '\0');
    for (int i = 0; i < ks->nattrs; i++) {
        const struct json *v = json_getn(obj, ks->attr[i].name, ks->attr[i].len);
        if (!v) return KEY_EMISMATCH;
        /* a Key's values passed the shape check above; an item's were
         * checked by attr_check_item, but not by this function */
        int rc = exact ? encode_value(&ks->attr[i], i == 1, v, 0, out, err)
                       : key_encode_value(&ks->attr[i], i == 1, v, out, err);
        if (rc != KEY_OK) return rc;
    }
    return KEY_OK;
}

int key_from_key(const struct key_schema *ks, const struct json *key, struct buf *out,
                 struct attr_error *err)
{
    return encode(ks, key, true, out, err);
}

/* The same checks as encode()'s for a Key whose members are all {"S":...}
 * or {"N":...} strings (what ddb_scan_batch_get lets through): their shapes
 * pass; an "N" fails its meaning exactly when number_parse refuses it, which
 * encode_scalar finds too. Any refusal is left to key_from_key's own words. */
int key_from_text(const struct key_schema *ks, const struct key_text *key, struct buf *out)
{
    if (key->nattrs != ks->nattrs) return KEY_EMISMATCH;
    size_t start = out->len;
    buf_append(out, ks->table, ks->table_len);
    buf_append_char(out, '\0');
    for (int i = 0; i < ks->nattrs; i++) {
        const struct key_attr *ka = &ks->attr[i];
        int j = 0;
        while (j < key->nattrs && !(key->attr[j].name_len == ka->len &&
                                    memcmp(key->attr[j].name, ka->name, ka->len) == 0))
            j++;
        struct attr_error err;
        if (j == key->nattrs || key->attr[j].type != ka->type ||
            encode_scalar(ka, i == 1, key->attr[j].value, key->attr[j].value_len, out, &err) !=
                KEY_OK) {
            out->len = start;
            if (out->data) out->data[start] = '\0';
            return KEY_EMISMATCH;
        }
    }
    return KEY_OK;
}

int key_from_item(const struct key_schema *ks, const struct json *item, struct buf *out,
                  struct attr_error *err)
{
    return encode(ks, item, false, out, err);
}
