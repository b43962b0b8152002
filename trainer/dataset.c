#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/fileio.h"
#include "host/json_util.h"
#include "host/utf8.h"
#include "trainer/dataset.h"

typedef enum { FMT_TSV, FMT_CSV, FMT_JSONL } Format;

/* One column selector: an index, or a name (header field / JSON path). */
typedef struct {
    int index;        /* >= 0 when chosen by index */
    const char *name; /* otherwise */
} Column;

/* Splits one CSV/TSV record starting at *pos into fields (unquoted in place into buf).
 * Returns the number of fields, or -1 with a message for an unterminated quote. */
static int split_record(const char *text, size_t n, size_t *pos, Format fmt, char *buf, char **fields, int max_fields,
                        size_t *line, const char *path, SeError *err)
{
    size_t i = *pos, o = 0;
    int nf = 0;
    fields[nf++] = buf;
    if (fmt == FMT_TSV) {
        while (i < n && text[i] != '\n') {
            if (text[i] == '\t') {
                buf[o++] = '\0';
                if (nf < max_fields)
                    fields[nf++] = buf + o;
            } else {
                buf[o++] = text[i];
            }
            i++;
        }
    } else {
        bool quoted = false, field_start = true;
        size_t start_line = *line;
        while (i < n && (quoted || text[i] != '\n')) {
            char ch = text[i];
            if (quoted) {
                if (ch == '"' && i + 1 < n && text[i + 1] == '"') {
                    buf[o++] = '"';
                    i++;
                } else if (ch == '"') {
                    quoted = false;
                } else {
                    *line += ch == '\n';
                    buf[o++] = ch;
                }
            } else if (ch == '"' && field_start) {
                quoted = true;
            } else if (ch == ',') {
                buf[o++] = '\0';
                if (nf < max_fields)
                    fields[nf++] = buf + o;
                field_start = true;
                i++;
                continue;
            } else {
                buf[o++] = ch;
            }
            field_start = false;
            i++;
        }
        if (quoted)
            return se_fail(err, "%s:%zu: unterminated quoted field", path, start_line);
    }
    if (o > 0 && buf[o - 1] == '\r') /* CRLF files */
        o--;
    buf[o] = '\0';
    *pos = i < n ? i + 1 : n;
    return nf;
}

/* A JSON path like "set.pos[0]" or "premise". */
static const cJSON *json_path(const cJSON *obj, const char *path)
{
    char part[256];
    while (obj && *path) {
        size_t k = strcspn(path, ".[");
        if (k >= sizeof part)
            return NULL;
        memcpy(part, path, k);
        part[k] = '\0';
        if (k)
            obj = cJSON_GetObjectItemCaseSensitive(obj, part);
        path += k;
        while (obj && *path == '[') {
            char *end;
            long idx = strtol(path + 1, &end, 10);
            if (*end != ']' || idx < 0)
                return NULL;
            obj = cJSON_GetArrayItem(obj, (int)idx);
            path = end + 1;
        }
        if (*path == '.')
            path++;
    }
    return obj;
}

static int parse_columns(const cJSON *spec, const char *key, Column *cols, int max, const char *where, SeError *err)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(spec, key);
    if (!cJSON_IsArray(c) || cJSON_GetArraySize(c) < 1 || cJSON_GetArraySize(c) > max)
        return se_fail(err, "%s: key \"data.%s\": expected a list of 1 to %d column indices or names", where, key, max);
    int n = 0;
    for (const cJSON *e = c->child; e; e = e->next, n++) {
        if (cJSON_IsNumber(e) && e->valuedouble >= 0 && e->valuedouble == floor(e->valuedouble))
            cols[n] = (Column){(int)e->valuedouble, NULL};
        else if (cJSON_IsString(e))
            cols[n] = (Column){-1, e->valuestring};
        else
            return se_fail(err, "%s: key \"data.%s\": item %d is neither a column index nor a name", where, key, n);
    }
    return n;
}

static int label_value(const char *s, const cJSON *label_map, double scale, double *out, const char *path,
                       size_t line, const char *col, SeError *err)
{
    if (label_map) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(label_map, s);
        if (!cJSON_IsNumber(v))
            return se_fail(err, "%s:%zu: label \"%s\" (column %s) is not in data.label_map", path, line, s, col);
        *out = v->valuedouble;
        return 0;
    }
    char *end;
    double v = strtod(s, &end);
    while (*end == ' ')
        end++;
    if (end == s || *end || !isfinite(v))
        return se_fail(err, "%s:%zu: column %s: expected a number as the label, got \"%.40s\"", path, line, col, s);
    *out = v / scale;
    return 0;
}

