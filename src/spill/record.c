/*
 * record.c: encoding and decoding of spill records with msgpack-c
 * (layout: proto/spill-record.md).
 *
 * The record is one msgpack array; its last element is a CRC-32 (zlib's) of
 * every byte before it, always packed as a 5-byte uint32 (0xce + big-endian)
 * so the decoder can find and check it at a fixed place from the end. A
 * version-1 record always begins with the bytes 0x9a 0x01 (an array of 10,
 * version 1), so a future layout is recognised before any other check.
 */
#include "spill/record.h"

#include <msgpack.h>
#include <string.h>
#include <zlib.h>

#define CHECKSUM_BYTES 5 /* 0xce and four bytes */
#define FIXARRAY_10 0x9a
/* array header, version, flags, epoch, written_ms, seq, expires_ms (1 byte
 * each at least), key (2: bin8 header), value_crc (1), value (2), checksum */
#define MIN_RECORD (7 + 2 + 1 + 2 + CHECKSUM_BYTES)

static int to_buf(void *data, const char *p, size_t len)
{
    buf_append(data, p, len);
    return 0;
}

void spill_record_encode(struct buf *out, const struct spill_record_fields *f)
{
    size_t start = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, to_buf);
    msgpack_pack_array(&pk, SPILL_RECORD_FIELDS);
    msgpack_pack_uint32(&pk, SPILL_RECORD_VERSION);
    msgpack_pack_uint32(&pk, f->flags);
    msgpack_pack_uint32(&pk, f->epoch);
    msgpack_pack_uint64(&pk, f->written_ms);
    msgpack_pack_uint64(&pk, f->seq);
    msgpack_pack_uint64(&pk, f->expires_ms);
    msgpack_pack_bin_with_body(&pk, f->klen ? f->key : "", f->klen);
    msgpack_pack_uint32(&pk, f->value_crc);
    msgpack_pack_bin_with_body(&pk, f->vlen ? f->value : "", f->vlen);
    uint32_t crc = (uint32_t)crc32(0, (const Bytef *)out->data + start, (uInt)(out->len - start));
    msgpack_pack_fix_uint32(&pk, crc);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool get_uint(const msgpack_object *o, uint64_t max, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max) return false;
    *v = o->via.u64;
    return true;
}

static bool get_bin(const msgpack_object *o, const char **p, size_t *len)
{
    if (o->type != MSGPACK_OBJECT_BIN) return false;
    *p = o->via.bin.size ? o->via.bin.ptr : "";
    *len = o->via.bin.size;
    return true;
}

/* The fields of a version-1 array whose checksum was verified. */
static int read_fields(const msgpack_object *root, struct spill_record_fields *f)
{
    if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size != SPILL_RECORD_FIELDS)
        return SPILL_RECORD_EINVALID;
    const msgpack_object *e = root->via.array.ptr;
    uint64_t version, flags, epoch, crc, sum;
    bool ok = get_uint(&e[0], UINT64_MAX, &version) && version == SPILL_RECORD_VERSION &&
              get_uint(&e[1], UINT32_MAX, &flags) && get_uint(&e[2], UINT32_MAX, &epoch) &&
              get_uint(&e[3], UINT64_MAX, &f->written_ms) && get_uint(&e[4], UINT64_MAX, &f->seq) &&
              get_uint(&e[5], UINT64_MAX, &f->expires_ms) && get_bin(&e[6], &f->key, &f->klen) &&
              get_uint(&e[7], UINT32_MAX, &crc) && get_bin(&e[8], &f->value, &f->vlen) &&
              get_uint(&e[9], UINT32_MAX, &sum);
    if (!ok) return SPILL_RECORD_EINVALID;
    f->flags = (uint32_t)flags;
    f->epoch = (uint32_t)epoch;
    f->value_crc = (uint32_t)crc;
    return SPILL_RECORD_OK;
}

/*
 * The frame is checked by hand before msgpack-c sees the bytes: msgpack-c
 * allocates an array's or map's storage from the count its header declares,
 * before reading any element, so a corrupt count (up to 2^32) could drive a
 * huge allocation. Bytes whose CRC matches are the encoder's own (up to a
 * 2^-32 chance), which declare no container but the outer array of 10.
 */
int spill_record_decode(const void *data, size_t len, struct spill_record_fields *f)
{
    const unsigned char *p = data;
    if (len < 2)
        return len && p[0] != FIXARRAY_10 ? SPILL_RECORD_EVERSION : SPILL_RECORD_ETRUNCATED;
    if (p[0] != FIXARRAY_10 || p[1] != SPILL_RECORD_VERSION) return SPILL_RECORD_EVERSION;
    if (len < MIN_RECORD) return SPILL_RECORD_ETRUNCATED;
    const unsigned char *tail = p + len - CHECKSUM_BYTES;
    if (tail[0] != 0xce || (uint32_t)crc32(0, p, (uInt)(len - CHECKSUM_BYTES)) != be32(tail + 1))
        return SPILL_RECORD_ECHECKSUM;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int rc = SPILL_RECORD_EINVALID;
    if (msgpack_unpack_next(&u, data, len, &off) == MSGPACK_UNPACK_SUCCESS && off == len)
        rc = read_fields(&u.data, f);
    msgpack_unpacked_destroy(&u);
    return rc;
}

const char *spill_record_strerror(int rc)
{
    switch (rc) {
    case SPILL_RECORD_OK: return "ok";
    case SPILL_RECORD_ETRUNCATED: return "truncated";
    case SPILL_RECORD_EVERSION: return "unknown version";
    case SPILL_RECORD_ECHECKSUM: return "checksum mismatch";
    default: return "malformed";
    }
}
