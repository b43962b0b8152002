/* out[M,N] = a[M,K] @ w[N,K]^T (+ bias[N]); w is stored as nn.Linear stores it.
 * OpenBLAS sgemm, fp32. Also serves as linear_f32 on the CPU.
 * With a bias, out is first filled with it and the GEMM accumulates onto it (beta = 1):
 * that saves OpenBLAS's zeroing pass and a second pass for the bias. */
#include <cblas.h>
#include <string.h>

#include "kernels/cpu/cpu_ops.h"

void matmul_forward_cpu(float *out, const float *a, const float *w, const float *bias, int M, int N, int K)
{
    if (bias) {
#pragma omp parallel for schedule(static)
        for (int m = 0; m < M; m++)
            memcpy(out + (size_t)m * N, bias, (size_t)N * sizeof *out);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, w, K, bias ? 1.0f : 0.0f, out, N);
}

/* Backward of out = a @ w^T + bias:
 *   da[M,K] = dout[M,N] @ w[N,K]           (written; skipped when da is NULL)
 *   dw[N,K] += dout^T[N,M] @ a[M,K]
 *   dbias[N] += sum over rows of dout       (when dbias is not NULL) */
void matmul_backward_cpu(float *da, float *dw, float *dbias, const float *dout, const float *a, const float *w, int M,
                         int N, int K)
{
    if (da)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, dout, N, w, K, 0.0f, da, K);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, dout, N, a, K, 1.0f, dw, K);
    if (dbias) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int m = 0; m < M; m++)
                s += dout[(size_t)m * N + n];
            dbias[n] += (float)s;
        }
    }
}
