/* x = gelu(x + bias) in place, the exact form BERT uses (hidden_act "gelu"):
 *   gelu(z) = 0.5 * z * (1 + erf(z / sqrt(2))) */
#include <math.h>

#include "kernels/cpu/cpu_ops.h"

void bias_gelu_forward_cpu(float *x, const float *bias, int T, int N)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        float *r = x + (size_t)t * N;
        for (int n = 0; n < N; n++) {
            float z = r[n] + (bias ? bias[n] : 0.0f);
            r[n] = 0.5f * z * (1.0f + erff(z * (float)M_SQRT1_2));
        }
    }
}
