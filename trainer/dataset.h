/* Training examples read from JSONL, CSV (RFC 4180 quoting) or TSV (no quoting, as STS-B
 * needs): the text columns a loss takes and an optional label, chosen by column index or
 * name (a header row for CSV/TSV, keys with nested paths like "set.pos[0]" for JSONL).
 * The whole file is read (the streaming pipeline is its own piece of work). Every bad row
 * is an error naming the file, the line and the column or key. */
#ifndef SENTEMBED_DATASET_H
#define SENTEMBED_DATASET_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "host/error.h"

typedef struct {
    char **text;      /* [n_rows * n_columns], row-major */
    size_t *len;
    double *label;    /* [n_rows], or NULL */
    size_t n_rows;
    int n_columns;
    size_t dropped;   /* rows left out by drop_labels */
} Dataset;

/* spec: the "data" object of a training config (path, format, header, columns, label,
 * label_map, label_scale, drop_labels); where names the config key for messages. */
int dataset_load(Dataset *d, const cJSON *spec, const char *where, SeError *err);
void dataset_free(Dataset *d);

#endif
