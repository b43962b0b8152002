/* What the two attention implementations share (attention.cu: simple SIMT kernels for any
 * head_dim; attention_tc.cu: tensor-core tiles for head_dim 32, 64, 128): the dropout of a
 * call, its per-element keep factor, the sequence-length guard and the shared-memory opt-in. */
#ifndef SENTEMBED_CUDA_ATTENTION_COMMON_CUH
#define SENTEMBED_CUDA_ATTENTION_COMMON_CUH

#include <stdio.h>

#include "kernels/cuda/common.cuh"
#include "kernels/dropout_hash.h"

/* The dropout of one call: p <= 0 keeps everything with factor 1 (as the CPU reference). */
typedef struct {
    float p, keep_scale; /* keep_scale = 1 / (1 - p) */
    uint64_t seed;
    DropoutKeys keys;
    int heads;
} AttnDropout;

/* The mask seed of sequence s; every block works inside one sequence and draws it once. */
__device__ __forceinline__ uint64_t attn_seq_seed(const AttnDropout &drop, int s)
{
    return drop.p > 0.0f ? se_dropout_seq_seed(drop.seed, drop.keys, s) : 0;
}

/* m_ij of query `query` and key `key` (places in the sequence of mask seed seq_seed), head `head`. */
__device__ __forceinline__ float attn_keep(const AttnDropout &drop, uint64_t seq_seed, int query, int head, int key)
{
    if (!(drop.p > 0.0f))
        return 1.0f;
    const float u = se_dropout_uniform(seq_seed, se_attn_dropout_index(query, drop.heads, head, key));
    return u >= drop.p ? drop.keep_scale : 0.0f;
}

/* Buffers and grids are sized by max_seqlen: a longer sequence is a caller bug. */
__device__ __forceinline__ void attn_check_len(int len, int max_seqlen)
{
    if (len > max_seqlen) {
        if (threadIdx.x == 0)
            printf("sentembed: attention: sequence %u has %d tokens, more than max_seqlen %d\n", blockIdx.x, len,
                   max_seqlen);
        __trap();
    }
}

/* Dynamic shared memory above 48 KiB needs an opt-in; the attribute call fails (and says
 * so) past the device's limit. */
template <typename Kernel>
static void attn_allow_smem(Kernel kernel, size_t smem)
{
    if (smem > 48 * 1024)
        CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
}

/* attention_tc.cu: whether the tensor-core kernels take this forward or backward call
 * (head_dim 32, 64 or 128, 16-byte aligned rows, and SENTEMBED_ATTENTION: see there), and
 * the kernels themselves. */
bool attention_tc_supported(bool forward, int head_dim, const void *a, const void *b, const void *c);
void attention_tc_forward(bf16 *out, const bf16 *qkv, const int32_t *cu_seqlens, int n_seqs, int max_seqlen,
                          int heads, int head_dim, AttnDropout drop);
void attention_tc_backward(bf16 *dqkv, const bf16 *dout, const bf16 *qkv, const int32_t *cu_seqlens, int n_seqs,
                           int max_seqlen, int heads, int head_dim, AttnDropout drop);

#endif
