#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host/fileio.h"
#include "host/json_util.h"

/* The first NUL in text: a zero byte, or \u0000 in a string (every other backslash starts
 * a two-byte escape, so an escaped backslash before "u0000" is not one). len when none. */
static size_t nul_offset(const char *text, size_t len)
{
    const char *zero = memchr(text, '\0', len);
    const size_t end = zero ? (size_t)(zero - text) : len;
    for (const char *p = memchr(text, '\\', end); p;) {
        size_t i = (size_t)(p - text);
        if (i + 6 <= end && !memcmp(p + 1, "u0000", 5))
            return i;
        i += 2;
        p = i < end ? memchr(text + i, '\\', end - i) : NULL;
    }
    return end;
}

typedef struct {
    const char *key;
    int index; /* among the object's members */
} KeyAt;

static int key_at_order(const void *a, const void *b)
{
    const KeyAt *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

static bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

/* The closing quote of the string that opens at text[i]. */
static size_t string_end(const char *text, size_t len, size_t i)
{
    for (i++; i < len && text[i] != '"'; i++)
        i += text[i] == '\\';
    return i;
}

/* Byte offset of member `member` of the object that is object number `ordinal` (its '{'
 * counted in document order from 0) in the JSON text root was parsed from: objects and
 * members of the tree are in document order, so counting in the text finds them. */
static size_t member_offset(const char *text, size_t len, int ordinal, int member)
{
    size_t i = 0;
    for (int seen = -1; i < len && seen < ordinal; i++) {
        if (text[i] == '"')
            i = string_end(text, len, i);
        else if (text[i] == '{')
            seen++;
    }
    /* i is just after the object's '{': its keys are the strings at depth 0 before a ':' */
    int depth = 0, keys = 0;
    for (; i < len; i++) {
        char ch = text[i];
        if (ch == '{' || ch == '[')
            depth++;
        else if (ch == '}' || ch == ']')
            depth--;
        else if (ch == '"') {
            size_t start = i;
            i = string_end(text, len, i);
            size_t j = i + 1; /* cJSON skips every byte up to ' ' between tokens */
            while (j < len && (unsigned char)text[j] <= ' ')
                j++;
            if (depth == 0 && j < len && text[j] == ':' && keys++ == member)
                return start;
        }
    }
    return len;
}

/* The members and elements from the root down to where the search is. */
typedef struct Step {
    const struct Step *up;
    const char *key; /* NULL: element `index` of an array */
    int index;
} Step;

typedef struct {
    const char *text;
    size_t len;
    int objects; /* objects visited so far, in document order */
    char *path;  /* of the duplicate, formatted where it is found (the steps are on the stack) */
    size_t cap;
    size_t *offset;
} DupSearch;

/* "a.b[2].c" for the steps down to s. */
static size_t path_format(const Step *s, char *path, size_t cap)
{
    size_t at = s->up ? path_format(s->up, path, cap) : 0;
    if (at + 1 >= cap)
        return at;
    int n = s->key ? snprintf(path + at, cap - at, at ? ".%s" : "%s", s->key)
                   : snprintf(path + at, cap - at, "[%d]", s->index);
    return at + (size_t)n < cap ? at + (size_t)n : cap - 1;
}

static int find_duplicate(DupSearch *s, const cJSON *v, const Step *up)
{
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
        return 0;
    const int ordinal = cJSON_IsObject(v) ? s->objects++ : -1;
    int n = 0;
    for (const cJSON *e = v->child; e; e = e->next)
        n++;
    /* repeated[i]: member i has the key of an earlier member; small objects (JSONL rows,
     * recipes) compare every pair on the stack, large ones sort */
    enum { SMALL = 16 };
    bool small[SMALL] = {false}, *repeated = NULL;
    if (ordinal >= 0 && n > 1 && n <= SMALL) {
        repeated = small;
        int j = 0;
        for (const cJSON *b = v->child; b; b = b->next, j++)
            for (const cJSON *a = v->child; a != b && !repeated[j]; a = a->next)
                repeated[j] = !strcmp(a->string, b->string);
    } else if (ordinal >= 0 && n > SMALL) {
        KeyAt *keys = se_xmalloc((size_t)n * sizeof *keys);
        repeated = se_xcalloc((size_t)n, sizeof *repeated);
        int i = 0;
        for (const cJSON *e = v->child; e; e = e->next, i++)
            keys[i] = (KeyAt){e->string, i};
        qsort(keys, (size_t)n, sizeof *keys, key_at_order);
        for (i = 1; i < n; i++)
            if (!strcmp(keys[i - 1].key, keys[i].key))
                repeated[keys[i].index] = true;
        free(keys);
    }
    int i = 0, found = 0;
    for (const cJSON *e = v->child; e && !found; e = e->next, i++) {
        const Step here = {up, ordinal >= 0 ? e->string : NULL, i};
        if (repeated && repeated[i]) {
            *s->offset = member_offset(s->text, s->len, ordinal, i);
            path_format(&here, s->path, s->cap);
            found = 1;
        } else {
            found = find_duplicate(s, e, &here);
        }
    }
    if (repeated != small)
        free(repeated);
    return found;
}

int json_find_duplicate_key(const cJSON *root, const char *text, size_t len, char *path, size_t cap,
                            size_t *offset)
{
    path[0] = '\0';
    DupSearch s = {text, len, 0, path, cap, offset};
    return find_duplicate(&s, root, NULL);
}

static bool has_infinite_number(const cJSON *v)
{
    if (cJSON_IsNumber(v) && !isfinite(v->valuedouble))
        return true;
    for (const cJSON *c = v->child; c; c = c->next)
        if (has_infinite_number(c))
            return true;
    return false;
}

/* The offset of the first number token of text (outside strings) that overflows a double;
 * len when none does. */
static size_t infinite_number_offset(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '"') { /* skip the string, escapes included */
            for (i++; i < len && text[i] != '"'; i++)
                if (text[i] == '\\')
                    i++;
        } else if (text[i] == '-' || (text[i] >= '0' && text[i] <= '9')) {
            size_t n = 0;
            while (i + n < len && strchr("0123456789+-.eE", text[i + n]) && text[i + n])
                n++;
            char *number = se_xmalloc(n + 1); /* text need not end in a zero byte */
            memcpy(number, text + i, n);
            number[n] = '\0';
            bool infinite = !isfinite(strtod(number, NULL));
            free(number);
            if (infinite)
                return i;
            i += n - 1;
        }
    }
    return len;
}

