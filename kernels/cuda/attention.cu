/* Variable-length multi-head self-attention on a packed batch. For sequence s (rows
 * start .. start+len-1 of qkv [T, 3*D], D = heads*head_dim, Q | K | V side by side) and
 * head h, with q_i, k_j, v_j the head's slices of row i, j:
 *   s_ij = (q_i . k_j) / sqrt(head_dim)
 *   p_ij = exp(s_ij - max_j s_ij) / sum_j exp(s_ij - max_j s_ij)
 *   out[i, h*head_dim + d] = sum_j p_ij v_j[d]
 * Scores, softmax and the weighted sum are fp32; only the output is rounded to bf16.
 *
 * A deliberately simple kernel: one block per (sequence, head), one warp per query row.
 * The lanes split the keys to compute the scores (each lane a whole dot product), keep
 * them in shared memory, then split the head's features to accumulate p_ij v_j. K and V
 * are read from global memory and served by L1/L2. */
#include <math.h>

#include "kernels/cuda/common.cuh"

#define ATTN_WARPS 4

/* CHUNKS = ceil(head_dim / 32): how many features each lane accumulates. */
template <int CHUNKS>
__global__ static void attention_kernel(bf16 *out, const bf16 *qkv, const int32_t *cu_seqlens, int max_seqlen,
                                        int heads, int head_dim, float scale)
{
    extern __shared__ float smem[]; /* q rows [ATTN_WARPS][head_dim], then p rows [ATTN_WARPS][max_seqlen] */
    const int start = cu_seqlens[blockIdx.x], len = cu_seqlens[blockIdx.x + 1] - start;
    if (len > max_seqlen) {
        /* The shared buffers are sized by max_seqlen: a longer sequence is a caller bug. */
        if (threadIdx.x == 0)
            printf("sentembed: attention: sequence %u has %d tokens, more than max_seqlen %d\n", blockIdx.x, len,
                   max_seqlen);
        __trap();
    }
    const int D = heads * head_dim, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const size_t row_stride = 3 * (size_t)D;
    const bf16 *q_base = qkv + (size_t)start * row_stride + (size_t)blockIdx.y * head_dim;
    const bf16 *k_base = q_base + D, *v_base = q_base + 2 * D;
    float *q = smem + warp * head_dim;
    float *p = smem + ATTN_WARPS * head_dim + (size_t)warp * max_seqlen;

    for (int i = warp; i < len; i += ATTN_WARPS) {
        for (int d = lane; d < head_dim; d += 32)
            q[d] = __bfloat162float(q_base[(size_t)i * row_stride + d]);
        __syncwarp();

        float row_max = -INFINITY;
        for (int j = lane; j < len; j += 32) {
            const bf16 *k = k_base + (size_t)j * row_stride;
            float dot = 0.0f;
            for (int d = 0; d < head_dim; d++)
                dot += q[d] * __bfloat162float(k[d]);
            p[j] = dot * scale;
            row_max = fmaxf(row_max, p[j]);
        }
        row_max = warp_max(row_max);
        float denom = 0.0f;
        for (int j = lane; j < len; j += 32) {
            p[j] = expf(p[j] - row_max);
            denom += p[j];
        }
        denom = warp_sum(denom);
        __syncwarp();

        float acc[CHUNKS];
        for (int c = 0; c < CHUNKS; c++)
            acc[c] = 0.0f;
        for (int j = 0; j < len; j++) {
            const bf16 *v = v_base + (size_t)j * row_stride;
            const float pj = p[j];
            for (int c = 0; c < CHUNKS; c++) {
                const int d = lane + 32 * c;
                if (d < head_dim)
                    acc[c] += pj * __bfloat162float(v[d]);
            }
        }
        bf16 *o = out + (size_t)(start + i) * D + (size_t)blockIdx.y * head_dim;
        for (int c = 0; c < CHUNKS; c++) {
            const int d = lane + 32 * c;
            if (d < head_dim)
                o[d] = __float2bfloat16_rn(acc[c] / denom);
        }
        /* q and p are rewritten for this warp's next row. */
        __syncwarp();
    }
}

template <int CHUNKS>
static void attention_launch(bf16 *out, const bf16 *qkv, const int32_t *cu_seqlens, int n_seqs, int max_seqlen,
                             int heads, int head_dim)
{
    const size_t smem = (size_t)ATTN_WARPS * (head_dim + max_seqlen) * sizeof(float);
    /* Above 48 KiB a kernel must opt in; the attribute call fails (and says so) past the
     * device's limit. */
    if (smem > 48 * 1024)
        CUDA_CHECK(cudaFuncSetAttribute(attention_kernel<CHUNKS>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        (int)smem));
    const dim3 grid(n_seqs, heads);
    attention_kernel<CHUNKS><<<grid, ATTN_WARPS * 32, smem, cuda_ctx.stream>>>(
        out, qkv, cu_seqlens, max_seqlen, heads, head_dim, 1.0f / sqrtf((float)head_dim));
    CUDA_CHECK_LAUNCH();
}

void attention_forward_cuda(void *out, const void *qkv, const int32_t *cu_seqlens, int n_seqs, int max_seqlen,
                            int heads, int head_dim, float dropout_p, uint64_t seed)
{
    if (n_seqs <= 0 || heads <= 0)
        return;
    if (dropout_p > 0.0f) { /* TODO(training): dropout inside the kernel */
        fprintf(stderr, "sentembed: error: attention dropout is not implemented on the GPU yet\n");
        exit(1);
    }
    (void)seed;
    if (head_dim <= 0 || head_dim > 128 || heads > 65535 || max_seqlen < 0) {
        fprintf(stderr,
                "sentembed: error: attention: unsupported shape: %d heads of dim %d, max_seqlen %d "
                "(head_dim 1..128, heads <= 65535)\n",
                heads, head_dim, max_seqlen);
        exit(1);
    }
    bf16 *o = (bf16 *)out;
    const bf16 *in = (const bf16 *)qkv;
    if (head_dim <= 32)
        attention_launch<1>(o, in, cu_seqlens, n_seqs, max_seqlen, heads, head_dim);
    else if (head_dim <= 64)
        attention_launch<2>(o, in, cu_seqlens, n_seqs, max_seqlen, heads, head_dim);
    else
        attention_launch<4>(o, in, cu_seqlens, n_seqs, max_seqlen, heads, head_dim);
}
