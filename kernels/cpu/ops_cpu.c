/* The "cpu" backend table: host memory, fp32 activations. */
#include <stdlib.h>
#include <string.h>

#include "host/error.h"
#include "kernels/cpu/cpu_ops.h"

static void *cpu_alloc(size_t bytes) { return se_xmalloc(bytes); }
static void cpu_free(void *p) { free(p); }
static void cpu_copy(void *dst, const void *src, size_t bytes)
{
    if (bytes)
        memcpy(dst, src, bytes);
}
static void cpu_upload(void *dst, const float *src, size_t n) { cpu_copy(dst, src, n * sizeof(float)); }
static void cpu_download(float *dst, const void *src, size_t n) { cpu_copy(dst, src, n * sizeof(float)); }
static void cpu_synchronize(void) {}
static void cpu_zero(void *p, size_t bytes)
{
    if (bytes)
        memset(p, 0, bytes);
}
static void cpu_f32_to_act(void *dst, const float *src, size_t n) { cpu_copy(dst, src, n * sizeof(float)); }
static void dropout(void *x, int T, int H, const int32_t *cu_seqlens, int n_seqs, DropoutKeys keys, float p,
                    uint64_t seed)
{
    (void)T; /* cu_seqlens[n_seqs] on the host */
    dropout_cpu(x, H, cu_seqlens, n_seqs, keys, p, seed);
}

static void embed(void *out, const int32_t *ids, const int32_t *positions, const int32_t *types, const float *word,
                  const float *pos, const float *type, int T, int H)
{
    embed_forward_cpu(out, ids, positions, types, word, pos, type, T, H);
}
static void layernorm(void *out, const void *x, const void *residual, const float *gamma, const float *beta, int T,
                      int H, float eps)
{
    ln_forward_cpu(out, x, residual, gamma, beta, T, H, eps);
}
static void matmul(void *out, const void *a, const void *w, const float *bias, int M, int N, int K)
{
    matmul_forward_cpu(out, a, w, bias, M, N, K);
}
static void bias_gelu(void *x, const float *bias, int T, int N) { bias_gelu_forward_cpu(x, bias, T, N); }
static void attention(void *out, const void *qkv, const int32_t *cu_seqlens, int n_seqs, int max_seqlen, int heads,
                      int head_dim, float dropout_p, uint64_t seed, DropoutKeys keys)
{
    attention_forward_cpu(out, qkv, cu_seqlens, n_seqs, max_seqlen, heads, head_dim, dropout_p, seed, keys);
}
static void pool(float *out, const void *x, const int32_t *cu_seqlens, int n_seqs, int H, PoolMode mode)
{
    pool_forward_cpu(out, x, cu_seqlens, n_seqs, H, mode);
}

static void embed_bw(float *dword, float *dpos, float *dtype, const void *dout, const int32_t *ids,
                     const int32_t *positions, const int32_t *types, int T, int H)
{
    embed_backward_cpu(dword, dpos, dtype, dout, ids, positions, types, T, H);
}
static void layernorm_bw(void *dx, float *dgamma, float *dbeta, const void *dout, const void *x, const void *residual,
                         const float *gamma, int T, int H, float eps)
{
    ln_backward_cpu(dx, dgamma, dbeta, dout, x, residual, gamma, T, H, eps);
}
static void matmul_bw(void *da, float *dw, float *dbias, const void *dout, const void *a, const void *w, int M, int N,
                      int K)
{
    matmul_backward_cpu(da, dw, dbias, dout, a, w, M, N, K);
}
static void bias_gelu_bw(void *dpre, float *dbias, const void *dout, const void *pre, const float *bias, int T, int N)
{
    bias_gelu_backward_cpu(dpre, dbias, dout, pre, bias, T, N);
}
static void attention_bw(void *dqkv, const void *dout, const void *qkv, const int32_t *cu_seqlens, int n_seqs,
                         int max_seqlen, int heads, int head_dim, float dropout_p, uint64_t seed, DropoutKeys keys)
{
    attention_backward_cpu(dqkv, dout, qkv, cu_seqlens, n_seqs, max_seqlen, heads, head_dim, dropout_p, seed, keys);
}
static void pool_bw(void *dx, const float *dout, const void *x, const int32_t *cu_seqlens, int n_seqs, int H,
                    PoolMode mode)
{
    pool_backward_cpu(dx, dout, x, cu_seqlens, n_seqs, H, mode);
}
static void add_act(void *y, const void *x, size_t n)
{
    float *fy = y;
    const float *fx = x;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        fy[i] += fx[i];
}

static const Ops CPU_OPS = {
    .name = "cpu",
    .act_size = sizeof(float),
    .alloc = cpu_alloc,
    .free = cpu_free,
    .copy_to_device = cpu_copy,
    .copy_to_device_async = cpu_copy,
    .host_alloc = cpu_alloc,
    .host_free = cpu_free,
    .copy_to_host = cpu_copy,
    .copy_on_device = cpu_copy,
    .upload_act = cpu_upload,
    .download_act = cpu_download,
    .synchronize = cpu_synchronize,
    .embed = embed,
    .layernorm = layernorm,
    .matmul = matmul,
    .bias_gelu = bias_gelu,
    .attention = attention,
    .pool = pool,
    .linear_f32 = matmul_forward_cpu,
    .tanh_f32 = tanh_forward_cpu,
    .normalize = normalize_forward_cpu,
    .embed_backward = embed_bw,
    .layernorm_backward = layernorm_bw,
    .matmul_backward = matmul_bw,
    .bias_gelu_backward = bias_gelu_bw,
    .attention_backward = attention_bw,
    .pool_backward = pool_bw,
    .linear_f32_backward = matmul_backward_cpu,
    .tanh_backward = tanh_backward_cpu,
    .normalize_backward = normalize_backward_cpu,
    .add_act = add_act,
    .dropout = dropout,
    .zero = cpu_zero,
    .sum_squares = sum_squares_cpu,
    .scale_f32 = scale_f32_cpu,
    .f32_to_act = cpu_f32_to_act,
    .adamw = adamw_cpu,
    /* no fused losses: the trainer computes them in double (trainer/loss_*.c) */
};

const Ops *ops_cpu(void) { return &CPU_OPS; }
