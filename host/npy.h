/* NumPy .npy files of float32 matrices (format version 1.0, little-endian, C order). */
#ifndef SENTEMBED_NPY_H
#define SENTEMBED_NPY_H

#include <stddef.h>

#include "host/error.h"

/* Writes data[rows, cols] atomically (temporary file, fsync, rename). */
int npy_write_f32(const char *path, const float *data, size_t rows, size_t cols, SeError *err);
/* Reads a 2-D (or 1-D, as 1 row) '<f4' C-order array; *data must be freed. */
int npy_read_f32(const char *path, float **data, size_t *rows, size_t *cols, SeError *err);

#endif
