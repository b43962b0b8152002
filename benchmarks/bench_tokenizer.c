/* Tokenizer throughput: encodes every line of a file (single texts, [CLS]/[SEP], max
 * length 512) in batches on N threads and reports tokens/s. The peer is
 * bench_tokenizer_hf.py; benchmarks/tokenizer.sh runs both on the same text.
 * usage: bench_tokenizer --model DIR --input FILE [--threads N] [--batch LINES] */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/clock.h"
#include "host/fileio.h"
#include "tokenizer/tokenizer.h"

int main(int argc, char **argv)
{
    const char *model = NULL, *input = NULL;
    int threads = 0;
    size_t batch = 10000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model"))
            model = argv[i + 1];
        else if (!strcmp(argv[i], "--input"))
            input = argv[i + 1];
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch"))
            batch = (size_t)atol(argv[i + 1]);
    }
    if (!model || !input || batch == 0) {
        fprintf(stderr, "usage: bench_tokenizer --model DIR --input FILE [--threads N] [--batch LINES]\n");
        return 2;
    }
    SeError err;
    Tokenizer tok;
    char *text;
    size_t len;
    if (tok_load_dir(&tok, model, &err) || file_read_all(input, &text, &len, &err))
        se_die("%s", err.msg);
    size_t n = 0, cap = 1 << 16;
    const char **lines = se_xmalloc(cap * sizeof *lines);
    size_t *lens = se_xmalloc(cap * sizeof *lens);
    for (char *p = text; p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
        if (n == cap) {
            cap *= 2;
            lines = se_xrealloc(lines, cap * sizeof *lines);
            lens = se_xrealloc(lens, cap * sizeof *lens);
        }
        lines[n] = p;
        lens[n++] = l;
        p += l + 1;
    }
    if (threads <= 0)
        threads = omp_get_max_threads();
    TokBatch out = {0};
    size_t tokens = 0;
    double t0 = se_now_s();
    for (size_t i = 0; i < n; i += batch) {
        size_t m = n - i < batch ? n - i : batch;
        tok_encode_batch(&tok, &out, lines + i, lens + i, NULL, NULL, m, 512, threads);
        tokens += out.offsets[m];
    }
    double dt = se_now_s() - t0;
    printf("{\"impl\": \"sentembed\", \"threads\": %d, \"lines\": %zu, \"bytes\": %zu, \"tokens\": %zu, "
           "\"seconds\": %.4f, \"tokens_per_s\": %.0f}\n",
           threads, n, len, tokens, dt, (double)tokens / dt);
    tok_batch_free(&out);
    tok_free(&tok);
    free(lines);
    free(lens);
    free(text);
    return 0;
}
