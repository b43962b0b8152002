/* Caps on what one input may make the process hold, so that a hostile or broken input
 * (a /dev/zero corpus, a gzip bomb) fails fast with a message instead of growing until
 * memory or disk runs out:
 *   SENTEMBED_MAX_LINE_BYTES  the longest line any reader takes: a line of encode, search
 *                             or tokenize input, a record of a data file (default 64 MiB);
 *   SENTEMBED_GZ_MAX_BYTES    the most a .gz data file may decompress to (default: 100x
 *                             its compressed size, at least 1 GiB; a gzip stream of zeros
 *                             expands ~1000x, ordinary text 3-10x).
 * Values are bytes, optionally with a K, M or G suffix (KiB, MiB, GiB): 1048576, 512M. */
#ifndef SENTEMBED_INPUT_LIMITS_H
#define SENTEMBED_INPUT_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "host/error.h"

#define INPUT_MAX_LINE_DEFAULT ((size_t)64 << 20)
#define INPUT_GZ_MIN_LIMIT ((uint64_t)1 << 30)
#define INPUT_GZ_MAX_RATIO 100

/* SENTEMBED_MAX_LINE_BYTES or the default; a malformed value is an error naming it. */
int input_max_line_bytes(size_t *out, SeError *err);
/* SENTEMBED_GZ_MAX_BYTES or the default for a .gz of `compressed` bytes. */
int input_gz_max_bytes(uint64_t compressed, uint64_t *out, SeError *err);

#endif
