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

/* Allocation that cannot fail quietly: out of memory ends the program with a message
 * that says how much was asked for and, from the allocation contexts below, what was being
 * read or built ("out of memory allocating 12.0 GiB (12884901888 bytes) while reading
 * corpus.txt line 5"). */
void *se_xmalloc(size_t size);
void *se_xrealloc(void *p, size_t size);
void *se_xcalloc(size_t n, size_t size);

/* What this thread is doing, for the out-of-memory message: contexts nest (a model load
 * that reads a vocabulary), the innermost printed first. A context lives on its setter's
 * stack between se_context_push and the matching se_context_pop; `line`, when not NULL,
 * is read at the moment of the message, so a reader points it at its line counter once
 * instead of updating the context per line. Threads other than the setter's (OpenMP
 * workers) have contexts of their own. */
typedef struct SeContext {
    const char *doing;  /* "reading", "loading the model", ... */
    const char *name;   /* a file or directory, or NULL */
    const size_t *line; /* the line being read, or NULL */
    const struct SeContext *outer;
} SeContext;

void se_context_push(SeContext *c, const char *doing, const char *name, const size_t *line);
void se_context_pop(SeContext *c);
/* "while reading corpus.txt line 5, while ..." for this thread, or "" without a context. */
void se_context_describe(char *out, size_t cap);

/* n bytes for a person: "812 bytes", "64.0 MiB", "12.0 GiB". */
void se_format_bytes(char *out, size_t cap, double n);

#ifdef __cplusplus
}
#endif

#endif
