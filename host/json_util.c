#include <math.h>
#include <stdlib.h>
#include <string.h>

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

static int edit_distance(const char *a, const char *b)
{
    int n = (int)strlen(a), m = (int)strlen(b), row[128];
    if (m >= 127)
        return 99;
    for (int j = 0; j <= m; j++)
        row[j] = j;
    for (int i = 1; i <= n; i++) {
        int prev = row[0];
        row[0] = i;
        for (int j = 1; j <= m; j++) {
            int cur = row[j];
            int best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[m];
}

int json_check_keys(const cJSON *obj, const char *const *known, const char *prefix, const char *path, SeError *err)
{
    for (const cJSON *e = obj->child; e; e = e->next) {
        int found = 0, best = 99;
        const char *closest = NULL;
        for (int k = 0; known[k]; k++) {
            if (!strcmp(e->string, known[k]))
                found = 1;
            int d = edit_distance(e->string, known[k]);
            if (d < best)
                best = d, closest = known[k];
        }
        if (!found) {
            if (best <= 3)
                return se_fail(err, "%s: unknown key \"%s%s\" (did you mean \"%s%s\"?)", path, prefix, e->string,
                               prefix, closest);
            return se_fail(err, "%s: unknown key \"%s%s\"", path, prefix, e->string);
        }
    }
    return 0;
}