cJSON *json_parse_strict(const char *text, size_t len, JsonProblem *why)
{
    memset(why, 0, sizeof *why);
    size_t nul = nul_offset(text, len);
    if (nul < len) {
        why->kind = JSON_NUL, why->offset = nul;
        snprintf(why->what, sizeof why->what, "a NUL character (%s), which no text may hold",
                 text[nul] ? "\\u0000" : "a zero byte");
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        why->kind = JSON_INVALID;
        why->offset = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        snprintf(why->what, sizeof why->what, "invalid JSON");
        return NULL;
    }
    size_t stop = (size_t)(end - text);
    while (stop < len && is_space(text[stop]))
        stop++;
    if (stop < len) {
        why->kind = JSON_TRAILING_TEXT, why->offset = stop;
        snprintf(why->what, sizeof why->what, "unexpected text after the JSON value");
        cJSON_Delete(root);
        return NULL;
    }
    char path[256];
    if (json_find_duplicate_key(root, text, len, path, sizeof path, &why->offset)) {
        why->kind = JSON_DUPLICATE_KEY;
        snprintf(why->what, sizeof why->what, "duplicate key \"%s\": a key may appear once in an object", path);
        cJSON_Delete(root);
        return NULL;
    }
    if (has_infinite_number(root)) {
        why->kind = JSON_NUMBER_RANGE, why->offset = infinite_number_offset(text, len);
        snprintf(why->what, sizeof why->what, "a number too large to represent (it would be infinity)");
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

cJSON *json_parse_file(const char *path, SeError *err)
{
    char *text;
    size_t len;
    if (file_read_all(path, &text, &len, err))
        return NULL;
    JsonProblem why;
    cJSON *root = json_parse_strict(text, len, &why);
    if (!root) {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < why.offset && i < len; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        se_fail(err, "%s:%zu:%zu: %s", path, line, col, why.what);
    }
    free(text);
    return root;
}

cJSON *json_parse_arg(const char *arg, const char *option, SeError *err)
{
    if (arg[0] == '@')
        return json_parse_file(arg + 1, err);
    JsonProblem why;
    cJSON *root = json_parse_strict(arg, strlen(arg), &why);
    if (!root)
        se_fail(err, "%s: %s (column %zu)", option, why.what, why.offset + 1);
    return root;
}

void json_fprint_number(FILE *f, const char *fmt, double v)
{
    if (isfinite(v))
        fprintf(f, fmt, v);
    else
        fputs("null", f);
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
