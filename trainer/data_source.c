#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/gz_temp.h"
#include "host/hash.h"
#include "host/input_limits.h"
#include "trainer/data_source.h"

enum { READ_CHUNK = 1 << 20 };
#define MAX_OFFSET (1ull << 48)

static int open_file(DataSource *s, SeError *err)
{
    if (s->spec->gz)
        return gz_decompress_to_temp(s->name, &s->fd, &s->size, err);
    s->fd = open(s->name, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0)
        return se_fail(err, "%s: cannot open: %s", s->name, strerror(errno));
    struct stat st;
    if (fstat(s->fd, &st) != 0 || !S_ISREG(st.st_mode))
        return se_fail(err, "%s: not a regular file", s->name);
    s->size = (uint64_t)st.st_size;
    posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return 0;
}

/* The header record names the columns: resolve the ones chosen by name. */
static int resolve_header(DataSource *s, const char *rec, size_t len, size_t line, SeError *err)
{
    const DataSpec *spec = s->spec;
    const char *nul = memchr(rec, '\0', len);
    if (nul)
        return se_fail(err, "%s:%zu: a NUL character (a zero byte), which no text may hold (byte %zu of the header)",
                       s->name, line, (size_t)(nul - rec) + 1);
    char *scratch = se_xmalloc(len + 1);
    size_t n = record_split(spec->format, rec, len, scratch, NULL, 0); /* how many */
    TextSpan *names = se_xmalloc(n * sizeof *names);
    record_split(spec->format, rec, len, scratch, names, n);
    int rc = 0;
    for (int c = 0; c <= spec->n_columns && rc == 0; c++) {
        const DataColumn *col = c < spec->n_columns ? &spec->columns[c] : &spec->label;
        if (c == spec->n_columns && !spec->has_label)
            break;
        s->field_index[c] = col->index;
        for (size_t k = 0; k < n && col->index < 0; k++)
            if (strlen(col->name) == names[k].len && !memcmp(col->name, names[k].p, names[k].len))
                s->field_index[c] = (int)k;
        if (s->field_index[c] < 0) {
            char list[200];
            size_t o = 0;
            for (size_t k = 0; k < n && o + 8 < sizeof list; k++)
                o += (size_t)snprintf(list + o, sizeof list - o, "%s\"%.*s\"", k ? ", " : "",
                                      (int)(names[k].len < 60 ? names[k].len : 60), names[k].p);
            if (o >= sizeof list)
                snprintf(list + sizeof list - 5, 5, "...");
            rc = se_fail(err, "%s:%zu: no column named \"%s\" in the header (it has %s)", s->name, line, col->name,
                         list);
        }
    }
    free(names);
    free(scratch);
    return rc;
}

/* Index pass state. */
typedef struct {
    DataSource *s;
    RowParser parser;
    bool parser_ready;
    size_t cap; /* of refs (and text_hash) */
} Indexer;

static void add_ref(Indexer *ix, uint64_t offset, size_t element, size_t len, size_t line, const DataExample *ex)
{
    DataSource *s = ix->s;
    const int K = s->spec->n_columns;
    if (s->n == ix->cap) {
        ix->cap = ix->cap ? ix->cap * 2 : 1024;
        s->refs = se_xrealloc(s->refs, ix->cap * sizeof *s->refs);
        if (s->opt.hash_texts)
            s->text_hash = se_xrealloc(s->text_hash, ix->cap * (size_t)K * sizeof *s->text_hash);
    }
    s->refs[s->n] = (DataRef){offset << 16 | element, (uint32_t)len, (uint32_t)line};
    for (int c = 0; s->opt.hash_texts && c < K; c++)
        s->text_hash[s->n * (size_t)K + (size_t)c] = fnv1a64(FNV64_START, ex->text[c], ex->len[c]);
    s->n++;
}

