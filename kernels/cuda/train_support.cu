/* The optimizer-side and regularization ops of training on the GPU, the math of
 * kernels/cpu/train_support.c:
 *   dropout:     x[t, j] = keep ? x[t, j] / (1 - p) : 0 on a packed bf16 act [T, H], keep the
 *                CPU's mask bit for bit (same hash of the row's sequence, position and column, same
 *                fp32 comparison); each thread finds its row's sequence by a binary search over
 *                cu_seqlens (cached: every thread of a row walks the same path); the kept value
 *                is the fp32 product rounded once to bf16
 *   zero:        memset on the stream
 *   sum_squares: fp32 partial sums per thread, a fp32 block reduction, and the block partials
 *                summed in double on the host
 *   scale_f32:   x *= s
 *   f32_to_act:  f32 -> bf16, round to nearest even
 *   adamw:       one fused pass (read g, m, v, p; write m, v, p) doing adamw_cpu's operations in
 *                its order with explicitly rounded intrinsics, so that no multiply-add is
 *                contracted into an FMA: the result is the CPU's bit for bit. */
#include "kernels/cuda/train_support.h"
#include "kernels/dropout_hash.h"

#define THREADS 256
/* Caps sum_squares' partials (32 KiB to copy back); with 8192 blocks of 256 threads each
 * thread sums ~53 squares of bert-base's 110M parameters, so the fp32 partials stay within
 * ~(53 + 8) * 2^-24 relative of the exact sum even in the worst case. */
#define SUM_SQUARES_MAX_BLOCKS 8192

void *train_scratch_cuda(size_t bytes)
{
    static void *buf;
    static size_t cap;
    if (bytes > cap) {
        if (buf) {
            CUDA_CHECK(cudaStreamSynchronize(cuda_ctx.stream));
            CUDA_CHECK(cudaFree(buf));
        }
        buf = cuda_alloc(bytes);
        cap = bytes;
    }
    return buf;
}

double sum_to_host_cuda(const float *values, size_t n)
{
    static float *host; /* pinned, so the copy is a plain DMA */
    static size_t cap;
    if (n > cap) {
        if (host)
            CUDA_CHECK(cudaFreeHost(host));
        CUDA_CHECK(cudaMallocHost((void **)&host, n * sizeof *host));
        cap = n;
    }
    if (n)
        CUDA_CHECK(cudaMemcpyAsync(host, values, n * sizeof *host, cudaMemcpyDeviceToHost, cuda_ctx.stream));
    CUDA_CHECK(cudaStreamSynchronize(cuda_ctx.stream));
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += host[i];
    return sum;
}

/* What the mask of packed row t needs: its sequence's mask seed, and the index of its first
 * element (position in the sequence times H). */
typedef struct {
    uint64_t seed, first;
} DropoutRow;

__device__ __forceinline__ DropoutRow dropout_row(const int32_t *cu_seqlens, int n_seqs, DropoutKeys keys,
                                                  uint64_t seed, int t, int H)
{
    int lo = 0, hi = n_seqs; /* cu_seqlens[lo] <= t < cu_seqlens[hi]: lo ends on t's sequence, past empty ones */
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (cu_seqlens[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    DropoutRow r;
    r.seed = se_dropout_seq_seed(seed, keys, lo);
    r.first = (uint64_t)(t - cu_seqlens[lo]) * (uint64_t)H;
    return r;
}

__global__ static void dropout_kernel(bf16 *x, int T, int H, const int32_t *cu_seqlens, int n_seqs, DropoutKeys keys,
                                      float p, float keep_scale, uint64_t seed)
{
    const size_t n = (size_t)T * H;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const DropoutRow r = dropout_row(cu_seqlens, n_seqs, keys, seed, (int)(i / H), H);
        x[i] = se_dropout_uniform(r.seed, r.first + i % H) >= p
                   ? __float2bfloat16_rn(__bfloat162float(x[i]) * keep_scale)
                   : __float2bfloat16_rn(0.0f);
    }
}

/* The same, BF16_VEC elements of one row per thread (common.cuh), where H and x allow it. */
__global__ static void dropout_vec_kernel(bf16 *x, int T, int H, const int32_t *cu_seqlens, int n_seqs,
                                          DropoutKeys keys, float p, float keep_scale, uint64_t seed)
{
    const size_t n_vec = (size_t)T * H / BF16_VEC;
    for (size_t v = blockIdx.x * (size_t)blockDim.x + threadIdx.x; v < n_vec; v += (size_t)gridDim.x * blockDim.x) {
        const size_t i = v * BF16_VEC;
        const DropoutRow r = dropout_row(cu_seqlens, n_seqs, keys, seed, (int)(i / H), H);
        const uint64_t first = r.first + i % H;
        float f[BF16_VEC];
        load_vec(f, x + i);
        #pragma unroll
        for (int k = 0; k < BF16_VEC; k++)
            f[k] = se_dropout_uniform(r.seed, first + k) >= p ? f[k] * keep_scale : 0.0f;
        store_vec(x + i, f);
    }
}

void dropout_cuda(void *x, int T, int H, const int32_t *cu_seqlens, int n_seqs, DropoutKeys keys, float p,
                  uint64_t seed)
{
    const size_t n = (size_t)T * H;
    if (p <= 0.0f || n == 0)
        return;
    const float keep_scale = 1.0f / (1.0f - p); /* as dropout_cpu computes it */
    if (H % BF16_VEC == 0 && vec_ok(BF16_VEC, x))
        dropout_vec_kernel<<<grid_blocks(n / BF16_VEC, THREADS), THREADS, 0, cuda_ctx.stream>>>(
            (bf16 *)x, T, H, cu_seqlens, n_seqs, keys, p, keep_scale, seed);
    else
        dropout_kernel<<<grid_blocks(n, THREADS), THREADS, 0, cuda_ctx.stream>>>((bf16 *)x, T, H, cu_seqlens, n_seqs,
                                                                               keys, p, keep_scale, seed);
    CUDA_CHECK_LAUNCH();
}

void zero_cuda(void *p, size_t bytes)
{
    if (bytes)
        CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cuda_ctx.stream));
}

