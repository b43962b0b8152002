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
