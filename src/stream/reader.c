/*
 * reader.c: the stream readers, one per table with a stream, all on one
 * libuv loop, calling the Streams API through one backend client.
 *
 *   stream_watch (any thread) --async--> table: DescribeStream, page by page
 *     -> each shard, parents first: GetShardIterator
 *          (LATEST for shards open when the reader starts: then a gap, since
 *           writes before the iterator are not in it; TRIM_HORIZON for shards
 *           found later, which are read whole)
 *     -> GetRecords -> stream_apply each record above the shard's last one
 *          records: again after poll_min (at once if the page was full)
 *          none: back off, doubling up to poll_max
 *          no NextShardIterator: the shard is done; describe to find children
 *   errors: expired iterator -> a new one after the last record applied;
 *           trimmed, lost or unreadable -> a gap and a new iterator;
 *           throttled, 5xx, no answer -> retry the same call later, backing off
 *
 * In a cluster (stream.h) a table another node owns is not read (state
 * "peer"); a page's fan-out to the peers counts as the shard's call in
 * flight, and the shard's acknowledged position moves past the page when
 * every live peer applied it. A timer publishes positions and checks
 * ownership every position_ms.
 *
 * A warm restart (stream.h): stream_stop stores each table's positions
 * with meta_put; the next start's first description of the same stream
 * takes them back (resume_load) and the table reads on from there,
 * "catching up" until every shard answered an empty page or ended and the
 * stream was described since (check_ready), when `ready` is told.
 *
 * Every shard has at most one call in flight. Tables and shards are only
 * touched on the loop's thread; the watch queue, the fan-outs done, the
 * positions heard of and the status /metrics shows are under `lock`.
 * Shards and tables are freed only once their timers are closed and no call
 * of theirs is in flight.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cache/tags.h"
#include "metrics/metrics.h"
#include "proto/invalidation.h"
#include "stream/positions.h"
#include "stream/stream.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/log.h"

#define TARGET "DynamoDBStreams_20120810."
#define RECORDS_LIMIT 1000
#define ERROR_DELAY_MIN 500                     /* ms before the first retry of a failed call */
#define ERROR_DELAY_MAX 10000                   /* ... doubling up to this */
#define RESUME_MAX_AGE_MS (23ull * 3600 * 1000) /* DynamoDB keeps records 24 hours */

enum rstate { R_NO_STREAM, R_STARTING, R_READING, R_LOST, R_PEER };
static const char *const state_names[] = {"no_stream", "starting", "reading", "lost", "peer"};

struct rtable;

struct rshard {
    struct rshard *next;
    struct rtable *t;
    char *id, *parent; /* parent NULL: none */
    char *iterator;    /* NULL: none yet */
    char last_seq[STREAM_SEQ_MAX + 1];
    char acked_seq[STREAM_SEQ_MAX + 1]; /* the last record every live peer applied */
    bool latest;    /* its first iterator is LATEST (open when the reader started) */
    bool starting;  /* counted in its table's pending_start */
    bool started;   /* an iterator was asked for at least once */
    bool done;      /* read to its end (or closed before the reader started) */
    bool busy;      /* a call in flight */
    bool seen;      /* in the last full description */
    bool retired;   /* its stream was replaced: stop, free when idle */
    bool caught_up; /* a GetRecords answered no record: read up to the present */
    uint64_t delay, error_delay;
    uv_timer_t timer;
};

struct rtable {
    struct rtable *next;
    struct arena strings;
    struct query_table q; /* strings in `strings` */
    enum rstate state;
    bool started;              /* the first description came back */
    bool describing;           /* a DescribeStream (page) in flight */
    bool describe_stale;       /* ... of a stream since replaced: its answer is ignored */
    bool describe_soon;        /* a shard closed while describing: describe again */
    int pending_start;         /* LATEST iterators still to get before the start gap */
    int resumed;               /* shards started after a position the cluster knew */
    bool owned;                /* this node reads it (cluster: it owns the table) */
    bool disk;                 /* resumed from the positions of a clean stop (a warm restart) */
    bool catching_up;          /* resumed: `ready` not told yet */
    bool ended_since_describe; /* a shard ended after the last description started */
    char *next_page;           /* ExclusiveStartShardId of the next page, or NULL */
    uint64_t error_delay;
    uv_timer_t timer;
    struct rshard *shards;
    /* status for /metrics */
    int64_t lag_ms; /* of the last record applied, -1: none yet */
};

struct pending {
    struct pending *next;
    struct arena strings;
    struct query_table q;
};

/* A page's fan-out finished (queued from any thread, handled on the loop). */
struct fanned {
    struct fanned *next;
    struct rshard *s; /* busy until this is handled, so not freed */
    char seq[STREAM_SEQ_MAX + 1];
    bool acked;
    int nrecords;
};

/* The largest position heard of, per (stream, shard); from a clean stop's
 * positions also "no record applied: read it whole" (seq empty) and "read to
 * its end" (done). */
struct position {
    struct position *next;
    char *arn, *shard;
    char seq[STREAM_SEQ_MAX + 1];
    bool done;
};

