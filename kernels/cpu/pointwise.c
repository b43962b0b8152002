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
