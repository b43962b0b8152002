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

/* A warp per row, for rows of H <= LN_MAX_K * 256 features with H % BF16_VEC == 0 (bert-base's
 * 768, MiniLM's 384, bert-large's 1024): the row lives in registers, lane `lane` holding
 * columns k * 256 + lane * BF16_VEC .. + BF16_VEC - 1 for k < K (those below H), and the statistics are
 * warp shuffles. The block-per-row kernels spend most of their time in barriers at these
 * widths (four block reductions per row of 768 in the backward). */
#define LN_MAX_K 4
#define LN_WARPS (LN_THREADS / 32)

__device__ __forceinline__ int ln_col(int k, int lane) { return k * 32 * BF16_VEC + lane * BF16_VEC; }

/* The lane's columns of a row (dst) from f(k, j, column) for element j of its k-th group. */
template <int K, typename F>
__device__ __forceinline__ void ln_store_row(bf16 *dst, int H, int lane, F f)
{
    #pragma unroll
    for (int k = 0; k < K; k++) {
        const int c = ln_col(k, lane);
        if (c >= H)
            continue;
        float o[BF16_VEC];
        #pragma unroll
        for (int j = 0; j < BF16_VEC; j++)
            o[j] = f(k, j, c + j);
        store_vec(dst + c, o);
    }
}

/* The row's x + residual into v (zeros past H), and its mean and rstd (x, y). */
template <int K>
__device__ __forceinline__ float2 ln_warp_row(float v[K][BF16_VEC], const bf16 *x, const bf16 *residual, size_t row, int H,
                                              float eps, int lane)
{
    float sum = 0.0f;
    #pragma unroll
    for (int k = 0; k < K; k++) {
        const int c = ln_col(k, lane);
        #pragma unroll
        for (int j = 0; j < BF16_VEC; j++)
            v[k][j] = 0.0f;
        if (c >= H)
            continue;
        load_vec(v[k], x + row + c);
        if (residual) {
            float r[BF16_VEC];
            load_vec(r, residual + row + c);
            #pragma unroll
            for (int j = 0; j < BF16_VEC; j++)
                v[k][j] += r[j];
        }
        #pragma unroll
        for (int j = 0; j < BF16_VEC; j++)
            sum += v[k][j];
    }
    const float mean = warp_sum(sum) / H;
    float sq = 0.0f;
    #pragma unroll
    for (int k = 0; k < K; k++)
        if (ln_col(k, lane) < H)
            #pragma unroll
            for (int j = 0; j < BF16_VEC; j++) {
                const float d = v[k][j] - mean;
                sq += d * d;
            }
    return make_float2(mean, 1.0f / sqrtf(warp_sum(sq) / H + eps));
}

template <int K>
__global__ static void __launch_bounds__(LN_THREADS)
    layernorm_warp_kernel(bf16 *out, const bf16 *x, const bf16 *residual, const float *gamma, const float *beta, int T,
                          int H, float eps)
{
    const int lane = threadIdx.x % 32;
    for (int t = blockIdx.x * LN_WARPS + threadIdx.x / 32; t < T; t += gridDim.x * LN_WARPS) {
        const size_t row = (size_t)t * H;
        float v[K][BF16_VEC];
        const float2 stats = ln_warp_row<K>(v, x, residual, row, H, eps, lane);
        /* v was read first: out may alias x or residual */
        ln_store_row<K>(out + row, H, lane,
                        [&](int k, int j, int h) { return (v[k][j] - stats.x) * stats.y * gamma[h] + beta[h]; });
    }
}

/* Blocks of LN_WARPS rows for T rows, at most `cap`. */
static unsigned int ln_blocks(int T, int cap)
{
    const int blocks = (T + LN_WARPS - 1) / LN_WARPS;
    return (unsigned int)(blocks < cap ? blocks : cap);
}

