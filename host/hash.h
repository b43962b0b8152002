/* FNV-1a 64: the byte hash of checksums, recipe hashes, vocabulary hashes and duplicate
 * detection (small, stable across platforms and versions: it is stored in files). */
#ifndef SENTEMBED_HASH_H
#define SENTEMBED_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FNV64_START 0xcbf29ce484222325ull

/* Continues hash h over data[0..n); start with FNV64_START. */
static inline uint64_t fnv1a64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

#endif
