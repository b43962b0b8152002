/* Small fp32 layers (Dense, classifiers): out[M,N] = a[M,K] @ w[N,K]^T + bias[N], all fp32,
 * and the backward: da = dout @ w (written, skipped when da is NULL), dw += dout^T @ a,
 * dbias += column sums of dout.
 * The GEMMs are matmul.cu's cuBLASLt calls with fp32 operands and CUBLAS_COMPUTE_32F, which
 * is true fp32 (TF32 would need CUBLAS_COMPUTE_32F_FAST_TF32): these layers feed the loss
 * directly and are too small for TF32 to pay. */
#include "kernels/cuda/common.cuh"

void linear_f32_forward_cuda(float *out, const float *a, const float *w, const float *bias, int M, int N, int K)
{
    gemm_forward_cuda(out, a, w, bias, M, N, K, CUDA_R_32F);
}

void linear_f32_backward_cuda(float *da, float *dw, float *dbias, const float *dout, const float *a, const float *w,
                              int M, int N, int K)
{
    gemm_backward_cuda(da, dw, dbias, dout, a, w, M, N, K, CUDA_R_32F);
}
