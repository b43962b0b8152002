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
                           int heads, int head_dim);
void pool_forward_cpu(float *out, const float *x, const int32_t *cu_seqlens, int n_seqs, int H, PoolMode mode);
void tanh_forward_cpu(float *x, size_t n);
void normalize_forward_cpu(float *x, int N, int D);

#endif
