/* sentembed search: for each query on stdin, the top-k lines of a corpus file by cosine
 * similarity (util.semantic_search, exact). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/lines.h"
#include "trainer/cli.h"
#include "trainer/semantic_search.h"
#include "trainer/sentence_model.h"

static const char USAGE[] =
    "usage: sentembed search --model DIR --corpus FILE [options] < queries.txt\n"
    "\n"
    "For each query line, the top-k corpus lines by cosine similarity, best first.\n"
    "\n"
    "  --model DIR         model directory\n"
    "  --corpus FILE       one document per line (its 0-based line number is its corpus_id)\n"
    "  --top-k K           hits per query (default 10)\n"
    "  --device D          cpu, cuda or auto (default auto)\n"
    "  --batch-size N      sentences per forward pass (default 32)\n"
    "  --jsonl             one JSON object per query: {\"query\": i, \"hits\": [{\"corpus_id\", \"score\"}]}\n"
    "\n"
    "A corpus or query line longer than SENTEMBED_MAX_LINE_BYTES (an environment variable;\n"
    "default 64M) is an error naming the line.\n";

static void print_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

int cmd_search(int argc, char **argv)
{
    const char *model = NULL, *device = "auto", *corpus_path = NULL;
    int top_k = 10, batch_size = 32;
    bool jsonl = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(USAGE, stdout);
            return 0;
        } else if ((v = cli_option_value(argc, argv, &i, "--model"))) {
            model = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--corpus"))) {
            corpus_path = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--device"))) {
            device = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--top-k"))) {
            top_k = (int)cli_parse_long(v, "--top-k", 1, 1 << 20);
        } else if ((v = cli_option_value(argc, argv, &i, "--batch-size"))) {
            batch_size = (int)cli_parse_long(v, "--batch-size", 1, 1 << 16);
        } else if (!strcmp(argv[i], "--jsonl")) {
            jsonl = true;
        } else {
            fprintf(stderr, "sentembed search: error: unknown argument '%s'\n\n%s", argv[i], USAGE);
            return 2;
        }
    }
    if (!model || !corpus_path) {
        fprintf(stderr, "sentembed search: error: --model DIR and --corpus FILE are required\n\n%s", USAGE);
        return 2;
    }
    SeError err;
    Lines corpus, queries;
    if (lines_read_file(&corpus, corpus_path, false, &err))
        se_die("%s", err.msg);
    if (corpus.n == 0)
        se_die("%s: the corpus is empty (expected one document per line)", corpus_path);
    SentenceModel m;
    cli_load_model(&m, model, device, batch_size, 0);
    if (lines_read(&queries, stdin, "stdin", false, &err))
        se_die("%s", err.msg);
    int d = m.out_dim;
    SeContext ctx;
    se_context_push(&ctx, "embedding and searching the corpus", corpus_path, NULL);
    float *ce = se_xmalloc(corpus.n * (size_t)d * sizeof *ce);
    float *qe = se_xmalloc((queries.n ? queries.n : 1) * (size_t)d * sizeof *qe);
    CliProgress progress = {0};
    sm_encode(&m, corpus.line, corpus.len, corpus.n, false, ce, cli_progress, &progress);
    sm_encode(&m, queries.line, queries.len, queries.n, false, qe, NULL, NULL);
    SearchHit *hits = se_xmalloc((queries.n ? queries.n : 1) * (size_t)top_k * sizeof *hits);
    semantic_search(qe, queries.n, ce, corpus.n, d, top_k, hits);
    se_context_pop(&ctx);
    for (size_t q = 0; q < queries.n; q++) {
        const SearchHit *h = hits + q * (size_t)top_k;
        if (jsonl) {
            printf("{\"query\": %zu, \"hits\": [", q);
            for (int r = 0; r < top_k && h[r].corpus_id != SIZE_MAX; r++)
                printf("%s{\"corpus_id\": %zu, \"score\": %.6f}", r ? ", " : "", h[r].corpus_id, h[r].score);
            printf("]}\n");
            continue;
        }
        printf("query %zu: ", q);
        print_json_string(queries.line[q]);
        putchar('\n');
        for (int r = 0; r < top_k && h[r].corpus_id != SIZE_MAX; r++)
            printf("  %2d. %.4f  [%zu] %.100s\n", r + 1, h[r].score, h[r].corpus_id, corpus.line[h[r].corpus_id]);
    }
    if (fflush(stdout))
        se_die("writing to stdout failed");
    free(ce);
    free(qe);
    free(hits);
    lines_free(&corpus);
    lines_free(&queries);
    sm_free(&m);
    return 0;
}
