#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/json_util.h"
#include "trainer/data_spec.h"

const char *const DATA_SPEC_KEYS[] = {"path", "format", "header", "columns", "label", "label_map", "label_scale",
                                      "drop_labels", "shard", NULL};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* "set.pos[0]" -> steps set, pos, [0]. The keys are copied, each NUL-terminated, into
 * c->storage. */
static int compile_path(DataColumn *c, const DataSpec *s, const char *what, SeError *err)
{
    const char *p = c->name;
    char *out = c->storage = se_xmalloc(strlen(c->name) + DATA_MAX_PATH_STEPS + 1);
    c->n_steps = 0;
    while (*p) {
        if (c->n_steps == DATA_MAX_PATH_STEPS)
            return se_fail(err, "%s: key \"%s.%s\": the path \"%s\" has more than %d steps", s->config, s->key, what,
                           c->name, DATA_MAX_PATH_STEPS);
        long idx = -1;
        const char *after;
        if (*p == '[') {
            char *end = NULL;
            if (p[1] == '*' && p[2] == ']') {
                idx = DATA_EVERY, after = p + 3;
                if (c->every)
                    return se_fail(err, "%s: key \"%s.%s\": \"%s\" has more than one [*]", s->config, s->key, what,
                                   c->name);
                c->every = true;
            } else {
                if (p[1] >= '0' && p[1] <= '9')
                    idx = strtol(p + 1, &end, 10);
                if (idx < 0 || idx > 1 << 30 || *end != ']' || c->n_steps == 0)
                    return se_fail(err, "%s: key \"%s.%s\": \"%s\" is not a key path like \"set.pos[0]\" or "
                                   "\"set.pos[*]\"", s->config, s->key, what, c->name);
                after = end + 1;
            }
            c->steps[c->n_steps++] = (PathStep){NULL, (int)idx};
        } else {
            size_t k = strcspn(p, ".[");
            if (k == 0)
                return se_fail(err, "%s: key \"%s.%s\": \"%s\" has an empty key (expected a path like "
                               "\"set.pos[0]\")", s->config, s->key, what, c->name);
            memcpy(out, p, k);
            out[k] = '\0';
            c->steps[c->n_steps++] = (PathStep){out, -1};
            out += k + 1;
            after = p + k;
        }
        if (*after && *after != '.' && *after != '[')
            return se_fail(err, "%s: key \"%s.%s\": \"%s\" is not a key path like \"set.pos[0]\" (a '.' or '[' "
                           "must follow ']')", s->config, s->key, what, c->name);
        if (*after == '.') {
            if (!after[1] || after[1] == '.' || after[1] == '[')
                return se_fail(err, "%s: key \"%s.%s\": \"%s\" has an empty key (expected a path like "
                               "\"set.pos[0]\")", s->config, s->key, what, c->name);
            after++;
        }
        p = after;
    }
    return 0;
}

/* One column: an index or a name (a key path in JSONL). */
static int parse_column(DataColumn *c, const cJSON *e, DataSpec *s, const char *what, SeError *err)
{
    memset(c, 0, sizeof *c);
    c->index = -1;
    if (cJSON_IsNumber(e) && e->valuedouble >= 0 && e->valuedouble < 4096 && e->valuedouble == floor(e->valuedouble)) {
        if (s->format == DATA_JSONL)
            return se_fail(err, "%s: key \"%s.%s\": JSONL columns are named by key, not by index", s->config, s->key,
                           what);
        c->index = (int)e->valuedouble;
        c->storage = se_xmalloc(16);
        snprintf(c->storage, 16, "%d", c->index);
        c->name = c->storage;
        return 0;
    }
    if (!cJSON_IsString(e) || !e->valuestring[0])
        return se_fail(err, "%s: key \"%s.%s\": expected a column index (0 to 4095) or name", s->config, s->key, what);
    c->name = e->valuestring;
    if (s->format != DATA_JSONL) {
        if (!s->header)
            return se_fail(err, "%s: key \"%s.%s\": column \"%s\" is chosen by name, but the file has no header "
                           "(set %s.header: true, or use indices)", s->config, s->key, what, c->name, s->key);
        return 0;
    }
    return compile_path(c, s, what, err);
}

static int parse_shard_spec(DataSpec *s, const cJSON *spec, SeError *err)
{
    if (json_opt_string(spec, "shard", &s->shard, s->config, err) != 1)
        return se_fail(err, "%s: key \"%s.shard\": expected the path of a shard (sentembed tokenize --shard)",
                       s->config, s->key);
    for (const cJSON *e = spec->child; e; e = e->next)
        if (strcmp(e->string, "shard"))
            return se_fail(err, "%s: key \"%s.%s\": a shard holds its own columns and labels; give \"shard\" alone",
                           s->config, s->key, e->string);
    return 0;
}

