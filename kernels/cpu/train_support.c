/* The optimizer-side and regularization ops of training, fp32 on the host:
 *   dropout:     x[t, j] = keep ? x[t, j] / (1 - p) : 0 on a packed [T, H], for row t at position
 *                q = t - cu_seqlens[s] of sequence s: keep = se_dropout_uniform(se_dropout_seq_seed(
 *                seed, keys, s), q * H + j) >= p (kernels/dropout_hash.h: the mask follows the
 *                example, not its place in the batch); the same call on the gradient is its backward
 *   sum_squares: sum x[i]^2 in double (global gradient norm for clipping)
 *   scale_f32:   x *= s
 *   adamw:       one AdamW step, the constants in AdamWArgs (kernels/ops.h); this loop is
 *                adamw_step_cpu's, the reference of the fused CUDA kernel */
#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/dropout_hash.h"

void dropout_cpu(float *x, int H, const int32_t *cu_seqlens, int n_seqs, DropoutKeys keys, float p, uint64_t seed)
{
    if (p <= 0.0f)
        return;
    const float keep_scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(dynamic, 1)
    for (int s = 0; s < n_seqs; s++) {
        const uint64_t seq_seed = se_dropout_seq_seed(seed, keys, s);
        float *xs = x + (size_t)cu_seqlens[s] * H;
        const size_t n = (size_t)(cu_seqlens[s + 1] - cu_seqlens[s]) * H; /* position * H + column */
        for (size_t i = 0; i < n; i++)
            xs[i] = se_dropout_uniform(seq_seed, i) >= p ? xs[i] * keep_scale : 0.0f;
    }
}

double sum_squares_cpu(const float *x, size_t n)
{
    double ss = 0;
#pragma omp parallel for schedule(static) reduction(+ : ss)
    for (size_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    return ss;
}

void scale_f32_cpu(float *x, size_t n, float s)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        x[i] *= s;
}

/* One thread's share; AVX2 where the CPU has it (sqrtf vectorizes: no errno here). */
__attribute__((target_clones("avx2", "default"))) static void adamw_span(float *restrict p, const float *restrict g,
                                                                         float *restrict m, float *restrict v,
                                                                         size_t n, AdamWArgs c)
{
    for (size_t i = 0; i < n; i++) {
        const float gi = g[i];
        m[i] = c.beta1 * m[i] + c.one_minus_beta1 * gi;
        v[i] = c.beta2 * v[i] + c.one_minus_beta2 * gi * gi;
        p[i] *= c.shrink;
        p[i] -= c.step_size * m[i] / (sqrtf(v[i]) * c.inv_sqrt_bc2 + c.eps);
    }
}

void adamw_cpu(float *p, const float *g, float *m, float *v, size_t n, const AdamWArgs *a)
{
    const size_t chunk = 1 << 16;
#pragma omp parallel for schedule(static)
    for (size_t start = 0; start < n; start += chunk) {
        size_t len = n - start < chunk ? n - start : chunk;
        adamw_span(p + start, g + start, m + start, v + start, len, *a);
    }
}
