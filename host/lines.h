/* All lines of a text stream in memory, split on '\n', checked to be UTF-8 without NUL
 * (utf8_text_prefix; an error names the line) or repaired (each invalid sequence and each
 * NUL becomes U+FFFD). A line longer than SENTEMBED_MAX_LINE_BYTES (host/input_limits.h)
 * is an error naming it, found before more than that is read past the line's start. */
#ifndef SENTEMBED_LINES_H
#define SENTEMBED_LINES_H

#include <stdbool.h>
#include <stdio.h>

#include "host/error.h"

typedef struct {
    char *text;         /* all lines, each NUL-terminated */
    const char **line;  /* [n] */
    size_t *len;        /* [n] */
    size_t n;
} Lines;

/* name is used in messages ("stdin", a path). */
int lines_read(Lines *l, FILE *in, const char *name, bool repair_utf8, SeError *err);
int lines_read_file(Lines *l, const char *path, bool repair_utf8, SeError *err);
void lines_free(Lines *l);

#endif
