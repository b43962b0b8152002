#include <math.h>
#include <stdlib.h>

#include "host/fileio.h"
#include "host/json_util.h"

cJSON *json_parse_file(const char *path, SeError *err)
{
    char *text;
    size_t len;
    if (file_read_all(path, &text, &len, err))
        return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t line = 1, col = 1;
        const char *stop = end ? end : text;
        for (const char *p = text; p < stop && p < text + len; p++) {
            if (*p == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        se_fail(err, "%s:%zu:%zu: invalid JSON", path, line, col);
    }
    free(text);
    return root;
}

int json_opt_bool(const cJSON *obj, const char *key, bool *out, const char *path, SeError *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v))
        return se_fail(err, "%s: key \"%s\": expected true or false", path, key);
    *out = cJSON_IsTrue(v);
    return 1;
}

int json_opt_int(const cJSON *obj, const char *key, long long *out, const char *path, SeError *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return se_fail(err, "%s: key \"%s\": expected an integer", path, key);
    /* Hugging Face writes "unset" limits as huge numbers (1e30); clamp them. */
    *out = v->valuedouble > 9.0e18 ? (long long)9e18 : (long long)v->valuedouble;
    return 1;
}

int json_opt_string(const cJSON *obj, const char *key, const char **out, const char *path, SeError *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return se_fail(err, "%s: key \"%s\": expected a string", path, key);
    *out = v->valuestring;
    return 1;
}
