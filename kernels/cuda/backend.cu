/* The CUDA backend's op table: device memory, host <-> device copies, fp32 <-> bf16
 * conversion of activations and GEMM weights (round to nearest even), and the forward ops
 * of the other files in this folder. Everything runs in order on one stream; the copies
 * to and from the host return only when the host buffer may be reused or read. */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/device.h"

#define LT_WORKSPACE_BYTES (32u << 20)

CudaContext cuda_ctx;

__global__ static void f32_to_bf16_kernel(bf16 *dst, const float *src, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}

__global__ static void bf16_to_f32_kernel(float *dst, const bf16 *src, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __bfloat162float(src[i]);
}

static char alloc_context[256];

extern "C" void ops_cuda_set_alloc_context(const char *what)
{
    snprintf(alloc_context, sizeof alloc_context, "%s", what ? what : "");
}

void *cuda_alloc(size_t bytes)
{
    void *p = NULL;
    const cudaError_t status = cudaMalloc(&p, bytes);
    if (status != cudaSuccess) {
        cudaGetLastError(); /* clear it, so later calls do not report it again */
        size_t free_bytes = 0, total_bytes = 0;
        cudaMemGetInfo(&free_bytes, &total_bytes);
        fprintf(stderr,
                "sentembed: error: out of GPU memory allocating %zu bytes (%.1f MiB; %.1f of %.1f MiB free)%s%s: %s\n"
                "  lower the batch size or max_seq_length\n",
                bytes, bytes / 1048576.0, free_bytes / 1048576.0, total_bytes / 1048576.0,
                alloc_context[0] ? " for " : "", alloc_context, cudaGetErrorString(status));
        exit(1);
    }
    return p;
}

static void cuda_free(void *p)
{
    CUDA_CHECK(cudaFree(p));
}

static void cuda_copy_to_device(void *dst, const void *host_src, size_t bytes)
{
    if (bytes == 0)
        return;
    CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, cuda_ctx.stream));
    /* A pinned source is read asynchronously: wait so the caller may reuse it at once. */
    CUDA_CHECK(cudaStreamSynchronize(cuda_ctx.stream));
}

static void cuda_copy_to_device_async(void *dst, const void *host_src, size_t bytes)
{
    if (bytes)
        CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, cuda_ctx.stream));
}

static void *cuda_host_alloc(size_t bytes)
{
    void *p = NULL;
    const cudaError_t status = cudaMallocHost(&p, bytes ? bytes : 1);
    if (status != cudaSuccess) {
        fprintf(stderr, "sentembed: error: cannot allocate %zu bytes of pinned host memory: %s\n", bytes,
                cudaGetErrorString(status));
        exit(1);
    }
    return p;
}

static void cuda_host_free(void *p)
{
    CUDA_CHECK(cudaFreeHost(p));
}

static void cuda_copy_to_host(void *host_dst, const void *src, size_t bytes)
{
    if (bytes == 0)
        return;
    CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, cuda_ctx.stream));
    CUDA_CHECK(cudaStreamSynchronize(cuda_ctx.stream));
}

/* Device to device, ordered on the stream like the kernels around it. */
static void cuda_copy_on_device(void *dst, const void *src, size_t bytes)
{
    if (bytes)
        CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_ctx.stream));
}

/* fp32 crosses the bus and is converted on the device: the conversion of a whole model's
 * weights is then one kernel instead of a host loop. The staging buffer comes from the
 * stream-ordered pool, so it costs no device-wide synchronisation. */
static void cuda_upload_act(void *dst, const float *host_src, size_t n)
{
    if (n == 0)
        return;
    float *staging;
    CUDA_CHECK(cudaMallocAsync((void **)&staging, n * sizeof(float), cuda_ctx.stream));
    CUDA_CHECK(cudaMemcpyAsync(staging, host_src, n * sizeof(float), cudaMemcpyHostToDevice, cuda_ctx.stream));
    f32_to_bf16_kernel<<<grid_blocks(n, 256), 256, 0, cuda_ctx.stream>>>((bf16 *)dst, staging, n);
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cudaFreeAsync(staging, cuda_ctx.stream));
    CUDA_CHECK(cudaStreamSynchronize(cuda_ctx.stream));
}

