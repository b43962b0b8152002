#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/input_limits.h"
#include "host/lines.h"
#include "host/utf8.h"

int lines_read(Lines *l, FILE *in, const char *name, bool repair_utf8, SeError *err)
{
    memset(l, 0, sizeof *l);
    size_t max_line;
    if (input_max_line_bytes(&max_line, err))
        return -1;
    size_t cap = 1 << 16, len = 0, line = 1, line_start = 0;
    SeContext ctx;
    se_context_push(&ctx, "reading", name, &line);
    char *raw = se_xmalloc(cap);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            raw = se_xrealloc(raw, cap);
        }
        /* never more than one byte past the cap of the line being read: a line without end
         * (/dev/zero) stops at the cap, not at the memory's end */
        size_t want = cap - len, room = max_line + 1 - (len - line_start);
        size_t got = fread(raw + len, 1, want < room ? want : room, in);
        if (got == 0)
            break;
        for (size_t i = len, end = len + got;;) {
            const char *nl = memchr(raw + i, '\n', end - i);
            size_t stop = nl ? (size_t)(nl - raw) : end;
            if (stop - line_start > max_line) {
                char limit[32];
                se_format_bytes(limit, sizeof limit, (double)max_line);
                se_fail(err, "%s line %zu: longer than %s, the limit of a line (set SENTEMBED_MAX_LINE_BYTES for "
                        "another)", name, line, limit);
                se_context_pop(&ctx);
                free(raw);
                return -1;
            }
            if (!nl)
                break;
            line++;
            i = line_start = stop + 1;
        }
        len += got;
    }
    ctx.line = NULL; /* all read: what follows is building the lines */
    if (ferror(in)) {
        se_context_pop(&ctx);
        free(raw);
        return se_fail(err, "%s: read error", name);
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += raw[i] == '\n';
    if (len && raw[len - 1] != '\n')
        n++;
    /* repaired text is at most 3x longer, plus a NUL per line */
    size_t out_cap = (repair_utf8 ? 3 * len : len) + n + 1;
    l->text = se_xmalloc(out_cap);
    l->line = se_xmalloc((n ? n : 1) * sizeof *l->line);
    l->len = se_xmalloc((n ? n : 1) * sizeof *l->len);
    size_t o = 0, pos = 0;
    for (size_t k = 0; k < n; k++) {
        const char *nl = memchr(raw + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - raw) : len, m = end - pos;
        size_t ok = utf8_text_prefix((const uint8_t *)raw + pos, m);
        if (ok < m && !repair_utf8) {
            char why[160];
            se_fail(err, "%s line %zu: %s", name, k + 1,
                    utf8_text_problem((const uint8_t *)raw + pos, ok, "line", why, sizeof why));
            se_context_pop(&ctx);
            free(raw);
            lines_free(l);
            return -1;
        }
        l->line[k] = l->text + o;
        if (ok < m) {
            o += utf8_repair((const uint8_t *)raw + pos, m, (uint8_t *)l->text + o);
        } else {
            memcpy(l->text + o, raw + pos, m);
            o += m;
        }
        l->len[k] = (size_t)(l->text + o - l->line[k]);
        l->text[o++] = '\0';
        pos = end + 1;
    }
    l->n = n;
    se_context_pop(&ctx);
    free(raw);
    return 0;
}

int lines_read_file(Lines *l, const char *path, bool repair_utf8, SeError *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return se_fail(err, "%s: cannot open: %s", path, strerror(errno));
    int rc = lines_read(l, f, path, repair_utf8, err);
    fclose(f);
    return rc;
}

void lines_free(Lines *l)
{
    free(l->text);
    free(l->line);
    free(l->len);
    memset(l, 0, sizeof *l);
}
