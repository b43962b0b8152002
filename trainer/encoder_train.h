/* The encoder's training graph: a forward pass that keeps what the backward pass needs,
 * and the backward pass into fp32 parameter gradients laid out like the parameters.
 * Written against the op table; a backend without backward ops (CUDA, for now) cannot
 * train and encoder_train_init says so. */
#ifndef SENTEMBED_ENCODER_TRAIN_H
#define SENTEMBED_ENCODER_TRAIN_H

#include "trainer/encoder.h"

typedef struct {
    void *x_in, *qkv, *ctx, *ao, *x1, *fpre, *fact, *fo; /* act, [T, *] */
} LayerActivations;

/* The activations live in one arena that grows with the largest batch seen (by a quarter at
 * least, up to max_tokens): memory follows the data's real lengths, not batch x
 * max_seq_length. Growing happens between steps, when nothing else holds its pointers. */
typedef struct {
    Encoder *enc;
    int max_tokens, max_seqs;
    int cap_tokens; /* tokens the arena holds now (0 before the first batch) */
    void *acts_arena;
    void *emb_sum;  /* word + pos + type, before the embedding LayerNorm */
    LayerActivations *layer;
    void *out;      /* last hidden states [T, H] */
    float *grads;   /* backend f32, same layout and size as enc->params */
    Encoder gview;  /* the parameter pointers of `grads` (gview.word = dword, ...) */
    void *d_x, *d_x1, *d_tmp, *d_qkv, *d_ffn; /* gradient scratch */
    void *d_out;    /* [T, H]: room for the gradient of `out` the caller passes to the backward */
    /* Dropout as BERT applies it in training (after the embedding LayerNorm, on the
     * attention probabilities, on the attention-output and FFN-output projections before
     * their residual LayerNorm). Rates 0 turn it off. The masks are a function of
     * dropout_seed, the layer and the site, and of each sequence's place in the global
     * batch (dropout_keys; both set per step by the trainer), so the backward pass
     * regenerates them instead of storing them, and a data-parallel rank draws the masks
     * a single process would for the same examples. */
    float hidden_dropout, attention_dropout;
    uint64_t dropout_seed;
    DropoutKeys dropout_keys;
} EncoderTrainer;

/* The bytes of the activation arena for a batch of `tokens` tokens. */
size_t encoder_train_arena_bytes(const Encoder *enc, int tokens);
/* Fails (returning -1 with a message) when the backend has no backward ops. */
int encoder_train_init(EncoderTrainer *tr, Encoder *enc, int max_tokens, int max_seqs, SeError *err);
/* Forward of a packed batch keeping the activations; the last hidden states are tr->out. */
void encoder_train_forward(EncoderTrainer *tr, const PackedBatch *b);
/* Backward from d_out (act [T, H], the gradient of tr->out), accumulating into tr->grads. */
void encoder_train_backward(EncoderTrainer *tr, const PackedBatch *b, const void *d_out);
void encoder_train_zero_grads(EncoderTrainer *tr);
void encoder_train_free(EncoderTrainer *tr);

#endif
