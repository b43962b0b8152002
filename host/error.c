#include <stdio.h>
#include <stdlib.h>

#include "host/dist.h"
#include "host/error.h"

int se_fail(SeError *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void se_die(const char *fmt, ...)
{
    /* One write per message: with several ranks on one terminal, lines stay whole. */
    char msg[4 * SE_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "sentembed: error: %s%s\n", dist_rank_label(), msg);
    dist_abort(1);
}

static void *check_alloc(void *p, size_t size)
{
    if (!p && size)
        se_die("out of memory (allocating %zu bytes)", size);
    return p;
}

void *se_xmalloc(size_t size) { return check_alloc(malloc(size ? size : 1), size); }
void *se_xrealloc(void *p, size_t size) { return check_alloc(realloc(p, size ? size : 1), size); }
void *se_xcalloc(size_t n, size_t size) { return check_alloc(calloc(n ? n : 1, size ? size : 1), n * size); }
