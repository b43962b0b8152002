/* LayerNorm with a fused residual, per row of H:
 *   z = x + residual (residual may be NULL)
 *   mean = sum(z)/H,  var = sum((z - mean)^2)/H   (biased, as torch.nn.LayerNorm)
 *   out = (z - mean) / sqrt(var + eps) * gamma + beta
 * out may alias x or residual. Statistics in double: this is the reference. */
#include <math.h>

#include "kernels/cpu/cpu_ops.h"

void ln_forward_cpu(float *out, const float *x, const float *residual, const float *gamma, const float *beta,
                    int T, int H, float eps)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * H, *rr = residual ? residual + (size_t)t * H : NULL;
        float *o = out + (size_t)t * H;
        double sum = 0;
        for (int h = 0; h < H; h++)
            sum += (double)xr[h] + (rr ? (double)rr[h] : 0.0);
        double mean = sum / H, var = 0;
        for (int h = 0; h < H; h++) {
            double d = (double)xr[h] + (rr ? (double)rr[h] : 0.0) - mean;
            var += d * d;
        }
        double inv = 1.0 / sqrt(var / H + (double)eps);
        for (int h = 0; h < H; h++) {
            double z = (double)xr[h] + (rr ? (double)rr[h] : 0.0);
            o[h] = (float)((z - mean) * inv * gamma[h] + beta[h]);
        }
    }
}
