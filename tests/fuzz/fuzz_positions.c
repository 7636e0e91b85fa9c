/*
 * fuzz_positions.c: the stream positions a clean stop keeps
 * (src/stream/positions.h). Checked, besides ASan/UBSan: an accepted value
 * has its index below its count, lines with a shard id and a valid sequence
 * number where one is given, and writing it back gives the input byte for
 * byte (the parser accepts exactly what the writer produces).
 */
#include <string.h>

#include "fuzz.h"
#include "proto/stream.h"
#include "stream/positions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena a;
    arena_init(&a);
    struct stream_positions_value v;
    if (stream_positions_parse(&a, (const char *)data, size, &v) == 0) {
        FUZZ_CHECK(v.index >= 0 && v.index < v.count && v.count <= STREAM_POSITIONS_CHUNKS_MAX);
        struct buf out = BUF_INIT;
        stream_positions_write_header(&out, v.wall_ms, v.index, v.count);
        for (int i = 0; i < v.nlines; i++) {
            const struct stream_position_line *l = &v.lines[i];
            FUZZ_CHECK(l->slen > 0 && l->slen <= STREAM_POSITIONS_SHARD_MAX);
            FUZZ_CHECK(l->kind != STREAM_POSITION_AFTER || stream_seq_valid(l->seq, l->qlen));
            stream_positions_write_line(&out, l->shard, l->slen, l->kind, l->seq, l->qlen);
        }
        FUZZ_CHECK(out.len == size && memcmp(out.data, data, size) == 0);
        buf_free(&out);
    }
    arena_free(&a);
    return 0;
}
