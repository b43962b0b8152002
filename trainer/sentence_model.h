/* A sentence-transformers model ready to encode: tokenizer, BERT encoder, pooling,
 * optional Dense and Normalize, on one backend. sm_encode is model.encode(). */
#ifndef SENTEMBED_SENTENCE_MODEL_H
#define SENTEMBED_SENTENCE_MODEL_H

#include <stdbool.h>

#include "tokenizer/tokenizer.h"
#include "trainer/encoder.h"
#include "trainer/st_pipeline.h"

/* The tokenizer files a saved model carries, in this order. */
#define SM_TOKENIZER_FILES 4
extern const char *const SM_TOKENIZER_FILE_NAMES[SM_TOKENIZER_FILES];

/* The buffers of one tokenization: ids, and the lowercased texts of a do_lower_case model.
 * The model has its own (sm_tokenize); a thread that tokenizes for it keeps another. */
typedef struct {
    TokBatch tb;
    char *lowered;
    size_t lowered_cap;
    const char **lower_texts;
    size_t *lower_lens, lower_cap;
} SmTokens;

typedef struct SentenceModel {
    StPipeline pipe;
    Tokenizer tok;
    Encoder enc;
    const Ops *ops;
    int max_seq_length;
    int batch_size;
    int out_dim;
    float *dense_w, *dense_b; /* backend f32, NULL without Dense */
    float *pooled, *dense_out; /* backend f32 [batch, H], [batch, out_dim] */
    float *pooler;             /* host [H*H + H]: BertModel's pooler, carried to saved models, or NULL */
    struct {
        char *data; /* the file's bytes as loaded (NULL: the model has no such file) */
        size_t len;
    } tok_files[SM_TOKENIZER_FILES]; /* vocab.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json */
    SmTokens tokens;
    PackedBatch pb;
    /* Where sm_encode's time went, summed over calls (host clock): tokenizing, queuing the
     * forward pass (on a GPU, the launches; on the CPU, the computation itself) and waiting
     * for the embeddings to reach the host. */
    struct {
        double tokenize_s, queue_s, wait_s;
    } encode_time;
} SentenceModel;

/* How a training run may build its model beyond what the directory says (sm_load_with). */
typedef struct {
    bool random_init;        /* ignore/skip the weights: BERT init from config.json and seed */
    uint64_t seed;
    const char *vocab_path;  /* the tokenizer's vocab.txt when the directory has none, or NULL */
    const char *pooling;     /* "mean", "cls", "max", "mean_sqrt_len_tokens", or NULL: the model's */
    int dense_out;           /* > 0: append a Dense(hidden -> dense_out) layer, nn.Linear init */
    DenseActivation dense_act;
    int normalize;           /* -1: as the model, 0: no Normalize, 1: append Normalize */
} SmBuild;

/* max_seq_length 0: the model's own (sentence_bert_config.json, else the tokenizer's
 * model_max_length, capped by the position embeddings). */
int sm_load(SentenceModel *m, const char *dir, const Ops *ops, int batch_size, int max_seq_length, SeError *err);
/* sm_load with a build (NULL: as sm_load). A model that already has a Dense layer gets no
 * second one (an error). */
int sm_load_with(SentenceModel *m, const char *dir, const Ops *ops, int batch_size, int max_seq_length,
                 const SmBuild *build, SeError *err);

/* Tokenizes n texts (n <= batch_size) into m->tokens as sentence-transformers does for
 * this model: lowercased first when sentence_bert_config.json says do_lower_case,
 * truncated to max_seq_length. Encoding and training both go through it. */
void sm_tokenize(SentenceModel *m, const char *const *texts, const size_t *lens, size_t n);
/* The same into s, on `threads` threads (<= 0: all cores); m is only read, so another
 * thread may do this while m encodes or trains. */
void sm_tokenize_into(const SentenceModel *m, SmTokens *s, const char *const *texts, const size_t *lens, size_t n,
                      int threads);
void sm_tokens_free(SmTokens *s);

/* Packs the first n sequences of m->tokens (just tokenized) into m->pb: positions from 0
 * in each sequence, token type 0, cu_seqlens. */
PackedBatch *sm_pack(SentenceModel *m, size_t n);
/* Host buffers for up to n_seqs sequences of n_tokens tokens in all, from ops->host_alloc
 * (pinned on a GPU, for copies that overlap the step) or, with ops NULL, malloc; and their
 * release. */
void packed_batch_alloc(PackedBatch *b, size_t n_seqs, size_t n_tokens, const Ops *ops);
void packed_batch_free(PackedBatch *b);
/* The same from token ids: n sequences, sequence i ids[offsets[i] .. offsets[i + 1]), into
 * b (sized for them). */
void packed_batch_from_offsets(PackedBatch *b, const int32_t *ids, const size_t *offsets, size_t n);
/* n separate sequences (seqs[i][0..lens[i]), [CLS] ... [SEP] each), each cut to max_len
 * ids as the tokenizer cuts: the first max_len - 1 and the final [SEP]. */
void packed_batch_from_seqs(PackedBatch *b, const int32_t *const *seqs, const size_t *lens, size_t n, size_t max_len);

typedef void (*SmProgress)(size_t done, size_t total, void *arg);

/* Embeddings of n texts (valid UTF-8) into out[n, out_dim]; normalize forces an L2
 * normalization on top of the model's own modules (encode(normalize_embeddings=True)). */
void sm_encode(SentenceModel *m, const char *const *texts, const size_t *lens, size_t n, bool normalize, float *out,
               SmProgress progress, void *progress_arg);
void sm_free(SentenceModel *m);

#endif