void layernorm_forward_cuda(void *out, const void *x, const void *residual, const float *gamma,
                            const float *beta, int T, int H, float eps)
{
    if (T <= 0 || H <= 0)
        return;
    const int K = (H + 32 * BF16_VEC - 1) / (32 * BF16_VEC);
    bf16 *o = (bf16 *)out;
    const bf16 *xb = (const bf16 *)x, *rb = (const bf16 *)residual;
    const unsigned int blocks = ln_blocks(T, 65535);
    if (K <= LN_MAX_K && vec_ok(H, out, x, residual)) {
        if (K == 1)
            layernorm_warp_kernel<1><<<blocks, LN_THREADS, 0, cuda_ctx.stream>>>(o, xb, rb, gamma, beta, T, H, eps);
        else if (K == 2)
            layernorm_warp_kernel<2><<<blocks, LN_THREADS, 0, cuda_ctx.stream>>>(o, xb, rb, gamma, beta, T, H, eps);
        else if (K == 3)
            layernorm_warp_kernel<3><<<blocks, LN_THREADS, 0, cuda_ctx.stream>>>(o, xb, rb, gamma, beta, T, H, eps);
        else
            layernorm_warp_kernel<4><<<blocks, LN_THREADS, 0, cuda_ctx.stream>>>(o, xb, rb, gamma, beta, T, H, eps);
    } else {
        layernorm_kernel<<<T, LN_THREADS, 0, cuda_ctx.stream>>>(o, xb, rb, gamma, beta, H, eps);
    }
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

/* dst[h] += the block's sum of its warps' partial sums part (lane `lane`'s columns), through
 * scratch (LN_WARPS x H floats of shared memory). Every thread of the block must call it. */
template <int K>
__device__ __forceinline__ void ln_block_column_add(float *dst, const float part[K][BF16_VEC], float *scratch, int H,
                                                    int lane, int warp)
{
    #pragma unroll
    for (int k = 0; k < K; k++) {
        const int c = ln_col(k, lane);
        if (c < H)
            #pragma unroll
            for (int j = 0; j < BF16_VEC; j++)
                scratch[warp * H + c + j] = part[k][j];
    }
    __syncthreads();
    for (int h = threadIdx.x; h < H; h += blockDim.x) {
        float sum = 0.0f;
        for (int w = 0; w < LN_WARPS; w++)
            sum += scratch[w * H + h];
        atomicAdd(&dst[h], sum);
    }
    __syncthreads(); /* the scratch may be written again next */
}

/* A warp per row as in the forward; each lane keeps its columns' dgamma/dbeta partial sums
 * in registers over all its rows, and the block's warps add theirs up in shared memory
 * (LN_WARPS x H floats) before one atomicAdd per column and block. */
template <int K>
__global__ static void __launch_bounds__(LN_THREADS)
    layernorm_backward_warp_kernel(bf16 *dx, float *dgamma, float *dbeta, const bf16 *dout, const bf16 *x,
                                   const bf16 *residual, const float *gamma, int T, int H, float eps)
{
    extern __shared__ float ln_warp_partials[]; /* [LN_WARPS][H] */
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    float part_g[K][BF16_VEC], part_b[K][BF16_VEC];
    #pragma unroll
    for (int k = 0; k < K; k++)
        #pragma unroll
        for (int j = 0; j < BF16_VEC; j++)
            part_g[k][j] = part_b[k][j] = 0.0f;
    for (int t = blockIdx.x * LN_WARPS + warp; t < T; t += gridDim.x * LN_WARPS) {
        const size_t row = (size_t)t * H;
        float v[K][BF16_VEC], dy[K][BF16_VEC];
        const float2 stats = ln_warp_row<K>(v, x, residual, row, H, eps, lane);
        float sum_g = 0.0f, sum_gx = 0.0f;
        #pragma unroll
        for (int k = 0; k < K; k++) {
            const int c = ln_col(k, lane);
            if (c >= H)
                continue;
            load_vec(dy[k], dout + row + c);
            #pragma unroll
            for (int j = 0; j < BF16_VEC; j++) {
                const float xhat = (v[k][j] - stats.x) * stats.y, g = dy[k][j] * gamma[c + j];
                v[k][j] = xhat;
                sum_g += g;
                sum_gx += g * xhat;
                part_g[k][j] += dy[k][j] * xhat;
                part_b[k][j] += dy[k][j];
            }
        }
        const float mean_g = warp_sum(sum_g) / H, mean_gx = warp_sum(sum_gx) / H;
        /* dy was read first: dx may alias dout */
        ln_store_row<K>(dx + row, H, lane, [&](int k, int j, int h) {
            return stats.y * (dy[k][j] * gamma[h] - mean_g - v[k][j] * mean_gx);
        });
    }
    ln_block_column_add<K>(dgamma, part_g, ln_warp_partials, H, lane, warp);
    ln_block_column_add<K>(dbeta, part_b, ln_warp_partials, H, lane, warp);
}

template <int K>
static void ln_backward_warp(bf16 *dx, float *dgamma, float *dbeta, const bf16 *dout, const bf16 *x,
                             const bf16 *residual, const float *gamma, int T, int H, float eps)
{
    const size_t smem = (size_t)LN_WARPS * H * sizeof(float); /* 32 KiB at H = 1024 */
    layernorm_backward_warp_kernel<K><<<ln_blocks(T, LN_BW_MAX_BLOCKS), LN_THREADS, smem, cuda_ctx.stream>>>(
        dx, dgamma, dbeta, dout, x, residual, gamma, T, H, eps);
}

void layernorm_backward_cuda(void *dx, float *dgamma, float *dbeta, const void *dout, const void *x,
                             const void *residual, const float *gamma, int T, int H, float eps)
{
    if (T <= 0 || H <= 0)
        return;
    const int K = (H + 32 * BF16_VEC - 1) / (32 * BF16_VEC);
    if (K <= LN_MAX_K && vec_ok(H, dx, dout, x) && vec_ok(H, residual)) {
        bf16 *d = (bf16 *)dx;
        const bf16 *dy = (const bf16 *)dout, *xb = (const bf16 *)x, *rb = (const bf16 *)residual;
        if (K == 1)
            ln_backward_warp<1>(d, dgamma, dbeta, dy, xb, rb, gamma, T, H, eps);
        else if (K == 2)
            ln_backward_warp<2>(d, dgamma, dbeta, dy, xb, rb, gamma, T, H, eps);
        else if (K == 3)
            ln_backward_warp<3>(d, dgamma, dbeta, dy, xb, rb, gamma, T, H, eps);
        else
            ln_backward_warp<4>(d, dgamma, dbeta, dy, xb, rb, gamma, T, H, eps);
        CUDA_CHECK_LAUNCH();
        return;
    }
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
