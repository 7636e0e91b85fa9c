/*
 * auth_verify.c: what one SigV4 verification costs, with the principal's
 * derived signing key cached (every request after the first of the day) and
 * without (the first, or every request if there were no cache); and what
 * signing a backend request costs, cached and not. (docs/ARCHITECTURE.md,
 * "Request authentication")
 *
 *   build/bench/micro/auth_verify [seconds per figure, default 5]
 *
 * The request is a botocore-shaped GetItem (6 headers, 4 of them signed, a
 * 67-byte body), signed by auth/signer.h; verification is verify_request
 * against a keyring of 8 principals. Times are the calling thread's CPU time
 * per call (the machine is shared: wall time would count other processes),
 * the median and the lowest of 5 rounds.
 *
 * Printed on the shared 2-core VM (load average 4.7, CPU time so less noisy):
 *   verify_request, signing key cached          1221 ns (lowest 1198)
 *   verify_request, signing key derived         2565 ns (lowest 2476)
 *   signer_sign, signing key cached             1376 ns (lowest 1350)
 *   signer_sign, signing key derived            2727 ns (lowest 2637)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/credentials.h"
#include "auth/signer.h"
#include "auth/verify.h"

#define ROUNDS 5

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const char body[] = "{\"TableName\": \"Music\", \"Key\": {\"Artist\": {\"S\": \"No One You "
                           "Know\"}}}";
static const struct http_header sign_headers[] = {
    {"content-type", "application/x-amz-json-1.0", 12, 26},
    {"x-amz-target", "DynamoDB_20120810.GetItem", 12, 25},
};

struct fixture {
    struct auth_keys *keys;
    struct buf auth;
    char date[SIGV4_DATE_LEN + 1];
    struct http_header h[6];
    struct sigv4_request req;
    int64_t now;
};

static void fixture_init(struct fixture *x)
{
    struct buf text = BUF_INIT, err = BUF_INIT;
    for (int i = 0; i < 8; i++)
        buf_printf(&text, "AKIDBENCH%03d secret-%03d-wJalrXUtnFEMI/K7MDENG\n", i, i);
    if (credentials_parse(text.data, text.len, "bench", &x->keys, &err) != 0) {
        fprintf(stderr, "%s\n", err.data);
        exit(1);
    }
    buf_free(&text);
    x->now = 1704067200; /* 20240101T000000Z */
    struct signer *s =
        signer_create("AKIDBENCH004", "secret-004-wJalrXUtnFEMI/K7MDENG", NULL, "dynamodb");
    struct signer_request r = {"POST", "127.0.0.1:8111", "/",         NULL,  sign_headers, 2,
                               body,   sizeof(body) - 1, "us-east-1", x->now};
    buf_init(&x->auth);
    signer_sign(s, &r, &x->auth, x->date);
    signer_destroy(s);
    int n = 0;
    x->h[n++] = (struct http_header){"host", "127.0.0.1:8111", 4, 14};
    x->h[n++] = sign_headers[0];
    x->h[n++] = sign_headers[1];
    x->h[n++] = (struct http_header){"user-agent", "Boto3/1.34.0 md/Botocore#1.34.0", 10, 31};
    x->h[n++] = (struct http_header){"x-amz-date", x->date, 10, SIGV4_DATE_LEN};
    x->h[n++] = (struct http_header){"authorization", x->auth.data, 13, (uint32_t)x->auth.len};
    x->req = (struct sigv4_request){"POST", "/", 1, NULL, 0, x->h, n, body, sizeof(body) - 1};
}

/* ns per call of verify_request (cached: keep the key; else forget it first). */
static double verify_ns(struct fixture *x, double seconds, bool cached)
{
    struct verify_params vp = {"us-east-1", "dynamodb", x->now};
    const struct auth_principal *who;
    struct auth_failure f;
    auth_failure_init(&f);
    uint64_t start = cpu_ns(), end = start + (uint64_t)(seconds * 1e9), now = start;
    long n = 0;
    while (now < end) {
        for (int i = 0; i < 256; i++) {
            if (!cached) auth_keys_forget_signing_keys(x->keys);
            if (verify_request(&x->req, &vp, x->keys, &who, &f) != 0) {
                fprintf(stderr, "refused: %s\n", f.message.data);
                exit(1);
            }
        }
        n += 256;
        now = cpu_ns();
    }
    auth_failure_free(&f);
    return (double)(now - start) / (double)n;
}

/* ns per call of auth_keys_forget_signing_keys alone (subtracted). */
static double forget_ns(struct fixture *x)
{
    uint64_t start = cpu_ns();
    for (int i = 0; i < 100000; i++)
        auth_keys_forget_signing_keys(x->keys);
    return (double)(cpu_ns() - start) / 100000.0;
}

static double sign_ns(double seconds, bool cached)
{
    struct buf auth = BUF_INIT;
    char date[SIGV4_DATE_LEN + 1];
    struct signer *s = signer_create("AKIDBENCH004", "secret", NULL, "dynamodb");
    struct signer_request r = {"POST",       "dynamodb.us-east-1.amazonaws.com",
                               "/",          NULL,
                               sign_headers, 2,
                               body,         sizeof(body) - 1,
                               "us-east-1",  1704067200};
    uint64_t start = cpu_ns(), end = start + (uint64_t)(seconds * 1e9), now = start;
    long n = 0;
    while (now < end) {
        for (int i = 0; i < 256; i++) {
            if (!cached) r.now += 86400; /* a new day: a new key */
            buf_reset(&auth);
            signer_sign(s, &r, &auth, date);
        }
        n += 256;
        now = cpu_ns();
    }
    signer_destroy(s);
    buf_free(&auth);
    return (double)(now - start) / (double)n;
}

/* Runs f ROUNDS times; prints the median and the lowest. Returns the median. */
static double report(const char *what, double (*f)(struct fixture *, double, bool),
                     struct fixture *x, double seconds, bool cached, double minus)
{
    double r[ROUNDS];
    for (int i = 0; i < ROUNDS; i++)
        r[i] = f(x, seconds / ROUNDS, cached) - minus;
    qsort(r, ROUNDS, sizeof(double), cmp_double);
    printf("%-40s %7.0f ns (lowest %.0f)\n", what, r[ROUNDS / 2], r[0]);
    return r[ROUNDS / 2];
}

static double sign_round(struct fixture *x, double seconds, bool cached)
{
    return sign_ns(seconds, cached);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    struct fixture x;
    fixture_init(&x);
    double forget = forget_ns(&x);
    double c = report("verify_request, signing key cached", verify_ns, &x, seconds, true, 0);
    double u = report("verify_request, signing key derived", verify_ns, &x, seconds, false, forget);
    printf("%-40s x%.2f\n", "derived / cached", u / c);
    report("signer_sign, signing key cached", sign_round, &x, seconds, true, 0);
    report("signer_sign, signing key derived", sign_round, &x, seconds, false, 0);
    auth_keys_release(x.keys);
    buf_free(&x.auth);
    return 0;
}