/* One record (not blank, not the header): its examples into the index. */
static int index_record(Indexer *ix, const char *rec, size_t len, uint64_t offset, size_t line, SeError *err)
{
    DataSource *s = ix->s;
    if (offset >= MAX_OFFSET || len > UINT32_MAX || line > UINT32_MAX)
        return se_fail(err, "%s:%zu: the file is too large for the index (records up to 4 GiB, lines up to 2^32, "
                       "offsets up to 2^48)", s->name, line);
    if (row_parse(&ix->parser, rec, len, line, err))
        return -1;
    size_t before = s->n, dropped = 0;
    for (size_t k = 0; k < ix->parser.n_elements; k++) {
        DataExample ex;
        if (row_example(&ix->parser, k, &ex, err)) {
            s->n = before; /* the whole row is bad */
            return -1;
        }
        if (ex.dropped) {
            dropped++;
            continue;
        }
        if (s->n >= UINT32_MAX)
            return se_fail(err, "%s:%zu: more than %u examples in one file", s->name, line, UINT32_MAX - 1);
        add_ref(ix, offset, k, len, line, &ex);
    }
    s->dropped += dropped;
    return 0;
}

/* A bad row: an error, or (skip_bad_rows) counted and remembered. */
static int bad_row(DataSource *s, const SeError *row_err, SeError *err)
{
    if (!s->opt.skip_bad_rows) {
        *err = *row_err;
        return -1;
    }
    if (s->skipped++ == 0)
        snprintf(s->first_skipped, sizeof s->first_skipped, "%s", row_err->msg);
    return 0;
}

static int index_file(DataSource *s, SeError *err)
{
    const DataSpec *spec = s->spec;
    Indexer ix = {.s = s};
    size_t max_record;
    if (input_max_line_bytes(&max_record, err))
        return -1;
    size_t cap = READ_CHUNK, filled = 0, pos = 0, line = 1;
    SeContext ctx;
    se_context_push(&ctx, "reading", s->name, &line);
    uint64_t base = 0; /* file offset of buf[0] */
    char *buf = se_xmalloc(cap);
    bool eof = false, bom_checked = false, header_done = !spec->header;
    int rc = 0;
    if (!spec->header) {
        data_source_parser(s, &ix.parser);
        ix.parser_ready = true;
    }
    while (rc == 0) {
        RecordFrame f;
        RecordStatus st = RECORD_NEED_MORE;
        if (bom_checked && (pos < filled || eof)) {
            if (pos == filled)
                break;
            st = record_frame(spec->format, buf + pos, filled - pos, eof, &f);
        }
        if (st == RECORD_NEED_MORE) {
            memmove(buf, buf + pos, filled - pos);
            base += pos, filled -= pos, pos = 0;
            if (filled > max_record) {
                char limit[32];
                se_format_bytes(limit, sizeof limit, (double)max_record);
                rc = se_fail(err, "%s:%zu: a record longer than %s, the limit of a record%s (set "
                             "SENTEMBED_MAX_LINE_BYTES for another)", s->name, line, limit,
                             spec->format == DATA_CSV ? " (a quote that is never closed?)" : "");
                break;
            }
            if (filled == cap)
                buf = se_xrealloc(buf, cap *= 2);
            /* never more than one byte past the cap of a record without end */
            size_t want = cap - filled, room = max_record + 1 - filled;
            ssize_t got = read(s->fd, buf + filled, want < room ? want : room);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0) {
                rc = se_fail(err, "%s: read error: %s", s->name, strerror(errno));
                break;
            }
            eof = got == 0;
            filled += (size_t)got;
            if (!bom_checked && (filled >= 3 || eof)) {
                bom_checked = true;
                if (filled >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3))
                    pos = 3;
            }
            continue;
        }
        const char *rec = buf + pos;
        size_t rec_line = line;
        SeError row_err;
        if (st == RECORD_UNTERMINATED) {
            size_t qline = line, qcol = 1;
            for (size_t i = 0; i < f.quote_at; i++) {
                qcol = rec[i] == '\n' ? 1 : qcol + 1;
                qline += rec[i] == '\n';
            }
            se_fail(&row_err, "%s:%zu: unterminated quoted field: the quote at line %zu, column %zu is never closed",
                    s->name, line, qline, qcol);
            if (!header_done || bad_row(s, &row_err, err)) {
                *err = row_err;
                rc = -1;
                break;
            }
            s->rows++;
            /* skip only the line it starts on and read on from the next one */
            const char *nl = memchr(rec, '\n', filled - pos);
            pos = nl ? (size_t)(nl - buf) + 1 : filled;
            line++;
            continue;
        }
        pos += f.advance;
        line += f.newlines;
        if (f.len == 0)
            continue; /* a blank line */
        if (!header_done) {
            header_done = true;
            if (resolve_header(s, rec, f.len, rec_line, err)) {
                rc = -1;
                break;
            }
            data_source_parser(s, &ix.parser);
            ix.parser_ready = true;
            continue;
        }
        s->rows++;
        if (index_record(&ix, rec, f.len, base + (uint64_t)(rec - buf), rec_line, &row_err) && bad_row(s, &row_err, err))
            rc = -1;
    }
    se_context_pop(&ctx);
    free(buf);
    if (ix.parser_ready)
        row_parser_free(&ix.parser);
    if (rc == 0 && s->n == 0) {
        if (s->skipped)
            rc = se_fail(err, "%s: no examples: all %zu rows were bad and skipped (on_bad_row: skip); the first: %s",
                         s->name, s->skipped, s->first_skipped);
        else if (s->dropped)
            rc = se_fail(err, "%s: no examples: all %zu were dropped by %s.drop_labels", s->name, s->dropped,
                         spec->key);
        else
            rc = se_fail(err, "%s: no examples: the file is empty%s", s->name, header_done && spec->header && s->size
                                                                                 ? " but for its header" : "");
    }
    return rc;
}

