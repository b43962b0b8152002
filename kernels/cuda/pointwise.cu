/* fp32 pointwise ops after pooling:
 *   tanh:       x = tanh(x)                                   (the Dense layer's activation)
 *   normalize:  x[r,:] = x[r,:] / max(||x[r,:]||_2, 1e-12)     (torch.nn.functional.normalize)
 * and their backward (dx written; it may alias dout, as the trainer calls them in place):
 *   tanh:       dx = dout * (1 - y^2), from the output y
 *   normalize:  with n = max(||x||, 1e-12) and y = x / n,
 *               dx = (dout - y * <y, dout>) / n   (dx = dout / 1e-12 where ||x|| <= 1e-12)
 * The squared norm and <x, dout> are block reductions in fp32.
 * Also add_act, the residual-gradient sum y += x on bf16 activations (fp32 add, one rounding). */
#include "kernels/cuda/common.cuh"

__global__ static void tanh_kernel(float *x, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        x[i] = tanhf(x[i]);
}

__global__ static void normalize_kernel(float *x, int D)
{
    float *row = x + (size_t)blockIdx.x * D;
    float sq = 0.0f;
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        sq += row[d] * row[d];
    const float norm = fmaxf(sqrtf(block_sum(sq)), 1e-12f);
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        row[d] /= norm;
}

__global__ static void tanh_backward_kernel(float *dx, const float *dout, const float *y, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dx[i] = dout[i] * (1.0f - y[i] * y[i]);
}

/* One block per row. Every element is read and then written by the same thread, and all
 * reads for the sums come before the barriers inside block_sum, so dx may alias dout. */
__global__ static void normalize_backward_kernel(float *dx, const float *dout, const float *x, int D)
{
    const size_t row = (size_t)blockIdx.x * D;
    float sq = 0.0f, xg = 0.0f;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        const float v = x[row + d];
        sq += v * v;
        xg += v * dout[row + d];
    }
    const float norm = sqrtf(block_sum(sq)), sum_xg = block_sum(xg);
    const bool clamped = !(norm > 1e-12f);
    const float inv = 1.0f / fmaxf(norm, 1e-12f);
    const float yg = clamped ? 0.0f : sum_xg * inv; /* <y, dout> */
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        dx[row + d] = (dout[row + d] - x[row + d] * inv * yg) * inv;
}

__global__ static void add_act_kernel(bf16 *y, const bf16 *x, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = __float2bfloat16_rn(__bfloat162float(y[i]) + __bfloat162float(x[i]));
}

/* The same, BF16_VEC elements per thread (common.cuh), where n and the addresses allow it. */
__global__ static void add_act_vec_kernel(bf16 *y, const bf16 *x, size_t n_vec)
{
    for (size_t v = blockIdx.x * (size_t)blockDim.x + threadIdx.x; v < n_vec; v += (size_t)gridDim.x * blockDim.x) {
        float a[BF16_VEC], b[BF16_VEC];
        load_vec(a, y + v * BF16_VEC);
        load_vec(b, x + v * BF16_VEC);
        #pragma unroll
        for (int k = 0; k < BF16_VEC; k++)
            a[k] += b[k];
        store_vec(y + v * BF16_VEC, a);
    }
}

void tanh_forward_cuda(float *x, size_t n)
{
    if (n == 0)
        return;
    tanh_kernel<<<grid_blocks(n, 256), 256, 0, cuda_ctx.stream>>>(x, n);
    CUDA_CHECK_LAUNCH();
}

void normalize_forward_cuda(float *x, int N, int D)
{
    if (N <= 0 || D <= 0)
        return;
    normalize_kernel<<<N, 256, 0, cuda_ctx.stream>>>(x, D);
    CUDA_CHECK_LAUNCH();
}

void tanh_backward_cuda(float *dx, const float *dout, const float *y, size_t n)
{
    if (n == 0)
        return;
    tanh_backward_kernel<<<grid_blocks(n, 256), 256, 0, cuda_ctx.stream>>>(dx, dout, y, n);
    CUDA_CHECK_LAUNCH();
}

void normalize_backward_cuda(float *dx, const float *dout, const float *x, int N, int D)
{
    if (N <= 0 || D <= 0)
        return;
    normalize_backward_kernel<<<N, 256, 0, cuda_ctx.stream>>>(dx, dout, x, D);
    CUDA_CHECK_LAUNCH();
}

void add_act_cuda(void *y, const void *x, size_t n)
{
    if (n == 0)
        return;
    if (n % BF16_VEC == 0 && vec_ok(BF16_VEC, y, x))
        add_act_vec_kernel<<<grid_blocks(n / BF16_VEC, 256), 256, 0, cuda_ctx.stream>>>((bf16 *)y, (const bf16 *)x,
                                                                                   n / BF16_VEC);
    else
        add_act_kernel<<<grid_blocks(n, 256), 256, 0, cuda_ctx.stream>>>((bf16 *)y, (const bf16 *)x, n);
    CUDA_CHECK_LAUNCH();
}
