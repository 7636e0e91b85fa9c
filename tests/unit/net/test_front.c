/*
 * test_front.c: DynamoDB's judging order at the HTTP front (net/front.h):
 * preflight, health, 404, body not JSON, unknown target, then the operation;
 * the answer's content type and CORS; the answers' exact bytes, and their
 * texts against proto/front.tsv, the table the Python tests also read.
 */
#include "testutil.h"

#include "net/front.h"

#define MAX_HEADERS 8

/* A request to judge: "name: value" header lines, NULL-terminated. */
static struct front_judgement judge_with(const char *method, const char *const *lines,
                                         const char *body)
{
    static char store[MAX_HEADERS][2][256];
    struct http_header h[MAX_HEADERS];
    int n = 0;
    for (; lines && lines[n]; n++) {
        assert_true(n < MAX_HEADERS);
        const char *colon = strchr(lines[n], ':');
        assert_non_null(colon);
        snprintf(store[n][0], sizeof(store[n][0]), "%.*s", (int)(colon - lines[n]), lines[n]);
        for (char *c = store[n][0]; *c; c++)
            if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
        snprintf(store[n][1], sizeof(store[n][1]), "%s", colon + 1 + (colon[1] == ' '));
        h[n] = (struct http_header){store[n][0], store[n][1], (uint32_t)strlen(store[n][0]),
                                    (uint32_t)strlen(store[n][1])};
    }
    struct arena arena;
    arena_init(&arena);
    struct front_judgement j;
    front_judge(method, h, n, body, strlen(body), &arena, &j);
    arena_free(&arena);
    return j;
}

#define AMZ "Content-Type: application/x-amz-json-1.0"
#define GET_ITEM "X-Amz-Target: DynamoDB_20120810.GetItem"

static struct front_judgement post(const char *ct, const char *target, const char *body)
{
    const char *lines[] = {ct, target, NULL};
    if (!ct) lines[0] = target, lines[1] = NULL;
    return judge_with("POST", lines, body);
}

