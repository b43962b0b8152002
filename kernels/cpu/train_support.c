/* The optimizer-side and regularization ops of training, fp32 on the host:
 *   dropout:     x[i] = keep(i) ? x[i] / (1 - p) : 0, keep(i) = se_dropout_uniform(seed, i) >= p
 *                (the same call on the gradient is its backward)
 *   sum_squares: sum x[i]^2 in double (global gradient norm for clipping)
 *   scale_f32:   x *= s
 *   adamw:       one AdamW step, the constants in AdamWArgs (kernels/ops.h); this loop is
 *                adamw_step_cpu's, the reference of the fused CUDA kernel */
#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/dropout_hash.h"

void dropout_cpu(float *x, size_t n, float p, uint64_t seed)
{
    if (p <= 0.0f)
        return;
    const float keep_scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        x[i] = se_dropout_uniform(seed, i) >= p ? x[i] * keep_scale : 0.0f;
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
