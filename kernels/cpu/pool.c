/* Pooling of each packed sequence s (rows b..e-1 of x [T,H]) into out[s,:] (fp32):
 *   mean:           sum_t x[t] / len
 *   cls:            x[b]
 *   max:            max_t x[t]            (element-wise)
 *   mean_sqrt_len:  sum_t x[t] / sqrt(len)
 * as sentence-transformers' Pooling computes them with an all-ones attention mask. */
#include <math.h>

#include "kernels/cpu/cpu_ops.h"

void pool_forward_cpu(float *out, const float *x, const int32_t *cu_seqlens, int n_seqs, int H, PoolMode mode)
{
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n_seqs; s++) {
        int b = cu_seqlens[s], len = cu_seqlens[s + 1] - b;
        float *o = out + (size_t)s * H;
        for (int h = 0; h < H; h++) {
            if (mode == POOL_CLS) {
                o[h] = x[(size_t)b * H + h];
            } else if (mode == POOL_MAX) {
                float m = -INFINITY;
                for (int t = 0; t < len; t++)
                    m = fmaxf(m, x[(size_t)(b + t) * H + h]);
                o[h] = m;
            } else {
                double sum = 0;
                for (int t = 0; t < len; t++)
                    sum += x[(size_t)(b + t) * H + h];
                o[h] = (float)(mode == POOL_MEAN ? sum / len : sum / sqrt((double)len));
            }
        }
    }
}

/* Backward: every row of sequence s gets dout[s] / len (mean), dout[s] / sqrt(len)
 * (mean_sqrt_len); cls sends dout[s] to the first row; max sends it, per column, to the
 * first row holding the maximum (as torch.max does); other rows get 0. dx is written. */
void pool_backward_cpu(float *dx, const float *dout, const float *x, const int32_t *cu_seqlens, int n_seqs, int H,
                       PoolMode mode)
{
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n_seqs; s++) {
        int b = cu_seqlens[s], len = cu_seqlens[s + 1] - b;
        const float *g = dout + (size_t)s * H;
        for (int t = 0; t < len; t++) {
            float *o = dx + (size_t)(b + t) * H;
            for (int h = 0; h < H; h++)
                o[h] = mode == POOL_MEAN            ? g[h] / (float)len
                       : mode == POOL_MEAN_SQRT_LEN ? g[h] / sqrtf((float)len)
                       : mode == POOL_CLS           ? (t == 0 ? g[h] : 0.0f)
                                                    : 0.0f;
        }
        if (mode == POOL_MAX)
            for (int h = 0; h < H; h++) {
                int best = 0;
                for (int t = 1; t < len; t++)
                    if (x[(size_t)(b + t) * H + h] > x[(size_t)(b + best) * H + h])
                        best = t;
                dx[(size_t)(b + best) * H + h] = g[h];
            }
    }
}
