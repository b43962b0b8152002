/* Bias + GELU in place: x[t,n] = gelu(x[t,n] + bias[n]) (bias may be NULL), exact (erf) GELU
 *   gelu(v) = 0.5 * v * (1 + erf(v / sqrt(2)))
 * as BERT's "gelu" activation, evaluated in fp32 and rounded once to bf16.
 * Backward, with v = pre + bias:
 *   gelu'(v) = 0.5 * (1 + erf(v / sqrt 2)) + v * exp(-v^2 / 2) / sqrt(2 pi)
 *   dpre = dout * gelu'(v)   (bf16, written; may alias dout)
 *   dbias += sum over rows of dpre, summed in fp32 before dpre is rounded (when not NULL) */
#include "kernels/cuda/common.cuh"

__global__ static void bias_gelu_kernel(bf16 *x, const float *bias, size_t n, int N)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float v = __bfloat162float(x[i]) + (bias ? bias[i % N] : 0.0f);
        x[i] = __float2bfloat16_rn(0.5f * v * (1.0f + erff(v * (float)M_SQRT1_2)));
    }
}

void bias_gelu_forward_cuda(void *x, const float *bias, int T, int N)
{
    if (T <= 0 || N <= 0)
        return;
    const size_t n = (size_t)T * N;
    bias_gelu_kernel<<<grid_blocks(n, 256), 256, 0, cuda_ctx.stream>>>((bf16 *)x, bias, n, N);
    CUDA_CHECK_LAUNCH();
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
            const float v = __bfloat162float(pre[i]) + b;
            const float cdf = 0.5f * (1.0f + erff(v * (float)M_SQRT1_2));
            const float pdf = expf(-0.5f * v * v) * 0.39894228040143268f;
            const float d = __bfloat162float(dout[i]) * (cdf + v * pdf);
            dpre[i] = __float2bfloat16_rn(d);
            sum += d;
        }
    if (dbias) /* the same for the whole block, so all of it reaches the barrier inside */
        column_tile_add(dbias, n, N, sum);
}

void bias_gelu_backward_cuda(void *dpre, float *dbias, const void *dout, const void *pre, const float *bias, int T,
                             int N)
{
    if (T <= 0 || N <= 0)
        return;
    const int chunks = (T + GELU_BW_CHUNK - 1) / GELU_BW_CHUNK;
    const dim3 grid((N + COLUMN_TILE_COLS - 1) / COLUMN_TILE_COLS, chunks < 65535 ? chunks : 65535);
    const dim3 block(COLUMN_TILE_COLS, COLUMN_TILE_ROWS);
    bias_gelu_backward_kernel<<<grid, block, 0, cuda_ctx.stream>>>((bf16 *)dpre, dbias, (const bf16 *)dout,
                                                                   (const bf16 *)pre, bias, T, N);
    CUDA_CHECK_LAUNCH();
}
