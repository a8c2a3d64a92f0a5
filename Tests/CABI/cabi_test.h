/* A tiny harness for the C ABI tests: CHECK macros, one PASS/FAIL line per case, a closing count line.
 * Tests include only this file, the C library and include/edgecore.h: they see what firmware sees. */
#ifndef CABI_TEST_H
#define CABI_TEST_H

#define _POSIX_C_SOURCE 200809L
#include <edgecore.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int cabi_case_failures;
static int cabi_passed;
static int cabi_failed;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            cabi_case_failures++;                                                     \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                             \
    } while (0)

#define CHECK_EQ(actual, expected)                                                               \
    do {                                                                                         \
        long long cabi_a = (long long)(actual), cabi_e = (long long)(expected);                  \
        if (cabi_a != cabi_e) {                                                                  \
            cabi_case_failures++;                                                                \
            fprintf(stderr, "  %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__,    \
                    #actual, cabi_a, #expected, cabi_e);                                         \
        }                                                                                        \
    } while (0)

#define CHECK_STR(actual, expected)                                                              \
    do {                                                                                         \
        const char *cabi_a = (actual), *cabi_e = (expected);                                     \
        if (cabi_a == NULL || strcmp(cabi_a, cabi_e) != 0) {                                     \
            cabi_case_failures++;                                                                \
            fprintf(stderr, "  %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__,     \
                    #actual, cabi_a ? cabi_a : "(null)", cabi_e);                                \
        }                                                                                        \
    } while (0)

/* When set (e.g. from argv[1]), cabi_run runs only the case of that name. */
static const char *cabi_only;

static void cabi_run(const char *name, void (*test)(void)) {
    if (cabi_only && strcmp(cabi_only, name) != 0) return;
    cabi_case_failures = 0;
    test();
    if (cabi_case_failures == 0) {
        cabi_passed++;
        printf("PASS %s\n", name);
    } else {
        cabi_failed++;
        printf("FAIL %s\n", name);
    }
    fflush(stdout);
}
#define RUN(test) cabi_run(#test, test)

static int cabi_finish(const char *program) {
    printf("%s: %d passed, %d failed\n", program, cabi_passed, cabi_failed);
    return cabi_failed == 0 ? 0 : 1;
}

static inline int64_t cabi_monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void cabi_sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static inline struct edgecore_reading cabi_reading(uint32_t channel, uint32_t sequence) {
    struct edgecore_reading r;
    memset(&r, 0, sizeof r);
    r.timestamp_ns = (int64_t)sequence * 1000;
    r.value = (double)sequence + 0.5;
    r.channel = channel;
    r.sequence = sequence;
    r.status = EDGECORE_STATUS_OK;
    return r;
}

#endif
