/* Records of a text data file and the fields of a CSV/TSV record: the framing and splitting
 * that the indexing pass and the reading back of examples share.
 *
 * A record is a line (JSONL, TSV) or a CSV record, which continues over line breaks inside
 * quotes (RFC 4180: a field that starts with '"' is quoted, '""' inside is one '"'). A
 * '\r' before the line end is not part of the record (CRLF files). TSV has no quoting at
 * all: STS-B's sentences hold bare '"'. */
#ifndef SENTEMBED_DATA_RECORD_H
#define SENTEMBED_DATA_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "trainer/data_spec.h"

typedef enum {
    RECORD_OK,           /* a whole record */
    RECORD_NEED_MORE,    /* s ends inside it: call again with more bytes */
    RECORD_UNTERMINATED, /* CSV: the file ends inside a quoted field */
} RecordStatus;

typedef struct {
    size_t len;      /* bytes of the record (no line end, no '\r' before it) */
    size_t advance;  /* bytes to the start of the next record */
    size_t newlines; /* line breaks consumed, the final one included */
    size_t quote_at; /* RECORD_UNTERMINATED: byte offset of the quote that is never closed */
} RecordFrame;

/* Frames the record at s[0] of s[0..n); at_eof says that nothing follows s[n). */
RecordStatus record_frame(DataFormat fmt, const char *s, size_t n, bool at_eof, RecordFrame *f);

typedef struct {
    const char *p;
    size_t len;
} TextSpan;

/* Splits a framed CSV/TSV record into fields. CSV fields are unquoted into scratch (which
 * must hold len bytes); TSV fields point into rec. Stores the first max_fields and returns
 * how many there are. */
size_t record_split(DataFormat fmt, const char *rec, size_t len, char *scratch, TextSpan *fields, size_t max_fields);

#endif
