/* Small file helpers shared by the loaders. */
#ifndef SENTEMBED_FILEIO_H
#define SENTEMBED_FILEIO_H

#include <stdbool.h>
#include <stddef.h>

#include "host/error.h"

/* Reads a whole (small) file; *data is NUL-terminated for convenience and must be freed. */
int file_read_all(const char *path, char **data, size_t *len, SeError *err);
/* Copies a file (streamed) and fsyncs the copy; the message of a failure names the file. */
int file_copy(const char *from, const char *to, SeError *err);
bool file_exists(const char *path);
bool dir_exists(const char *path);
/* dir + "/" + name into out (of size cap); fails with a message if it does not fit. */
int path_join(char *out, size_t cap, const char *dir, const char *name, SeError *err);
/* Removes a file or a whole directory tree (symbolic links are removed, not followed);
 * 0 also when nothing was there. */
int remove_tree(const char *path);
/* fsync of a directory, so a rename or a new entry in it survives a crash (best effort). */
void fsync_dir(const char *path);

#endif
