/* cJSON helpers: parse JSON strictly with an error that names the file, line and column,
 * read optional typed keys with errors that name the file and key, and print numbers that
 * may not be finite. */
#ifndef SENTEMBED_JSON_UTIL_H
#define SENTEMBED_JSON_UTIL_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "host/error.h"

#include <stddef.h>
#include <stdio.h>

/* What json_parse_strict refused, and where. */
typedef enum { JSON_INVALID, JSON_TRAILING_TEXT, JSON_NUL, JSON_DUPLICATE_KEY, JSON_NUMBER_RANGE } JsonProblemKind;

typedef struct {
    JsonProblemKind kind;
    size_t offset;   /* byte of the text where it is */
    char what[384];  /* "invalid JSON", "duplicate key \"loss.type\"", ... */
} JsonProblem;

/* Parses text[0..len) as exactly one JSON value, refusing what cJSON would accept and
 * silently misread:
 *   - any text but whitespace after the value (cJSON stops at the value's end);
 *   - a NUL character, a zero byte or written \u0000 (a C string ends there: the text
 *     would be cut short);
 *   - an object holding a key twice (cJSON keeps the first value, Python's json the
 *     last: the same file would mean two things);
 *   - a number too large for a double (1e999: cJSON reads infinity, and writes it back
 *     as null).
 * NULL with *why filled in on any of these or on invalid JSON. */
cJSON *json_parse_strict(const char *text, size_t len, JsonProblem *why);

/* The key some object of root holds twice (the first such in document order), as a path
 * from root ("loss.type", "data[1].path"), and the byte offset in text (the JSON root was
 * parsed from) of its second occurrence. 1 when there is one, 0 when every key is unique. */
int json_find_duplicate_key(const cJSON *root, const char *text, size_t len, char *path, size_t cap,
                            size_t *offset);

/* A file, parsed strictly; errors are "PATH:LINE:COLUMN: what". */
cJSON *json_parse_file(const char *path, SeError *err);
/* A command-line option's JSON value: "@FILE" reads FILE (as json_parse_file), anything
 * else is the JSON text itself; errors are "OPTION: what at column N". */
cJSON *json_parse_arg(const char *arg, const char *option, SeError *err);

/* Writes v with fmt (e.g. "%.6f") when it is finite, and null otherwise: JSON has no NaN
 * or infinity, and a bare nan breaks every reader of the line. */
void json_fprint_number(FILE *f, const char *fmt, double v);

/* Each returns 1 when the key is present with the right type (value stored), 0 when it is
 * absent or null (nothing stored), -1 with a message when it has the wrong type. */
int json_opt_bool(const cJSON *obj, const char *key, bool *out, const char *path, SeError *err);
int json_opt_int(const cJSON *obj, const char *key, long long *out, const char *path, SeError *err);
/* Strings are returned as pointers into the cJSON tree. */
int json_opt_string(const cJSON *obj, const char *key, const char **out, const char *path, SeError *err);

/* Fails on the first key of obj that is not in known (NULL-terminated), naming it as
 * prefix + key and suggesting the closest known key when one is near (a typo). */
int json_check_keys(const cJSON *obj, const char *const *known, const char *prefix, const char *path, SeError *err);

#endif
