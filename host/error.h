/* Errors a user can cause travel up as an SeError with one message that names the file,
 * line or key and what was expected; the CLI prints it and exits non-zero. */
#ifndef SENTEMBED_ERROR_H
#define SENTEMBED_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SE_ERROR_MAX 1024

typedef struct {
    char msg[SE_ERROR_MAX];
} SeError;

/* Formats the message into err (if not NULL) and returns -1, so callers can write
 * `return se_fail(err, "...", ...);`. */
int se_fail(SeError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "sentembed: error: MSG" to stderr ("sentembed: error: rank R/N: MSG" in a job of
 * several ranks) and exits with status 1, taking the whole job down (dist_abort). */
void se_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Allocation that cannot fail quietly: out of memory ends the program with a message. */
void *se_xmalloc(size_t size);
void *se_xrealloc(void *p, size_t size);
void *se_xcalloc(size_t n, size_t size);

#ifdef __cplusplus
}
#endif

#endif
