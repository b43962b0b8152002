#include <string.h>

#include "trainer/data_record.h"

/* The record's bytes end at s[end) (a '\n' or the end of the file). */
static RecordStatus finish(const char *s, size_t n, size_t end, size_t newlines, RecordFrame *f)
{
    f->len = end > 0 && s[end - 1] == '\r' ? end - 1 : end;
    f->advance = end < n ? end + 1 : end;
    f->newlines = newlines + (end < n);
    return RECORD_OK;
}

RecordStatus record_frame(DataFormat fmt, const char *s, size_t n, bool at_eof, RecordFrame *f)
{
    memset(f, 0, sizeof *f);
    if (fmt != DATA_CSV) {
        const char *nl = memchr(s, '\n', n);
        if (!nl && !at_eof)
            return RECORD_NEED_MORE;
        return finish(s, n, nl ? (size_t)(nl - s) : n, 0, f);
    }
    bool quoted = false, field_start = true;
    size_t newlines = 0, quote_at = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (quoted) {
            if (ch == '"') {
                if (i + 1 == n && !at_eof)
                    return RECORD_NEED_MORE; /* '""' or the closing quote: the next byte tells */
                if (i + 1 < n && s[i + 1] == '"')
                    i++;
                else
                    quoted = false;
            } else if (ch == '\n') {
                newlines++;
            }
            continue;
        }
        if (ch == '\n')
            return finish(s, n, i, newlines, f);
        if (ch == '"' && field_start) {
            quoted = true;
            quote_at = i;
        }
        field_start = ch == ',';
    }
    if (!at_eof)
        return RECORD_NEED_MORE;
    if (quoted) {
        f->quote_at = quote_at;
        return RECORD_UNTERMINATED;
    }
    return finish(s, n, n, newlines, f);
}

size_t record_split(DataFormat fmt, const char *rec, size_t len, char *scratch, TextSpan *fields, size_t max_fields)
{
    size_t nf = 0;
    if (fmt != DATA_CSV) {
        size_t start = 0;
        for (size_t i = 0; i <= len; i++)
            if (i == len || rec[i] == '\t') {
                if (nf < max_fields)
                    fields[nf] = (TextSpan){rec + start, i - start};
                nf++;
                start = i + 1;
            }
        return nf;
    }
    /* the same state machine as record_frame, writing the unquoted bytes */
    bool quoted = false, field_start = true;
    size_t o = 0, field = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = rec[i];
        if (quoted) {
            if (ch == '"' && i + 1 < len && rec[i + 1] == '"')
                scratch[o++] = '"', i++;
            else if (ch == '"')
                quoted = false;
            else
                scratch[o++] = ch;
            continue;
        }
        if (ch == ',') {
            if (nf < max_fields)
                fields[nf] = (TextSpan){scratch + field, o - field};
            nf++;
            field = o;
            field_start = true;
            continue;
        }
        if (ch == '"' && field_start)
            quoted = true;
        else
            scratch[o++] = ch;
        field_start = false;
    }
    if (nf < max_fields)
        fields[nf] = (TextSpan){scratch + field, o - field};
    return nf + 1;
}
