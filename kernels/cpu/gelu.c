/* x = gelu(x + bias) in place, the exact form BERT uses (hidden_act "gelu"):
 *   gelu(z) = 0.5 * z * (1 + erf(z / sqrt(2)))
 * with erf from vecmath.h (vectorizable; 1.5e-7 absolute error). */
#include <stdlib.h>

#include "host/error.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/vecmath.h"

/* AVX2 where the CPU has it (8 lanes instead of SSE2's 4), chosen at load time. */
__attribute__((target_clones("avx2", "default"))) static void gelu_row(float *restrict r,
                                                                             const float *restrict bias, int n)
{
    for (int i = 0; i < n; i++) {
        float z = r[i] + bias[i];
        r[i] = 0.5f * z * (1.0f + vm_erff(z * 0.70710678118654752f));
    }
}

void bias_gelu_forward_cpu(float *x, const float *bias, int T, int N)
{
    float *zeros = bias ? NULL : se_xcalloc((size_t)N, sizeof *zeros);
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++)
        gelu_row(x + (size_t)t * N, bias ? bias : zeros, N);
    free(zeros);
}

/* Backward, with z = pre + bias:
 *   gelu'(z) = 0.5 * (1 + erf(z / sqrt 2)) + z * exp(-z^2 / 2) / sqrt(2 pi)
 *   dpre = dout * gelu'(z),  dbias += sum over rows of dpre.  dpre may alias dout. */
__attribute__((target_clones("avx2", "default"))) static void gelu_backward_row(
    float *dpre, const float *dout, const float *restrict pre, const float *restrict bias, int n)
{
    for (int k = 0; k < n; k++) {
        float z = pre[k] + bias[k];
        float cdf = 0.5f * (1.0f + vm_erff(z * 0.70710678118654752f));
        float pdf = vm_expf(-0.5f * z * z) * 0.39894228040143268f;
        dpre[k] = dout[k] * (cdf + z * pdf);
    }
}

void bias_gelu_backward_cpu(float *dpre, float *dbias, const float *dout, const float *pre, const float *bias, int T,
                            int N)
{
    float *zeros = bias ? NULL : se_xcalloc((size_t)N, sizeof *zeros);
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++)
        gelu_backward_row(dpre + (size_t)t * N, dout + (size_t)t * N, pre + (size_t)t * N, bias ? bias : zeros, N);
    free(zeros);
    if (dbias) { /* row by row, so the inner loop runs over contiguous memory */
        double *s = se_xcalloc((size_t)N, sizeof *s);
        for (int t = 0; t < T; t++) {
            const float *row = dpre + (size_t)t * N;
            for (int n = 0; n < N; n++)
                s[n] += row[n];
        }
        for (int n = 0; n < N; n++)
            dbias[n] += (float)s[n];
        free(s);
    }
}
