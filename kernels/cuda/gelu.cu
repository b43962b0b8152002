/* Bias + GELU in place: x[t,n] = gelu(x[t,n] + bias[n]) (bias may be NULL), exact (erf) GELU
 *   gelu(v) = 0.5 * v * (1 + erf(v / sqrt(2)))
 * as BERT's "gelu" activation, evaluated in fp32 and rounded once to bf16.
 * Backward, with v = pre + bias:
 *   gelu'(v) = 0.5 * (1 + erf(v / sqrt 2)) + v * exp(-v^2 / 2) / sqrt(2 pi)
 *   dpre = dout * gelu'(v)   (bf16, written; may alias dout)
 *   dbias += sum over rows of dpre, summed in fp32 before dpre is rounded (when not NULL) */
#include "kernels/cuda/common.cuh"

struct GeluAct {
    __device__ float operator()(float v) const { return 0.5f * v * (1.0f + erff(v * (float)M_SQRT1_2)); }
};

/* Element by element; bias_act_vec_kernel (common.cuh) takes the rows that allow it. */
__global__ static void bias_gelu_kernel(bf16 *x, const float *bias, size_t n, int N)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float v = __bfloat162float(x[i]) + (bias ? bias[i % N] : 0.0f);
        x[i] = __float2bfloat16_rn(GeluAct()(v));
    }
}

void bias_gelu_forward_cuda(void *x, const float *bias, int T, int N)
{
    if (T <= 0 || N <= 0)
        return;
    if (vec_ok(N, x)) {
        bias_act_vec_kernel<<<row_tile_grid(T, N), dim3(ROW_TILE_X, ROW_TILE_Y), 0, cuda_ctx.stream>>>(
            (bf16 *)x, bias, T, N, GeluAct());
    } else {
        const size_t n = (size_t)T * N;
        bias_gelu_kernel<<<grid_blocks(n, 256), 256, 0, cuda_ctx.stream>>>((bf16 *)x, bias, n, N);
    }
    CUDA_CHECK_LAUNCH();
}

/* gelu'(v), as the header gives it */
__device__ __forceinline__ float gelu_grad(float v)
{
    const float cdf = 0.5f * (1.0f + erff(v * (float)M_SQRT1_2));
    const float pdf = expf(-0.5f * v * v) * 0.39894228040143268f;
    return cdf + v * pdf;
}

#define GELU_BW_CHUNK 64 /* rows per block of the backward */

/* Column tiles (common.cuh) of GELU_BW_CHUNK rows, strided by the grid (height capped at
 * 65535): each thread computes dpre down its column and sums it for dbias. Every element is
 * read and then written by one thread, so dpre may alias dout. */
__global__ static void bias_gelu_backward_kernel(bf16 *dpre, float *dbias, const bf16 *dout, const bf16 *pre,
                                                 const float *bias, int T, int N)
{
    const int n = blockIdx.x * COLUMN_TILE_COLS + threadIdx.x;
    const float b = bias && n < N ? bias[n] : 0.0f;
    float sum = 0.0f;
    for (int t0 = blockIdx.y * GELU_BW_CHUNK; n < N && t0 < T; t0 += gridDim.y * GELU_BW_CHUNK)
        for (int t = t0 + threadIdx.y; t < min(T, t0 + GELU_BW_CHUNK); t += COLUMN_TILE_ROWS) {
            const size_t i = (size_t)t * N + n;
            const float d = __bfloat162float(dout[i]) * gelu_grad(__bfloat162float(pre[i]) + b);
            dpre[i] = __float2bfloat16_rn(d);
            sum += d;
        }
    if (dbias) /* the same for the whole block, so all of it reaches the barrier inside */
        column_tile_add(dbias, n, N, sum);
}

/* Row tiles, BF16_VEC columns per thread (common.cuh), for rows that allow it. The grid is at most
 * GELU_BW_ROW_BLOCKS blocks high, so each column of dbias takes that many atomic adds at
 * most; the column tiles above, with 2-byte accesses and an add per GELU_BW_CHUNK rows, ran
 * 3-4x below the memory's bandwidth (1.5 ms per bert-base layer of 98,304 tokens, H200).
 * The block's 8 x 256 partial sums meet in shared memory. */
#define GELU_BW_ROW_BLOCKS 256

__global__ static void bias_gelu_backward_vec_kernel(bf16 *dpre, float *dbias, const bf16 *dout, const bf16 *pre,
                                                     const float *bias, int T, int N)
{
    const int c = (blockIdx.x * ROW_TILE_X + threadIdx.x) * BF16_VEC;
    const bool active = c < N;
    float b[BF16_VEC], sum[BF16_VEC];
    #pragma unroll
    for (int k = 0; k < BF16_VEC; k++)
        b[k] = bias && active ? bias[c + k] : 0.0f, sum[k] = 0.0f;
    for (int t = blockIdx.y * ROW_TILE_Y + threadIdx.y; active && t < T; t += gridDim.y * ROW_TILE_Y) {
        const size_t i = (size_t)t * N + c;
        float v[BF16_VEC], d[BF16_VEC];
        load_vec(v, pre + i);
        load_vec(d, dout + i);
        #pragma unroll
        for (int k = 0; k < BF16_VEC; k++) {
            d[k] *= gelu_grad(v[k] + b[k]);
            sum[k] += d[k];
        }
        store_vec(dpre + i, d); /* after both loads: dpre may alias dout */
    }
    if (!dbias) /* the same for the whole block, so all of it reaches the barrier below */
        return;
    __shared__ float partial[ROW_TILE_Y][ROW_TILE_X * BF16_VEC];
    #pragma unroll
    for (int k = 0; k < BF16_VEC; k++)
        partial[threadIdx.y][threadIdx.x * BF16_VEC + k] = sum[k];
    __syncthreads();
    const int j = threadIdx.y * ROW_TILE_X + threadIdx.x; /* 256 threads, 256 columns per tile */
    const int col = blockIdx.x * ROW_TILE_X * BF16_VEC + j;
    if (col < N) {
        float s = 0.0f;
        #pragma unroll
        for (int r = 0; r < ROW_TILE_Y; r++)
            s += partial[r][j];
        atomicAdd(&dbias[col], s);
    }
}

void bias_gelu_backward_cuda(void *dpre, float *dbias, const void *dout, const void *pre, const float *bias, int T,
                             int N)
{
    if (T <= 0 || N <= 0)
        return;
    if (vec_ok(N, dpre, dout, pre)) {
        bias_gelu_backward_vec_kernel<<<row_tile_grid(T, N, GELU_BW_ROW_BLOCKS), dim3(ROW_TILE_X, ROW_TILE_Y), 0,
                                        cuda_ctx.stream>>>((bf16 *)dpre, dbias, (const bf16 *)dout,
                                                           (const bf16 *)pre, bias, T, N);
        CUDA_CHECK_LAUNCH();
        return;
    }
    const int chunks = (T + GELU_BW_CHUNK - 1) / GELU_BW_CHUNK;
    const dim3 grid((N + COLUMN_TILE_COLS - 1) / COLUMN_TILE_COLS, chunks < 65535 ? chunks : 65535);
    const dim3 block(COLUMN_TILE_COLS, COLUMN_TILE_ROWS);
    bias_gelu_backward_kernel<<<grid, block, 0, cuda_ctx.stream>>>((bf16 *)dpre, dbias, (const bf16 *)dout,
                                                                   (const bf16 *)pre, bias, T, N);
    CUDA_CHECK_LAUNCH();
}