static struct {
    struct stream_options o;
    bool running;
    uv_async_t async;
    pthread_mutex_t lock;
    struct pending *pending; /* under lock */
    struct rtable *tables;   /* under lock for changes; read freely on the loop */
    struct arena scratch;    /* one answer at a time, reset after each */
    int open_handles;
    struct fanned *fanned;      /* under lock */
    struct position *positions; /* under lock */
    bool reown;                 /* under lock: check ownership soon */
    bool timer_on;
    uv_timer_t position_timer;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- helpers ---- */

static uint64_t now_ms(void)
{
    return g.o.now_ms ? g.o.now_ms() : clock_mono_ms();
}

static void call(const char *op, struct buf *body, backend_cb cb, void *arg)
{
    char target[64];
    snprintf(target, sizeof(target), TARGET "%s", op);
    METRIC_INCR(stream_calls);
    g.o.bops->call(g.o.backend, target, body, cb, arg);
}

static void on_closed(uv_handle_t *h)
{
    g.open_handles--;
}

static void shard_free(struct rshard *s)
{
    free(s->id);
    free(s->parent);
    free(s->iterator);
    free(s);
}

static void on_shard_closed(uv_handle_t *h)
{
    g.open_handles--;
    shard_free(h->data);
}

static void backoff(uint64_t *delay)
{
    *delay = *delay ? MIN(*delay * 2, ERROR_DELAY_MAX) : ERROR_DELAY_MIN;
}

/* Parses a 200 answer into the scratch arena; NULL when it is not JSON. */
static struct json *parse_answer(const struct backend_result *res)
{
    struct json *doc = NULL;
    arena_reset(&g.scratch);
    if (json_parse(&g.scratch, res->body.data, res->body.len, &doc, NULL, 0) != JSON_OK)
        return NULL;
    return doc;
}

/* What an error answer is, for the reader. */
static enum stream_error error_of(const struct backend_result *res)
{
    if (res->outcome != BACKEND_ANSWERED || res->status >= 500) return STREAM_ERROR_LIMIT;
    struct json *doc = parse_answer(res);
    return doc ? stream_parse_error(doc) : STREAM_ERROR_OTHER;
}

/* Everything cached of the table goes: records may have been missed. */
static void gap(struct rtable *t, const char *why)
{
    struct invalidation_tags tags;
    uint64_t h;
    METRIC_INCR(stream_gaps);
    log_info("stream of table %.*s: %s; its cached entries are dropped", (int)t->q.table_len,
             t->q.table, why);
    if (g.o.invalidate_table) g.o.invalidate_table(t->q.table, t->q.table_len);
    struct arena a; /* not the scratch arena: a page being applied may live there */
    arena_init(&a);
    invalidation_table_tags(&a, &t->q, &tags);
    h = tags_hash(tags.tag[0].data, tags.tag[0].len);
    arena_free(&a);
    tags_bump(&h, 1, now_ms());
    bool images = t->q.stream_view == QUERY_STREAM_NEW_IMAGE ||
                  t->q.stream_view == QUERY_STREAM_NEW_AND_OLD_IMAGES;
    stream_own_reset(t->q.table, t->q.table_len, images && t->state == R_READING, now_ms());
    t->catching_up = false; /* nothing older than the gap is left to serve */
    if (g.o.ready) g.o.ready(t->q.table, t->q.table_len);
}

static void set_state(struct rtable *t, enum rstate s)
{
    pthread_mutex_lock(&g.lock);
    t->state = s;
    pthread_mutex_unlock(&g.lock);
}

/* ---- shards ---- */

static void shard_schedule(struct rshard *s, uint64_t delay);
static void shards_prune(struct rtable *t);
static bool position_find(const struct rtable *t, const char *shard, char *seq, bool *done);
static void check_ready(struct rtable *t);
static bool resume_load(struct rtable *t);
static void reown_all(void);
static void get_iterator(struct rshard *s, const char *type);
static void describe(struct rtable *t);
static void table_schedule(struct rtable *t, uint64_t delay);

static struct rshard *shard_find(struct rtable *t, const char *id, size_t len)
{
    for (struct rshard *s = t->shards; s; s = s->next)
        if (!s->retired && strlen(s->id) == len && memcmp(s->id, id, len) == 0) return s;
    return NULL;
}

/* True while the shard's parent is known and not read to its end. */
static bool parent_pending(const struct rshard *s)
{
    if (!s->parent) return false;
    const struct rshard *p = shard_find(s->t, s->parent, strlen(s->parent));
    return p && !p->done;
}

/* Starts every shard that can be read now. */
static void shards_start(struct rtable *t)
{
    for (struct rshard *s = t->shards; s; s = s->next) {
        if (s->retired || s->done || s->busy || s->started || parent_pending(s)) continue;
        s->started = true;
        get_iterator(s, s->last_seq[0] ? "AFTER_SEQUENCE_NUMBER"
                        : s->latest    ? "LATEST"
                                       : "TRIM_HORIZON");
    }
}

/* A shard open at the reader's start has its first iterator (or is gone):
 * once all have, the reader reads, and what came before is a gap. */
static void start_positioned(struct rshard *s)
{
    struct rtable *t = s->t;
    if (!s->starting) return;
    s->starting = false;
    if (--t->pending_start > 0) return;
    set_state(t, R_READING);
    gap(t, "reading starts (earlier writes are not in the records read)");
}

/* The shard was read to its end: its children may start. */
static void shard_done(struct rshard *s)
{
    start_positioned(s);
    s->done = true;
    s->t->ended_since_describe = true; /* its children are known after a description */
    free(s->iterator);
    s->iterator = NULL;
    if (s->t->describing)
        s->t->describe_soon = true;
    else
        table_schedule(s->t, 0);
}

static void on_records(struct backend_result *res, void *arg);

static void get_records(struct rshard *s)
{
    struct buf body = BUF_INIT;
    struct json_writer w;
    jw_init(&w, &body);
    jw_object_begin(&w);
    jw_cstr(&w, "ShardIterator");
    jw_cstr(&w, s->iterator);
    jw_cstr(&w, "Limit");
    jw_number_raw(&w, "1000", 4);
    jw_object_end(&w);
    jw_free(&w);
    s->busy = true;
    call("GetRecords", &body, on_records, s);
}

static void on_shard_timer(uv_timer_t *timer)
{
    struct rshard *s = timer->data;
    if (!g.running || s->retired || s->busy || s->done) return;
    if (s->iterator)
        get_records(s);
    else if (s->last_seq[0])
        get_iterator(s, "AFTER_SEQUENCE_NUMBER");
    else
        get_iterator(s, s->latest ? "LATEST" : "TRIM_HORIZON");
}

static void shard_schedule(struct rshard *s, uint64_t delay)
{
    uv_timer_start(&s->timer, on_shard_timer, delay, 0);
}

/* The shard's position is lost: records may be missed. */
static void shard_lost(struct rshard *s, const char *why)
{
    free(s->iterator);
    s->iterator = NULL;
    s->last_seq[0] = '\0';
    s->latest = true; /* read on from now: the gap covers the rest */
    gap(s->t, why);
    backoff(&s->error_delay);
    shard_schedule(s, s->error_delay);
}

/* Applies a page of records, adding what they changed to fx; false when
 * the page cannot be read. */
static bool apply_page(struct rshard *s, const struct json *doc, struct stream_records *recs,
                       struct stream_effects *fx)
{
    struct rtable *t = s->t;
    if (stream_parse_records(&g.scratch, doc, recs) != STREAM_OK) return false;
    for (int i = 0; i < recs->n; i++) {
        const struct stream_record *r = &recs->records[i];
        if (s->last_seq[0] &&
            stream_seq_compare(r->seq.s, r->seq.len, s->last_seq, strlen(s->last_seq)) <= 0) {
            METRIC_INCR(stream_records_old); /* a replay of what was applied */
            continue;
        }
        if (stream_apply_collect(&g.scratch, &t->q, r, now_ms(), fx) == STREAM_UNKEYED)
            gap(t, "a record's key could not be read");
        memcpy(s->last_seq, r->seq.s, r->seq.len);
        s->last_seq[r->seq.len] = '\0';
        if (r->created_ms >= 0) {
            pthread_mutex_lock(&g.lock);
            t->lag_ms = (int64_t)clock_wall_ms() - r->created_ms;
            pthread_mutex_unlock(&g.lock);
        }
    }
    return true;
}

/* After a page: its shard's end (children next), or the next poll. */
static void shard_next(struct rshard *s, int nrecords)
{
    if (!s->iterator) {
        shard_done(s);
        return;
    }
    if (nrecords >= RECORDS_LIMIT)
        s->delay = 0;
    else if (nrecords > 0)
        s->delay = g.o.poll_min_ms;
    else
        s->delay = MIN(MAX(s->delay * 2, g.o.poll_min_ms), g.o.poll_max_ms);
    shard_schedule(s, s->delay);
    if (nrecords == 0 && !s->caught_up) {
        s->caught_up = true;
        check_ready(s->t);
    }
}

/* Any thread: a page's fan-out is done; handled on the loop (fanned_run). */
static void on_fanned(void *arg, bool acked)
{
    struct fanned *f = arg;
    f->acked = acked;
    pthread_mutex_lock(&g.lock);
    if (g.running) {
        f->next = g.fanned;
        g.fanned = f;
        uv_async_send(&g.async);
        f = NULL;
    }
    pthread_mutex_unlock(&g.lock);
    free(f); /* stopped: nothing waits for it */
}

static void fanned_run(struct fanned *f)
{
    struct rshard *s = f->s;
    s->busy = false;
    if (s->retired) {
        shards_prune(s->t);
        return;
    }
    /* a page some live peer did not acknowledge in time stays unpublished:
     * a later page acknowledged in full covers it (links are ordered) */
    if (f->acked) memcpy(s->acked_seq, f->seq, sizeof(s->acked_seq));
    shard_next(s, f->nrecords);
}

static void on_records(struct backend_result *res, void *arg)
{
    struct rshard *s = arg;
    s->busy = false;
    if (!g.running || s->retired) return;
    if (res->outcome != BACKEND_ANSWERED || res->status != 200) {
        METRIC_INCR(stream_errors);
        switch (error_of(res)) {
        case STREAM_ERROR_EXPIRED_ITERATOR:
            free(s->iterator);
            s->iterator = NULL;
            if (s->last_seq[0] || !s->latest) { /* resumable without a gap */
                shard_schedule(s, 0);
                return;
            }
            shard_lost(s, "its shard iterator expired before a record was read");
            return;
        case STREAM_ERROR_TRIMMED:
            free(s->iterator);
            s->iterator = NULL;
            s->last_seq[0] = '\0';
            s->latest = false; /* from the oldest record still there */
            gap(s->t, "records were trimmed before they were read");
            shard_schedule(s, 0);
            return;
        case STREAM_ERROR_NOT_FOUND:
            gap(s->t, "a shard disappeared");
            shard_done(s);
            return;
        case STREAM_ERROR_LIMIT: break; /* retry the same iterator later */
        default: shard_lost(s, "GetRecords was refused"); return;
        }
        backoff(&s->error_delay);
        shard_schedule(s, s->error_delay);
        return;
    }
    s->error_delay = 0;
    struct json *doc = parse_answer(res);
    struct stream_records recs;
    struct stream_effects fx = {0};
    if (!doc || !apply_page(s, doc, &recs, &fx)) {
        METRIC_INCR(stream_errors);
        shard_lost(s, "a GetRecords answer could not be read");
        return;
    }
    free(s->iterator);
    s->iterator =
        recs.next_iterator.s ? xstrndup(recs.next_iterator.s, recs.next_iterator.len) : NULL;
    if (g.o.fanout && (fx.nkeys || fx.ntags)) { /* the peers apply it before the next page */
        struct fanned *f = xcalloc(1, sizeof(*f));
        f->s = s;
        f->nrecords = recs.n;
        memcpy(f->seq, s->last_seq, sizeof(f->seq));
        s->busy = true;
        g.o.fanout(s->t->q.table, s->t->q.table_len, fx.keys, fx.nkeys, fx.tags, fx.ntags,
                   on_fanned, f);
        return;
    }
    memcpy(s->acked_seq, s->last_seq, sizeof(s->acked_seq));
    shard_next(s, recs.n);
}

static void on_iterator(struct backend_result *res, void *arg)
{
    struct rshard *s = arg;
    struct rtable *t = s->t;
    s->busy = false;
    if (!g.running || s->retired) return;
    struct json *doc =
        res->outcome == BACKEND_ANSWERED && res->status == 200 ? parse_answer(res) : NULL;
    struct stream_str it;
    if (!doc || stream_parse_iterator(doc, &it) != STREAM_OK) {
        METRIC_INCR(stream_errors);
        enum stream_error e = doc ? STREAM_ERROR_OTHER : error_of(res);
        if (e == STREAM_ERROR_NOT_FOUND || e == STREAM_ERROR_TRIMMED) {
            /* the shard, or the record after which to resume, is gone */
            if (e == STREAM_ERROR_NOT_FOUND) {
                gap(t, "a shard disappeared");
                shard_done(s);
                return;
            }
            s->last_seq[0] = '\0';
            s->latest = false;
            gap(t, "records were trimmed before they were read");
        }
        backoff(&s->error_delay);
        shard_schedule(s, s->error_delay);
        return;
    }
    s->error_delay = 0;
    free(s->iterator);
    s->iterator = xstrndup(it.s, it.len);
    if (s->starting) {
        start_positioned(s);
    } else if (s->latest && !s->last_seq[0] && t->state == R_READING) {
        /* positioned again after a gap: own writes sent before are not noted */
        gap(t, "reading resumes after a gap");
    }
    shard_schedule(s, 0);
}

static void get_iterator(struct rshard *s, const char *type)
{
    struct buf body = BUF_INIT;
    struct json_writer w;
    jw_init(&w, &body);
    jw_object_begin(&w);
    jw_cstr(&w, "StreamArn");
    jw_string(&w, s->t->q.stream_arn, s->t->q.stream_arn_len);
    jw_cstr(&w, "ShardId");
    jw_cstr(&w, s->id);
    jw_cstr(&w, "ShardIteratorType");
    jw_cstr(&w, type);
    if (strcmp(type, "AFTER_SEQUENCE_NUMBER") == 0) {
        jw_cstr(&w, "SequenceNumber");
        jw_cstr(&w, s->last_seq);
    }
    jw_object_end(&w);
    jw_free(&w);
    s->busy = true;
    call("GetShardIterator", &body, on_iterator, s);
}

/* ---- tables ---- */

static void shard_add(struct rtable *t, const struct stream_shard *d)
{
    struct rshard *s = xcalloc(1, sizeof(*s));
    s->t = t;
    s->id = xstrndup(d->id.s, d->id.len);
    s->parent = d->parent_id.s ? xstrndup(d->parent_id.s, d->parent_id.len) : NULL;
    /* at the start, open shards are read from now on and closed ones not at
     * all (the start's gap covers their past); shards found later are new */
    s->latest = !t->started;
    s->done = !t->started && d->end_seq.s;
    s->starting = !t->started && !s->done;
    s->seen = true;
    bool ended = false;
    if (!t->started && (position_find(t, s->id, s->last_seq, &ended) || t->disk)) {
        /* the cluster, or the last clean stop, knows where the last reader got
         * to: on from there, whether the shard is open or closed since; a
         * shard of a resumed stream without a record applied (or unknown
         * then: it opened since) is read whole, one read to its end not at all */
        memcpy(s->acked_seq, s->last_seq, sizeof(s->acked_seq));
        s->latest = s->starting = false;
        s->done = ended;
        t->resumed++;
    }
    uv_timer_init(g.o.loop, &s->timer);
    s->timer.data = s;
    g.open_handles++;
    /* appended: parents come first in describe order (stream_shards_order) */
    struct rshard **link = &t->shards;
    while (*link)
        link = &(*link)->next;
    *link = s;
}

/* Shards retired or read to their end and gone from the description are freed. */
static void shards_prune(struct rtable *t)
{
    for (struct rshard **link = &t->shards; *link;) {
        struct rshard *s = *link;
        if (!s->busy && (s->retired || (s->done && !s->seen))) {
            *link = s->next;
            uv_close((uv_handle_t *)&s->timer, on_shard_closed);
            continue;
        }
        link = &s->next;
    }
}

static void on_described(struct backend_result *res, void *arg)
{
    struct rtable *t = arg;
    t->describing = false;
    if (!g.running || !t->q.stream_arn) return;
    if (t->describe_stale) { /* it described the stream before the current one */
        t->describe_stale = false;
        table_schedule(t, 0);
        return;
    }
    struct json *doc =
        res->outcome == BACKEND_ANSWERED && res->status == 200 ? parse_answer(res) : NULL;
    struct stream_description d;
    if (!doc || stream_parse_describe(&g.scratch, doc, &d) != STREAM_OK) {
        METRIC_INCR(stream_errors);
        if (!doc && error_of(res) == STREAM_ERROR_NOT_FOUND) {
            log_warn("the stream of table %.*s is gone; writes that bypass ddbx are now seen only "
                     "after --item-ttl / --query-ttl",
                     (int)t->q.table_len, t->q.table);
            set_state(t, R_LOST);
            gap(t, "its stream is gone");
            for (struct rshard *s = t->shards; s; s = s->next)
                s->retired = true;
            shards_prune(t);
            return;
        }
        backoff(&t->error_delay);
        table_schedule(t, t->error_delay);
        return;
    }
    t->error_delay = 0;
    if (!t->next_page) { /* the first page of a description */
        for (struct rshard *s = t->shards; s; s = s->next)
            s->seen = false;
        if (!t->started && !t->disk) t->disk = resume_load(t);
    }
    stream_shards_order(d.shards, d.nshards);
    for (int i = 0; i < d.nshards; i++) {
        struct rshard *s = shard_find(t, d.shards[i].id.s, d.shards[i].id.len);
        if (s)
            s->seen = true;
        else
            shard_add(t, &d.shards[i]);
    }
    free(t->next_page);
    t->next_page = NULL;
    if (d.last_evaluated_shard_id.s) { /* another page */
        t->next_page = xstrndup(d.last_evaluated_shard_id.s, d.last_evaluated_shard_id.len);
        describe(t);
        return;
    }
    if (!t->started) {
        t->started = true;
        for (struct rshard *s = t->shards; s; s = s->next)
            t->pending_start += s->starting;
        if (t->pending_start == 0) { /* no open shard: nothing to wait for */
            set_state(t, R_READING);
            if (t->resumed) {
                log_info("stream of table %.*s: reading on after the positions %s",
                         (int)t->q.table_len, t->q.table,
                         t->disk ? "kept at the last clean stop" : "published");
                t->catching_up = true;
            } else {
                gap(t, "reading starts");
            }
        }
    }
    shards_prune(t);
    shards_start(t);
    bool again = t->describe_soon;
    t->describe_soon = false;
    /* a description that started before a shard ended may miss its children */
    if (!again) t->ended_since_describe = false;
    table_schedule(t, again ? 0 : g.o.describe_ms);
    check_ready(t);
}

static void describe(struct rtable *t)
{
    struct buf body = BUF_INIT;
    struct json_writer w;
    jw_init(&w, &body);
    jw_object_begin(&w);
    jw_cstr(&w, "StreamArn");
    jw_string(&w, t->q.stream_arn, t->q.stream_arn_len);
    if (t->next_page) {
        jw_cstr(&w, "ExclusiveStartShardId");
        jw_cstr(&w, t->next_page);
    }
    jw_object_end(&w);
    jw_free(&w);
    t->describing = true;
    call("DescribeStream", &body, on_described, t);
}

static void on_table_timer(uv_timer_t *timer)
{
    struct rtable *t = timer->data;
    if (g.running && t->owned && t->q.stream_arn && !t->describing && t->state != R_LOST)
        describe(t);
}

static void table_schedule(struct rtable *t, uint64_t delay)
{
    uv_timer_start(&t->timer, on_table_timer, delay, 0);
}

/* Stops reading the table's current stream (its shards finish their calls). */
static void table_retire(struct rtable *t)
{
    for (struct rshard *s = t->shards; s; s = s->next)
        s->retired = true;
    shards_prune(t);
    uv_timer_stop(&t->timer);
    t->describe_stale = t->describing;
    t->started = false;
    t->pending_start = 0;
    t->resumed = 0;
    t->disk = t->catching_up = t->ended_since_describe = false;
    free(t->next_page);
    t->next_page = NULL;
    stream_own_reset(t->q.table, t->q.table_len, false, now_ms());
}

static bool same_arn(const struct query_table *a, const struct query_table *b)
{
    if (!a->stream_arn || !b->stream_arn) return !a->stream_arn && !b->stream_arn;
    return a->stream_arn_len == b->stream_arn_len &&
           memcmp(a->stream_arn, b->stream_arn, a->stream_arn_len) == 0;
}

static struct rtable *table_find(const char *name, size_t len)
{
    for (struct rtable *t = g.tables; t; t = t->next)
        if (t->q.table_len == len && memcmp(t->q.table, name, len) == 0) return t;
    return NULL;
}

/* A description of a table: a new reader, a restarted one, or new indexes. */
static void table_update(struct pending *p)
{
    struct rtable *t = table_find(p->q.table, p->q.table_len);
    bool fresh = !t;
    if (fresh) {
        t = xcalloc(1, sizeof(*t));
        arena_init(&t->strings);
        t->lag_ms = -1;
        uv_timer_init(g.o.loop, &t->timer);
        t->timer.data = t;
        g.open_handles++;
    }
    bool restart = fresh || !same_arn(&t->q, &p->q);
    if (!fresh && restart) table_retire(t);
    /* the new description replaces the old (indexes may have changed) */
    pthread_mutex_lock(&g.lock);
    arena_free(&t->strings);
    t->strings = p->strings;
    t->q = p->q;
    if (fresh) {
        t->next = g.tables;
        g.tables = t;
    }
    pthread_mutex_unlock(&g.lock);
    arena_init(&p->strings); /* moved */
    if (!restart) return;
    if (!t->q.stream_arn) {
        set_state(t, R_NO_STREAM);
        log_info("table %.*s has no stream: writes that bypass ddbx are seen only after "
                 "--item-ttl / --query-ttl",
                 (int)t->q.table_len, t->q.table);
        return;
    }
    t->owned = !g.o.owns || g.o.owns(t->q.table, t->q.table_len);
    if (!t->owned) {
        set_state(t, R_PEER);
        log_info("table %.*s: another node reads its stream", (int)t->q.table_len, t->q.table);
        return;
    }
    set_state(t, R_STARTING);
    log_info("reading the stream of table %.*s", (int)t->q.table_len, t->q.table);
    table_schedule(t, 0);
}

/* ---- the cluster: ownership and positions ---- */

static struct position *position_at(const char *arn, size_t alen, const char *shard, size_t slen)
{
    for (struct position *p = g.positions; p; p = p->next)
        if (strlen(p->arn) == alen && memcmp(p->arn, arn, alen) == 0 && strlen(p->shard) == slen &&
            memcmp(p->shard, shard, slen) == 0)
            return p;
    return NULL;
}

/* Under g.lock. */
static void position_put(const char *arn, size_t alen, const char *shard, size_t slen,
                         const char *seq, size_t qlen)
{
    if (!qlen || qlen > STREAM_SEQ_MAX || !alen || !slen) return;
    struct position *p = position_at(arn, alen, shard, slen);
    if (p && stream_seq_compare(seq, qlen, p->seq, strlen(p->seq)) <= 0) return;
    if (!p) {
        p = xcalloc(1, sizeof(*p));
        p->arn = xstrndup(arn, alen);
        p->shard = xstrndup(shard, slen);
        p->next = g.positions;
        g.positions = p;
    }
    memcpy(p->seq, seq, qlen);
    p->seq[qlen] = '\0';
}

void stream_position_note(const char *arn, size_t alen, const char *shard, size_t slen,
                          const char *seq, size_t qlen)
{
    pthread_mutex_lock(&g.lock);
    position_put(arn, alen, shard, slen, seq, qlen);
    pthread_mutex_unlock(&g.lock);
}

/* The largest position known for a shard of t's stream, copied to seq (empty:
 * none applied, read it whole); *done: it was read to its end. */
static bool position_find(const struct rtable *t, const char *shard, char *seq, bool *done)
{
    pthread_mutex_lock(&g.lock);
    const struct position *p =
        position_at(t->q.stream_arn, t->q.stream_arn_len, shard, strlen(shard));
    if (p) {
        memcpy(seq, p->seq, sizeof(p->seq));
        *done = p->done;
    }
    pthread_mutex_unlock(&g.lock);
    return p != NULL;
}

/* STREAM_POSITION of a table this node reads: each shard's acknowledged
 * position (kept here too, for when this node reads it again). */
static void publish(struct rtable *t)
{
    size_t n = 0;
    for (struct rshard *s = t->shards; s; s = s->next)
        n += !s->retired;
    if (!n || !g.o.publish) return;
    struct peer_shard_pos *pos = xcalloc(n, sizeof(*pos));
    size_t i = 0;
    pthread_mutex_lock(&g.lock);
    for (struct rshard *s = t->shards; s; s = s->next) {
        if (s->retired) continue;
        pos[i].shard = (struct peer_bytes){(const uint8_t *)s->id, strlen(s->id)};
        pos[i++].sequence =
            (struct peer_bytes){(const uint8_t *)s->acked_seq, strlen(s->acked_seq)};
        position_put(t->q.stream_arn, t->q.stream_arn_len, s->id, strlen(s->id), s->acked_seq,
                     strlen(s->acked_seq));
    }
    pthread_mutex_unlock(&g.lock);
    g.o.publish(t->q.table, t->q.stream_arn, pos, n);
    free(pos);
}

/* Starts or stops each table's reader as ownership now says. */
static void reown_all(void)
{
    for (struct rtable *t = g.tables; t; t = t->next) {
        if (!t->q.stream_arn || t->state == R_LOST || !g.o.owns) continue;
        bool owns = g.o.owns(t->q.table, t->q.table_len);
        if (owns && !t->owned) {
            t->owned = true;
            set_state(t, R_STARTING);
            log_info("stream of table %.*s: this node reads it now", (int)t->q.table_len,
                     t->q.table);
            table_schedule(t, g.o.takeover_ms); /* the old owner's last position first */
        } else if (!owns && t->owned) {
            publish(t); /* where the next owner takes over */
            table_retire(t);
            t->owned = false;
            set_state(t, R_PEER);
            log_info("stream of table %.*s: another node reads it now", (int)t->q.table_len,
                     t->q.table);
        }
    }
}

void stream_reown(void)
{
    pthread_mutex_lock(&g.lock);
    if (g.running) {
        g.reown = true;
        uv_async_send(&g.async);
    }
    pthread_mutex_unlock(&g.lock);
}

static void on_position_timer(uv_timer_t *timer)
{
    if (!g.running) return;
    reown_all(); /* also catches an owner that comes with time, not an event */
    for (struct rtable *t = g.tables; t; t = t->next)
        if (t->owned && t->state == R_READING) publish(t);
}

static void on_async(uv_async_t *a)
{
    pthread_mutex_lock(&g.lock);
    struct pending *p = g.pending;
    struct fanned *f = g.fanned;
    bool reown = g.reown;
    g.pending = NULL;
    g.fanned = NULL;
    g.reown = false;
    pthread_mutex_unlock(&g.lock);
    while (f) {
        struct fanned *next = f->next;
        if (g.running) fanned_run(f);
        free(f);
        f = next;
    }
    if (reown && g.running) reown_all();
    /* oldest first, so the last description of a table wins */
    struct pending *rev = NULL;
    while (p) {
        struct pending *next = p->next;
        p->next = rev;
        rev = p;
        p = next;
    }
    while (rev) {
        struct pending *next = rev->next;
        if (g.running) table_update(rev);
        arena_free(&rev->strings);
        free(rev);
        rev = next;
    }
}

/* ---- a warm restart: positions kept across a clean stop ---- */

/* The resumed table has read up to the present: every shard answered an
 * empty page or ended, and no shard ended after the last description
 * started (its children would be unknown). */
static void check_ready(struct rtable *t)
{
    if (!t->catching_up || t->state != R_READING || t->describing || t->describe_soon ||
        t->ended_since_describe)
        return;
    for (const struct rshard *s = t->shards; s; s = s->next)
        if (!s->retired && !s->done && !s->caught_up) return;
    t->catching_up = false;
    log_info("stream of table %.*s: read up to the present after resuming", (int)t->q.table_len,
             t->q.table);
    /* own writes sent from now on have their records after this point */
    bool images = t->q.stream_view == QUERY_STREAM_NEW_IMAGE ||
                  t->q.stream_view == QUERY_STREAM_NEW_AND_OLD_IMAGES;
    stream_own_reset(t->q.table, t->q.table_len, images, now_ms());
    if (g.o.ready) g.o.ready(t->q.table, t->q.table_len);
}

/* The name of the i-th value holding the positions of a stream. */
static void resume_name(char *out, size_t outlen, const char *arn, size_t alen, int i)
{
    XXH128_hash_t h = XXH3_128bits(arn, alen);
    snprintf(out, outlen, "stream.positions.%016llx%016llx.%d", (unsigned long long)h.high64,
             (unsigned long long)h.low64, i);
}

/* Stores where t's shards got to (positions.h), in values of at most
 * STREAM_POSITIONS_CHUNK bytes. */
static void resume_save(const struct rtable *t)
{
    struct buf lines = BUF_INIT;
    size_t cut[STREAM_POSITIONS_CHUNKS_MAX + 1] = {0}; /* where each value's lines start */
    int n = 1;
    for (const struct rshard *s = t->shards; s; s = s->next) {
        if (s->retired) continue;
        size_t slen = strlen(s->id), qlen = strlen(s->acked_seq);
        if (slen > STREAM_POSITIONS_SHARD_MAX) goto out; /* not kept: the next start has a gap */
        if (lines.len - cut[n - 1] + slen + qlen + 3 > STREAM_POSITIONS_CHUNK - 64) {
            if (n == STREAM_POSITIONS_CHUNKS_MAX) goto out;
            cut[n++] = lines.len;
        }
        stream_positions_write_line(&lines, s->id, slen,
                                    qlen      ? STREAM_POSITION_AFTER
                                    : s->done ? STREAM_POSITION_ENDED
                                              : STREAM_POSITION_WHOLE,
                                    s->acked_seq, qlen);
    }
    cut[n] = lines.len;
    uint64_t wall = clock_wall_ms();
    for (int i = 0; i < n; i++) {
        char name[64];
        struct buf v = BUF_INIT;
        stream_positions_write_header(&v, wall, i, n);
        buf_append(&v, lines.data + cut[i], cut[i + 1] - cut[i]);
        resume_name(name, sizeof(name), t->q.stream_arn, t->q.stream_arn_len, i);
        g.o.meta_put(name, v.data, v.len);
        buf_free(&v);
    }
    log_info("stream of table %.*s: positions kept for the next start", (int)t->q.table_len,
             t->q.table);
out:
    buf_free(&lines);
}

/* One value of a stream's positions: checks it is value i of the same save
 * as the first (wall, n) and notes its lines; false when it is not what was
 * stored. */
static bool resume_parse(const struct rtable *t, const struct buf *v, int i, uint64_t *wall, int *n)
{
    struct arena a;
    struct stream_positions_value pv;
    arena_init(&a);
    bool ok = stream_positions_parse(&a, v->data, v->len, &pv) == 0 && pv.index == i &&
              (i == 0 || (pv.wall_ms == *wall && pv.count == *n));
    if (ok) {
        *wall = pv.wall_ms;
        *n = pv.count;
    }
    for (int k = 0; ok && k < pv.nlines; k++) {
        const struct stream_position_line *l = &pv.lines[k];
        pthread_mutex_lock(&g.lock);
        struct position *p = position_at(t->q.stream_arn, t->q.stream_arn_len, l->shard, l->slen);
        if (!p) {
            p = xcalloc(1, sizeof(*p));
            p->arn = xstrndup(t->q.stream_arn, t->q.stream_arn_len);
            p->shard = xstrndup(l->shard, l->slen);
            p->next = g.positions;
            g.positions = p;
        }
        memcpy(p->seq, l->seq ? l->seq : "", l->qlen);
        p->seq[l->qlen] = '\0';
        p->done = l->kind == STREAM_POSITION_ENDED;
        pthread_mutex_unlock(&g.lock);
    }
    arena_free(&a);
    return ok;
}

/* Forgets what resume_parse noted of t's stream. */
static void resume_forget(const struct rtable *t)
{
    pthread_mutex_lock(&g.lock);
    for (struct position **link = &g.positions; *link;) {
        struct position *p = *link;
        if (strlen(p->arn) == t->q.stream_arn_len &&
            memcmp(p->arn, t->q.stream_arn, t->q.stream_arn_len) == 0) {
            *link = p->next;
            free(p->arn);
            free(p->shard);
            free(p);
            continue;
        }
        link = &p->next;
    }
    pthread_mutex_unlock(&g.lock);
}

/* Takes back (once: the values are emptied) the positions the last clean
 * stop kept for t's stream; true when t reads on from them. */
static bool resume_load(struct rtable *t)
{
    if (!g.o.meta_get || !t->q.stream_arn) return false;
    uint64_t wall = 0;
    int n = 1;
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        char name[64];
        struct buf v = BUF_INIT;
        resume_name(name, sizeof(name), t->q.stream_arn, t->q.stream_arn_len, i);
        bool got = g.o.meta_get(name, &v) == 0 && v.len;
        if (got && g.o.meta_put) g.o.meta_put(name, "", 0);
        if (!got && i == 0) return false; /* nothing kept for this stream */
        ok = got && resume_parse(t, &v, i, &wall, &n);
        buf_free(&v);
    }
    uint64_t now = clock_wall_ms();
    if (ok && now > wall && now - wall > RESUME_MAX_AGE_MS) {
        log_info("stream of table %.*s: the positions kept at the last stop are older than "
                 "the stream's records",
                 (int)t->q.table_len, t->q.table);
        ok = false;
    } else if (!ok) {
        log_warn("stream of table %.*s: the positions kept at the last stop cannot be read",
                 (int)t->q.table_len, t->q.table);
    }
    if (!ok) resume_forget(t); /* unknown: the start's gap covers it */
    return ok;
}

