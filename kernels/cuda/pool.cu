/* Pooling of each sequence's rows into one fp32 vector: for sequence s of len rows,
 *   POOL_MEAN           out[s,h] = sum_t x[t,h] / len
 *   POOL_CLS            out[s,h] = x[first row, h]
 *   POOL_MAX            out[s,h] = max_t x[t,h]
 *   POOL_MEAN_SQRT_LEN  out[s,h] = sum_t x[t,h] / sqrt(len)
 * (sentence-transformers' Pooling modes; packed rows need no attention mask). Sums run in
 * fp32 in row order. An empty sequence pools to zeros. One thread per (sequence, feature)
 * walks the rows, so neighbouring threads read neighbouring features.
 * Backward (dx bf16, written for every row): each row of sequence s gets dout[s] / len
 * (mean), dout[s] / sqrt(len) (mean_sqrt_len); cls gives dout[s] to the first row; max
 * gives it, per feature, to the first row holding the maximum (as torch.max and the CPU
 * reference); the other rows get 0. Same thread layout as the forward. */
#include <math.h>

#include "kernels/cuda/common.cuh"

__global__ static void pool_kernel(float *out, const bf16 *x, const int32_t *cu_seqlens, int H, PoolMode mode)
{
    const int s = blockIdx.x, h = blockIdx.y * blockDim.x + threadIdx.x;
    if (h >= H)
        return;
    const int start = cu_seqlens[s], len = cu_seqlens[s + 1] - start;
    const bf16 *col = x + (size_t)start * H + h;
    float r = 0.0f;
    if (len > 0) {
        if (mode == POOL_CLS) {
            r = __bfloat162float(col[0]);
        } else if (mode == POOL_MAX) {
            r = -INFINITY;
            for (int t = 0; t < len; t++)
                r = fmaxf(r, __bfloat162float(col[(size_t)t * H]));
        } else {
            for (int t = 0; t < len; t++)
                r += __bfloat162float(col[(size_t)t * H]);
            r = mode == POOL_MEAN ? r / (float)len : r / sqrtf((float)len);
        }
    }
    out[(size_t)s * H + h] = r;
}

void pool_forward_cuda(float *out, const void *x, const int32_t *cu_seqlens, int n_seqs, int H, PoolMode mode)
{
    if (n_seqs <= 0 || H <= 0)
        return;
    const dim3 grid(n_seqs, (H + 127) / 128);
    pool_kernel<<<grid, 128, 0, cuda_ctx.stream>>>(out, (const bf16 *)x, cu_seqlens, H, mode);
    CUDA_CHECK_LAUNCH();
}

__global__ static void pool_backward_kernel(bf16 *dx, const float *dout, const bf16 *x, const int32_t *cu_seqlens,
                                            int H, PoolMode mode)
{
    const int s = blockIdx.x, h = blockIdx.y * blockDim.x + threadIdx.x;
    if (h >= H)
        return;
    const int start = cu_seqlens[s], len = cu_seqlens[s + 1] - start;
    const float g = dout[(size_t)s * H + h];
    const bf16 *col = x + (size_t)start * H + h;
    bf16 *dcol = dx + (size_t)start * H + h;
    int target = 0; /* cls and max: the one row that gets g */
    if (mode == POOL_MAX) {
        float best = len > 0 ? __bfloat162float(col[0]) : 0.0f;
        for (int t = 1; t < len; t++) {
            const float v = __bfloat162float(col[(size_t)t * H]);
            if (v > best) { /* strictly greater: the first of equal maxima wins */
                best = v;
                target = t;
            }
        }
    }
    const float spread = mode == POOL_MEAN ? g / (float)len : mode == POOL_MEAN_SQRT_LEN ? g / sqrtf((float)len) : 0.0f;
    for (int t = 0; t < len; t++)
        dcol[(size_t)t * H] = __float2bfloat16_rn((mode == POOL_CLS || mode == POOL_MAX) ? (t == target ? g : 0.0f)
                                                                                        : spread);
}

void pool_backward_cuda(void *dx, const float *dout, const void *x, const int32_t *cu_seqlens, int n_seqs, int H,
                        PoolMode mode)
{
    if (n_seqs <= 0 || H <= 0)
        return;
    const dim3 grid(n_seqs, (H + 127) / 128);
    pool_backward_kernel<<<grid, 128, 0, cuda_ctx.stream>>>((bf16 *)dx, dout, (const bf16 *)x, cu_seqlens, H,
                                                            mode);
    CUDA_CHECK_LAUNCH();
}