int data_spec_parse(DataSpec *s, const cJSON *spec, const char *config, const char *key,
                    const char *const *extra_keys, SeError *err)
{
    memset(s, 0, sizeof *s);
    s->config = config, s->key = key, s->label_scale = 1;
    if (!cJSON_IsObject(spec))
        return se_fail(err, "%s: key \"%s\": expected an object with path, format and columns (or a shard)", config,
                       key);
    /* the keys a spec may have: DATA_SPEC_KEYS and the caller's */
    const char *known[32];
    int n_known = 0;
    for (int k = 0; DATA_SPEC_KEYS[k]; k++)
        known[n_known++] = DATA_SPEC_KEYS[k];
    for (int k = 0; extra_keys && extra_keys[k] && n_known < 31; k++)
        known[n_known++] = extra_keys[k];
    known[n_known] = NULL;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s.", key);
    if (json_check_keys(spec, known, prefix, config, err))
        return -1;
    if (cJSON_GetObjectItemCaseSensitive(spec, "shard"))
        return parse_shard_spec(s, spec, err);
    const char *format = NULL;
    if (json_opt_string(spec, "path", &s->path, config, err) != 1 || !s->path[0])
        return se_fail(err, "%s: key \"%s.path\": expected the path of the data file", config, key);
    if (json_opt_string(spec, "format", &format, config, err) < 0 || json_opt_bool(spec, "header", &s->header, config, err) < 0)
        return -1;
    s->gz = ends_with(s->path, ".gz");
    if (!format) {
        size_t n = strlen(s->path) - (s->gz ? 3 : 0);
        bool jsonl = n >= 6 && !strncmp(s->path + n - 6, ".jsonl", 6), csv = n >= 4 && !strncmp(s->path + n - 4, ".csv", 4);
        format = jsonl ? "jsonl" : csv ? "csv" : "tsv";
    }
    if (!strcmp(format, "tsv"))
        s->format = DATA_TSV;
    else if (!strcmp(format, "csv"))
        s->format = DATA_CSV;
    else if (!strcmp(format, "jsonl"))
        s->format = DATA_JSONL;
    else
        return se_fail(err, "%s: key \"%s.format\": expected tsv, csv or jsonl, got \"%s\"", config, key, format);
    if (s->header && s->format == DATA_JSONL)
        return se_fail(err, "%s: key \"%s.header\": JSONL has no header row (its keys name the columns)", config, key);
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(spec, "label_scale");
    if (sc && !cJSON_IsNull(sc)) {
        if (!cJSON_IsNumber(sc) || !(sc->valuedouble > 0) || !isfinite(sc->valuedouble))
            return se_fail(err, "%s: key \"%s.label_scale\": expected a positive number", config, key);
        s->label_scale = sc->valuedouble;
    }
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(spec, "columns");
    if (!cJSON_IsArray(cols) || cJSON_GetArraySize(cols) < 1 || cJSON_GetArraySize(cols) > DATA_MAX_COLUMNS)
        return se_fail(err, "%s: key \"%s.columns\": expected a list of 1 to %d column indices or names", config, key,
                       DATA_MAX_COLUMNS);
    for (const cJSON *e = cols->child; e; e = e->next) {
        char what[32];
        snprintf(what, sizeof what, "columns[%d]", s->n_columns);
        if (parse_column(&s->columns[s->n_columns++], e, s, what, err))
            return -1;
    }
    const cJSON *lab = cJSON_GetObjectItemCaseSensitive(spec, "label");
    if (lab && !cJSON_IsNull(lab)) {
        s->has_label = true;
        if (parse_column(&s->label, lab, s, "label", err))
            return -1;
    }
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(spec, "label_map");
    if (map && !cJSON_IsNull(map)) {
        if (!cJSON_IsObject(map))
            return se_fail(err, "%s: key \"%s.label_map\": expected an object of label -> number", config, key);
        for (const cJSON *e = map->child; e; e = e->next)
            if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble))
                return se_fail(err, "%s: key \"%s.label_map\": \"%s\" maps to %s, expected a number", config, key,
                               e->string, cJSON_IsString(e) ? "a string" : "a non-number");
        s->label_map = map;
    }
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(spec, "drop_labels");
    if (drop && !cJSON_IsNull(drop)) {
        if (!cJSON_IsArray(drop))
            return se_fail(err, "%s: key \"%s.drop_labels\": expected a list of numbers", config, key);
        s->drop_labels = se_xmalloc(((size_t)cJSON_GetArraySize(drop) + 1) * sizeof *s->drop_labels);
        for (const cJSON *e = drop->child; e; e = e->next) {
            if (!cJSON_IsNumber(e))
                return se_fail(err, "%s: key \"%s.drop_labels\": expected a list of numbers", config, key);
            s->drop_labels[s->n_drop_labels++] = e->valuedouble;
        }
    }
    if ((s->label_map || s->n_drop_labels) && !s->has_label)
        return se_fail(err, "%s: key \"%s.%s\": there is no %s.label to apply it to", config, key,
                       s->label_map ? "label_map" : "drop_labels", key);
    return 0;
}

void data_spec_free(DataSpec *s)
{
    for (int c = 0; c < s->n_columns; c++)
        free(s->columns[c].storage);
    free(s->label.storage);
    free(s->drop_labels);
    memset(s, 0, sizeof *s);
}
