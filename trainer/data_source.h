/* A text data file (JSONL, CSV, TSV; optionally .gz) read as a stream, never whole.
 *
 * Opening makes one pass over the file in chunks: it frames every record, parses and
 * checks it fully (trainer/data_row.h) and keeps a small index entry per example: where
 * its record starts and how long it is, its line (for messages) and, for "every element"
 * [*] columns, which element it is. Examples are then read back by index with pread: the
 * file itself is never held in memory. A .gz is decompressed once, streaming, into an
 * unlinked temporary file (host/gz_temp.h) that is indexed and read like a plain file.
 *
 * Bad rows are errors (the first one stops the pass with its message), or, with
 * skip_bad_rows, are left out and counted. Blank lines are not rows. A UTF-8 BOM at the
 * start of the file is ignored. A record may be up to SENTEMBED_MAX_LINE_BYTES long
 * (host/input_limits.h; 64 MiB by default): a CSV quote that is never closed, or a file
 * without newlines, would otherwise take in the rest of the file. */
#ifndef SENTEMBED_DATA_SOURCE_H
#define SENTEMBED_DATA_SOURCE_H

#include <stdint.h>

#include "trainer/data_row.h"

typedef struct {
    bool skip_bad_rows; /* on_bad_row: skip (default: error) */
    int num_labels;     /* > 0: labels must be class ids 0..num_labels-1 (SoftmaxLoss) */
    bool hash_texts;    /* keep a hash of every text (no_duplicates batches) */
} DataOptions;

/* 16 bytes per example. */
typedef struct {
    uint64_t where;  /* byte offset of the record << 16 | its element in [*] lists */
    uint32_t length; /* bytes of the record */
    uint32_t line;   /* the record's first line */
} DataRef;

typedef struct {
    const DataSpec *spec;
    DataOptions opt;
    const char *name;                      /* spec->path */
    int fd;                                /* the file, or its decompressed temporary copy */
    uint64_t size;
    int field_index[DATA_MAX_COLUMNS + 1]; /* CSV/TSV: resolved columns, the label's last */
    DataRef *refs;                         /* the index: one per example */
    size_t n;
    uint64_t *text_hash;                   /* hash_texts: [n * n_columns] */
    size_t rows, dropped, skipped;         /* rows read; examples left out by drop_labels; bad rows skipped */
    char first_skipped[SE_ERROR_MAX];      /* the message of the first bad row skipped */
} DataSource;

int data_source_open(DataSource *s, const DataSpec *spec, const DataOptions *opt, SeError *err);
/* A row parser for this source (one per thread). */
void data_source_parser(const DataSource *s, RowParser *p);
/* Reads example i (< n) back with p's buffers; thread-safe with one parser per thread. */
int data_source_read(const DataSource *s, RowParser *p, size_t i, DataExample *ex, SeError *err);
void data_source_close(DataSource *s);

#endif
