/* Small fp32 element-wise ops on pooled embeddings:
 *   tanh:       x = tanh(x)                       (Dense activation)
 *   normalize:  x[r,:] /= max(||x[r,:]||_2, 1e-12) (torch.nn.functional.normalize) */
#include <math.h>

#include "kernels/cpu/cpu_ops.h"

void tanh_forward_cpu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = tanhf(x[i]);
}

void normalize_forward_cpu(float *x, int N, int D)
{
    for (int r = 0; r < N; r++) {
        float *v = x + (size_t)r * D;
        double ss = 0;
        for (int d = 0; d < D; d++)
            ss += (double)v[d] * v[d];
        double norm = sqrt(ss);
        float inv = (float)(1.0 / (norm > 1e-12 ? norm : 1e-12));
        for (int d = 0; d < D; d++)
            v[d] *= inv;
    }
}

/* tanh backward from the output y: dx = dout * (1 - y^2). */
void tanh_backward_cpu(float *dx, const float *dout, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = dout[i] * (1.0f - y[i] * y[i]);
}

/* normalize backward, y = x / n with n = max(||x||, 1e-12):
 *   dx = (dout - y * <y, dout>) / n     (when ||x|| > 1e-12; else dx = dout / 1e-12) */
void normalize_backward_cpu(float *dx, const float *dout, const float *x, int N, int D)
{
    for (int r = 0; r < N; r++) {
        const float *v = x + (size_t)r * D, *g = dout + (size_t)r * D;
        double ss = 0, dot = 0;
        for (int d = 0; d < D; d++)
            ss += (double)v[d] * v[d];
        double norm = sqrt(ss), inv = 1.0 / (norm > 1e-12 ? norm : 1e-12);
        if (norm > 1e-12)
            for (int d = 0; d < D; d++)
                dot += (double)v[d] * inv * g[d];
        for (int d = 0; d < D; d++)
            dx[(size_t)r * D + d] = (float)((g[d] - (norm > 1e-12 ? v[d] * inv * dot : 0.0)) * inv);
    }
}
