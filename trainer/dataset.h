/* A small dataset wholly in memory (the evaluators' files): every example of a data spec
 * (trainer/data_spec.h), read through the streaming reader (trainer/data_source.h), so
 * the formats, column choices and messages are those of training. */
#ifndef SENTEMBED_DATASET_H
#define SENTEMBED_DATASET_H

#include <stddef.h>

#include "trainer/data_spec.h"

typedef struct {
    char **text;      /* [n_rows * n_columns], row-major */
    size_t *len;
    double *label;    /* [n_rows], or NULL */
    size_t n_rows;
    int n_columns;
    size_t dropped;   /* examples left out by drop_labels */
} Dataset;

int dataset_load(Dataset *d, const DataSpec *spec, SeError *err);
void dataset_free(Dataset *d);

#endif
