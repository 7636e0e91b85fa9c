/*
 * transport_cases.c: what every backend HTTP client must do, whichever it is
 * (test_http1.c and test_curl.c run these with fx_client set): answers of
 * every shape, keep-alive reuse, each failure outcome, the one resend on a
 * reused connection, large bodies, concurrency, and shutdown with a call in
 * flight. Each case drives the public API (backend.h) against the scripted
 * server (test_server.h) on 127.0.0.1.
 */
#include "transport_cases.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/crc.h"

#define GET_BODY "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"k\"}}}"
#define OK_HEAD "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"

static const char *expected_client;

static void the_client_is_the_one_asked_for(void **state)
{
    struct fx f;
    fx_start(&f, NULL, 1000);
    assert_string_equal(backend_client_name(), expected_client);
    fx_stop(&f);
}

static void answer_with_body_status_and_request_id(void **state)
{
    struct fx f;
    struct got g = {0};
    fx_start(&f, NULL, 5000);
    ts_push_str(f.srv, TS_ANSWER,
                OK_HEAD "x-amzn-RequestId: RID0123456789\r\nContent-Length: 24\r\n\r\n"
                        "{\"Item\":{\"a\":{\"S\":\"b\"}}}");
    fx_roundtrip(&f, GET_BODY, &g);
    assert_int_equal(g.outcome, BACKEND_ANSWERED);
    assert_int_equal(g.status, 200);
    assert_string_equal(g.body.data, "{\"Item\":{\"a\":{\"S\":\"b\"}}}");
    assert_string_equal(g.request_id, "RID0123456789");
    const struct ts_request *r = ts_request(f.srv, 0);
    assert_non_null(r);
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->path.data, "/");
    assert_string_equal(r->body.data, GET_BODY);
    assert_string_equal(ts_header(r, "x-amz-target"), "DynamoDB_20120810.GetItem");
    assert_string_equal(ts_header(r, "content-type"), "application/x-amz-json-1.0");
    char host[32];
    snprintf(host, sizeof(host), "127.0.0.1:%d", ts_port(f.srv));
    assert_string_equal(ts_header(r, "host"), host);
    assert_non_null(ts_header(r, "authorization"));
    assert_non_null(ts_header(r, "x-amz-date"));
    assert_null(ts_header(r, "expect"));
    got_free(&g);
    fx_stop(&f);
}

