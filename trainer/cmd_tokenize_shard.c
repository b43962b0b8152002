/* sentembed tokenize --shard: a dataset tokenized once into a shard (trainer/shard.h) that
 * training reads with {"shard": FILE} instead of the text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/json_util.h"
#include "trainer/cli.h"
#include "trainer/st_pipeline.h"
#include "trainer/shard.h"

static const char USAGE[] =
    "usage: sentembed tokenize --shard OUT (--model DIR | --vocab FILE) --data SPEC [options]\n"
    "\n"
    "Tokenizes every example of a dataset and writes a pre-tokenized shard to OUT (atomically);\n"
    "a recipe reads it with \"data\": {\"shard\": \"OUT\"}. The shard records the vocabulary (a\n"
    "model with another one refuses it), the columns, the labels (after label_map, label_scale\n"
    "and drop_labels) and the ids as training would make them from the text.\n"
    "\n"
    "  --data SPEC          a JSON data spec as a recipe's \"data\", or @FILE holding one:\n"
    "                       {\"path\": \"snli.jsonl\", \"columns\": [\"premise\", \"hypothesis\"], \"label\": \"label\"}\n"
    "  --max-seq-length N   truncate to N ids with [CLS]/[SEP] (default 512); training may use\n"
    "                       any max_seq_length up to N and reads the same ids as from the text\n"
    "  --on-bad-row MODE    error (default) or skip (bad rows left out and counted)\n"
    "  --threads N          tokenizer threads (default: all cores)\n"
    "\n"
    "A record longer than SENTEMBED_MAX_LINE_BYTES (default 64M), or a .gz that decompresses to\n"
    "more than SENTEMBED_GZ_MAX_BYTES (default 100x its size, at least 1G), is an error\n"
    "(environment variables; README: Input limits).\n";

int cmd_tokenize_shard(int argc, char **argv)
{
    const char *out = NULL, *model = NULL, *vocab = NULL, *spec_text = NULL, *on_bad_row = "error";
    int max_seq_length = 512, threads = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { /* also `tokenize --shard --help` */
            fputs(USAGE, stdout);
            return 0;
        }
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = cli_option_value(argc, argv, &i, "--shard"))) {
            out = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--model"))) {
            model = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--vocab"))) {
            vocab = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--data"))) {
            spec_text = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--max-seq-length"))) {
            max_seq_length = (int)cli_parse_long(v, "--max-seq-length", 2, 1 << 20);
        } else if ((v = cli_option_value(argc, argv, &i, "--on-bad-row"))) {
            on_bad_row = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--threads"))) {
            threads = (int)cli_parse_long(v, "--threads", 1, 4096);
        } else {
            fprintf(stderr, "sentembed tokenize: error: unknown argument '%s'\n\n%s", argv[i], USAGE);
            return 2;
        }
    }
    if (!out || !spec_text || !model == !vocab) {
        fprintf(stderr, "sentembed tokenize: error: --shard OUT, --data SPEC and one of --model DIR or --vocab FILE "
                "are required\n\n%s", USAGE);
        return 2;
    }
    if (strcmp(on_bad_row, "error") && strcmp(on_bad_row, "skip"))
        se_die("option --on-bad-row: expected error or skip, got '%s'", on_bad_row);
    SeError err;
    const char *where = spec_text[0] == '@' ? spec_text + 1 : "--data";
    cJSON *json = json_parse_arg(spec_text, "--data", &err);
    if (!json)
        se_die("%s", err.msg);
    DataSpec spec;
    if (data_spec_parse(&spec, json, where, "data", NULL, &err))
        se_die("%s", err.msg);
    if (spec.shard)
        se_die("%s: key \"data.shard\": the data to tokenize must be a text file", where);
    if (model) { /* training lowercases the text itself for such models (sm_tokenize); shards do not */
        StPipeline pipe;
        if (st_pipeline_load(&pipe, model, &err))
            se_die("%s", err.msg);
        if (pipe.do_lower_case)
            se_die("%s: sentence_bert_config.json sets do_lower_case, which shards do not apply yet: train from the "
                   "text files instead", model);
    }
    Tokenizer tok;
    if (model ? tok_load_dir(&tok, model, &err) : tok_load_vocab(&tok, vocab, &err))
        se_die("%s", err.msg);
    DataSource src;
    const DataOptions opt = {.skip_bad_rows = !strcmp(on_bad_row, "skip")};
    if (data_source_open(&src, &spec, &opt, &err) ||
        shard_write(out, &src, &tok, max_seq_length, threads, &err))
        se_die("%s", err.msg);
    fprintf(stderr, "wrote %s: %zu examples (%zu dropped, %zu bad rows skipped) x %d columns%s\n", out, src.n,
            src.dropped, src.skipped, spec.n_columns, spec.has_label ? " with labels" : "");
    data_source_close(&src);
    tok_free(&tok);
    data_spec_free(&spec);
    cJSON_Delete(json);
    return 0;
}