int data_source_open(DataSource *s, const DataSpec *spec, const DataOptions *opt, SeError *err)
{
    memset(s, 0, sizeof *s);
    s->spec = spec;
    s->opt = *opt;
    s->name = spec->path;
    s->fd = -1;
    for (int c = 0; c < DATA_MAX_COLUMNS + 1; c++)
        s->field_index[c] = c < spec->n_columns ? spec->columns[c].index : spec->label.index;
    if (!spec->path) {
        se_fail(err, "%s: key \"%s\": a shard, where a text data file was expected", spec->config, spec->key);
        return -1;
    }
    if (open_file(s, err) || index_file(s, err)) {
        data_source_close(s);
        return -1;
    }
    /* the pass read everything once in order; examples are read back in any order */
    posix_fadvise(s->fd, 0, 0, POSIX_FADV_RANDOM);
    s->refs = se_xrealloc(s->refs, s->n * sizeof *s->refs); /* the doubling's slack back */
    if (s->text_hash)
        s->text_hash = se_xrealloc(s->text_hash, s->n * (size_t)spec->n_columns * sizeof *s->text_hash);
    return 0;
}

void data_source_parser(const DataSource *s, RowParser *p)
{
    row_parser_init(p, s->spec, s->name, s->field_index, s->opt.num_labels);
}

int data_source_read(const DataSource *s, RowParser *p, size_t i, DataExample *ex, SeError *err)
{
    const DataRef *r = &s->refs[i];
    if (r->length > p->record_cap) {
        p->record_cap = r->length + r->length / 2 + 256;
        free(p->record);
        p->record = se_xmalloc(p->record_cap);
    }
    uint64_t offset = r->where >> 16;
    size_t done = 0;
    while (done < r->length) {
        ssize_t got = pread(s->fd, p->record + done, r->length - done, (off_t)(offset + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return se_fail(err, "%s:%u: %s (did the file change since it was indexed?)", s->name, r->line,
                           got < 0 ? strerror(errno) : "it ends early");
        done += (size_t)got;
    }
    if (row_parse(p, p->record, r->length, r->line, err))
        return -1;
    if ((r->where & 0xFFFF) >= p->n_elements)
        return se_fail(err, "%s:%u: the row has changed since the file was indexed", s->name, r->line);
    return row_example(p, r->where & 0xFFFF, ex, err);
}

void data_source_close(DataSource *s)
{
    if (s->fd >= 0)
        close(s->fd);
    free(s->refs);
    free(s->text_hash);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}
