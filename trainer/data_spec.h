/* One dataset as a recipe's "data" (or "eval", or `--data SPEC`) describes it, checked and
 * compiled before any file is opened:
 *
 *   path         the data file; ".gz" is decompressed (trainer/data_source.h)
 *   format       tsv (no quoting, as STS-B needs) | csv (RFC 4180 quoting) | jsonl;
 *                default from the name (.jsonl, .csv, else tsv; a ".gz" is looked through)
 *   header       CSV/TSV: the first record names the columns (default false)
 *   columns      1 to 8 text columns: field indices or header names (CSV/TSV), key paths
 *                (JSONL): "premise", "set.query", "set.pos[0]" (a list element), or
 *                "set.pos[*]": every element of the list, one example each
 *   label        optional label column, chosen the same way (a number, or a string
 *                mapped by label_map)
 *   label_map    {"entailment": 0, ...}: string label -> number
 *   label_scale  numeric labels are divided by it (STS-B: 5)
 *   drop_labels  examples whose (mapped) label is one of these are left out and counted
 *   shard        instead of all of the above: a pre-tokenized shard (trainer/shard.h)
 *
 * "Every element" columns: when several columns (label included) use [*], their lists are
 * paired by position (element k of each makes example k), and a row whose lists differ in
 * length is a bad row. A path has at most one [*]. */
#ifndef SENTEMBED_DATA_SPEC_H
#define SENTEMBED_DATA_SPEC_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "host/error.h"

#define DATA_MAX_COLUMNS 8
#define DATA_MAX_PATH_STEPS 16
#define DATA_EVERY (-2) /* PathStep.index of a [*] */

typedef enum { DATA_TSV, DATA_CSV, DATA_JSONL } DataFormat;

/* A step of a JSON key path: an object key (index -1), a list index, or [*]. */
typedef struct {
    const char *key;
    int index;
} PathStep;

typedef struct {
    const char *name; /* as the spec writes it ("set.pos[0]", "#1 String", "5"), for messages */
    int index;        /* CSV/TSV field index; -1 when chosen by name (resolved from the header) */
    PathStep steps[DATA_MAX_PATH_STEPS]; /* JSONL */
    int n_steps;
    bool every;       /* the path has a [*] */
    char *storage;    /* owns the keys of steps and a numeric name */
} DataColumn;

typedef struct {
    const char *config, *key; /* where the spec is written ("recipe.json", "data[1]"), for messages */
    const char *path;         /* data file, or NULL for a shard */
    const char *shard;
    DataFormat format;
    bool gz, header;
    int n_columns;
    DataColumn columns[DATA_MAX_COLUMNS];
    bool has_label;
    DataColumn label;
    const cJSON *label_map; /* borrowed from the spec's JSON, or NULL */
    double label_scale;
    double *drop_labels;
    int n_drop_labels;
} DataSpec;

/* The keys a data spec may have. */
extern const char *const DATA_SPEC_KEYS[];

/* Checks and compiles spec (a JSON object; it must outlive s). config and key name it in
 * messages ('recipe.json: key "data[1].columns": ...'); extra_keys (NULL-terminated, or
 * NULL) are keys the caller reads itself, allowed beside DATA_SPEC_KEYS. */
int data_spec_parse(DataSpec *s, const cJSON *spec, const char *config, const char *key,
                    const char *const *extra_keys, SeError *err);
void data_spec_free(DataSpec *s);

#endif
