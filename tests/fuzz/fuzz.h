/*
 * fuzz.h: the libFuzzer entry point each target defines. Under clang with
 * DDBX_FUZZ=ON libFuzzer calls it; otherwise replay.c calls it once per file
 * of a seed corpus, so the corpora run as ordinary tests.
 */
#ifndef DDBX_TESTS_FUZZ_H
#define DDBX_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts (the finding libFuzzer reports) with a message when `cond` fails.
 * Unlike assert() it stays on in release builds. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) fuzz_fail(#cond, __FILE__, __LINE__);                                         \
    } while (0)

void fuzz_fail(const char *what, const char *file, int line) __attribute__((noreturn));

#endif