/* ---- the module ---- */

int stream_setup(const struct stream_options *o)
{
    g.o = *o;
    if (!g.o.poll_min_ms) g.o.poll_min_ms = 100;
    if (!g.o.poll_max_ms) g.o.poll_max_ms = 1000;
    if (!g.o.describe_ms) g.o.describe_ms = 60000;
    if (!g.o.own_keep_ms) g.o.own_keep_ms = 60000;
    if (!g.o.position_ms) g.o.position_ms = 1000;
    arena_init(&g.scratch);
    if (uv_async_init(g.o.loop, &g.async, on_async) != 0) return -1;
    g.open_handles = 1;
    g.timer_on = g.o.owns || g.o.publish;
    if (g.timer_on) {
        uv_timer_init(g.o.loop, &g.position_timer);
        uv_timer_start(&g.position_timer, on_position_timer, g.o.position_ms, g.o.position_ms);
        g.open_handles++;
    }
    stream_own_setup(g.o.own_keep_ms, 65536);
    pthread_mutex_lock(&g.lock);
    g.running = true;
    pthread_mutex_unlock(&g.lock);
    return 0;
}

void stream_watch(const struct query_table *t)
{
    struct pending *p = xcalloc(1, sizeof(*p));
    arena_init(&p->strings);
    query_table_copy(&p->strings, t, &p->q);
    pthread_mutex_lock(&g.lock);
    if (!g.running) {
        pthread_mutex_unlock(&g.lock);
        arena_free(&p->strings);
        free(p);
        return;
    }
    p->next = g.pending;
    g.pending = p;
    uv_async_send(&g.async);
    pthread_mutex_unlock(&g.lock);
}

