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

static _Thread_local const SeContext *context;

void se_context_push(SeContext *c, const char *doing, const char *name, const size_t *line)
{
    *c = (SeContext){doing, name, line, context};
    context = c;
}

void se_context_pop(SeContext *c) { context = c->outer; }

void se_context_describe(char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (const SeContext *c = context; c && used < cap; c = c->outer) {
        int n = snprintf(out + used, cap - used, "%swhile %s%s", used ? ", " : "", c->doing, c->name ? " " : "");
        used += n > 0 ? (size_t)n : 0;
        if (c->name && used < cap) {
            n = snprintf(out + used, cap - used, "%s", c->name);
            used += n > 0 ? (size_t)n : 0;
        }
        if (c->line && used < cap) {
            n = snprintf(out + used, cap - used, " line %zu", *c->line);
            used += n > 0 ? (size_t)n : 0;
        }
    }
}

void se_format_bytes(char *out, size_t cap, double n)
{
    static const char *const UNITS[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (n < 1024) {
        snprintf(out, cap, "%.0f bytes", n);
        return;
    }
    int u = -1;
    while (n >= 1024 && u < 5)
        n /= 1024, u++;
    snprintf(out, cap, "%.1f %s", n, UNITS[u]);
}

/* No allocation here: the heap may be what ran out. */
static void *check_alloc(void *p, double size)
{
    if (!p && size > 0) {
        char amount[32], what[512];
        se_format_bytes(amount, sizeof amount, size);
        se_context_describe(what, sizeof what);
        se_die("out of memory allocating %s (%.0f bytes)%s%s", amount, size, what[0] ? " " : "", what);
    }
    return p;
}

void *se_xmalloc(size_t size) { return check_alloc(malloc(size ? size : 1), (double)size); }
void *se_xrealloc(void *p, size_t size) { return check_alloc(realloc(p, size ? size : 1), (double)size); }
/* n * size as a double: an overflowing product is still reported as what was asked */
void *se_xcalloc(size_t n, size_t size) { return check_alloc(calloc(n ? n : 1, size ? size : 1), (double)n * (double)size); }
