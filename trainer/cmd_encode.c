/* sentembed encode: one embedding per line of stdin, like model.encode(sentences). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/atomic_file.h"
#include "host/clock.h"
#include "host/lines.h"
#include "host/npy.h"
#include "trainer/cli.h"
#include "trainer/sentence_model.h"

static const char USAGE[] =
    "usage: sentembed encode --model DIR [options] < sentences.txt\n"
    "\n"
    "Embeds each line of stdin with a sentence-transformers (or Hugging Face BERT) model.\n"
    "\n"
    "  --model DIR            model directory\n"
    "  --device D             cpu, cuda or auto (default: auto)\n"
    "  --batch-size N         sentences per forward pass (default 32)\n"
    "  --max-seq-length N     truncate to N tokens (default: the model's max_seq_length)\n"
    "  --normalize            L2-normalize the embeddings (normalize_embeddings=True)\n"
    "  --output FILE          FILE.npy: float32 [N, D] NumPy array; FILE.jsonl or no --output:\n"
    "                         one JSON array per line (stdout without --output)\n"
    "  --utf8-errors=MODE     strict (default: invalid UTF-8 or a NUL is an error naming the line)\n"
    "                         or replace (each invalid sequence and each NUL becomes U+FFFD)\n"
    "  --timing               print the encode throughput as a JSON line on stderr (model loading,\n"
    "                         I/O and a warm-up on the first 64 sentences excluded), with the\n"
    "                         seconds spent tokenizing, queuing the model and waiting for it\n"
    "\n"
    "A line longer than SENTEMBED_MAX_LINE_BYTES (an environment variable; default 64M) is an\n"
    "error naming the line.\n";

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int write_jsonl(FILE *f, const float *emb, size_t n, int d)
{
    for (size_t i = 0; i < n; i++) {
        fputc('[', f);
        for (int k = 0; k < d; k++)
            fprintf(f, k ? ", %.9g" : "%.9g", emb[i * (size_t)d + k]);
        fputs("]\n", f);
    }
    return ferror(f);
}

int cmd_encode(int argc, char **argv)
{
    const char *model = NULL, *device = "auto", *output = NULL, *utf8_errors = "strict";
    int batch_size = 32, max_seq_length = 0;
    bool normalize = false, timing = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(USAGE, stdout);
            return 0;
        } else if ((v = cli_option_value(argc, argv, &i, "--model"))) {
            model = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--device"))) {
            device = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--batch-size"))) {
            batch_size = (int)cli_parse_long(v, "--batch-size", 1, 1 << 16);
        } else if ((v = cli_option_value(argc, argv, &i, "--max-seq-length"))) {
            max_seq_length = (int)cli_parse_long(v, "--max-seq-length", 2, 1 << 20);
        } else if ((v = cli_option_value(argc, argv, &i, "--output"))) {
            output = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--utf8-errors"))) {
            utf8_errors = v;
        } else if (!strcmp(argv[i], "--normalize")) {
            normalize = true;
        } else if (!strcmp(argv[i], "--timing")) {
            timing = true;
        } else {
            fprintf(stderr, "sentembed encode: error: unknown argument '%s'\n\n%s", argv[i], USAGE);
            return 2;
        }
    }
    if (!model) {
        fprintf(stderr, "sentembed encode: error: --model DIR is required\n\n%s", USAGE);
        return 2;
    }
    if (strcmp(utf8_errors, "strict") && strcmp(utf8_errors, "replace"))
        se_die("option --utf8-errors: expected strict or replace, got '%s'", utf8_errors);
    if (output && !ends_with(output, ".npy") && !ends_with(output, ".jsonl"))
        se_die("option --output: '%s' should end in .npy or .jsonl", output);

    SentenceModel m;
    cli_load_model(&m, model, device, batch_size, max_seq_length);
    Lines lines;
    SeError err;
    if (lines_read(&lines, stdin, "stdin", !strcmp(utf8_errors, "replace"), &err))
        se_die("%s", err.msg);
    SeContext ctx;
    se_context_push(&ctx, "embedding the lines of", "stdin", NULL);
    float *emb = se_xmalloc((lines.n ? lines.n : 1) * (size_t)m.out_dim * sizeof *emb);
    CliProgress progress = {0};
    if (timing) /* warm up as benchmarks/bench_encode_st.py warms its peer: the first 64 sentences */
        sm_encode(&m, lines.line, lines.len, lines.n < 64 ? lines.n : 64, normalize, emb, NULL, NULL);
    memset(&m.encode_time, 0, sizeof m.encode_time);
    const double t0 = se_now_s();
    sm_encode(&m, lines.line, lines.len, lines.n, normalize, emb, timing ? NULL : cli_progress, &progress);
    const double t1 = se_now_s();
    se_context_pop(&ctx);
    if (timing) {
        double s = t1 - t0;
        fprintf(stderr,
                "{\"impl\": \"sentembed\", \"device\": \"%s\", \"sentences\": %zu, \"batch_size\": %d, "
                "\"seconds\": %.4f, \"sentences_per_s\": %.1f, \"tokenize_s\": %.4f, \"queue_s\": %.4f, "
                "\"wait_s\": %.4f}\n",
                m.ops->name, lines.n, m.batch_size, s, (double)lines.n / (s > 0 ? s : 1e-9), m.encode_time.tokenize_s,
                m.encode_time.queue_s, m.encode_time.wait_s);
    }

    if (output && ends_with(output, ".npy")) {
        if (npy_write_f32(output, emb, lines.n, (size_t)m.out_dim, &err))
            se_die("%s", err.msg);
    } else if (output) {
        AtomicFile a;
        if (atomic_open(&a, output, &err))
            se_die("%s", err.msg);
        if (atomic_commit(&a, write_jsonl(a.f, emb, lines.n, m.out_dim), &err))
            se_die("%s", err.msg);
    } else if (write_jsonl(stdout, emb, lines.n, m.out_dim) || fflush(stdout)) {
        se_die("writing to stdout failed");
    }
    free(emb);
    lines_free(&lines);
    sm_free(&m);
    return 0;
}
