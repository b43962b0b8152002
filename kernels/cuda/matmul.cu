/* GEMM: out[M,N] = a[M,K] @ w[N,K]^T (+ bias[N]), fp32 accumulation, through cuBLASLt,
 * and its backward:
 *   da[M,K]   = dout[M,N] @ w[N,K]        (written, out's type; skipped when da is NULL)
 *   dw[N,K]  += dout^T[N,M] @ a[M,K]      (fp32, accumulated: cuBLASLt with beta = 1)
 *   dbias[N] += sum over rows of dout     (fp32, when dbias is not NULL)
 *
 * cuBLASLt is column-major. A row-major [R,C] matrix is the column-major [C,R] matrix with
 * leading dimension C, so each row-major product is computed as its transpose:
 *   forward  out^T[N,M] = w[N,K] @ a^T[K,M]:   A = w (stored [K,N], ld K, op T),
 *            B = a (stored [K,M], ld K, op N), D = out ([N,M], ld N)
 *   da       da^T[K,M] = w^T[K,N] @ dout^T[N,M]: A = w ([K,N], op N), B = dout ([N,M], ld N,
 *            op N), D = da ([K,M], ld K)
 *   dw       dw^T[K,N] = a^T[K,M] @ dout[M,N]:  A = a ([K,M], op N), B = dout ([N,M], op T),
 *            C = D = dw ([K,N], ld K, fp32), beta = 1
 * The forward bias runs along D's rows, i.e. along N, which is what the BIAS epilogue
 * broadcasts. The bias is fp32 and added to the fp32 accumulator before the single
 * rounding to the output type. cuBLASLt documents the bias as having D's type; where it
 * refuses an fp32 bias for a bf16 output, the GEMM runs without the epilogue and a kernel
 * adds the bias (one extra bf16 rounding). For bf16 operands the weight gradient is the
 * documented mixed case (bf16 A/B, fp32 C/D, CUBLAS_COMPUTE_32F), so it is accumulated in
 * fp32 straight into the fp32 gradient. */
#include <string.h>

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

/* A matrix as cuBLASLt sees it: column-major rows x cols with leading dimension `rows`,
 * used as op(matrix) (the output's op is not used). */
typedef struct {
    const void *ptr;
    cudaDataType_t type;
    int rows, cols;
    cublasOperation_t op;
} LtMatrix;

/* What cuBLASLt's heuristic answer depends on. Asking it costs tens of microseconds of host
 * time, as much as a small GEMM itself, so answers are kept: every layer of a batch has the
 * same shapes, and only the token count changes from batch to batch. */
typedef struct {
    cudaDataType_t a_type, b_type, d_type;
    int a_op, b_op, a_rows, a_cols, b_rows, b_cols, d_rows, d_cols, has_bias;
    uint32_t align_a, align_b, align_d;
} AlgoKey;

#define ALGO_CACHE_SIZE 64 /* a few batches' worth of shapes; the oldest is replaced first */
static struct {
    AlgoKey key[ALGO_CACHE_SIZE];
    cublasLtMatmulAlgo_t algo[ALGO_CACHE_SIZE];
    int used, next;
} algo_cache;

static const cublasLtMatmulAlgo_t *algo_cache_find(const AlgoKey *key)
{
    for (int i = 0; i < algo_cache.used; i++)
        if (!memcmp(&algo_cache.key[i], key, sizeof *key))
            return &algo_cache.algo[i];
    return NULL;
}

static void algo_cache_put(const AlgoKey *key, const cublasLtMatmulAlgo_t *algo)
{
    const int i = algo_cache.next;
    algo_cache.key[i] = *key;
    algo_cache.algo[i] = *algo;
    algo_cache.next = (i + 1) % ALGO_CACHE_SIZE;
    if (algo_cache.used < ALGO_CACHE_SIZE)
        algo_cache.used++;
}

/* D = op(A) @ op(B) (+ bias along D's rows) + beta * D on the backend's stream, with fp32
 * accumulation and scaling. Returns CUBLAS_STATUS_SUCCESS, or the status (NOT_SUPPORTED
 * where the heuristic finds no algorithm) of the step that refused this combination of
 * types, epilogue and alignments; the caller decides if that is fatal. */