static void cuda_download_act(float *host_dst, const void *src, size_t n)
{
    if (n == 0)
        return;
    float *staging;
    CUDA_CHECK(cudaMallocAsync((void **)&staging, n * sizeof(float), cuda_ctx.stream));
    bf16_to_f32_kernel<<<grid_blocks(n, 256), 256, 0, cuda_ctx.stream>>>(staging, (const bf16 *)src, n);
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cudaMemcpyAsync(host_dst, staging, n * sizeof(float), cudaMemcpyDeviceToHost, cuda_ctx.stream));
    CUDA_CHECK(cudaFreeAsync(staging, cuda_ctx.stream));
    CUDA_CHECK(cudaStreamSynchronize(cuda_ctx.stream));
}

static void cuda_mem_info(size_t *free_bytes, size_t *total_bytes)
{
    CUDA_CHECK(cudaMemGetInfo(free_bytes, total_bytes));
}

static void cuda_synchronize(void)
{
    CUDA_CHECK(cudaStreamSynchronize(cuda_ctx.stream));
}

/* Uses the current device (a multi-GPU launcher selects it before this), once. */
extern "C" const Ops *ops_cuda(char *why, size_t why_cap)
{
    static Ops ops;
    if (ops.name)
        return &ops;
    char name[256];
    if (cuda_device_count(name, sizeof name) == 0) {
        if (why && why_cap)
            snprintf(why, why_cap, "no CUDA GPU found (or no working driver)");
        return NULL;
    }
    /* The kernels exist only for the architectures this build compiled (CMAKE_CUDA_ARCHITECTURES);
     * on another GPU the lookup fails with "no kernel image". */
    cudaFuncAttributes attr;
    const cudaError_t status = cudaFuncGetAttributes(&attr, f32_to_bf16_kernel);
    if (status != cudaSuccess) {
        cudaGetLastError();
        if (why && why_cap)
            snprintf(why, why_cap, "GPU %s cannot run this build's kernels (%s); rebuild with its architecture in "
                                   "CMAKE_CUDA_ARCHITECTURES", name, cudaGetErrorString(status));
        return NULL;
    }
    CUDA_CHECK(cudaStreamCreateWithFlags(&cuda_ctx.stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasLtCreate(&cuda_ctx.lt));
    cuda_ctx.workspace_bytes = LT_WORKSPACE_BYTES;
    cuda_ctx.workspace = cuda_alloc(cuda_ctx.workspace_bytes);

    ops.act_size = sizeof(bf16);
    ops.alloc = cuda_alloc;
    ops.free = cuda_free;
    ops.copy_to_device = cuda_copy_to_device;
    ops.copy_to_device_async = cuda_copy_to_device_async;
    ops.host_alloc = cuda_host_alloc;
    ops.host_free = cuda_host_free;
    ops.copy_to_host = cuda_copy_to_host;
    ops.copy_on_device = cuda_copy_on_device;
    ops.upload_act = cuda_upload_act;
    ops.download_act = cuda_download_act;
    ops.synchronize = cuda_synchronize;
    ops.mem_info = cuda_mem_info;
    ops.embed = embed_forward_cuda;
    ops.layernorm = layernorm_forward_cuda;
    ops.matmul = matmul_forward_cuda;
    ops.bias_gelu = bias_gelu_forward_cuda;
    ops.attention = attention_forward_cuda;
    ops.pool = pool_forward_cuda;
    ops.linear_f32 = linear_f32_forward_cuda;
    ops.tanh_f32 = tanh_forward_cuda;
    ops.normalize = normalize_forward_cuda;
    cuda_register_backward(&ops);
    cuda_register_training(&ops);
    ops.name = "cuda"; /* last: a set name marks the table ready */
    return &ops;
}
