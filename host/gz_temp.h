/* A gzip file decompressed once, streaming, into a temporary file that the data reader then
 * indexes and reads back with pread like any plain file. The temporary file is created in
 * $TMPDIR (default /tmp) and unlinked as soon as it is open, so nothing is left behind
 * however the process ends; it needs as much free space there as the data uncompressed.
 * Several gzip members one after another (as `cat a.gz b.gz` makes) are one stream, as
 * `gzip -d` reads them.
 *
 * A gzip bomb (a small file that expands to gigabytes) is stopped while it decompresses,
 * with the disk and memory it took bounded: the output may not exceed
 * SENTEMBED_GZ_MAX_BYTES (by default 100x the compressed size, at least 1 GiB), nor a line
 * of it SENTEMBED_MAX_LINE_BYTES (64 MiB; host/input_limits.h), the cap the reader would
 * apply to it afterwards anyway. */
#ifndef SENTEMBED_GZ_TEMP_H
#define SENTEMBED_GZ_TEMP_H

#include <stdint.h>

#include "host/error.h"

/* On success *fd is the decompressed data (open for reading, position 0) and *size its
 * length. Fails with a message naming path for a missing, unreadable, corrupt or truncated
 * file, or a full disk. */
int gz_decompress_to_temp(const char *path, int *fd, uint64_t *size, SeError *err);

#endif
