/*
 * positions.h: the text in which a clean stop keeps where a stream's readers
 * got to (reader.c writes it into the spill tier's named values, the next
 * start reads it back). One value is at most STREAM_POSITIONS_CHUNK bytes; a
 * stream's positions take values 0..N-1, each:
 *
 *   ddbx-stream-positions 1 WALL_MS I N\n      (the stop's wall clock, this value's index, N)
 *   SHARD_ID SEQ\n ...                          (one line per shard)
 *
 * SEQ is the last sequence number applied; "-" none applied since the shard
 * was read from its start or from LATEST without a gap (read it whole); "="
 * read to its end with none applied (nothing left to read).
 */
#ifndef DDBX_STREAM_POSITIONS_H
#define DDBX_STREAM_POSITIONS_H

#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/buf.h"

#define STREAM_POSITIONS_CHUNK 4000     /* bytes per value (spill_meta_put takes 4 KiB) */
#define STREAM_POSITIONS_CHUNKS_MAX 256 /* values per stream */
#define STREAM_POSITIONS_SHARD_MAX 128  /* bytes of a shard id (DynamoDB's are up to 65) */

enum stream_position_kind {
    STREAM_POSITION_AFTER, /* read on after seq */
    STREAM_POSITION_WHOLE, /* "-": read it from TRIM_HORIZON */
    STREAM_POSITION_ENDED, /* "=": read to its end */
};

struct stream_position_line {
    const char *shard, *seq; /* into the parsed value; seq NULL unless AFTER */
    size_t slen, qlen;
    enum stream_position_kind kind;
};

struct stream_positions_value {
    uint64_t wall_ms;
    int index, count;
    struct stream_position_line *lines; /* in the arena given */
    int nlines;
};

/* Parses one value (len bytes, not NUL-terminated). Returns 0, or -1 when it
 * is not exactly what stream_positions_write_* produce. */
int stream_positions_parse(struct arena *a, const char *v, size_t len,
                           struct stream_positions_value *out);
/* Appends a value's header line, and a shard's line (seq used for AFTER). */
void stream_positions_write_header(struct buf *b, uint64_t wall_ms, int index, int count);
void stream_positions_write_line(struct buf *b, const char *shard, size_t slen,
                                 enum stream_position_kind kind, const char *seq, size_t qlen);

#endif
