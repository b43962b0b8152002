/* Shared internals of the CUDA backend: error macros, bf16 helpers, warp/block
 * reductions, the backend's stream and cuBLASLt handle, and the op entry points that
 * backend.cu puts into the table. All reductions here accumulate in fp32. */
#ifndef SENTEMBED_CUDA_COMMON_CUH
#define SENTEMBED_CUDA_COMMON_CUH

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/cuda/cuda_check.h"
extern "C" {
#include "kernels/ops.h"
}

#define CUBLAS_CHECK(call)                                                                       \
    do {                                                                                         \
        cublasStatus_t cublas_check_status_ = (call);                                            \
        if (cublas_check_status_ != CUBLAS_STATUS_SUCCESS) {                                     \
            fprintf(stderr, "sentembed: cuBLAS error at %s:%d: %s: %s\n", __FILE__, __LINE__, #call, \
                    cublasLtGetStatusString(cublas_check_status_));                              \
            exit(1);                                                                             \
        }                                                                                        \
    } while (0)

/* Errors inside a kernel launch (bad configuration) show at once; errors while it runs
 * show at the next synchronising call. */
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

typedef __nv_bfloat16 bf16;

/* Conversions the templated kernels use for either storage type; bf16 stores round to
 * nearest even. */
__device__ __forceinline__ float to_f32(bf16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ void store_f32(bf16 *p, float v) { *p = __float2bfloat16_rn(v); }
__device__ __forceinline__ void store_f32(float *p, float v) { *p = v; }

__device__ __forceinline__ float warp_sum(float v)
{
    for (int offset = 16; offset > 0; offset >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int offset = 16; offset > 0; offset >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

/* Sum over the block, returned to every thread. blockDim.x must be a multiple of 32. The
 * first barrier lets a block call it several times in a row on the same scratch. */
__device__ __forceinline__ float block_sum(float v)
{
    __shared__ float partial[32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0)
        partial[warp] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x / 32) ? partial[lane] : 0.0f;
    return warp_sum(v);
}

/* Column sums of a row-major [rows, N] matrix by tiles: blocks of COLUMN_TILE_COLS x
 * COLUMN_TILE_ROWS threads, thread (x, y) summing column n = blockIdx.x * COLUMN_TILE_COLS + x
 * over every COLUMN_TILE_ROWS-th row of the block's rows (neighbouring threads read
 * neighbouring columns). column_tile_add adds the tile's partial sums up in shared memory
 * and atomically onto dst[n]; the order of the tiles' additions, hence the last bits, varies
 * by run. Every thread of the block must call it (it holds a barrier). */
#define COLUMN_TILE_COLS 32
#define COLUMN_TILE_ROWS 8

__device__ __forceinline__ void column_tile_add(float *dst, int n, int N, float sum)
{
    __shared__ float partial[COLUMN_TILE_ROWS][COLUMN_TILE_COLS];
    partial[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && n < N) {
        for (int r = 1; r < COLUMN_TILE_ROWS; r++)
            sum += partial[r][threadIdx.x];
        atomicAdd(&dst[n], sum);
    }
}

/* Maximum over the block, returned to every thread (same rules as block_sum). */
__device__ __forceinline__ float block_max(float v)
{
    __shared__ float partial_max[32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0)
        partial_max[warp] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x / 32) ? partial_max[lane] : -INFINITY;
    return warp_max(v);
}

/* Blocks for a grid-stride loop over n elements: enough to fill an H100 many times over,
 * capped so the count always fits gridDim.x. */
static inline unsigned int grid_blocks(size_t n, unsigned int threads)
{
    size_t blocks = (n + threads - 1) / threads;
    return (unsigned int)(blocks < 65536 ? (blocks ? blocks : 1) : 65536);
}

/* Eight consecutive bf16 (16-byte aligned) as fp32, and back, rounding each to nearest
 * even as store_f32 does: the element-wise kernels move 16 bytes per access, which a
 * 2-byte access per thread leaves far from the memory's bandwidth. */
#define BF16_VEC 8
__device__ __forceinline__ void load_vec(float f[BF16_VEC], const bf16 *p)
{
    const uint4 raw = *(const uint4 *)p;
    const __nv_bfloat162 *h = (const __nv_bfloat162 *)&raw;
    #pragma unroll
    for (int k = 0; k < BF16_VEC / 2; k++) {
        const float2 t = __bfloat1622float2(h[k]);
        f[2 * k] = t.x, f[2 * k + 1] = t.y;
    }
}

__device__ __forceinline__ void store_vec(bf16 *p, const float f[BF16_VEC])
{
    uint4 raw;
    __nv_bfloat162 *h = (__nv_bfloat162 *)&raw;
    #pragma unroll
    for (int k = 0; k < BF16_VEC / 2; k++)
        h[k] = __floats2bfloat162_rn(f[2 * k], f[2 * k + 1]);
    *(uint4 *)p = raw;
}

/* Whether rows of N bf16 at these addresses (NULL ones ignored) can go BF16_VEC at a time. */
static inline bool vec_ok(int N, const void *a, const void *b = NULL, const void *c = NULL)
{
    return N % BF16_VEC == 0 && (((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) & 15u) == 0;
}

/* Row tiles of a row-major [T, N] bf16 matrix with N % BF16_VEC == 0: blocks of 32 x 8 threads,
 * thread (x, y) owning columns c = (blockIdx.x * 32 + x) * BF16_VEC .. + BF16_VEC - 1 of the rows
 * blockIdx.y * 8 + y, stepping by gridDim.y * 8 (the grid's height is capped at 65535, or at
 * `max_rows` rows of blocks). No index needs a division. */
#define ROW_TILE_X 32
#define ROW_TILE_Y 8
static inline dim3 row_tile_grid(int T, int N, int max_rows = 65535)
{
    const int rows = (T + ROW_TILE_Y - 1) / ROW_TILE_Y;
    return dim3((N / BF16_VEC + ROW_TILE_X - 1) / ROW_TILE_X, rows < max_rows ? (rows ? rows : 1) : max_rows);
}

/* x[t, c] = act(x[t, c] + bias[c]) in place (bias may be NULL: 0), for rows of N bf16 that
 * vec_ok allows, by row tiles: the bias add after a GEMM and bias + GELU. Act is a functor
 * with a __device__ float operator()(float). */
template <typename Act>
__global__ static void bias_act_vec_kernel(bf16 *x, const float *bias, int T, int N, Act act)
{
    const int c = (blockIdx.x * ROW_TILE_X + threadIdx.x) * BF16_VEC;
    if (c >= N)
        return;
    float b[BF16_VEC];
    #pragma unroll
    for (int k = 0; k < BF16_VEC; k++)
        b[k] = bias ? bias[c + k] : 0.0f;
    for (int t = blockIdx.y * ROW_TILE_Y + threadIdx.y; t < T; t += gridDim.y * ROW_TILE_Y) {
        bf16 *p = x + (size_t)t * N + c;
        float v[BF16_VEC];
        load_vec(v, p);
        #pragma unroll
        for (int k = 0; k < BF16_VEC; k++)
            v[k] = act(v[k] + b[k]);
        store_vec(p, v);
    }
}

/* The backend's single stream, cuBLASLt handle and GEMM workspace (backend.cu). */
typedef struct {
    cudaStream_t stream;
    cublasLtHandle_t lt;
    void *workspace;
    size_t workspace_bytes;
} CudaContext;
extern CudaContext cuda_ctx;

/* out[M,N] = a[M,K] @ w[N,K]^T (+ bias[N]) through cuBLASLt with fp32 accumulation;
 * a, w, out are of `type` (CUDA_R_16BF or CUDA_R_32F), bias is fp32 or NULL (matmul.cu). */
void gemm_forward_cuda(void *out, const void *a, const void *w, const float *bias, int M, int N, int K,
                       cudaDataType_t type);
/* Its backward (matmul.cu): da[M,K] = dout @ w (of `type`, written; skipped when NULL),
 * dw[N,K] += dout^T @ a and dbias[N] += column sums of dout (fp32; dbias may be NULL). */
void gemm_backward_cuda(void *da, float *dw, float *dbias, const void *dout, const void *a, const void *w, int M,
                        int N, int K, cudaDataType_t type);

/* The op table's forward ops (one file each; the math is in ops.h and at each file's top). */
void embed_forward_cuda(void *out, const int32_t *ids, const int32_t *positions, const int32_t *types,
                        const float *word, const float *pos, const float *type, int T, int H);
void layernorm_forward_cuda(void *out, const void *x, const void *residual, const float *gamma,
                            const float *beta, int T, int H, float eps);
void matmul_forward_cuda(void *out, const void *a, const void *w, const float *bias, int M, int N, int K);
void bias_gelu_forward_cuda(void *x, const float *bias, int T, int N);
void attention_forward_cuda(void *out, const void *qkv, const int32_t *cu_seqlens, int n_seqs,
                            int max_seqlen, int heads, int head_dim, float dropout_p, uint64_t seed,
                            DropoutKeys keys);
void pool_forward_cuda(float *out, const void *x, const int32_t *cu_seqlens, int n_seqs, int H,
                       PoolMode mode);
void linear_f32_forward_cuda(float *out, const float *a, const float *w, const float *bias, int M, int N,
                             int K);
void tanh_forward_cuda(float *x, size_t n);
void normalize_forward_cuda(float *x, int N, int D);

/* The backward ops (same files; register_backward.cu puts them into the table). */
void embed_backward_cuda(float *dword, float *dpos, float *dtype, const void *dout, const int32_t *ids,
                         const int32_t *positions, const int32_t *types, int T, int H);
void layernorm_backward_cuda(void *dx, float *dgamma, float *dbeta, const void *dout, const void *x,
                             const void *residual, const float *gamma, int T, int H, float eps);
void matmul_backward_cuda(void *da, float *dw, float *dbias, const void *dout, const void *a, const void *w, int M,
                          int N, int K);
void bias_gelu_backward_cuda(void *dpre, float *dbias, const void *dout, const void *pre, const float *bias, int T,
                             int N);
void attention_backward_cuda(void *dqkv, const void *dout, const void *qkv, const int32_t *cu_seqlens, int n_seqs,
                             int max_seqlen, int heads, int head_dim, float dropout_p, uint64_t seed,
                             DropoutKeys keys);
void pool_backward_cuda(void *dx, const float *dout, const void *x, const int32_t *cu_seqlens, int n_seqs, int H,
                        PoolMode mode);
void linear_f32_backward_cuda(float *da, float *dw, float *dbias, const float *dout, const float *a, const float *w,
                              int M, int N, int K);
void tanh_backward_cuda(float *dx, const float *dout, const float *y, size_t n);
void normalize_backward_cuda(float *dx, const float *dout, const float *x, int N, int D);
void add_act_cuda(void *y, const void *x, size_t n);

/* cudaMalloc that ends the program with a message naming the size, the free memory and
 * what the allocation was for (ops_cuda_set_alloc_context) when the GPU is out of memory. */
void *cuda_alloc(size_t bytes);

/* Fill in the table's backward ops (register_backward.cu) and training-support ops and fused
 * losses (register_training.cu); called by ops_cuda() in backend.cu. */
void cuda_register_backward(Ops *ops);
void cuda_register_training(Ops *ops);

#endif
