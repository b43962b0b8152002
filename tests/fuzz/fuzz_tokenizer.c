/* libFuzzer target over the tokenizer. Input: one control byte, then text (repaired to
 * valid UTF-8 first, as the CLI does with --utf8-errors=replace).
 *   bit 0: pair mode (split at the first TAB)   bit 1: cased   bits 2-7: max length
 * Checks, besides the sanitizers: the output is [CLS] ... [SEP] within max_length with ids
 * in the vocabulary, and a single text truncated to L is the untruncated result cut at L
 * (which holds the early exit of truncated encoding to the full computation). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/utf8.h"
#include "tokenizer/tokenizer.h"

static Tokenizer uncased, cased;
static TokScratch scratch;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *vocab = getenv("SENTEMBED_FUZZ_VOCAB");
    if (!vocab)
        vocab = SENTEMBED_SHARED_DATA "/vocab/bert-base-uncased-vocab.txt";
    SeError err;
    if (tok_load_vocab(&uncased, vocab, &err) || tok_load_vocab(&cased, vocab, &err)) {
        fprintf(stderr, "fuzz_tokenizer: %s (set SENTEMBED_FUZZ_VOCAB)\n", err.msg);
        exit(1);
    }
    tok_set_normalizer(&cased, (TokNormalizer){true, true, false, 0});
    return 0;
}

static void check_output(const Tokenizer *t, const int32_t *ids, size_t n, size_t max_length)
{
    if (n < 2 || n > max_length || ids[0] != t->cls_id || ids[n - 1] != t->sep_id)
        abort();
    for (size_t k = 0; k < n; k++)
        if (ids[k] < 0 || (size_t)ids[k] >= t->vocab.size)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t control = data[0];
    const Tokenizer *t = control & 2 ? &cased : &uncased;
    size_t max_length = 3 + (control >> 2) * 8;
    uint8_t *text = malloc(3 * size + 1);
    size_t len = utf8_repair(data + 1, size - 1, text);
    int32_t *ids = malloc((max_length + 8) * sizeof *ids), *types = malloc((max_length + 8) * sizeof *types);
    if (control & 1) {
        uint8_t *tab = memchr(text, '\t', len);
        size_t a_len = tab ? (size_t)(tab - text) : len;
        const char *b = tab ? (const char *)tab + 1 : "";
        size_t b_len = tab ? len - a_len - 1 : 0;
        size_t n = tok_encode(t, &scratch, (const char *)text, a_len, b, b_len, max_length, ids, types);
        check_output(t, ids, n, max_length);
    } else {
        size_t n = tok_encode(t, &scratch, (const char *)text, len, NULL, 0, max_length, ids, types);
        check_output(t, ids, n, max_length);
        size_t full_cap = 3 * size + 8;
        int32_t *full = malloc(full_cap * sizeof *full);
        size_t m = tok_encode(t, &scratch, (const char *)text, len, NULL, 0, full_cap, full, NULL);
        check_output(t, full, m, full_cap);
        size_t kept = n - 2;
        if ((m > max_length ? n != max_length : n != m) || memcmp(ids, full, (kept + 1) * sizeof *ids))
            abort();
        free(full);
    }
    free(ids);
    free(types);
    free(text);
    return 0;
}
