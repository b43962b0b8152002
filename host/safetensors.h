/* safetensors reader and writer.
 *
 * File layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON (the header,
 * possibly padded with trailing spaces), then the data buffer. The header is an object
 * mapping tensor name -> {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin,
 * end]} with offsets relative to the start of the data buffer, plus an optional
 * "__metadata__" object of string -> string.
 *
 * The header is untrusted input: st_open checks every length, offset, shape and dtype
 * before anything is read, and fails with a message naming the file and the tensor. */
#ifndef SENTEMBED_SAFETENSORS_H
#define SENTEMBED_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "host/error.h"

#define ST_MAX_DIMS 8

typedef enum { ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL } StDtype;

typedef struct {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t offset, nbytes; /* within data */
} StTensor;

/* tensors[] is sorted by name (st_find bisects it). */
typedef struct {
    char *path;
    void *map;
    size_t map_len;
    const uint8_t *data;
    size_t data_len;
    StTensor *tensors;
    int n_tensors;
} StFile;

/* Maps the file read-only and validates the whole header; 0, or -1 with a message (f is
 * then left closed, and st_close on it is harmless). */
int st_open(StFile *f, const char *path, SeError *err);
/* NULL if absent. */
const StTensor *st_find(const StFile *f, const char *name);
size_t st_numel(const StTensor *t);
/* "F32", "BF16", ... as the header spells them; bytes per element. */
const char *st_dtype_name(StDtype dtype);
size_t st_dtype_size(StDtype dtype);
/* Converts F32/F16/BF16 into fp32 (exactly); fails, naming the file and tensor, when the
 * tensor's element count is not count, its dtype is not one of those three, or an element
 * is NaN or infinite (such weights would turn every embedding into NaN without a word). */
int st_read_f32(const StFile *f, const StTensor *t, float *out, size_t count, SeError *err);
void st_close(StFile *f);

typedef struct {
    const char *name;
    const float *data; /* may be NULL when the tensor has no elements */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
} StWriteTensor;

/* Writes F32 tensors as the reference writer does (header sorted by name and padded with
 * spaces to a multiple of 8, tensors packed back to back in name order), atomically:
 * PATH.tmp.<pid>, fsync, rename over PATH, fsync of the directory. metadata is NULL or a
 * NULL-terminated list of key, value pairs; transformers wants {"format", "pt"}. */
int st_write(const char *path, const StWriteTensor *tensors, int n, const char *const *metadata, SeError *err);

#endif
