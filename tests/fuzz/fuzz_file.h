/* The fuzz input as a file: a memfd, whose /proc/self/fd path a reader opens (and maps)
 * exactly as it would a file on disk, with no file system traffic per input. */
#ifndef SENTEMBED_FUZZ_FILE_H
#define SENTEMBED_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static int fuzz_fd = -1;
static char fuzz_path[64];

/* In LLVMFuzzerInitialize. */
static inline void fuzz_file_init(const char *name)
{
    fuzz_fd = memfd_create(name, MFD_CLOEXEC);
    if (fuzz_fd < 0) {
        perror("memfd_create");
        exit(1);
    }
    snprintf(fuzz_path, sizeof fuzz_path, "/proc/self/fd/%d", fuzz_fd);
}

/* The file's contents become data[0..size). */
static inline void fuzz_file_write(const uint8_t *data, size_t size)
{
    if (ftruncate(fuzz_fd, 0) != 0 || (size && pwrite(fuzz_fd, data, size, 0) != (ssize_t)size))
        abort();
}

#endif
