/*
 * json_parsers.c: parse cost of the Debian JSON libraries ddbx could use, on a
 * GetItem request and a ~1 KB item (docs/ARCHITECTURE.md, "JSON library").
 *   gcc -O2 json_parsers.c -o json_parsers -ljansson -lyajl && ./json_parsers
 * (needs libjansson-dev and libyajl-dev). Printed on a 2-core Debian 12 VM:
 *   len 60 jansson 0.81 us / yajl_tree 0.39 us / yajl_sax 0.16 us
 *   len 910 jansson 11.04 us / yajl_tree 5.56 us / yajl_sax 1.19 us
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>
static double now()
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
static int cb_null(void *c)
{
    (void)c;
    return 1;
}
static int cb_bool(void *c, int b)
{
    (void)c;
    (void)b;
    return 1;
}
static int cb_num(void *c, const char *s, size_t l)
{
    (void)c;
    (void)s;
    (void)l;
    return 1;
}
static int cb_str(void *c, const unsigned char *s, size_t l)
{
    (void)c;
    (void)s;
    (void)l;
    return 1;
}
static int cb_m(void *c)
{
    (void)c;
    return 1;
}
static yajl_callbacks cbs = {cb_null, cb_bool, NULL, NULL, cb_num, cb_str,
                             cb_m,    cb_str,  cb_m, cb_m, cb_m};
int main(int argc, char **argv)
{
    char big[8192];
    size_t n = 0;
    n += sprintf(big + n, "{\"Item\":{\"pk\":{\"S\":\"user#12345\"},\"sk\":{\"N\":\"42\"}");
    for (int i = 0; i < 20; i++)
        n += sprintf(big + n, ",\"attr%d\":{\"S\":\"value value value value %d\"}", i, i);
    n += sprintf(big + n, "}}");
    const char *small = "{\"TableName\":\"catalog\",\"Key\":{\"pk\":{\"S\":\"item#0000012345\"}}}";
    const char *docs[2] = {small, big};
    for (int d = 0; d < 2; d++) {
        const char *s = docs[d];
        size_t len = strlen(s);
        int N = 200000;
        double t = now();
        for (int i = 0; i < N; i++) {
            json_error_t e;
            json_t *j = json_loadb(s, len, JSON_REJECT_DUPLICATES, &e);
            json_decref(j);
        }
        printf("len %zu jansson %.2f us\n", len, (now() - t) / N * 1e6);
        t = now();
        char eb[100];
        char *cp = strdup(s);
        for (int i = 0; i < N; i++) {
            yajl_val v = yajl_tree_parse(cp, eb, sizeof eb);
            yajl_tree_free(v);
        }
        printf("len %zu yajl_tree %.2f us\n", len, (now() - t) / N * 1e6);
        t = now();
        for (int i = 0; i < N; i++) {
            yajl_handle h = yajl_alloc(&cbs, NULL, NULL);
            yajl_parse(h, (const unsigned char *)s, len);
            yajl_complete_parse(h);
            yajl_free(h);
        }
        printf("len %zu yajl_sax %.2f us\n", len, (now() - t) / N * 1e6);
        json_t *j = json_loadb(s, len, 0, NULL);
        t = now();
        for (int i = 0; i < N; i++) {
            char *o = json_dumps(j, JSON_COMPACT);
            free(o);
        }
        printf("jansson dump %.2f us\n", (now() - t) / N * 1e6);
    }
}
