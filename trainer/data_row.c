#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/json_util.h"
#include "host/utf8.h"
#include "trainer/data_row.h"

void row_parser_init(RowParser *p, const DataSpec *spec, const char *name, const int *field_index, int num_labels)
{
    memset(p, 0, sizeof *p);
    p->spec = spec, p->name = name, p->field_index = field_index, p->num_labels = num_labels;
    if (spec->format != DATA_JSONL) {
        /* only the fields up to the last one a column uses are kept */
        for (int c = 0; c <= spec->n_columns; c++)
            if (c < spec->n_columns || spec->has_label)
                if ((size_t)field_index[c] + 1 > p->max_fields)
                    p->max_fields = (size_t)field_index[c] + 1;
        p->fields = se_xmalloc(p->max_fields * sizeof *p->fields);
    }
}

void row_parser_free(RowParser *p)
{
    cJSON_Delete(p->json);
    free(p->fields);
    free(p->scratch);
    free(p->record);
    memset(p, 0, sizeof *p);
}

/* Column c of the spec (c == n_columns: the label). */
static const DataColumn *column(const RowParser *p, int c)
{
    return c < p->spec->n_columns ? &p->spec->columns[c] : &p->spec->label;
}

/* How messages name a column: 'column 5', 'column "#1 String"' or 'key "set.pos[0]"'. */
static const char *describe(const RowParser *p, int c, char *buf, size_t cap)
{
    const DataColumn *col = column(p, c);
    if (p->spec->format == DATA_JSONL)
        snprintf(buf, cap, "key \"%s\"", col->name);
    else if (col->index >= 0)
        snprintf(buf, cap, "column %d", col->index);
    else
        snprintf(buf, cap, "column \"%s\"", col->name);
    return buf;
}

static const char *json_type(const cJSON *v)
{
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsArray(v))
        return "a list";
    return "an object";
}

/* Follows steps [from, to) of a key path from v; NULL when a key or element is missing. */
static const cJSON *walk(const cJSON *v, const PathStep *steps, int from, int to)
{
    for (int i = from; v && i < to; i++)
        v = steps[i].key ? (cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, steps[i].key) : NULL)
                         : (cJSON_IsArray(v) ? cJSON_GetArrayItem(v, steps[i].index) : NULL);
    return v;
}

static int every_step(const DataColumn *col)
{
    for (int i = 0; i < col->n_steps; i++)
        if (!col->steps[i].key && col->steps[i].index == DATA_EVERY)
            return i;
    return -1;
}

static int parse_json(RowParser *p, const char *rec, size_t len, SeError *err)
{
    JsonProblem why;
    p->json = json_parse_strict(rec, len, &why);
    if (!p->json && (why.kind == JSON_INVALID || why.kind == JSON_TRAILING_TEXT))
        return se_fail(err, "%s:%zu: not a JSON object (%s at column %zu)", p->name, p->line, why.what,
                       why.offset + 1);
    if (!p->json)
        return se_fail(err, "%s:%zu: %s (column %zu)", p->name, p->line, why.what, why.offset + 1);
    if (!cJSON_IsObject(p->json))
        return se_fail(err, "%s:%zu: not a JSON object (%s)", p->name, p->line, json_type(p->json));
    /* [*] columns: their lists, paired by position */
    const DataSpec *s = p->spec;
    char what[300];
    int first = -1;
    for (int c = 0; c <= s->n_columns; c++) {
        if (c == s->n_columns && !s->has_label)
            break;
        const DataColumn *col = column(p, c);
        p->every[c] = NULL;
        if (!col->every)
            continue;
        const cJSON *list = walk(p->json, col->steps, 0, every_step(col));
        if (!list)
            return se_fail(err, "%s:%zu: %s is missing", p->name, p->line, describe(p, c, what, sizeof what));
        if (!cJSON_IsArray(list))
            return se_fail(err, "%s:%zu: %s: expected a list at [*], got %s", p->name, p->line,
                           describe(p, c, what, sizeof what), json_type(list));
        size_t n = (size_t)cJSON_GetArraySize(list);
        if (n == 0)
            return se_fail(err, "%s:%zu: %s: the list is empty (no examples)", p->name, p->line,
                           describe(p, c, what, sizeof what));
        if (n > DATA_MAX_ELEMENTS)
            return se_fail(err, "%s:%zu: %s: %zu elements, more than the %d a row may give", p->name, p->line,
                           describe(p, c, what, sizeof what), n, DATA_MAX_ELEMENTS);
        if (first >= 0 && n != p->n_elements) {
            char other[300];
            return se_fail(err, "%s:%zu: %s has %zu elements but %s has %zu ([*] lists are paired by position)",
                           p->name, p->line, describe(p, first, other, sizeof other), p->n_elements,
                           describe(p, c, what, sizeof what), n);
        }
        first = first < 0 ? c : first;
        p->n_elements = n;
        p->every[c] = list;
        p->cursor[c] = list->child;
    }
    p->cursor_k = 0;
    return 0;
}

