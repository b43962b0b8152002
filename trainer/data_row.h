/* The examples of one row of a text data file: its columns picked as a DataSpec says,
 * checked, and its label converted. The one row parser of the project: the indexing pass,
 * the reading back of training examples and the evaluators' files all go through it.
 *
 * Every problem is one message "FILE:LINE: ..." naming the column or key and what was
 * expected: malformed JSON (or text after it, or a key twice: json_parse_strict), a NUL
 * character anywhere in the row (a zero byte, or \u0000 in JSON), a missing column or key,
 * a value of the wrong type, invalid UTF-8 or an empty text, a label that is not a number
 * (as text: a finite decimal number, no hex, inf or nan), not in label_map, or not a class
 * id (num_labels), lists of [*] columns that are empty or differ in length. */
#ifndef SENTEMBED_DATA_ROW_H
#define SENTEMBED_DATA_ROW_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "trainer/data_record.h"

/* [*] lists are indexed in 16 bits (trainer/data_source.h): longer lists are bad rows. */
#define DATA_MAX_ELEMENTS 65536

typedef struct {
    const char *text[DATA_MAX_COLUMNS];
    size_t len[DATA_MAX_COLUMNS];
    double label;
    bool dropped; /* its label is one of drop_labels */
} DataExample;

/* One per thread: scratch buffers and the row last parsed. */
typedef struct {
    const DataSpec *spec;
    const char *name;                      /* the file, for messages */
    const int *field_index;                /* CSV/TSV: field of each column, the label's last */
    int num_labels;                        /* > 0: labels must be class ids 0..num_labels-1 */
    size_t line;                           /* of the row last parsed */
    size_t n_elements;                     /* examples in it: 1, or the length of its [*] lists */
    TextSpan *fields;                      /* CSV/TSV */
    size_t n_fields, max_fields;
    char *scratch;                         /* CSV fields unquoted */
    size_t scratch_cap;
    char *record;                          /* a record read back (trainer/data_source.h) */
    size_t record_cap;
    cJSON *json;                           /* JSONL */
    const cJSON *every[DATA_MAX_COLUMNS + 1]; /* [*] columns: the list, then the cursor below */
    const cJSON *cursor[DATA_MAX_COLUMNS + 1];
    size_t cursor_k;
} RowParser;

/* field_index: as DataSource resolves it from the header (NULL for JSONL). */
void row_parser_init(RowParser *p, const DataSpec *spec, const char *name, const int *field_index, int num_labels);
void row_parser_free(RowParser *p);

/* Parses the record rec[0..len) found at `line`: splits or parses it and counts its
 * examples (n_elements). */
int row_parse(RowParser *p, const char *rec, size_t len, size_t line, SeError *err);
/* Example k (< n_elements) of the row last parsed, checked; texts point into the parser
 * (valid until the next row_parse). */
int row_example(RowParser *p, size_t k, DataExample *ex, SeError *err);

#endif