static void error_statuses_are_answers(void **state)
{
    struct fx f;
    struct got g = {0};
    fx_start(&f, NULL, 5000);
    const char *err = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ThrottlingException\"}";
    char raw[256];
    snprintf(raw, sizeof(raw), "HTTP/1.1 400 Bad Request\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(err), err);
    ts_push_str(f.srv, TS_ANSWER, raw);
    ts_push_str(f.srv, TS_ANSWER,
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy");
    fx_roundtrip(&f, GET_BODY, &g);
    assert_int_equal(g.outcome, BACKEND_ANSWERED);
    assert_int_equal(g.status, 400);
    assert_string_equal(g.body.data, err);
    got_free(&g);
    fx_roundtrip(&f, GET_BODY, &g);
    assert_int_equal(g.outcome, BACKEND_ANSWERED);
    assert_int_equal(g.status, 503);
    assert_string_equal(g.body.data, "busy");
    got_free(&g);
    assert_int_equal(ts_accepted(f.srv), 1);
    fx_stop(&f);
}

static void chunked_answer_and_header_case(void **state)
{
    struct fx f;
    struct got g = {0};
    fx_start(&f, NULL, 5000);
    ts_push_str(
        f.srv, TS_ANSWER,
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-AMZN-REQUESTID:   spaced-id  \r\n"
        "X-Amzn-RequestId-Other: no\r\n\r\n"
        "5\r\n{\"a\":\r\n4\r\n\"b\"}\r\n0\r\n\r\n");
    fx_roundtrip(&f, GET_BODY, &g);
    assert_int_equal(g.outcome, BACKEND_ANSWERED);
    assert_int_equal(g.status, 200);
    assert_string_equal(g.body.data, "{\"a\":\"b\"}");
    assert_string_equal(g.request_id, "spaced-id");
    got_free(&g);
    fx_roundtrip(&f, GET_BODY, &g); /* the connection is still good */
    assert_int_equal(g.status, 200);
    assert_string_equal(g.request_id, "");
    got_free(&g);
    assert_int_equal(ts_accepted(f.srv), 1);
    fx_stop(&f);
}

static void sequential_calls_reuse_one_connection(void **state)
{
    struct fx f;
    struct got g = {0};
    fx_start(&f, NULL, 5000);
    int64_t opened = fx_opened();
    for (int i = 0; i < 20; i++) {
        fx_roundtrip(&f, GET_BODY, &g);
        assert_int_equal(g.status, 200);
        got_free(&g);
    }
    assert_int_equal(ts_requests(f.srv), 20);
    assert_int_equal(ts_accepted(f.srv), 1);
    assert_int_equal(fx_opened() - opened, 1);
    assert_int_equal(backend_inflight(f.b), 0);
    fx_stop(&f);
}

static void connection_close_answer_is_not_reused(void **state)
{
    struct fx f;
    struct got g = {0};
    fx_start(&f, NULL, 5000);
    ts_push_str(f.srv, TS_ANSWER_CLOSE, OK_HEAD "Connection: close\r\nContent-Length: 2\r\n\r\n{}");
    fx_roundtrip(&f, GET_BODY, &g);
    assert_int_equal(g.status, 200);
    got_free(&g);
    fx_roundtrip(&f, GET_BODY, &g);
    assert_int_equal(g.status, 200);
    got_free(&g);
    assert_int_equal(ts_accepted(f.srv), 2);
    assert_int_equal(ts_requests(f.srv), 2);
    fx_stop(&f);
}

static void answer_delimited_by_close(void **state)
{
    struct fx f;
    struct got g = {0};
    fx_start(&f, NULL, 5000);
    ts_push_str(f.srv, TS_ANSWER_CLOSE,
                "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"until\":\"eof\"}");
    fx_roundtrip(&f, GET_BODY, &g);
    assert_int_equal(g.outcome, BACKEND_ANSWERED);
    assert_int_equal(g.status, 200);
    assert_string_equal(g.body.data, "{\"until\":\"eof\"}");
    got_free(&g);
    fx_stop(&f);
}

static void interim_100_answer_is_skipped(void **state)
{
    struct fx f;
    struct got g = {0};
    fx_start(&f, NULL, 5000);
    ts_push_str(f.srv, TS_ANSWER,
                "HTTP/1.1 100 Continue\r\n\r\n" OK_HEAD "Content-Length: 7\r\n\r\n{\"x\":1}");
    fx_roundtrip(&f, GET_BODY, &g);
    assert_int_equal(g.outcome, BACKEND_ANSWERED);
    assert_int_equal(g.status, 200);
    assert_string_equal(g.body.data, "{\"x\":1}");
    got_free(&g);
    fx_stop(&f);
}

static void refused_connection_is_unreachable(void **state)
{
    struct fx f;
    struct got g = {0};
    /* a port that was free a moment ago: bind, note, close */
    uv_loop_t l;
    uv_loop_init(&l);
    struct test_server *tmp = ts_start(&l);
    int port = ts_port(tmp);
    ts_stop(tmp);
    uv_run(&l, UV_RUN_DEFAULT);
    uv_loop_close(&l);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    fx_start(&f, url, 5000);
    uint64_t t0 = clock_mono_ms();
    fx_roundtrip(&f, GET_BODY, &g);
    assert_int_equal(g.outcome, BACKEND_UNREACHABLE);
    assert_int_equal(g.status, 0);
    assert_non_null(g.error);
    assert_true(clock_mono_ms() - t0 < 2000);
    got_free(&g);
    fx_stop(&f);
}

static void silent_backend_times_out(void **state)
{
    struct fx f;
    struct got g = {0};
    fx_start(&f, NULL, 300);
    ts_push_str(f.srv, TS_HANG, "");
    uint64_t t0 = clock_mono_ms();
    fx_roundtrip(&f, GET_BODY, &g);
    uint64_t took = clock_mono_ms() - t0;
    assert_int_equal(g.outcome, BACKEND_TIMEOUT);
    assert_int_equal(g.status, 0);
    assert_true(took >= 250);
    assert_true(took < 3000);
    got_free(&g);
    fx_roundtrip(&f, GET_BODY, &g); /* a new connection serves the next call */
    assert_int_equal(g.status, 200);
    got_free(&g);
    assert_int_equal(ts_accepted(f.srv), 2);
    fx_stop(&f);
}

static void reset_mid_answer_is_an_io_error(void **state)
{
    struct fx f;
    struct got g = {0};
    fx_start(&f, NULL, 5000);
    ts_push_str(f.srv, TS_ANSWER_RESET, OK_HEAD "Content-Length: 100\r\n\r\n{\"half\":");
    fx_roundtrip(&f, GET_BODY, &g);
    assert_int_equal(g.outcome, BACKEND_IO_ERROR);
    assert_int_equal(g.status, 0);
    got_free(&g);
    assert_int_equal(ts_requests(f.srv), 1); /* bytes of the answer came: never resent */
    fx_stop(&f);
}

/* x-amz-crc32 is checked, as the SDKs check it: an answer whose body does
 * not match it (or whose value is not a CRC) is an IO error, never an
 * answer a handler could cache. */
static void damaged_answer_is_an_io_error(void **state)
{
    struct fx f;
    struct got g = {0};
    const char *body = "{\"Item\":{\"a\":{\"S\":\"b\"}}}";
    uint32_t crc = crc32_of(body, strlen(body));
    char raw[320];
    fx_start(&f, NULL, 5000);
    const char *heads[] = {"x-amz-crc32: %u\r\n",    "X-Amz-Crc32:%u \r\n",  "x-amz-crc32: %u\r\n",
                           "x-amz-crc32: 12x%u\r\n", "x-amz-crc32: 9%u\r\n", ""};
    uint32_t crcs[] = {crc, crc, crc + 1, crc, crc, 0};
    int want[] = {BACKEND_ANSWERED, BACKEND_ANSWERED, BACKEND_IO_ERROR,
                  BACKEND_IO_ERROR, BACKEND_IO_ERROR, BACKEND_ANSWERED};
    for (size_t i = 0; i < ARRAY_SIZE(heads); i++) {
        char h[64];
        snprintf(h, sizeof(h), heads[i], crcs[i]);
        snprintf(raw, sizeof(raw), OK_HEAD "%sContent-Length: %zu\r\n\r\n%s", h, strlen(body),
                 body);
        ts_push_str(f.srv, TS_ANSWER, raw);
        fx_roundtrip(&f, GET_BODY, &g);
        if ((int)g.outcome != want[i]) fail_msg("answer %zu (%s): outcome %d", i, h, g.outcome);
        if (want[i] == BACKEND_ANSWERED) {
            assert_int_equal(g.status, 200);
            assert_string_equal(g.body.data, body);
            /* checked, it is handed on (a relay sends it without computing it again) */
            assert_int_equal(g.crc_known, heads[i][0] != '\0');
            if (g.crc_known) assert_int_equal(g.crc, crc);
        } else {
            assert_int_equal(g.status, 0);
            assert_true(g.body.len == 0);
        }
        got_free(&g);
    }
    fx_stop(&f);
}

static void garbage_is_an_io_error(void **state)
{
    struct fx f;
    struct got g = {0};
    fx_start(&f, NULL, 5000);
    ts_push_str(f.srv, TS_ANSWER_CLOSE, "SSH-2.0-OpenSSH_9.2\r\nnot http at all\r\n\r\n");
    fx_roundtrip(&f, GET_BODY, &g);
    assert_int_equal(g.outcome, BACKEND_IO_ERROR);
    got_free(&g);
    fx_stop(&f);
}

static void idle_connection_closed_by_backend_is_replaced(void **state)
{
    struct fx f;
    struct got g = {0};
    fx_start(&f, NULL, 5000);
    /* no Connection: close, but the backend closes the connection afterwards */
    ts_push_str(f.srv, TS_ANSWER_CLOSE, OK_HEAD "Content-Length: 2\r\n\r\n{}");
    fx_roundtrip(&f, GET_BODY, &g);
    assert_int_equal(g.status, 200);
    got_free(&g);
    fx_run_for(&f, 50);
    fx_roundtrip(&f, GET_BODY, &g);
    assert_int_equal(g.outcome, BACKEND_ANSWERED);
    assert_int_equal(g.status, 200);
    got_free(&g);
    assert_int_equal(ts_accepted(f.srv), 2);
    assert_int_equal(ts_requests(f.srv), 2);
    fx_stop(&f);
}

static void close_on_reused_connection_is_resent_once(void **state)
{
    struct fx f;
    struct got g = {0};
    fx_start(&f, NULL, 5000);
    ts_push_str(f.srv, TS_ANSWER, OK_HEAD "Content-Length: 2\r\n\r\n{}");
    ts_push_str(f.srv, TS_CLOSE, ""); /* the reused connection dies as the request arrives */
    ts_push_str(f.srv, TS_ANSWER, OK_HEAD "Content-Length: 9\r\n\r\n{\"n\":\"2\"}");
    fx_roundtrip(&f, GET_BODY, &g);
    got_free(&g);
    fx_roundtrip(&f, GET_BODY, &g);
    assert_int_equal(g.outcome, BACKEND_ANSWERED);
    assert_string_equal(g.body.data, "{\"n\":\"2\"}");
    got_free(&g);
    assert_int_equal(ts_requests(f.srv), 3);
    assert_int_equal(ts_request(f.srv, 2)->conn, 2);
    assert_string_equal(ts_request(f.srv, 2)->body.data, GET_BODY);
    /* and only once: a second close is the call's failure */
    ts_push_str(f.srv, TS_CLOSE, "");
    ts_push_str(f.srv, TS_CLOSE, "");
    fx_roundtrip(&f, GET_BODY, &g);
    assert_int_equal(g.outcome, BACKEND_IO_ERROR);
    got_free(&g);
    assert_int_equal(ts_requests(f.srv), 5);
    fx_stop(&f);
}

static void close_on_new_connection_is_not_resent(void **state)
{
    struct fx f;
    struct got g = {0};
    fx_start(&f, NULL, 5000);
    ts_push_str(f.srv, TS_CLOSE, "");
    fx_roundtrip(&f, GET_BODY, &g);
    assert_int_equal(g.outcome, BACKEND_IO_ERROR);
    got_free(&g);
    assert_int_equal(ts_requests(f.srv), 1);
    fx_stop(&f);
}

static void large_bodies_both_ways(void **state)
{
    struct fx f;
    struct got g = {0};
    fx_start(&f, NULL, 10000);
    size_t in = 3 * 1024 * 1024 + 17, out = 2 * 1024 * 1024 + 3;
    char *body = xmalloc(in + 1);
    for (size_t i = 0; i < in; i++)
        body[i] = (char)('a' + i % 26);
    body[in] = '\0';
    struct buf raw = BUF_INIT;
    buf_printf(&raw, OK_HEAD "Content-Length: %zu\r\n\r\n", out);
    size_t head = raw.len;
    buf_reserve(&raw, out);
    for (size_t i = 0; i < out; i++)
        raw.data[head + i] = (char)('A' + i % 26);
    raw.len += out;
    ts_push(f.srv, TS_ANSWER, raw.data, raw.len);
    fx_call(&f, "DynamoDB_20120810.BatchWriteItem", body, in, &g);
    fx_wait(&f, &g);
    if (g.outcome != BACKEND_ANSWERED)
        fail_msg("outcome %d: %s (server: %d requests)", g.outcome, g.error, ts_requests(f.srv));
    assert_int_equal(g.body.len, out);
    assert_memory_equal(g.body.data, raw.data + head, out);
    const struct ts_request *r = ts_request(f.srv, 0);
    assert_int_equal(r->body.len, in);
    assert_memory_equal(r->body.data, body, in);
    got_free(&g);
    buf_free(&raw);
    free(body);
    fx_stop(&f);
}

static void concurrent_calls_each_get_their_answer(void **state)
{
    struct fx f;
    enum { N = 12 };
    struct got g[N];
    memset(g, 0, sizeof(g));
    fx_start(&f, NULL, 5000);
    char bodies[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(bodies[i], sizeof(bodies[i]), "{\"n\":%d}", i);
        fx_call(&f, "DynamoDB_20120810.GetItem", bodies[i], strlen(bodies[i]), &g[i]);
    }
    assert_int_equal(backend_inflight(f.b), N);
    for (int i = 0; i < N; i++) {
        fx_wait(&f, &g[i]);
        assert_int_equal(g[i].status, 200);
        got_free(&g[i]);
    }
    assert_int_equal(ts_requests(f.srv), N);
    assert_true(ts_accepted(f.srv) <= N);
    assert_int_equal(backend_inflight(f.b), 0);
    fx_stop(&f);
}

static void destroy_finishes_calls_in_flight(void **state)
{
    struct fx f;
    struct got g = {0};
    fx_start(&f, NULL, 5000);
    ts_push_str(f.srv, TS_HANG, "");
    fx_call(&f, "DynamoDB_20120810.GetItem", GET_BODY, strlen(GET_BODY), &g);
    while (ts_requests(f.srv) == 0)
        uv_run(&f.loop, UV_RUN_ONCE);
    assert_int_equal(g.calls, 0);
    fx_stop(&f);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.outcome, BACKEND_IO_ERROR);
    got_free(&g);
}

int backend_transport_tests(const char *group, const char *expect)
{
    expected_client = expect;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_client_is_the_one_asked_for),
        cmocka_unit_test(answer_with_body_status_and_request_id),
        cmocka_unit_test(error_statuses_are_answers),
        cmocka_unit_test(chunked_answer_and_header_case),
        cmocka_unit_test(sequential_calls_reuse_one_connection),
        cmocka_unit_test(connection_close_answer_is_not_reused),
        cmocka_unit_test(answer_delimited_by_close),
        cmocka_unit_test(interim_100_answer_is_skipped),
        cmocka_unit_test(refused_connection_is_unreachable),
        cmocka_unit_test(silent_backend_times_out),
        cmocka_unit_test(reset_mid_answer_is_an_io_error),
        cmocka_unit_test(garbage_is_an_io_error),
        cmocka_unit_test(damaged_answer_is_an_io_error),
        cmocka_unit_test(idle_connection_closed_by_backend_is_replaced),
        cmocka_unit_test(close_on_reused_connection_is_resent_once),
        cmocka_unit_test(close_on_new_connection_is_not_resent),
        cmocka_unit_test(large_bodies_both_ways),
        cmocka_unit_test(concurrent_calls_each_get_their_answer),
        cmocka_unit_test(destroy_finishes_calls_in_flight),
    };
    return _cmocka_run_group_tests(group, tests, ARRAY_SIZE(tests), NULL, NULL);
}
