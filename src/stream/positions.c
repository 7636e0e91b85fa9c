/*
 * positions.c: reading and writing the text of positions.h. Hand-written:
 * the format is ddbx's own, a header line and "SHARD SEQ" lines, and the
 * parser refuses anything its writer would not produce (a value from another
 * version, or damaged, is a gap, never a wrong position).
 */
#include "stream/positions.h"

#include <inttypes.h>
#include <string.h>

#include "proto/stream.h"

#define HEADER "ddbx-stream-positions 1 "

/* Reads decimal digits (1..maxd, no leading zero unless "0") up to `end`
 * into *v; advances *p. */
static int digits(const char **p, const char *end, int maxd, uint64_t *v)
{
    const char *s = *p;
    uint64_t x = 0;
    int n = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        if (++n > maxd) return -1;
        x = x * 10 + (uint64_t)(*s - '0');
        s++;
    }
    if (n == 0 || (n > 1 && **p == '0')) return -1;
    *v = x;
    *p = s;
    return 0;
}

static int expect(const char **p, const char *end, char c)
{
    if (*p >= end || **p != c) return -1;
    (*p)++;
    return 0;
}

static bool shard_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

int stream_positions_parse(struct arena *a, const char *v, size_t len,
                           struct stream_positions_value *out)
{
    const char *p = v, *end = v + len;
    uint64_t wall, index, count;
    memset(out, 0, sizeof(*out));
    if (len > STREAM_POSITIONS_CHUNK || len < sizeof(HEADER) - 1 ||
        memcmp(p, HEADER, sizeof(HEADER) - 1) != 0)
        return -1;
    p += sizeof(HEADER) - 1;
    if (digits(&p, end, 19, &wall) < 0 || expect(&p, end, ' ') < 0 ||
        digits(&p, end, 3, &index) < 0 || expect(&p, end, ' ') < 0 ||
        digits(&p, end, 3, &count) < 0 || expect(&p, end, '\n') < 0 || count < 1 ||
        count > STREAM_POSITIONS_CHUNKS_MAX || index >= count)
        return -1;
    int cap = 0;
    for (const char *q = p; q < end; q++)
        cap += *q == '\n';
    out->lines = cap ? arena_alloc(a, (size_t)cap * sizeof(*out->lines)) : NULL;
    while (p < end) {
        if (out->nlines >= cap) return -1; /* a last line without its newline */
        struct stream_position_line *l = &out->lines[out->nlines];
        l->shard = p;
        while (p < end && shard_char(*p))
            p++;
        l->slen = (size_t)(p - l->shard);
        if (l->slen == 0 || l->slen > STREAM_POSITIONS_SHARD_MAX || expect(&p, end, ' ') < 0)
            return -1;
        if (p < end && (*p == '-' || *p == '=')) {
            l->kind = *p == '-' ? STREAM_POSITION_WHOLE : STREAM_POSITION_ENDED;
            p++;
        } else {
            l->kind = STREAM_POSITION_AFTER;
            l->seq = p;
            while (p < end && *p >= '0' && *p <= '9')
                p++;
            l->qlen = (size_t)(p - l->seq);
            if (!stream_seq_valid(l->seq, l->qlen)) return -1;
        }
        if (expect(&p, end, '\n') < 0) return -1;
        out->nlines++;
    }
    out->wall_ms = wall;
    out->index = (int)index;
    out->count = (int)count;
    return 0;
}

void stream_positions_write_header(struct buf *b, uint64_t wall_ms, int index, int count)
{
    buf_printf(b, HEADER "%" PRIu64 " %d %d\n", wall_ms, index, count);
}

void stream_positions_write_line(struct buf *b, const char *shard, size_t slen,
                                 enum stream_position_kind kind, const char *seq, size_t qlen)
{
    buf_append(b, shard, slen);
    switch (kind) {
    case STREAM_POSITION_AFTER:
        buf_append_char(b, ' ');
        buf_append(b, seq, qlen);
        break;
    case STREAM_POSITION_WHOLE: buf_append_str(b, " -"); break;
    case STREAM_POSITION_ENDED: buf_append_str(b, " ="); break;
    }
    buf_append_char(b, '\n');
}