int row_parse(RowParser *p, const char *rec, size_t len, size_t line, SeError *err)
{
    p->line = line;
    p->n_elements = 1;
    cJSON_Delete(p->json);
    p->json = NULL;
    if (p->spec->format == DATA_JSONL)
        return parse_json(p, rec, len, err);
    const char *nul = memchr(rec, '\0', len);
    if (nul) /* a C string would end there */
        return se_fail(err, "%s:%zu: a NUL character (a zero byte), which no text may hold (byte %zu of the row)",
                       p->name, p->line, (size_t)(nul - rec) + 1);
    if (p->spec->format == DATA_CSV && len > p->scratch_cap) {
        p->scratch_cap = len + len / 2 + 64;
        free(p->scratch);
        p->scratch = se_xmalloc(p->scratch_cap);
    }
    p->n_fields = record_split(p->spec->format, rec, len, p->scratch, p->fields, p->max_fields);
    return 0;
}

/* The value of column c in example k: a text span, or (JSONL) a cJSON value. */
static int column_value(RowParser *p, int c, size_t k, TextSpan *text, const cJSON **json, SeError *err)
{
    char what[300];
    const DataColumn *col = column(p, c);
    if (p->spec->format != DATA_JSONL) {
        size_t idx = (size_t)p->field_index[c];
        if (idx >= p->n_fields)
            return se_fail(err, "%s:%zu: %s is missing (the row has %zu fields)", p->name, p->line,
                           describe(p, c, what, sizeof what), p->n_fields);
        *text = p->fields[idx];
        *json = NULL;
        return 0;
    }
    const cJSON *v;
    if (col->every) {
        v = walk(p->cursor[c], col->steps, every_step(col) + 1, col->n_steps);
        if (!v)
            return se_fail(err, "%s:%zu: %s is missing in element %zu", p->name, p->line,
                           describe(p, c, what, sizeof what), k);
    } else {
        v = walk(p->json, col->steps, 0, col->n_steps);
        if (!v)
            return se_fail(err, "%s:%zu: %s is missing", p->name, p->line, describe(p, c, what, sizeof what));
    }
    *json = v;
    if (cJSON_IsString(v))
        *text = (TextSpan){v->valuestring, strlen(v->valuestring)};
    return 0;
}

static int check_text(const RowParser *p, int c, TextSpan t, SeError *err)
{
    char what[300];
    if (t.len == 0)
        return se_fail(err, "%s:%zu: %s: empty text", p->name, p->line, describe(p, c, what, sizeof what));
    size_t ok = utf8_valid_prefix((const uint8_t *)t.p, t.len);
    if (ok < t.len)
        return se_fail(err, "%s:%zu: %s: invalid UTF-8 (byte 0x%02X at byte %zu of the text)", p->name, p->line,
                       describe(p, c, what, sizeof what), (unsigned char)t.p[ok], ok + 1);
    return 0;
}

/* A label written as text: a finite decimal number, [+-]digits[.digits][e[+-]digits] with
 * spaces around it allowed; strtod alone would also take hex (0x3), inf, nan and the
 * overflow 1e999. */
