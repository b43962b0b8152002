/* The BERT encoder on packed batches, written once against the op table (kernels/ops.h).
 *
 * Parameters live in one fp32 arena in backend memory, carved by a fixed table (as llm.c
 * does); Q, K and V of each layer are fused into one [3H, H] matrix at load time so a
 * layer's projections are one GEMM. GEMM weights are used as they are on the CPU and as
 * bf16 copies (a second arena) on the GPU. Activations grow with the largest batch seen
 * (encoder_reserve; encoder_forward calls it), so memory follows the real token counts
 * rather than batch x max_seq_length, and a step allocates only when a batch is a record. */
#ifndef SENTEMBED_ENCODER_H
#define SENTEMBED_ENCODER_H

#include "host/error.h"
#include "kernels/ops.h"
#include "trainer/bert_config.h"

typedef struct {
    float *qkv_w, *qkv_b, *o_w, *o_b, *ln1_g, *ln1_b, *ff1_w, *ff1_b, *ff2_w, *ff2_b, *ln2_g, *ln2_b;
    void *qkv_wg, *o_wg, *ff1_wg, *ff2_wg; /* GEMM copies (act type) */
} EncoderLayer;

/* N sequences packed back to back, T tokens in all (host memory). */
typedef struct {
    int n_seqs, n_tokens, max_seqlen;
    int32_t *ids, *positions, *types, *cu_seqlens; /* [T], [T], [T], [N+1] */
    const Ops *host_ops; /* packed_batch_alloc's: whose host_alloc made the buffers (NULL: malloc) */
} PackedBatch;

typedef struct {
    BertConfig cfg;
    const Ops *ops;
    size_t n_params;
    float *params;   /* backend f32 arena */
    void *gemm_copy; /* backend act-type arena (NULL on the CPU: the fp32 weights are used) */
    float *word, *pos, *type, *emb_ln_g, *emb_ln_b;
    EncoderLayer *layers;
    int max_tokens, max_seqs;
    void *acts; /* activation arena */
    void *x, *x1, *tmp, *qkv, *ctx, *ffn;
    int32_t *d_ids, *d_positions, *d_types, *d_cu_seqlens;
} Encoder;

/* Reads config.json and model.safetensors (BertModel names, with or without "bert.") from
 * dir into backend memory. Pickled weights are refused with a conversion hint. */
int encoder_load(Encoder *e, const Ops *ops, const char *dir, SeError *err);
/* A new encoder from a config.json with BertPreTrainedModel's initialization: weights and
 * embeddings N(0, initializer_range), the padding row of the word embeddings zero, biases
 * zero, LayerNorm weight 1 and bias 0; the draws come from seed. */
int encoder_init_random(Encoder *e, const Ops *ops, const char *config_path, uint64_t seed, SeError *err);
/* The token capacity a grow-only buffer that holds `cap` takes to hold `need`: a quarter more
 * at least (few re-allocations), but not past `limit` (0: no limit) unless `need` is. */
static inline int grown_capacity(int cap, int need, int limit)
{
    long c = (long)cap + cap / 4;
    if (limit > 0 && c > limit)
        c = limit;
    return c > need ? (int)c : need;
}

/* Room for batches of max_tokens tokens in max_seqs sequences (grow-only, by a quarter at
 * least; between batches only: the buffers move). */
void encoder_reserve(Encoder *e, int max_tokens, int max_seqs);
/* Last hidden states of the batch into e->x (act [T, H]), reserving room first. Its ids
 * must be < vocab_size (checked by the caller). Queued on the backend's stream: b's host
 * buffers are read until the next call that waits (copy_to_host, synchronize). */
void encoder_forward(Encoder *e, const PackedBatch *b);
/* After an optimizer step: the GEMM copies (bf16 on the GPU) re-made from the fp32 master
 * weights; nothing to do on the CPU. */
void encoder_refresh_gemm_copies(Encoder *e);
void encoder_free(Encoder *e);

#endif
