/*
 * record.c: encoding (msgpack-c) and decoding of spill records
 * (layout: proto/spill-record.md).
 *
 * The record is one msgpack array, packed by msgpack-c; its last element is
 * a CRC-32 (zlib's) of every byte before it, always packed as a 5-byte
 * uint32 (0xce + big-endian) so the decoder can find and check it at a fixed
 * place from the end. A version-1 record always begins with the bytes 0x9a
 * 0x01 (an array of 10, version 1), so a future layout is recognised before
 * any other check.
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

static uint64_t be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

struct reader {
    const unsigned char *p, *end;
};

/* A msgpack unsigned integer (positive fixint, uint 8/16/32/64) <= max. */
static bool read_uint(struct reader *r, uint64_t max, uint64_t *v)
{
    if (r->p >= r->end) return false;
    unsigned char h = *r->p++;
    size_t n = h == 0xcc ? 1 : h == 0xcd ? 2 : h == 0xce ? 4 : h == 0xcf ? 8 : 0;
    if (h <= 0x7f) {
        *v = h;
    } else if (n && (size_t)(r->end - r->p) >= n) {
        *v = be(r->p, n);
        r->p += n;
    } else {
        return false;
    }
    return *v <= max;
}

/* A msgpack bin (8/16/32): its bytes stay in the input. */
static bool read_bin(struct reader *r, const char **data, size_t *len)
{
    if (r->p >= r->end) return false;
    unsigned char h = *r->p++;
    size_t n = h == 0xc4 ? 1 : h == 0xc5 ? 2 : h == 0xc6 ? 4 : 0;
    if (!n || (size_t)(r->end - r->p) < n) return false;
    *len = (size_t)be(r->p, n);
    r->p += n;
    if ((size_t)(r->end - r->p) < *len) return false;
    *data = (const char *)r->p;
    r->p += *len;
    return true;
}

/*
 * Decoding is written here rather than left to msgpack-c's unpacker because
 * that unpacker allocates an array's or map's storage from the count its
 * header declares before reading any element: a damaged record (or one
 * whose damage happens to keep the checksum right) could ask for gigabytes.
 * A version-1 record is a fixed shape of ten scalars, so reading exactly
 * that is bounded and allocates nothing; the unit tests and the fuzz target
 * check that msgpack-c reads every accepted record the same way.
 */
int spill_record_decode(const void *data, size_t len, struct spill_record_fields *f)
{
    const unsigned char *p = data;
    if (len < 2)
        return len && p[0] != FIXARRAY_10 ? SPILL_RECORD_EVERSION : SPILL_RECORD_ETRUNCATED;
    if (p[0] != FIXARRAY_10 || p[1] != SPILL_RECORD_VERSION) return SPILL_RECORD_EVERSION;
    if (len < MIN_RECORD) return SPILL_RECORD_ETRUNCATED;
    const unsigned char *tail = p + len - CHECKSUM_BYTES;
    if (tail[0] != 0xce || (uint32_t)crc32(0, p, (uInt)(len - CHECKSUM_BYTES)) != be(tail + 1, 4))
        return SPILL_RECORD_ECHECKSUM;
    struct reader r = {p + 2, tail};
    uint64_t flags, epoch, crc;
    bool ok = read_uint(&r, UINT32_MAX, &flags) && read_uint(&r, UINT32_MAX, &epoch) &&
              read_uint(&r, UINT64_MAX, &f->written_ms) && read_uint(&r, UINT64_MAX, &f->seq) &&
              read_uint(&r, UINT64_MAX, &f->expires_ms) && read_bin(&r, &f->key, &f->klen) &&
              read_uint(&r, UINT32_MAX, &crc) && read_bin(&r, &f->value, &f->vlen) &&
              r.p == tail; /* the checksum is the tenth element, and the last */
    if (!ok) return SPILL_RECORD_EINVALID;
    f->flags = (uint32_t)flags;
    f->epoch = (uint32_t)epoch;
    f->value_crc = (uint32_t)crc;
    return SPILL_RECORD_OK;
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
