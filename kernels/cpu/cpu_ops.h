/* The CPU reference backend: fp32 everywhere, OpenBLAS for GEMMs, OpenMP across rows.
 * Each function is documented with its math in its own file; kernels/ops.h has the
 * shared conventions. */
#ifndef SENTEMBED_CPU_OPS_H
#define SENTEMBED_CPU_OPS_H

#include "kernels/ops.h"

void embed_forward_cpu(float *out, const int32_t *ids, const int32_t *positions, const int32_t *types,
                       const float *word, const float *pos, const float *type, int T, int H);
void ln_forward_cpu(float *out, const float *x, const float *residual, const float *gamma, const float *beta,
                    int T, int H, float eps);
void matmul_forward_cpu(float *out, const float *a, const float *w, const float *bias, int M, int N, int K);
void bias_gelu_forward_cpu(float *x, const float *bias, int T, int N);
void attention_forward_cpu(float *out, const float *qkv, const int32_t *cu_seqlens, int n_seqs, int max_seqlen,
                           int heads, int head_dim, float dropout_p, uint64_t seed, DropoutKeys keys);
void pool_forward_cpu(float *out, const float *x, const int32_t *cu_seqlens, int n_seqs, int H, PoolMode mode);
void tanh_forward_cpu(float *x, size_t n);
void normalize_forward_cpu(float *x, int N, int D);

/* Backward passes (the training engine's half). Conventions: gradients of parameters
 * (dword, dgamma, dw, dbias, ...) are accumulated (+=), gradients of activations are
 * written (=). Each is documented with its math beside its forward. */
void embed_backward_cpu(float *dword, float *dpos, float *dtype, const float *dout, const int32_t *ids,
                        const int32_t *positions, const int32_t *types, int T, int H);
void ln_backward_cpu(float *dx, float *dgamma, float *dbeta, const float *dout, const float *x, const float *residual,
                     const float *gamma, int T, int H, float eps);
void matmul_backward_cpu(float *da, float *dw, float *dbias, const float *dout, const float *a, const float *w, int M,
                         int N, int K);
void bias_gelu_backward_cpu(float *dpre, float *dbias, const float *dout, const float *pre, const float *bias, int T,
                            int N);
void attention_backward_cpu(float *dqkv, const float *dout, const float *qkv, const int32_t *cu_seqlens, int n_seqs,
                            int max_seqlen, int heads, int head_dim, float dropout_p, uint64_t seed,
                            DropoutKeys keys);
void pool_backward_cpu(float *dx, const float *dout, const float *x, const int32_t *cu_seqlens, int n_seqs, int H,
                       PoolMode mode);
void tanh_backward_cpu(float *dx, const float *dout, const float *y, size_t n);
void normalize_backward_cpu(float *dx, const float *dout, const float *x, int N, int D);

/* training support (train_support.c) */
void dropout_cpu(float *x, int H, const int32_t *cu_seqlens, int n_seqs, DropoutKeys keys, float p, uint64_t seed);
double sum_squares_cpu(const float *x, size_t n);
void scale_f32_cpu(float *x, size_t n, float s);
void adamw_cpu(float *p, const float *g, float *m, float *v, size_t n, const AdamWArgs *a);

#endif