void stream_stop(void)
{
    pthread_mutex_lock(&g.lock);
    bool was = g.running;
    g.running = false;
    pthread_mutex_unlock(&g.lock);
    if (!was) return;
    /* in-flight calls finish now (their callbacks see running false) */
    g.o.bops->destroy(g.o.backend);
    g.o.backend = NULL;
    uv_close((uv_handle_t *)&g.async, on_closed);
    if (g.timer_on) uv_close((uv_handle_t *)&g.position_timer, on_closed);
    for (struct rtable *t = g.tables; t; t = t->next) {
        if (t->owned && t->state == R_READING) {
            publish(t);                                          /* for the next owner */
            if (g.o.meta_put && t->q.stream_arn) resume_save(t); /* for the next start */
        }
        uv_close((uv_handle_t *)&t->timer, on_closed);
        for (struct rshard *s = t->shards; s; s = s->next)
            uv_close((uv_handle_t *)&s->timer, on_closed);
    }
}

void stream_teardown(void)
{
    while (g.tables) {
        struct rtable *t = g.tables;
        g.tables = t->next;
        while (t->shards) {
            struct rshard *s = t->shards;
            t->shards = s->next;
            shard_free(s);
        }
        free(t->next_page);
        arena_free(&t->strings);
        free(t);
    }
    while (g.pending) {
        struct pending *p = g.pending;
        g.pending = p->next;
        arena_free(&p->strings);
        free(p);
    }
    while (g.fanned) {
        struct fanned *f = g.fanned;
        g.fanned = f->next;
        free(f);
    }
    while (g.positions) {
        struct position *p = g.positions;
        g.positions = p->next;
        free(p->arn);
        free(p->shard);
        free(p);
    }
    g.timer_on = g.reown = false;
    arena_free(&g.scratch);
    stream_own_teardown();
    memset(&g.o, 0, sizeof(g.o));
}

void stream_gauge_state(struct buf *out, const char *name)
{
    pthread_mutex_lock(&g.lock);
    for (struct rtable *t = g.tables; t; t = t->next)
        buf_printf(out, "%s{table=\"%.*s\",state=\"%s\"} 1\n", name, (int)t->q.table_len,
                   t->q.table, state_names[t->state]);
    pthread_mutex_unlock(&g.lock);
}

void stream_gauge_lag(struct buf *out, const char *name)
{
    pthread_mutex_lock(&g.lock);
    for (struct rtable *t = g.tables; t; t = t->next)
        if (t->lag_ms >= 0)
            buf_printf(out, "%s{table=\"%.*s\"} %.3f\n", name, (int)t->q.table_len, t->q.table,
                       (double)t->lag_ms / 1000.0);
    pthread_mutex_unlock(&g.lock);
}
