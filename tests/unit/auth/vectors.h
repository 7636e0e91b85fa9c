/*
 * vectors.h: reads the request fixtures of tests/unit/auth/ (sigv4_vectors.txt,
 * botocore_requests.txt; the format is described at the top of the first)
 * into requests as the network layer would hand them over: lower-case
 * header names, values without the optional white space around them.
 * Header-only, shared by test_verify.c and test_signer.c.
 */
#ifndef DDBX_TESTS_AUTH_VECTORS_H
#define DDBX_TESTS_AUTH_VECTORS_H

#include <ctype.h>

#include "testutil.h"

#include "auth/sigv4.h"
#include "util/http_header.h"

#define VEC_MAX 64
#define VEC_HEADERS 32

struct vector {
    const char *name;
    const char *service, *region, *now, *expect; /* options; defaults filled in */
    const char *signing_key, *creq_sha256;       /* NULL when not given */
    const char *message;                         /* the exact refusal, or NULL */
    const char *method, *target;                 /* request line */
    struct http_header headers[VEC_HEADERS];
    int nheaders;
    const char *body;
    size_t body_len;
    struct sigv4_request req; /* method, path, query, headers, body */
};

struct vectors {
    char *text; /* owned: every string above points into it */
    int n;
    struct vector v[VEC_MAX];
};

static inline char *vec_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    text[size] = '\0';
    fclose(f);
    return text;
}

static inline void vec_options(struct vector *v, char *opts)
{
    v->service = "service";
    v->region = "us-east-1";
    v->now = "20150830T123600Z";
    v->expect = "OK";
    for (char *tok = strtok(opts, " "); tok; tok = strtok(NULL, " ")) {
        char *eq = strchr(tok, '=');
        if (!eq) fail_msg("option without '=': %s", tok);
        *eq++ = '\0';
        if (!strcmp(tok, "service"))
            v->service = eq;
        else if (!strcmp(tok, "region"))
            v->region = eq;
        else if (!strcmp(tok, "now"))
            v->now = eq;
        else if (!strcmp(tok, "expect"))
            v->expect = eq;
        else if (!strcmp(tok, "signing_key"))
            v->signing_key = eq;
        else if (!strcmp(tok, "creq_sha256"))
            v->creq_sha256 = eq;
        else
            fail_msg("unknown option %s", tok);
    }
}

static inline void vec_header(struct vector *v, char *line)
{
    char *colon = strchr(line, ':');
    if (!colon) fail_msg("%s: header line without ':': %s", v->name, line);
    *colon = '\0';
    for (char *c = line; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    char *val = colon + 1, *end = val + strlen(val);
    while (*val == ' ' || *val == '\t')
        val++;
    while (end > val && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    assert_true(v->nheaders < VEC_HEADERS);
    v->headers[v->nheaders++] =
        (struct http_header){line, val, (uint32_t)strlen(line), (uint32_t)(end - val)};
}

/* Parses one case: `s` starts after "=== " and ends where the next begins. */
static inline void vec_case(struct vector *v, char *s)
{
    memset(v, 0, sizeof(*v));
    char *nl = strchr(s, '\n');
    *nl = '\0';
    char *sp = strchr(s, ' ');
    if (sp) *sp = '\0';
    v->name = s;
    vec_options(v, sp ? sp + 1 : (char *)"");
    char *line = nl + 1;
    if (!strncmp(line, "--- message: ", 13)) {
        v->message = line + 13;
        line = strchr(line, '\n');
        *line++ = '\0';
    }
    nl = strchr(line, '\n');
    *nl = '\0';
    /* "METHOD TARGET HTTP/1.1"; the target may hold spaces (get-space) */
    char *sp1 = strchr(line, ' '), *sp2 = strrchr(line, ' ');
    if (!sp1 || sp2 == sp1) fail_msg("%s: bad request line %s", v->name, line);
    *sp1 = *sp2 = '\0';
    v->method = line;
    v->target = sp1 + 1;
    for (line = nl + 1; *line != '\n';) {
        nl = strchr(line, '\n');
        *nl = '\0';
        vec_header(v, line);
        line = nl + 1;
    }
    v->body = line + 1;
    v->body_len = strlen(v->body);
    if (v->body_len && v->body[v->body_len - 1] == '\n') v->body_len--;
    char *q = strchr(v->target, '?');
    v->req = (struct sigv4_request){v->method,
                                    v->target,
                                    q ? (size_t)(q - v->target) : strlen(v->target),
                                    q ? q + 1 : NULL,
                                    q ? strlen(q + 1) : 0,
                                    v->headers,
                                    v->nheaders,
                                    v->body,
                                    v->body_len};
}

static inline void vectors_load(struct vectors *vs, const char *path)
{
    vs->text = vec_read(path);
    vs->n = 0;
    /* split at every line starting "=== "; a case's text ends at the next */
    char *p = strstr(vs->text, "\n=== ");
    while (p) {
        char *start = p + 5, *next = strstr(start, "\n=== ");
        if (next) next[1] = '\0'; /* keeps this case's final newline */
        assert_true(vs->n < VEC_MAX);
        vec_case(&vs->v[vs->n++], start);
        p = next;
    }
}

static inline void vectors_free(struct vectors *vs)
{
    free(vs->text);
}

/* Seconds since the epoch of an X-Amz-Date stamp. */
static inline int64_t when(const char *stamp)
{
    int64_t t;
    assert_int_equal(sigv4_date_parse(stamp, strlen(stamp), &t), 0);
    return t;
}

/* The value of header `name` in v, or NULL. */
static inline const char *vec_header_value(const struct vector *v, const char *name)
{
    return http_header_find(v->headers, v->nheaders, name, NULL);
}

#endif
