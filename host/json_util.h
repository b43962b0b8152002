/* cJSON helpers: parse a file with an error that names the file and line, and read
 * optional typed keys with errors that name the file and key. */
#ifndef SENTEMBED_JSON_UTIL_H
#define SENTEMBED_JSON_UTIL_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "host/error.h"

cJSON *json_parse_file(const char *path, SeError *err);

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
