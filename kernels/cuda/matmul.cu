/* GEMM: out[M,N] = a[M,K] @ w[N,K]^T (+ bias[N]), fp32 accumulation, through cuBLASLt.
 *
 * cuBLASLt is column-major. A row-major [R,C] matrix is the column-major [C,R] matrix with
 * leading dimension C, so the row-major product is computed as its transpose,
 *   out^T[N,M] = w[N,K] @ a^T[K,M]  (column-major),
 * with cuBLAS A = w (stored column-major [K,N], ld K, op T), cuBLAS B = a (stored [K,M],
 * ld K, op N) and D = out ([N,M], ld N). The bias runs along D's rows, i.e. along N, which
 * is what the BIAS epilogue broadcasts. The bias is fp32 and added to the fp32 accumulator
 * before the single rounding to the output type. cuBLASLt documents the bias as having
 * D's type; where it refuses an fp32 bias for a bf16 output, the GEMM runs without the
 * epilogue and a kernel adds the bias (one extra bf16 rounding). */
#include "kernels/cuda/common.cuh"

/* Largest power of two (up to 256) the address is a multiple of: cuBLASLt assumes 256-byte
 * aligned operands unless told otherwise, and arena-carved tensors need not be. */
static uint32_t ptr_alignment(const void *p)
{
    uint32_t align = 256;
    while (align > 1 && (uintptr_t)p % align)
        align /= 2;
    return align;
}

static void lt_layout(cublasLtMatrixLayout_t *layout, cudaDataType_t type, int rows, int cols, int ld)
{
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(layout, type, (uint64_t)rows, (uint64_t)cols, (int64_t)ld));
}

/* One cuBLASLt matmul on the backend's stream. Returns CUBLAS_STATUS_SUCCESS, or the
 * status (NOT_SUPPORTED where the heuristic finds no algorithm) of the step that refused
 * this combination of types, epilogue and alignments; the caller decides if that is fatal. */
static cublasStatus_t lt_matmul(void *out, const void *a, const void *w, const float *bias, int M, int N, int K,
                                cudaDataType_t type)
{
    cublasLtMatmulDesc_t desc;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const int32_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof trans_a));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof trans_b));
    if (bias) {
        const uint32_t epilogue = CUBLASLT_EPILOGUE_BIAS;
        const int32_t bias_type = CUDA_R_32F;
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                                    sizeof epilogue));
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                                    sizeof bias_type));
    }
    cublasLtMatrixLayout_t w_layout, a_layout, out_layout;
    lt_layout(&w_layout, type, K, N, K);
    lt_layout(&a_layout, type, K, M, K);
    lt_layout(&out_layout, type, N, M, N);

    cublasLtMatmulPreference_t pref;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const uint64_t workspace_bytes = cuda_ctx.workspace_bytes;
    const uint32_t align_w = ptr_alignment(w), align_a = ptr_alignment(a), align_out = ptr_alignment(out);
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                      &workspace_bytes, sizeof workspace_bytes));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_w,
                                                      sizeof align_w));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_a,
                                                      sizeof align_a));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                      &align_out, sizeof align_out));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                      &align_out, sizeof align_out));

    cublasLtMatmulHeuristicResult_t heuristic;
    int found = 0;
    cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(cuda_ctx.lt, desc, w_layout, a_layout, out_layout,
                                                           out_layout, pref, 1, &heuristic, &found);
    if (status == CUBLAS_STATUS_SUCCESS && found == 0)
        status = CUBLAS_STATUS_NOT_SUPPORTED;
    if (status == CUBLAS_STATUS_SUCCESS) {
        const float alpha = 1.0f, beta = 0.0f;
        status = cublasLtMatmul(cuda_ctx.lt, desc, &alpha, w, w_layout, a, a_layout, &beta, out, out_layout, out,
                                out_layout, &heuristic.algo, cuda_ctx.workspace, cuda_ctx.workspace_bytes,
                                cuda_ctx.stream);
    }
    CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(out_layout));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(a_layout));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(w_layout));
    CUBLAS_CHECK(cublasLtMatmulDescDestroy(desc));
    return status;
}

template <typename T>
__global__ static void bias_add_kernel(T *out, const float *bias, size_t n, int N)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        store_f32(&out[i], to_f32(out[i]) + bias[i % N]);
}

void gemm_forward_cuda(void *out, const void *a, const void *w, const float *bias, int M, int N, int K,
                       cudaDataType_t type)
{
    if (M <= 0 || N <= 0)
        return;
    const char *type_name = type == CUDA_R_16BF ? "bf16" : "fp32";
    /* Whether cuBLASLt has refused the fp32-bias epilogue for this output type: asked once,
     * since a refusal is about the types and the fallback is right for every shape. */
    static bool bias_epilogue_refused[2];
    bool *refused = &bias_epilogue_refused[type == CUDA_R_16BF];
    if (bias && !*refused && lt_matmul(out, a, w, bias, M, N, K, type) == CUBLAS_STATUS_SUCCESS)
        return;
    const cublasStatus_t status = lt_matmul(out, a, w, NULL, M, N, K, type);
    if (status != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "sentembed: error: cuBLASLt %s GEMM M=%d N=%d K=%d failed: %s\n", type_name, M, N, K,
                cublasLtGetStatusString(status));
        exit(1);
    }
    if (!bias)
        return;
    if (!*refused) {
        fprintf(stderr, "sentembed: note: cuBLASLt refused an fp32 bias epilogue for %s output; the bias is "
                        "added by a separate kernel\n", type_name);
        *refused = true;
    }
    const size_t n = (size_t)M * N;
    if (type == CUDA_R_16BF)
        bias_add_kernel<<<grid_blocks(n, 256), 256, 0, cuda_ctx.stream>>>((bf16 *)out, bias, n, N);
    else
        bias_add_kernel<<<grid_blocks(n, 256), 256, 0, cuda_ctx.stream>>>((float *)out, bias, n, N);
    CUDA_CHECK_LAUNCH();
}

void matmul_forward_cuda(void *out, const void *a, const void *w, const float *bias, int M, int N, int K)
{
    gemm_forward_cuda(out, a, w, bias, M, N, K, CUDA_R_16BF);
}
