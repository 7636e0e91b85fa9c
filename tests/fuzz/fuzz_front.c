/*
 * fuzz_front.c: DynamoDB's judging order at the HTTP front (src/net/front.h)
 * on arbitrary requests.
 *
 * Input: one byte choosing the method (methods[]), then header lines
 * "name: value\n" up to an empty line, then the body. Checked,
 * besides ASan/UBSan: the verdict follows the order (a preflight needs
 * OPTIONS and an Origin, the health answer GET, an operation POST and a
 * known target); the content type is one of DynamoDB's two, or none for the
 * answers that have none; front_answer's status and body are DynamoDB's.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "net/front.h"

#define MAX_HEADERS 16

static const char *const methods[] = {"GET", "POST", "OPTIONS", "PUT", "HEAD", "POST", "POST"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *method = methods[data[0] % (sizeof(methods) / sizeof(methods[0]))];
    /* header lines, copied so that names and values are NUL-terminated */
    char *copy = malloc(size);
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    struct http_header h[MAX_HEADERS];
    int n = 0;
    char *p = copy, *end = copy + size - 1;
    while (p < end && n < MAX_HEADERS) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl || nl == p) {
            p = nl ? nl + 1 : end;
            break;
        }
        *nl = '\0';
        char *colon = strchr(p, ':');
        if (colon) {
            *colon = '\0';
            char *v = colon + 1 + (colon[1] == ' ');
            h[n++] = (struct http_header){p, v, (uint32_t)strlen(p), (uint32_t)strlen(v)};
        }
        p = nl + 1;
    }
    const char *body = p;
    size_t body_len = (size_t)(end - p);

    struct arena a;
    arena_init(&a);
    struct front_judgement j;
    front_judge(method, h, n, body, body_len, &a, &j);
    size_t olen = 0;
    const char *origin = http_header_find(h, n, "origin", &olen);
    FUZZ_CHECK(j.cors == (origin && olen > 0));
    switch (j.verdict) {
    case FRONT_PREFLIGHT: FUZZ_CHECK(strcmp(method, "OPTIONS") == 0 && j.cors); break;
    case FRONT_HEALTH: FUZZ_CHECK(strcmp(method, "GET") == 0); break;
    case FRONT_NOT_FOUND:
        FUZZ_CHECK(strcmp(method, "GET") != 0 && !(strcmp(method, "OPTIONS") == 0 && j.cors));
        break;
    case FRONT_OPERATION: FUZZ_CHECK(j.op != NULL); /* fall through */
    case FRONT_NOT_JSON:
    case FRONT_UNKNOWN_OP: FUZZ_CHECK(strcmp(method, "POST") == 0); break;
    }
    bool none =
        j.verdict == FRONT_PREFLIGHT || j.verdict == FRONT_HEALTH || j.verdict == FRONT_NOT_FOUND;
    FUZZ_CHECK(none ? j.content_type[0] == '\0'
                    : strcmp(j.content_type, front_content_type_json) == 0 ||
                          strcmp(j.content_type, front_content_type_amz_json) == 0);
    if (j.verdict != FRONT_OPERATION) {
        struct buf b = BUF_INIT;
        int status = front_answer(&j, "us-east-1", &b);
        FUZZ_CHECK(status == (j.verdict == FRONT_NOT_FOUND ? 404
                              : j.verdict == FRONT_NOT_JSON || j.verdict == FRONT_UNKNOWN_OP
                                  ? 400
                                  : 200));
        FUZZ_CHECK(j.verdict != FRONT_PREFLIGHT || b.len == 0);
        FUZZ_CHECK(j.verdict != FRONT_HEALTH || b.len == 42);
        buf_free(&b);
    }
    arena_free(&a);
    free(copy);
    return 0;
}
