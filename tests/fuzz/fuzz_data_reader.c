/* libFuzzer target over the text data readers (JSONL, CSV, TSV): the input becomes a file
 * (a memfd) that is indexed and whose every example is read back, as training does.
 * Input: one control byte, then the file's bytes.
 *   bits 0-1: format and columns (TSV by index, CSV with a header by name, JSONL with
 *             nested paths, JSONL with [*] lists)   bit 2: a label (with label_map for
 *             CSV/JSONL)   bit 3: on_bad_row skip   bit 4: class ids (num_labels 3)
 * Checks, besides the sanitizers: every example indexed reads back, its texts are
 * non-empty valid UTF-8, and a refused file gets a message that names it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "host/utf8.h"
#include "trainer/data_source.h"

static const char *const SPECS[4][2] = {
    {"{\"path\": \"%s\", \"format\": \"tsv\", \"columns\": [0, 2]}",
     "{\"path\": \"%s\", \"format\": \"tsv\", \"columns\": [0, 2], \"label\": 1, \"label_scale\": 5}"},
    {"{\"path\": \"%s\", \"format\": \"csv\", \"header\": true, \"columns\": [\"a\", \"b\"]}",
     "{\"path\": \"%s\", \"format\": \"csv\", \"header\": true, \"columns\": [\"a\", \"b\"], \"label\": \"l\", "
     "\"label_map\": {\"x\": 0, \"y\": 1, \"z\": 2, \"-\": -1}, \"drop_labels\": [-1]}"},
    {"{\"path\": \"%s\", \"format\": \"jsonl\", \"columns\": [\"a\", \"s.q[1]\"]}",
     "{\"path\": \"%s\", \"format\": \"jsonl\", \"columns\": [\"a\", \"s.q[1]\"], \"label\": \"l\"}"},
    {"{\"path\": \"%s\", \"format\": \"jsonl\", \"columns\": [\"a\", \"p[*]\", \"s.n[*].t\"]}",
     "{\"path\": \"%s\", \"format\": \"jsonl\", \"columns\": [\"a\", \"p[*]\"], \"label\": \"l[*]\", "
     "\"label_map\": {\"x\": 0, \"y\": 1, \"z\": 2}}"},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_file_init("fuzz_data_reader");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t control = data[0];
    fuzz_file_write(data + 1, size - 1);
    char text[512];
    snprintf(text, sizeof text, SPECS[control & 3][(control >> 2) & 1], fuzz_path);
    cJSON *json = cJSON_Parse(text);
    DataSpec spec;
    SeError err = {{0}};
    if (data_spec_parse(&spec, json, "fuzz", "data", NULL, &err))
        abort(); /* the specs above are valid */
    DataOptions opt = {.skip_bad_rows = (control >> 3) & 1, .num_labels = (control >> 4) & 1 ? 3 : 0};
    DataSource src;
    if (data_source_open(&src, &spec, &opt, &err) == 0) {
        RowParser p;
        data_source_parser(&src, &p);
        for (size_t i = 0; i < src.n; i++) {
            DataExample ex;
            if (data_source_read(&src, &p, i, &ex, &err))
                abort(); /* indexed examples always read back */
            for (int c = 0; c < spec.n_columns; c++)
                if (ex.len[c] == 0 || utf8_valid_prefix((const uint8_t *)ex.text[c], ex.len[c]) != ex.len[c])
                    abort();
            if (ex.dropped)
                abort();
        }
        row_parser_free(&p);
        data_source_close(&src);
    } else if (!strstr(err.msg, fuzz_path)) {
        abort(); /* every message names the file */
    }
    data_spec_free(&spec);
    cJSON_Delete(json);
    return 0;
}
