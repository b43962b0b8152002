/* Residual + LayerNorm over each row of H features:
 *   v = x + residual (residual may be NULL),  mean = sum(v)/H,  var = sum((v-mean)^2)/H,
 *   out = (v - mean) / sqrt(var + eps) * gamma + beta
 * Statistics are two-pass in fp32 so a large mean cannot cancel the variance away; the
 * row is re-read from global memory (it stays in L1/L2), which keeps any H working.
 * Each element is read and written by the same thread after the statistics, so out may
 * alias x or residual.
 *
 * Backward, with xhat = (v - mean) * rstd (statistics recomputed in fp32 from x + residual):
 *   g = dout * gamma,  dv = rstd * (g - mean(g) - xhat * mean(g * xhat))   (dx, written)
 *   dgamma += sum_t dout * xhat,  dbeta += sum_t dout                      (fp32, accumulated)
 * dv is the gradient of both x and residual; the caller adds it to the residual's. */
#include "kernels/cuda/common.cuh"

#define LN_THREADS 256

__device__ __forceinline__ float ln_input(const bf16 *x, const bf16 *residual, size_t i)
{
    return residual ? __bfloat162float(x[i]) + __bfloat162float(residual[i]) : __bfloat162float(x[i]);
}

/* The row's mean and 1 / sqrt(var + eps) (x: mean, y: rstd), to every thread of the block. */
__device__ __forceinline__ float2 ln_row_stats(const bf16 *x, const bf16 *residual, size_t row, int H, float eps)
{
    float sum = 0.0f;
    for (int h = threadIdx.x; h < H; h += blockDim.x)
        sum += ln_input(x, residual, row + h);
    const float mean = block_sum(sum) / H;
    float sq = 0.0f;
    for (int h = threadIdx.x; h < H; h += blockDim.x) {
        const float d = ln_input(x, residual, row + h) - mean;
        sq += d * d;
    }
    return make_float2(mean, 1.0f / sqrtf(block_sum(sq) / H + eps));
}

__global__ static void layernorm_kernel(bf16 *out, const bf16 *x, const bf16 *residual, const float *gamma,
                                        const float *beta, int H, float eps)
{
    const size_t row = (size_t)blockIdx.x * H;
    const float2 stats = ln_row_stats(x, residual, row, H, eps);
    const float mean = stats.x, rstd = stats.y;
    for (int h = threadIdx.x; h < H; h += blockDim.x) {
        const float n = (ln_input(x, residual, row + h) - mean) * rstd;
        out[row + h] = __float2bfloat16_rn(n * gamma[h] + beta[h]);
    }
}

void layernorm_forward_cuda(void *out, const void *x, const void *residual, const float *gamma,
                            const float *beta, int T, int H, float eps)
{
    if (T <= 0 || H <= 0)
        return;
    layernorm_kernel<<<T, LN_THREADS, 0, cuda_ctx.stream>>>((bf16 *)out, (const bf16 *)x,
                                                             (const bf16 *)residual, gamma, beta, H, eps);
    CUDA_CHECK_LAUNCH();
}

/* Rows per block of the backward: enough blocks to fill the GPU, few enough that the
 * per-block dgamma/dbeta partials cost little in atomics. */
#define LN_BW_MAX_BLOCKS 512

/* Blocks walk the rows (grid stride), one row at a time as in the forward. Each thread owns
 * the columns h = threadIdx.x + k * blockDim.x and keeps their dgamma/dbeta partial sums in
 * shared memory (no other thread touches them, so no barrier is needed); at the end one
 * atomicAdd per column and block adds them to the gradients (their order, hence the last
 * bits, varies by run). Elements are read and written by the same thread, so dx may alias
 * dout. */
__global__ static void layernorm_backward_kernel(bf16 *dx, float *dgamma, float *dbeta, const bf16 *dout,
                                                 const bf16 *x, const bf16 *residual, const float *gamma, int T,
                                                 int H, float eps)
{
    extern __shared__ float ln_partials[]; /* dgamma [H], then dbeta [H] */
    float *part_g = ln_partials, *part_b = ln_partials + H;
    for (int h = threadIdx.x; h < H; h += blockDim.x)
        part_g[h] = part_b[h] = 0.0f;
    for (int t = blockIdx.x; t < T; t += gridDim.x) {
        const size_t row = (size_t)t * H;
        const float2 stats = ln_row_stats(x, residual, row, H, eps);
        const float mean = stats.x, rstd = stats.y;
        float sum_g = 0.0f, sum_gx = 0.0f;
        for (int h = threadIdx.x; h < H; h += blockDim.x) {
            const float xhat = (ln_input(x, residual, row + h) - mean) * rstd;
            const float dy = __bfloat162float(dout[row + h]), g = dy * gamma[h];
            sum_g += g;
            sum_gx += g * xhat;
            part_g[h] += dy * xhat;
            part_b[h] += dy;
        }
        const float mean_g = block_sum(sum_g) / H, mean_gx = block_sum(sum_gx) / H;
        for (int h = threadIdx.x; h < H; h += blockDim.x) {
            const float xhat = (ln_input(x, residual, row + h) - mean) * rstd;
            const float g = __bfloat162float(dout[row + h]) * gamma[h];
            dx[row + h] = __float2bfloat16_rn(rstd * (g - mean_g - xhat * mean_gx));
        }
    }
    for (int h = threadIdx.x; h < H; h += blockDim.x) {
        atomicAdd(&dgamma[h], part_g[h]);
        atomicAdd(&dbeta[h], part_b[h]);
    }
}

void layernorm_backward_cuda(void *dx, float *dgamma, float *dbeta, const void *dout, const void *x,
                             const void *residual, const float *gamma, int T, int H, float eps)
{
    if (T <= 0 || H <= 0)
        return;
    const size_t smem = 2 * (size_t)H * sizeof(float);
    /* Above 48 KiB (H > 6144) a kernel must opt in; the call fails, and says so, past the
     * device's limit. */
    if (smem > 48 * 1024)
        CUDA_CHECK(cudaFuncSetAttribute(layernorm_backward_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        (int)smem));
    const int blocks = T < LN_BW_MAX_BLOCKS ? T : LN_BW_MAX_BLOCKS;
    layernorm_backward_kernel<<<blocks, LN_THREADS, smem, cuda_ctx.stream>>>(
        (bf16 *)dx, dgamma, dbeta, (const bf16 *)dout, (const bf16 *)x, (const bf16 *)residual, gamma, T, H, eps);
    CUDA_CHECK_LAUNCH();
}
