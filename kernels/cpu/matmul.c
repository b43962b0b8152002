/* out[M,N] = a[M,K] @ w[N,K]^T (+ bias[N]); w is stored as nn.Linear stores it.
 * OpenBLAS sgemm, fp32. Also serves as linear_f32 on the CPU. */
#include <cblas.h>

#include "kernels/cpu/cpu_ops.h"

void matmul_forward_cpu(float *out, const float *a, const float *w, const float *bias, int M, int N, int K)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, w, K, 0.0f, out, N);
    if (!bias)
        return;
#pragma omp parallel for schedule(static)
    for (int m = 0; m < M; m++) {
        float *o = out + (size_t)m * N;
        for (int n = 0; n < N; n++)
            o[n] += bias[n];
    }
}