static cublasStatus_t lt_matmul(LtMatrix A, LtMatrix B, LtMatrix D, float beta, const float *bias)
{
    cublasLtMatmulDesc_t desc;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const int32_t trans_a = A.op, trans_b = B.op;
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
    cublasLtMatrixLayout_t a_layout, b_layout, d_layout;
    lt_layout(&a_layout, A.type, A.rows, A.cols, A.rows);
    lt_layout(&b_layout, B.type, B.rows, B.cols, B.rows);
    lt_layout(&d_layout, D.type, D.rows, D.cols, D.rows);

    const uint32_t align_a = ptr_alignment(A.ptr), align_b = ptr_alignment(B.ptr), align_d = ptr_alignment(D.ptr);
    AlgoKey key;
    memset(&key, 0, sizeof key); /* padding too: keys are compared with memcmp */
    key.a_type = A.type, key.b_type = B.type, key.d_type = D.type;
    key.a_op = A.op, key.b_op = B.op, key.has_bias = bias != NULL;
    key.a_rows = A.rows, key.a_cols = A.cols, key.b_rows = B.rows, key.b_cols = B.cols;
    key.d_rows = D.rows, key.d_cols = D.cols;
    key.align_a = align_a, key.align_b = align_b, key.align_d = align_d;
    cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
    const cublasLtMatmulAlgo_t *algo = algo_cache_find(&key);
    cublasLtMatmulHeuristicResult_t heuristic;
    if (!algo) {
        cublasLtMatmulPreference_t pref;
        CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
        const uint64_t workspace_bytes = cuda_ctx.workspace_bytes;
        CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                          &workspace_bytes, sizeof workspace_bytes));
        CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a,
                                                          sizeof align_a));
        CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b,
                                                          sizeof align_b));
        CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_d,
                                                          sizeof align_d));
        CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_d,
                                                          sizeof align_d));
        int found = 0;
        status = cublasLtMatmulAlgoGetHeuristic(cuda_ctx.lt, desc, a_layout, b_layout, d_layout, d_layout, pref, 1,
                                                &heuristic, &found);
        CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
        if (status == CUBLAS_STATUS_SUCCESS && found == 0)
            status = CUBLAS_STATUS_NOT_SUPPORTED;
        if (status == CUBLAS_STATUS_SUCCESS) {
            algo_cache_put(&key, &heuristic.algo);
            algo = &heuristic.algo;
        }
    }
    if (status == CUBLAS_STATUS_SUCCESS) {
        const float alpha = 1.0f;
        void *d = (void *)D.ptr;
        status = cublasLtMatmul(cuda_ctx.lt, desc, &alpha, A.ptr, a_layout, B.ptr, b_layout, &beta, d, d_layout, d,
                                d_layout, algo, cuda_ctx.workspace, cuda_ctx.workspace_bytes, cuda_ctx.stream);
    }
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(d_layout));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(b_layout));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(a_layout));
    CUBLAS_CHECK(cublasLtMatmulDescDestroy(desc));
    return status;
}

static const char *type_name(cudaDataType_t type)
{
    return type == CUDA_R_16BF ? "bf16" : "fp32";
}

/* A GEMM without a fallback: a refusal ends the run with the shape and cuBLASLt's reason. */
static void lt_matmul_or_die(const char *what, LtMatrix A, LtMatrix B, LtMatrix D, float beta, int M, int N, int K)
{
    const cublasStatus_t status = lt_matmul(A, B, D, beta, NULL);
    if (status != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "sentembed: error: cuBLASLt %s %s GEMM M=%d N=%d K=%d failed: %s\n", type_name(A.type), what,
                M, N, K, cublasLtGetStatusString(status));
        exit(1);
    }
}

template <typename T>
__global__ static void bias_add_kernel(T *out, const float *bias, size_t n, int N)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        store_f32(&out[i], to_f32(out[i]) + bias[i % N]);
}

/* The same for bf16 rows that allow it, in row tiles (common.cuh). */
struct IdentityAct {
    __device__ float operator()(float v) const { return v; }
};