static void test_order_of_checks(void **state)
{
    const char *origin[] = {"Origin: https://app.example", NULL};
    const char *pre[] = {"Origin: https://app.example", "Access-Control-Request-Method: POST",
                         NULL};
    assert_int_equal(judge_with("OPTIONS", pre, "").verdict, FRONT_PREFLIGHT);
    /* a preflight is judged before the method: OPTIONS without Origin is a 404 */
    assert_int_equal(judge_with("OPTIONS", NULL, "").verdict, FRONT_NOT_FOUND);
    assert_int_equal(judge_with("OPTIONS", (const char *[]){"Origin: ", NULL}, "").verdict,
                     FRONT_NOT_FOUND);
    /* GET is the health answer whatever the path, headers or body */
    assert_int_equal(judge_with("GET", NULL, "").verdict, FRONT_HEALTH);
    assert_int_equal(judge_with("GET", origin, "x").verdict, FRONT_HEALTH);
    /* any other method: 404, before the body or the target are looked at */
    const char *methods[] = {"PUT", "DELETE", "HEAD", "PATCH"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        assert_int_equal(
            judge_with(methods[i], (const char *[]){AMZ, GET_ITEM, NULL}, "{}").verdict,
            FRONT_NOT_FOUND);
    /* a body in another content type: 404 before the JSON and the target */
    assert_int_equal(post("Content-Type: text/plain", "X-Amz-Target: Nope", "{bad").verdict,
                     FRONT_NOT_FOUND);
    assert_int_equal(post(NULL, GET_ITEM, "{}").verdict, FRONT_NOT_FOUND);
    /* then a body that is not JSON: before the target */
    assert_int_equal(post(AMZ, "X-Amz-Target: Nope", "{bad").verdict, FRONT_NOT_JSON);
    assert_int_equal(post(AMZ, NULL, "not json").verdict, FRONT_NOT_JSON);
    /* then the target */
    assert_int_equal(post(AMZ, "X-Amz-Target: Nope", "{}").verdict, FRONT_UNKNOWN_OP);
    assert_int_equal(post(AMZ, "X-Amz-Target: DynamoDB_20120810.getitem", "{}").verdict,
                     FRONT_UNKNOWN_OP);
    assert_int_equal(post(AMZ, NULL, "{}").verdict, FRONT_UNKNOWN_OP);
    /* an empty body in no content type reaches the operation (which refuses it) */
    struct front_judgement j = post(NULL, "X-Amz-Target: DynamoDB_20120810.ListTables", "");
    assert_int_equal(j.verdict, FRONT_OPERATION);
    assert_string_equal(j.op->name, "ListTables");
    assert_string_equal(j.content_type, "application/json");
}

static void test_json_bodies(void **state)
{
    /* any JSON value is JSON here, as DynamoDB parses before it reads */
    const char *json[] = {"{}", "[1,2]", "\"s\"", "5", "null", "{\"a\":1,\"a\":2}", " {} "};
    for (size_t i = 0; i < sizeof(json) / sizeof(json[0]); i++)
        assert_int_equal(post(AMZ, "X-Amz-Target: Nope", json[i]).verdict, FRONT_UNKNOWN_OP);
    const char *bad[] = {"{", "{\"a\":}", "{} x", "'a'", "{\"a\":1,}", "\xff"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(post(AMZ, "X-Amz-Target: Nope", bad[i]).verdict, FRONT_NOT_JSON);
    /* operations ddbx answers itself are judged here; the others by their handler */
    assert_int_equal(post(AMZ, "X-Amz-Target: DynamoDB_20120810.DescribeEndpoints", "{x").verdict,
                     FRONT_NOT_JSON);
    struct front_judgement j = post(AMZ, GET_ITEM, "{x");
    assert_int_equal(j.verdict, FRONT_OPERATION);
    assert_string_equal(j.op->name, "GetItem");
}

static void test_content_types(void **state)
{
    static const struct {
        const char *header;
        const char *answer; /* NULL: 404 */
    } cases[] = {
        {"Content-Type: application/x-amz-json-1.0", "application/x-amz-json-1.0"},
        {"Content-Type: application/json", "application/json"},
        {"Content-Type: application/json; charset=utf-8", "application/json"},
        {"Content-Type: application/x-amz-json-1.0 ;charset=UTF-8", "application/x-amz-json-1.0"},
        {"Content-Type:  application/json ", "application/json"},
        {"Content-Type: application/x-amz-json-1.1", NULL},
        {"Content-Type: Application/JSON", NULL}, /* compared as written, as DynamoDB */
        {"Content-Type: text/plain", NULL},
        {"Content-Type: application/jsonx", NULL},
        {"Content-Type: ", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct front_judgement j = post(cases[i].header, GET_ITEM, "{}");
        if (!cases[i].answer) {
            assert_int_equal(j.verdict, FRONT_NOT_FOUND);
            assert_string_equal(j.content_type, ""); /* the 404 has none */
            /* with no body, the content type is not looked at */
            j = post(cases[i].header, GET_ITEM, "");
            assert_int_equal(j.verdict, FRONT_OPERATION);
            assert_string_equal(j.content_type, "application/json");
        } else {
            assert_int_equal(j.verdict, FRONT_OPERATION);
            assert_string_equal(j.content_type, cases[i].answer);
        }
    }
    /* errors the front answers come in the request's content type too */
    assert_string_equal(
        post("Content-Type: application/json", "X-Amz-Target: x", "{}").content_type,
        "application/json");
    assert_string_equal(post(AMZ, "X-Amz-Target: x", "[").content_type,
                        "application/x-amz-json-1.0");
    /* the health answer and the preflight have none */
    assert_string_equal(judge_with("GET", NULL, "").content_type, "");
}

static void test_cors(void **state)
{
    assert_false(post(AMZ, GET_ITEM, "{}").cors);
    const char *lines[] = {AMZ, GET_ITEM, "Origin: http://localhost:3000", NULL};
    assert_true(judge_with("POST", lines, "{}").cors);
    assert_true(judge_with("GET", lines + 2, "").cors);
    assert_true(judge_with("PUT", lines + 2, "").cors); /* the 404 too */
    assert_false(judge_with("POST", (const char *[]){AMZ, GET_ITEM, "Origin:", NULL}, "{}").cors);
}

static void test_answers(void **state)
{
    struct buf b = BUF_INIT;
    struct front_judgement j = {FRONT_HEALTH, NULL, "", false};
    assert_int_equal(front_answer(&j, "us-east-1", &b), 200);
    assert_string_equal(b.data, "healthy: dynamodb.us-east-1.amazonaws.com ");
    assert_int_equal(b.len, 42); /* the trailing space is DynamoDB's */
    buf_reset(&b);
    front_answer(&j, "eu-west-3", &b);
    assert_string_equal(b.data, "healthy: dynamodb.eu-west-3.amazonaws.com ");
    buf_reset(&b);
    j.verdict = FRONT_NOT_FOUND;
    assert_int_equal(front_answer(&j, "us-east-1", &b), 404);
    assert_string_equal(b.data, "<UnknownOperationException/>\n");
    buf_reset(&b);
    j.verdict = FRONT_NOT_JSON;
    assert_int_equal(front_answer(&j, "us-east-1", &b), 400);
    assert_string_equal(b.data, "{\"__type\":\"com.amazon.coral.service#SerializationException\"}");
    buf_reset(&b);
    j.verdict = FRONT_UNKNOWN_OP;
    assert_int_equal(front_answer(&j, "us-east-1", &b), 400);
    assert_string_equal(b.data,
                        "{\"__type\":\"com.amazon.coral.service#UnknownOperationException\"}");
    buf_reset(&b);
    j.verdict = FRONT_PREFLIGHT;
    assert_int_equal(front_answer(&j, "us-east-1", &b), 200);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

/* The texts come from proto/front.tsv, with its C escapes. */
static void test_table_matches_tsv(void **state)
{
    struct tsv t;
    tsv_load(&t, PROTO_DIR "/front.tsv");
    const char *const compiled[] = {
#define FRONT(name, text) front_##name,
#include "front.def"
#undef FRONT
    };
    assert_int_equal(t.nrows, sizeof(compiled) / sizeof(compiled[0]));
    for (int i = 0; i < t.nrows; i++) {
        char want[256];
        size_t n = 0;
        for (const char *p = t.col[i][1]; *p; p++) { /* the two escapes the table uses */
            if (p[0] == '\\' && p[1] == 'n') {
                want[n++] = '\n';
                p++;
            } else if (p[0] == '\\' && p[1] == 'x') {
                want[n++] = (char)strtol((char[3]){p[2], p[3], 0}, NULL, 16);
                p += 3;
            } else {
                want[n++] = *p;
            }
        }
        want[n] = '\0';
        assert_string_equal(compiled[i], want);
    }
    assert_string_equal(front_cors_allow_origin, "*");
    assert_string_equal(front_cors_max_age, "172800");
    tsv_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_of_checks), cmocka_unit_test(test_json_bodies),
        cmocka_unit_test(test_content_types),   cmocka_unit_test(test_cors),
        cmocka_unit_test(test_answers),         cmocka_unit_test(test_table_matches_tsv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