static bool decimal_number(const char *s, double *out)
{
    const char *p = s + strspn(s, " ");
    const char *start = p;
    p += *p == '+' || *p == '-';
    size_t whole = strspn(p, "0123456789"), frac = 0;
    p += whole;
    if (*p == '.')
        p++, frac = strspn(p, "0123456789"), p += frac;
    if (whole + frac == 0)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        p += *p == '+' || *p == '-';
        size_t exp = strspn(p, "0123456789");
        if (exp == 0)
            return false;
        p += exp;
    }
    if (p[strspn(p, " ")])
        return false;
    *out = strtod(start, NULL);
    return isfinite(*out);
}

static int label_value(RowParser *p, TextSpan t, const cJSON *json, double *out, SeError *err)
{
    const DataSpec *s = p->spec;
    const int c = s->n_columns;
    char what[300], buf[256];
    if (json && cJSON_IsNumber(json) && !s->label_map) {
        if (!isfinite(json->valuedouble))
            return se_fail(err, "%s:%zu: %s: the label is not a finite number", p->name, p->line,
                           describe(p, c, what, sizeof what));
        *out = json->valuedouble / s->label_scale;
        return 0;
    }
    if (json && cJSON_IsNumber(json)) /* label_map keys are strings: "0" */
        snprintf(buf, sizeof buf, "%.17g", json->valuedouble);
    else if (json && !cJSON_IsString(json))
        return se_fail(err, "%s:%zu: %s: expected a number or a string as the label, got %s", p->name, p->line,
                       describe(p, c, what, sizeof what), json_type(json));
    else
        snprintf(buf, sizeof buf, "%.*s", (int)(t.len < 255 ? t.len : 255), t.p);
    if (s->label_map) {
        const cJSON *v = t.len < 255 || json ? cJSON_GetObjectItemCaseSensitive(s->label_map, buf) : NULL;
        if (!v)
            return se_fail(err, "%s:%zu: label \"%.60s\" (column %s) is not in %s.label_map", p->name, p->line, buf,
                           s->label.name, s->key);
        *out = v->valuedouble;
        return 0;
    }
    double v;
    if (t.len >= 255 || !decimal_number(buf, &v))
        return se_fail(err, "%s:%zu: %s: expected a number as the label (decimal, like 3, -0.5 or 2.5e-3), got "
                       "\"%.40s\"", p->name, p->line, describe(p, c, what, sizeof what), buf);
    *out = v / s->label_scale; /* a huge label may overflow to inf here: training reports it (on_nan) */
    return 0;
}

int row_example(RowParser *p, size_t k, DataExample *ex, SeError *err)
{
    const DataSpec *s = p->spec;
    if (p->json && k != p->cursor_k) { /* move the [*] cursors to element k */
        if (k < p->cursor_k) {
            for (int c = 0; c <= s->n_columns; c++)
                p->cursor[c] = p->every[c] ? p->every[c]->child : NULL;
            p->cursor_k = 0;
        }
        for (; p->cursor_k < k; p->cursor_k++)
            for (int c = 0; c <= s->n_columns; c++)
                if (p->every[c])
                    p->cursor[c] = p->cursor[c]->next;
    }
    char what[300];
    for (int c = 0; c < s->n_columns; c++) {
        TextSpan t = {0};
        const cJSON *json;
        if (column_value(p, c, k, &t, &json, err))
            return -1;
        if (json && !cJSON_IsString(json))
            return se_fail(err, "%s:%zu: %s: expected a string, got %s", p->name, p->line,
                           describe(p, c, what, sizeof what), json_type(json));
        if (check_text(p, c, t, err))
            return -1;
        ex->text[c] = t.p;
        ex->len[c] = t.len;
    }
    ex->label = 0;
    ex->dropped = false;
    if (!s->has_label)
        return 0;
    TextSpan t = {0};
    const cJSON *json;
    if (column_value(p, s->n_columns, k, &t, &json, err) || label_value(p, t, json, &ex->label, err))
        return -1;
    for (int i = 0; i < s->n_drop_labels; i++)
        ex->dropped |= ex->label == s->drop_labels[i];
    double y = ex->label;
    if (!ex->dropped && p->num_labels > 0 && !(y >= 0 && y < p->num_labels && y == floor(y)))
        return se_fail(err, "%s:%zu: label %g (column %s) is not a class id in 0..%d (loss.num_labels)", p->name,
                       p->line, y, s->label.name, p->num_labels - 1);
    return 0;
}
