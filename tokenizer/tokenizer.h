/* BERT WordPiece tokenizer, id for id the same as Hugging Face's fast tokenizer
 * (BertNormalizer + BertPreTokenizer + WordPiece + BERT post-processing).
 *
 * Pipeline of one text, all of it char-local and done in one pass without building the
 * normalized string:
 *   split out special tokens ([CLS], [MASK], ... matched on the raw text)
 *   clean_text: drop NUL, U+FFFD and control characters; whitespace -> ' '
 *   handle_chinese_chars: ' ' around each CJK ideograph
 *   strip_accents: NFD (with canonical reordering of combining marks), drop Mn
 *   lowercase: full lowercase (İ -> i + U+0307)
 *   pre-tokenize: split on whitespace, isolate each punctuation character
 *   WordPiece: greedy longest match, "##" continuations, [UNK] for an unmatched word or
 *              one longer than max_input_chars_per_word characters
 * then [CLS] a [SEP] (b [SEP]), truncated like `tokenizers` (longest_first for pairs).
 *
 * Input text must be valid UTF-8 (see host/utf8.h to check or repair it). */
#ifndef SENTEMBED_TOKENIZER_H
#define SENTEMBED_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/error.h"
#include "tokenizer/vocab.h"

#define TOK_MAX_SPECIALS 16

typedef struct {
    char *content;
    size_t len;
    int32_t id;
} TokSpecial;

typedef struct {
    bool clean_text, handle_chinese_chars, lowercase;
    int strip_accents; /* 1, 0, or -1 for "unset": then it follows lowercase, as in the reference */
} TokNormalizer;

typedef struct Tokenizer {
    Vocab vocab;
    TokNormalizer norm;
    bool strip; /* strip_accents as it applies */
    int max_input_chars_per_word;
    int32_t unk_id, cls_id, sep_id, pad_id, mask_id; /* -1 when the model has none */
    TokSpecial specials[TOK_MAX_SPECIALS];            /* matched in raw text */
    int n_specials;
    uint8_t special_first_byte[256];                  /* quick reject for the matcher */
    long long model_max_length;                       /* from tokenizer_config.json, 0 if unknown */
    uint8_t ascii_class[128];                         /* fast path: what each ASCII byte does */
} Tokenizer;

/* Loads a Hugging Face / sentence-transformers model directory: tokenizer.json when
 * present (else vocab.txt), then tokenizer_config.json and special_tokens_map.json,
 * whose keys override (as transformers' BertTokenizerFast does). */
int tok_load_dir(Tokenizer *t, const char *dir, SeError *err);
/* The same with the vocabulary read from vocab_path (a vocab.txt anywhere) instead of the
 * directory's tokenizer.json / vocab.txt; the directory's tokenizer_config.json and
 * special_tokens_map.json still apply. */
int tok_load_dir_with_vocab(Tokenizer *t, const char *dir, const char *vocab_path, SeError *err);
/* A bare vocab.txt with BERT defaults: lowercase, strip accents, CJK, clean text. */
int tok_load_vocab(Tokenizer *t, const char *vocab_path, SeError *err);
/* Changes the normalization after loading (e.g. --cased). */
void tok_set_normalizer(Tokenizer *t, TokNormalizer norm);
void tok_free(Tokenizer *t);

/* Per-thread reusable buffers: after warm-up, encoding allocates nothing. */
typedef struct {
    int32_t *ids;
    size_t len, cap, limit;
    uint8_t *word;
    size_t word_len, word_cap;
    size_t word_chars;
    uint32_t *marks; /* pending run of combining marks awaiting canonical ordering */
    size_t marks_len, marks_cap;
    int32_t *arena_ids, *arena_types; /* this thread's share of a batch */
    size_t arena_len, arena_cap;
} TokScratch;

void tok_scratch_free(TokScratch *s);

/* Encodes one text (b == NULL) or a pair into ids[] / type_ids[] (either may be NULL),
 * with [CLS]/[SEP] and truncation to max_length (>= 2 single, >= 3 pair).
 * Returns the number of ids written (at most max_length). */
size_t tok_encode(const Tokenizer *t, TokScratch *s, const char *a, size_t a_len, const char *b,
                  size_t b_len, size_t max_length, int32_t *ids, int32_t *type_ids);

/* A batch of texts encoded on all cores: ids of text i are ids[offsets[i] .. offsets[i+1]). */
typedef struct {
    int32_t *ids, *type_ids;
    size_t *offsets;
    size_t n, ids_cap, n_cap;
    TokScratch *scratch; /* one per thread, kept between calls */
    int n_scratch;
} TokBatch;

/* b_texts may be NULL (single texts). threads <= 0: all cores. */
void tok_encode_batch(const Tokenizer *t, TokBatch *out, const char *const *a_texts, const size_t *a_lens,
                      const char *const *b_texts, const size_t *b_lens, size_t n, size_t max_length,
                      int threads);
void tok_batch_free(TokBatch *b);

#endif
