/* Bias + GELU in place: x[t,n] = gelu(x[t,n] + bias[n]) (bias may be NULL), exact (erf) GELU
 *   gelu(v) = 0.5 * v * (1 + erf(v / sqrt(2)))
 * as BERT's "gelu" activation, evaluated in fp32 and rounded once to bf16. */
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
