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

/* Backward, with z = x + residual, xhat = (z - mean) * rstd, y = xhat * gamma + beta:
 *   dgamma += sum_t dy * xhat,  dbeta += sum_t dy
 *   g = dy * gamma
 *   dz = rstd * (g - mean(g) - xhat * mean(g * xhat))
 * and dz is the gradient of both x and residual (dx is written; the caller adds it to
 * the residual's gradient). Statistics are recomputed from x and residual. */
void ln_backward_cpu(float *dx, float *dgamma, float *dbeta, const float *dout, const float *x, const float *residual,
                     const float *gamma, int T, int H, float eps)
{
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * H, *rr = residual ? residual + (size_t)t * H : NULL;
        const float *dy = dout + (size_t)t * H;
        double sum = 0, var = 0;
        for (int h = 0; h < H; h++)
            sum += (double)xr[h] + (rr ? rr[h] : 0.0);
        double mean = sum / H;
        for (int h = 0; h < H; h++) {
            double d = (double)xr[h] + (rr ? rr[h] : 0.0) - mean;
            var += d * d;
        }
        double rstd = 1.0 / sqrt(var / H + (double)eps), mean_g = 0, mean_gx = 0;
        for (int h = 0; h < H; h++) {
            double xhat = ((double)xr[h] + (rr ? rr[h] : 0.0) - mean) * rstd, g = (double)dy[h] * gamma[h];
            mean_g += g;
            mean_gx += g * xhat;
            dgamma[h] += (float)(dy[h] * xhat);
            dbeta[h] += dy[h];
        }
        mean_g /= H;
        mean_gx /= H;
        float *o = dx + (size_t)t * H;
        for (int h = 0; h < H; h++) {
            double xhat = ((double)xr[h] + (rr ? rr[h] : 0.0) - mean) * rstd, g = (double)dy[h] * gamma[h];
            o[h] = (float)(rstd * (g - mean_g - xhat * mean_gx));
        }
    }
}
