/* fp32 pointwise ops after pooling:
 *   tanh:       x = tanh(x)                                   (the Dense layer's activation)
 *   normalize:  x[r,:] = x[r,:] / max(||x[r,:]||_2, 1e-12)     (torch.nn.functional.normalize)
 * The squared norm is a block reduction in fp32. */
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
