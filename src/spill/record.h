/*
 * record.h: the spill record, the bytes stored in LMDB for one cache entry
 * that left RAM. msgpack (packed with msgpack-c), versioned, with a CRC-32
 * over the whole record; the layout is specified in proto/spill-record.md so that a
 * reader in another language can decode it.
 *
 * No I/O here: spill.c and the writer thread use these two calls, and the
 * fuzz target tests/fuzz/fuzz_spill_record.c drives the decoder.
 */
#ifndef DDBX_SPILL_RECORD_H
#define DDBX_SPILL_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define SPILL_RECORD_VERSION 1
#define SPILL_RECORD_FIELDS 10 /* elements of the version-1 array */

/* Flags (field 1). Unknown bits are kept, not interpreted. */
#define SPILL_RECORD_NEGATIVE 1u /* a cached "not found": no value bytes */

/* Why a record was refused. Every refusal means "treat as a miss and delete".
 * The checks run in this order, so e.g. a record cut short after its first
 * 17 bytes is refused for its checksum. */
enum spill_record_rc {
    SPILL_RECORD_OK = 0,
    SPILL_RECORD_ETRUNCATED = -1, /* shorter than any version-1 record */
    SPILL_RECORD_EVERSION = -2,   /* does not begin as version 1 does (0x9a 0x01) */
    SPILL_RECORD_ECHECKSUM = -3,  /* the last 5 bytes are not 0xce + CRC-32 of the rest */
    SPILL_RECORD_EINVALID = -4,   /* checksum right, but not the version-1 elements */
};

/* A record's fields. After spill_record_decode, key and value point into the
 * decoded bytes: valid only while those are (inside LMDB: until the read
 * transaction ends, so copy them before it does). */
struct spill_record_fields {
    uint32_t flags;      /* SPILL_RECORD_NEGATIVE, ... */
    uint32_t epoch;      /* the table's epoch when the value was stored */
    uint64_t written_ms; /* wall-clock ms when the writer stored it: the age index's order */
    uint64_t seq;        /* the writer's sequence number: ties in written_ms, and identity */
    uint64_t expires_ms; /* absolute wall-clock ms; at or after it the record is a miss */
    const char *key;     /* the cache key, opaque bytes */
    size_t klen;
    uint32_t value_crc; /* CRC-32 of value, as sent in x-amz-crc32 */
    const char *value;  /* the stored answer bytes (empty for a negative entry) */
    size_t vlen;
};

/* Appends the version-1 encoding of f to out (aborts only on memory exhaustion). */
void spill_record_encode(struct buf *out, const struct spill_record_fields *f);

/* Decodes len bytes into f. Returns SPILL_RECORD_OK or one of the negative
 * codes above; f is unspecified after a refusal. Never reads past len. */
int spill_record_decode(const void *data, size_t len, struct spill_record_fields *f);

/* A short name for a spill_record_rc ("truncated", ...), for logs. */
const char *spill_record_strerror(int rc);

#endif
