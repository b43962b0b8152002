/* The op interface the model calls: one table of function pointers per backend.
 *
 * The model graph (trainer/encoder.c) is written once against this table. Pointers are
 * backend memory: host memory for "cpu", device memory for "cuda". Element types:
 *   act   activations [T, *]: fp32 on cpu, bf16 on cuda (Ops.act_size says which)
 *   wgt   GEMM weight matrices [N, K] row-major (as nn.Linear stores them): fp32 on cpu,
 *         bf16 copies of the fp32 master weights on cuda
 *   f32   always fp32: embedding tables, biases, LayerNorm parameters, pooled outputs
 *   i32   token ids, positions, token types, cu_seqlens
 * A packed batch holds N sequences back to back, T tokens in all; sequence s is rows
 * cu_seqlens[s] .. cu_seqlens[s+1]-1. Nothing is padded: ops that mix tokens (attention,
 * pooling) stay inside each sequence.
 *
 * Each op's math is written at the top of its CPU file (kernels/cpu/NAME.c), the
 * reference the CUDA file (kernels/cuda/NAME.cu) is tested against. */
#ifndef SENTEMBED_OPS_H
#define SENTEMBED_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/dropout_hash.h"

typedef enum { POOL_MEAN, POOL_CLS, POOL_MAX, POOL_MEAN_SQRT_LEN } PoolMode;

/* AdamW constants of one step (computed in double on the host, used in fp32):
 *   m = beta1 m + one_minus_beta1 g,  v = beta2 v + one_minus_beta2 g^2,
 *   p *= shrink (1 - lr * weight_decay, or 1 without decay),
 *   p -= step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps)   (step_size = lr / (1 - beta1^t)) */
typedef struct AdamWArgs {
    float beta1, beta2, one_minus_beta1, one_minus_beta2, shrink, step_size, inv_sqrt_bc2, eps;
} AdamWArgs;

