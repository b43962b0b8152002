/* Minimal test helpers: CHECK records a failure with file:line and goes on; a test
 * program ends with `return check_summary("name");`, which prints
 * "N passed, M failed" and returns non-zero on any failure. */
#ifndef SENTEMBED_CHECK_H
#define SENTEMBED_CHECK_H

#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (cond) {                                                             \
            check_passed++;                                                     \
        } else {                                                                \
            check_failed++;                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

/* ctest treats this exit status as "skipped" (SKIP_RETURN_CODE). */
#define CHECK_SKIP 77

static inline int check_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