void gemm_forward_cuda(void *out, const void *a, const void *w, const float *bias, int M, int N, int K,
                       cudaDataType_t type)
{
    if (M <= 0 || N <= 0)
        return;
    const LtMatrix A = {w, type, K, N, CUBLAS_OP_T}, B = {a, type, K, M, CUBLAS_OP_N};
    const LtMatrix D = {out, type, N, M, CUBLAS_OP_N};
    /* Whether cuBLASLt has refused the fp32-bias epilogue for this output type: asked once,
     * since a refusal is about the types and the fallback is right for every shape. */
    static bool bias_epilogue_refused[2];
    bool *refused = &bias_epilogue_refused[type == CUDA_R_16BF];
    if (bias && !*refused && lt_matmul(A, B, D, 0.0f, bias) == CUBLAS_STATUS_SUCCESS)
        return;
    lt_matmul_or_die("forward", A, B, D, 0.0f, M, N, K);
    if (!bias)
        return;
    if (!*refused) {
        fprintf(stderr, "sentembed: note: cuBLASLt refused an fp32 bias epilogue for %s output; the bias is "
                        "added by a separate kernel\n", type_name(type));
        *refused = true;
    }
    const size_t n = (size_t)M * N;
    if (type == CUDA_R_16BF && vec_ok(N, out))
        bias_act_vec_kernel<<<row_tile_grid(M, N), dim3(ROW_TILE_X, ROW_TILE_Y), 0, cuda_ctx.stream>>>(
            (bf16 *)out, bias, M, N, IdentityAct());
    else if (type == CUDA_R_16BF)
        bias_add_kernel<<<grid_blocks(n, 256), 256, 0, cuda_ctx.stream>>>((bf16 *)out, bias, n, N);
    else
        bias_add_kernel<<<grid_blocks(n, 256), 256, 0, cuda_ctx.stream>>>((float *)out, bias, n, N);
    CUDA_CHECK_LAUNCH();
}

#define COLSUM_CHUNK 256 /* rows per block of the bias gradient */

/* dbias[n] += sum_m dout[m, n], by column tiles of COLSUM_CHUNK rows (common.cuh); the
 * chunks are strided by the grid, whose height is capped at 65535. */
template <typename T>
__global__ static void column_sum_kernel(float *dbias, const T *dout, int M, int N)
{
    const int n = blockIdx.x * COLUMN_TILE_COLS + threadIdx.x;
    float sum = 0.0f;
    for (int m0 = blockIdx.y * COLSUM_CHUNK; n < N && m0 < M; m0 += gridDim.y * COLSUM_CHUNK)
        for (int m = m0 + threadIdx.y; m < min(M, m0 + COLSUM_CHUNK); m += COLUMN_TILE_ROWS)
            sum += to_f32(dout[(size_t)m * N + n]);
    column_tile_add(dbias, n, N, sum);
}

void gemm_backward_cuda(void *da, float *dw, float *dbias, const void *dout, const void *a, const void *w, int M,
                        int N, int K, cudaDataType_t type)
{
    if (M <= 0)
        return;
    if (dbias && N > 0) {
        const int chunks = (M + COLSUM_CHUNK - 1) / COLSUM_CHUNK;
        const dim3 grid((N + COLUMN_TILE_COLS - 1) / COLUMN_TILE_COLS, chunks < 65535 ? chunks : 65535);
        const dim3 block(COLUMN_TILE_COLS, COLUMN_TILE_ROWS);
        if (type == CUDA_R_16BF)
            column_sum_kernel<<<grid, block, 0, cuda_ctx.stream>>>(dbias, (const bf16 *)dout, M, N);
        else
            column_sum_kernel<<<grid, block, 0, cuda_ctx.stream>>>(dbias, (const float *)dout, M, N);
        CUDA_CHECK_LAUNCH();
    }
    if (K <= 0)
        return;
    if (N <= 0) { /* an empty sum: da is all zeros, dw has no elements */
        if (da)
            CUDA_CHECK(cudaMemsetAsync(da, 0, (size_t)M * K * (type == CUDA_R_16BF ? sizeof(bf16) : sizeof(float)),
                                       cuda_ctx.stream));
        return;
    }
    const LtMatrix dout_n = {dout, type, N, M, CUBLAS_OP_N}, dout_t = {dout, type, N, M, CUBLAS_OP_T};
    if (da)
        lt_matmul_or_die("input-gradient", LtMatrix{w, type, K, N, CUBLAS_OP_N}, dout_n,
                         LtMatrix{da, type, K, M, CUBLAS_OP_N}, 0.0f, M, N, K);
    lt_matmul_or_die("weight-gradient", LtMatrix{a, type, K, M, CUBLAS_OP_N}, dout_t,
                     LtMatrix{dw, CUDA_R_32F, K, N, CUBLAS_OP_N}, 1.0f, M, N, K);
}

void matmul_forward_cuda(void *out, const void *a, const void *w, const float *bias, int M, int N, int K)
{
    gemm_forward_cuda(out, a, w, bias, M, N, K, CUDA_R_16BF);
}

void matmul_backward_cuda(void *da, float *dw, float *dbias, const void *dout, const void *a, const void *w, int M,
                          int N, int K)
{
    gemm_backward_cuda(da, dw, dbias, dout, a, w, M, N, K, CUDA_R_16BF);
}