typedef struct Ops {
    const char *name; /* "cpu" or "cuda" */
    size_t act_size;  /* bytes per act / wgt element: 4 (fp32) or 2 (bf16) */

    /* memory */
    void *(*alloc)(size_t bytes); /* dies with a message (naming the size) when out of memory */
    void (*free)(void *p);
    void (*copy_to_device)(void *dst, const void *host_src, size_t bytes);
    /* Queued behind the backend's earlier work, without waiting: host_src must stay as it is
     * until the next call that waits (copy_to_host, download_act, synchronize). From
     * host_alloc memory (pinned on a GPU) the copy overlaps with the work before it. */
    void (*copy_to_device_async)(void *dst, const void *host_src, size_t bytes);
    /* host memory that async copies read best (pinned on a GPU; plain on the CPU) */
    void *(*host_alloc)(size_t bytes);
    void (*host_free)(void *p);
    void (*copy_to_host)(void *host_dst, const void *src, size_t bytes);
    void (*copy_on_device)(void *dst, const void *src, size_t bytes);
    /* host fp32 -> backend act/wgt type (n elements), and back */
    void (*upload_act)(void *dst, const float *host_src, size_t n);
    void (*download_act)(float *host_dst, const void *src, size_t n);
    void (*synchronize)(void);
    /* free and total device memory in bytes (NULL on the CPU: host memory is not tracked) */
    void (*mem_info)(size_t *free_bytes, size_t *total_bytes);

    /* forward ops */
    /* out[t,:] = word[ids[t],:] + pos[positions[t],:] + type[types[t],:]      out: act [T,H] */
    void (*embed)(void *out, const int32_t *ids, const int32_t *positions, const int32_t *types,
                  const float *word, const float *pos, const float *type, int T, int H);
    /* out = LayerNorm(x + residual) * gamma + beta over each row (residual may be NULL) */
    void (*layernorm)(void *out, const void *x, const void *residual, const float *gamma,
                      const float *beta, int T, int H, float eps);
    /* out[M,N] = a[M,K] @ w[N,K]^T (+ bias[N] when not NULL)        a, out: act; w: wgt */
    void (*matmul)(void *out, const void *a, const void *w, const float *bias, int M, int N, int K);
    /* x[T,N] = gelu(x + bias) in place, exact erf GELU                               act */
    void (*bias_gelu)(void *x, const float *bias, int T, int N);
    /* Multi-head self-attention inside each sequence. qkv: act [T, 3*heads*head_dim]
     * (Q | K | V, each heads x head_dim); out: act [T, heads*head_dim];
     * softmax(Q K^T / sqrt(head_dim)) V per head. With dropout_p > 0 (training) the
     * probabilities are dropped and rescaled by 1 / (1 - p) with the mask of
     * kernels/dropout_hash.h (index se_attn_dropout_index, the given seed, the sequences'
     * keys); 0 turns it off. */
    void (*attention)(void *out, const void *qkv, const int32_t *cu_seqlens, int n_seqs, int max_seqlen,
                      int heads, int head_dim, float dropout_p, uint64_t seed, DropoutKeys keys);
    /* out[s,:] (f32) = mean / first row / max / sum / sqrt(len) of x's rows of sequence s */
    void (*pool)(float *out, const void *x, const int32_t *cu_seqlens, int n_seqs, int H, PoolMode mode);
    /* out[M,N] = a[M,K] @ w[N,K]^T + bias[N], all f32 (small layers: Dense, classifiers) */
    void (*linear_f32)(float *out, const float *a, const float *w, const float *bias, int M, int N, int K);
    /* x = tanh(x), f32 */
    void (*tanh_f32)(float *x, size_t n);
    /* each row of x[N,D] (f32) divided by max(||row||_2, 1e-12) */
    void (*normalize)(float *x, int N, int D);

    /* backward ops (NULL where a backend has none yet). Parameter gradients (f32) are
     * accumulated, activation gradients written; the math is beside each forward. */
    void (*embed_backward)(float *dword, float *dpos, float *dtype, const void *dout, const int32_t *ids,
                           const int32_t *positions, const int32_t *types, int T, int H);
    void (*layernorm_backward)(void *dx, float *dgamma, float *dbeta, const void *dout, const void *x,
                               const void *residual, const float *gamma, int T, int H, float eps);
    void (*matmul_backward)(void *da, float *dw, float *dbias, const void *dout, const void *a, const void *w, int M,
                            int N, int K);
    void (*bias_gelu_backward)(void *dpre, float *dbias, const void *dout, const void *pre, const float *bias, int T,
                               int N);
    void (*attention_backward)(void *dqkv, const void *dout, const void *qkv, const int32_t *cu_seqlens, int n_seqs,
                               int max_seqlen, int heads, int head_dim, float dropout_p, uint64_t seed,
                               DropoutKeys keys);
    void (*pool_backward)(void *dx, const float *dout, const void *x, const int32_t *cu_seqlens, int n_seqs, int H,
                          PoolMode mode);
    void (*linear_f32_backward)(float *da, float *dw, float *dbias, const float *dout, const float *a,
                                const float *w, int M, int N, int K);
    void (*tanh_backward)(float *dx, const float *dout, const float *y, size_t n);
    void (*normalize_backward)(float *dx, const float *dout, const float *x, int N, int D);
    /* y += x, act (residual gradients) */
    void (*add_act)(void *y, const void *x, size_t n);

    /* training support */
    /* x [T, H] (act) of the packed batch cu_seqlens (T = cu_seqlens[n_seqs]), in place:
     * x[t, j] = keep ? x[t, j] / (1 - p) : 0, keep = se_dropout_uniform(se_dropout_seq_seed(seed,
     * keys, s), (t - cu_seqlens[s]) * H + j) >= p for t in sequence s (kernels/dropout_hash.h).
     * Its backward is the same call on the gradient. */
    void (*dropout)(void *x, int T, int H, const int32_t *cu_seqlens, int n_seqs, DropoutKeys keys, float p,
                    uint64_t seed);
    void (*zero)(void *p, size_t bytes);
    /* sum of x[i]^2 over f32 x, returned to the host (accumulated in double on the CPU,
     * fp32 partials summed in double on the GPU) */
    double (*sum_squares)(const float *x, size_t n);
    void (*scale_f32)(float *x, size_t n, float s);
    /* backend f32 -> act type, both in backend memory (refreshes the bf16 GEMM copies) */
    void (*f32_to_act)(void *dst, const float *src, size_t n);
    /* One AdamW step on n f32 parameters with f32 moments, the math of adamw_step_cpu
     * (trainer/optimizer.h) with the step's constants precomputed in AdamWArgs. */
    void (*adamw)(float *p, const float *g, float *m, float *v, size_t n, const AdamWArgs *args);

    /* Fused losses on f32 embeddings in backend memory (NULL: the trainer computes the loss on
     * the host in double). Each returns the batch loss (mean, as sentence-transformers) and
     * writes grad = grad_scale * dLoss/demb in emb's layout. The CPU references are
     * trainer/loss_*.c.
     *   triplet: emb [3 rows, D] = anchors | positives | negatives; metric 0 euclidean,
     *            1 cosine, 2 manhattan (TripletMetric)
     *   mnrl:    emb [columns rows, D] = anchors | positives | negative columns
     *   softmax: emb [2 rows, D] = u | v; labels (i32, backend) in [0, L); W [L, 3D], b [L] f32;
     *            dW, db accumulated (+= grad_scale * dLoss/dW) */
    double (*loss_triplet)(float *grad, const float *emb, int rows, int D, int metric, float margin,
                           float grad_scale);
    double (*loss_mnrl)(float *grad, const float *emb, int rows, int columns, int D, float scale, float grad_scale);
    double (*loss_softmax)(float *grad, float *dW, float *db, const float *emb, const int32_t *labels, const float *W,
                           const float *b, int rows, int D, int L, float grad_scale);
} Ops;


const Ops *ops_cpu(void);
/* What the next device allocations are for, e.g. "training with batch size 16 (x 3 columns),
 * max_seq_length 256": an out-of-GPU-memory message names it. A no-op without CUDA. */
void ops_cuda_set_alloc_context(const char *what);

/* The CUDA backend, or NULL (with the reason in why, if not NULL) when this build has no
 * CUDA or the machine no GPU. */
const Ops *ops_cuda(char *why, size_t why_cap);

#endif
