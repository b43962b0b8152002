/* Files that appear whole or not at all: write PATH.tmp.PID, fsync, rename over PATH,
 * fsync the directory. A crash leaves either the old file or the new one. */
#ifndef SENTEMBED_ATOMIC_FILE_H
#define SENTEMBED_ATOMIC_FILE_H

#include <stdio.h>

#include "host/error.h"

typedef struct {
    FILE *f;
    char path[4096], tmp[4200];
} AtomicFile;

int atomic_open(AtomicFile *a, const char *path, SeError *err);
/* Flushes, fsyncs and renames; on any earlier write error (or failed == 1) removes the
 * temporary file instead and fails. */
int atomic_commit(AtomicFile *a, int failed, SeError *err);

#endif