int dataset_load(Dataset *d, const cJSON *spec, const char *where, SeError *err)
{
    memset(d, 0, sizeof *d);
    const char *path = NULL, *format = NULL;
    bool header = false;
    double scale = 1;
    if (!cJSON_IsObject(spec))
        return se_fail(err, "%s: key \"data\": expected an object with path, format and columns", where);
    if (json_opt_string(spec, "path", &path, where, err) != 1)
        return se_fail(err, "%s: key \"data.path\": expected the path of the training file", where);
    if (json_opt_string(spec, "format", &format, where, err) < 0 || json_opt_bool(spec, "header", &header, where, err) < 0)
        return -1;
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(spec, "label_scale");
    if (sc && (!cJSON_IsNumber(sc) || sc->valuedouble <= 0))
        return se_fail(err, "%s: key \"data.label_scale\": expected a positive number", where);
    if (sc)
        scale = sc->valuedouble;
    Format fmt;
    if (!format) {
        size_t pl = strlen(path);
        format = pl > 6 && !strcmp(path + pl - 6, ".jsonl") ? "jsonl" : pl > 4 && !strcmp(path + pl - 4, ".csv") ? "csv" : "tsv";
    }
    if (!strcmp(format, "tsv"))
        fmt = FMT_TSV;
    else if (!strcmp(format, "csv"))
        fmt = FMT_CSV;
    else if (!strcmp(format, "jsonl"))
        fmt = FMT_JSONL;
    else
        return se_fail(err, "%s: key \"data.format\": expected tsv, csv or jsonl, got \"%s\"", where, format);
    Column cols[8], label_col;
    int nc = parse_columns(spec, "columns", cols, 8, where, err);
    if (nc < 0)
        return -1;
    const cJSON *lab = cJSON_GetObjectItemCaseSensitive(spec, "label");
    bool has_label = lab && !cJSON_IsNull(lab);
    if (has_label) {
        if (cJSON_IsNumber(lab) && lab->valuedouble >= 0)
            label_col = (Column){(int)lab->valuedouble, NULL};
        else if (cJSON_IsString(lab))
            label_col = (Column){-1, lab->valuestring};
        else
            return se_fail(err, "%s: key \"data.label\": expected a column index or name", where);
    }
    const cJSON *label_map = cJSON_GetObjectItemCaseSensitive(spec, "label_map");
    if (label_map && !cJSON_IsObject(label_map))
        return se_fail(err, "%s: key \"data.label_map\": expected an object of label -> number", where);
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(spec, "drop_labels");
    if (drop && !cJSON_IsArray(drop))
        return se_fail(err, "%s: key \"data.drop_labels\": expected a list of numbers", where);

    char *text;
    size_t n;
    if (file_read_all(path, &text, &n, err))
        return -1;
    size_t bad = utf8_valid_prefix((const uint8_t *)text, n);
    if (bad < n) {
        size_t line = 1;
        for (size_t i = 0; i < bad; i++)
            line += text[i] == '\n';
        free(text);
        return se_fail(err, "%s:%zu: invalid UTF-8", path, line);
    }
    size_t cap = 1024, pos = 0, line = 0;
    d->n_columns = nc;
    d->text = se_xmalloc(cap * nc * sizeof *d->text);
    d->len = se_xmalloc(cap * nc * sizeof *d->len);
    if (has_label)
        d->label = se_xmalloc(cap * sizeof *d->label);
    char *buf = se_xmalloc(n + 1), *fields[256], *names[256];
    int n_names = 0, rc = -1;
    char *header_copy = NULL;
    if (pos < n && !memcmp(text, "\xEF\xBB\xBF", 3 < n ? 3 : n)) /* a BOM */
        pos = 3;
    while (pos < n) {
        size_t this_line = ++line;
        const char *vals[9];
        char col_name[64];
        cJSON *row = NULL;
        if (fmt == FMT_JSONL) {
            const char *nl = memchr(text + pos, '\n', n - pos);
            size_t end = nl ? (size_t)(nl - text) : n;
            if (end == pos || (end == pos + 1 && text[pos] == '\r')) { /* blank line */
                pos = end + 1;
                continue;
            }
            row = cJSON_ParseWithLength(text + pos, end - pos);
            pos = end + 1;
            if (!cJSON_IsObject(row)) {
                cJSON_Delete(row);
                se_fail(err, "%s:%zu: not a JSON object", path, this_line);
                goto done;
            }
            for (int c = 0; c <= nc; c++) {
                if (c == nc && !has_label)
                    break;
                Column col = c < nc ? cols[c] : label_col;
                if (!col.name) {
                    cJSON_Delete(row);
                    se_fail(err, "%s: key \"data.columns\": JSONL columns are named by key, not by index", where);
                    goto done;
                }
                const cJSON *v = json_path(row, col.name);
                static char num[64];
                if (cJSON_IsString(v)) {
                    vals[c] = v->valuestring;
                } else if (c == nc && cJSON_IsNumber(v)) {
                    snprintf(num, sizeof num, "%.17g", v->valuedouble);
                    vals[c] = num;
                } else {
                    cJSON_Delete(row);
                    se_fail(err, "%s:%zu: key \"%s\": missing or not a %s", path, this_line, col.name,
                            c == nc ? "label" : "string");
                    goto done;
                }
            }
        } else {
            int nf = split_record(text, n, &pos, fmt, buf, fields, 256, &line, path, err);
            if (nf < 0)
                goto done;
            if (nf == 1 && !fields[0][0]) /* blank line */
                continue;
            if (header && !header_copy) {
                size_t hl = 0;
                for (int k = 0; k < nf; k++)
                    hl += strlen(fields[k]) + 1;
                header_copy = se_xmalloc(hl);
                for (int k = 0, o = 0; k < nf; k++) {
                    strcpy(header_copy + o, fields[k]);
                    names[k] = header_copy + o;
                    o += (int)strlen(fields[k]) + 1;
                }
                n_names = nf;
                continue;
            }
            for (int c = 0; c <= nc; c++) {
                if (c == nc && !has_label)
                    break;
                Column col = c < nc ? cols[c] : label_col;
                int idx = col.index;
                if (col.name) {
                    idx = -1;
                    for (int k = 0; k < n_names; k++)
                        if (!strcmp(names[k], col.name))
                            idx = k;
                    if (idx < 0) {
                        se_fail(err, "%s: no column named \"%s\"%s", path, col.name,
                                header ? " in the header" : " (set data.header: true, or use indices)");
                        goto done;
                    }
                }
                if (idx >= nf) {
                    se_fail(err, "%s:%zu: column %d is missing (the row has %d fields)", path, this_line, idx, nf);
                    goto done;
                }
                vals[c] = fields[idx];
            }
        }
        double y = 0;
        if (has_label) {
            snprintf(col_name, sizeof col_name, "%s", label_col.name ? label_col.name : "");
            if (!label_col.name)
                snprintf(col_name, sizeof col_name, "%d", label_col.index);
            if (label_value(vals[nc], label_map, scale, &y, path, this_line, col_name, err)) {
                cJSON_Delete(row);
                goto done;
            }
            bool skip = false;
            for (const cJSON *e = drop ? drop->child : NULL; e; e = e->next)
                skip |= cJSON_IsNumber(e) && e->valuedouble == y;
            if (skip) {
                d->dropped++;
                cJSON_Delete(row);
                continue;
            }
        }
        if (d->n_rows == cap) {
            cap *= 2;
            d->text = se_xrealloc(d->text, cap * nc * sizeof *d->text);
            d->len = se_xrealloc(d->len, cap * nc * sizeof *d->len);
            if (has_label)
                d->label = se_xrealloc(d->label, cap * sizeof *d->label);
        }
        for (int c = 0; c < nc; c++) {
            size_t k = d->n_rows * nc + c;
            d->len[k] = strlen(vals[c]);
            d->text[k] = se_xmalloc(d->len[k] + 1);
            memcpy(d->text[k], vals[c], d->len[k] + 1);
        }
        if (has_label)
            d->label[d->n_rows] = y;
        d->n_rows++;
        cJSON_Delete(row);
    }
    if (d->n_rows == 0) {
        se_fail(err, "%s: no training examples%s", path, d->dropped ? " (all were dropped by data.drop_labels)" : "");
        goto done;
    }
    rc = 0;
done:
    free(buf);
    free(text);
    free(header_copy);
    if (rc)
        dataset_free(d);
    return rc;
}

void dataset_free(Dataset *d)
{
    for (size_t i = 0; i < d->n_rows * (size_t)d->n_columns; i++)
        free(d->text[i]);
    free(d->text);
    free(d->len);
    free(d->label);
    memset(d, 0, sizeof *d);
}