__global__ static void sum_squares_kernel(float *partials, const float *x, size_t n)
{
    float s = 0.0f;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        s += x[i] * x[i];
    s = block_sum(s);
    if (threadIdx.x == 0)
        partials[blockIdx.x] = s;
}

double sum_squares_cuda(const float *x, size_t n)
{
    if (n == 0)
        return 0.0;
    const size_t want = (n + THREADS - 1) / THREADS;
    const unsigned int blocks = (unsigned int)(want < SUM_SQUARES_MAX_BLOCKS ? want : SUM_SQUARES_MAX_BLOCKS);
    float *partials = (float *)train_scratch_cuda(blocks * sizeof(float));
    sum_squares_kernel<<<blocks, THREADS, 0, cuda_ctx.stream>>>(partials, x, n);
    CUDA_CHECK_LAUNCH();
    return sum_to_host_cuda(partials, blocks);
}

__global__ static void scale_f32_kernel(float *x, size_t n, float s)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        x[i] *= s;
}

void scale_f32_cuda(float *x, size_t n, float s)
{
    if (n == 0)
        return;
    scale_f32_kernel<<<grid_blocks(n, THREADS), THREADS, 0, cuda_ctx.stream>>>(x, n, s);
    CUDA_CHECK_LAUNCH();
}

__global__ static void f32_to_act_kernel(bf16 *dst, const float *src, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}

void f32_to_act_cuda(void *dst, const float *src, size_t n)
{
    if (n == 0)
        return;
    f32_to_act_kernel<<<grid_blocks(n, THREADS), THREADS, 0, cuda_ctx.stream>>>((bf16 *)dst, src, n);
    CUDA_CHECK_LAUNCH();
}

__global__ static void adamw_kernel(float *p, const float *g, float *m, float *v, size_t n, AdamWArgs c)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float gi = g[i];
        const float mi = __fadd_rn(__fmul_rn(c.beta1, m[i]), __fmul_rn(c.one_minus_beta1, gi));
        const float vi = __fadd_rn(__fmul_rn(c.beta2, v[i]), __fmul_rn(__fmul_rn(c.one_minus_beta2, gi), gi));
        const float denom = __fadd_rn(__fmul_rn(__fsqrt_rn(vi), c.inv_sqrt_bc2), c.eps);
        const float shrunk = __fmul_rn(p[i], c.shrink);
        p[i] = __fsub_rn(shrunk, __fdiv_rn(__fmul_rn(c.step_size, mi), denom));
        m[i] = mi;
        v[i] = vi;
    }
}

void adamw_cuda(float *p, const float *g, float *m, float *v, size_t n, const AdamWArgs *args)
{
    if (n == 0)
        return;
    adamw_kernel<<<grid_blocks(n, THREADS), THREADS, 0, cuda_ctx.stream>>>(p, g, m, v, n, *args);
    CUDA_CHECK_LAUNCH();
}
