/* Variable-length multi-head self-attention on a packed batch. For sequence s (rows
 * start .. start+len-1 of qkv [T, 3*D], D = heads*head_dim, Q | K | V side by side) and
 * head h, with q_i, k_j, v_j the head's slices of row i, j:
 *   s_ij = (q_i . k_j) / sqrt(head_dim)
 *   p_ij = exp(s_ij - max_j s_ij) / sum_j exp(s_ij - max_j s_ij)
 *   out[i, h*head_dim + d] = sum_j p_ij m_ij v_j[d]
 * where m_ij = 1 without dropout; with dropout_p > 0, m_ij = 1 / (1 - dropout_p) if
 * se_dropout_uniform(se_dropout_seq_seed(seed, keys, s), se_attn_dropout_index(i, heads, h, j))
 * >= dropout_p and 0 otherwise (kernels/dropout_hash.h: the same elements as the CPU
 * reference drops).
 * Backward (dqkv written, [dQ | dK | dV] in qkv's layout):
 *   dp_ij = m_ij (do_i . v_j),  delta_i = sum_j p_ij dp_ij,  ds_ij = p_ij (dp_ij - delta_i)
 *   dq_i = scale sum_j ds_ij k_j,  dk_j = scale sum_i ds_ij q_i,  dv_j = sum_i p_ij m_ij do_i
 * Scores, softmax and the weighted sums are fp32; only the outputs are rounded to bf16.
 *
 * These are the simple kernels, for any head_dim up to 128; head_dim 32, 64 and 128 go to
 * the tensor-core kernels of attention_tc.cu (SENTEMBED_ATTENTION=simple keeps them here).
 * One block per (sequence, head), one warp per row. To build
 * a row of scores the lanes split the other side's rows (each lane a whole dot product) and
 * keep the row in shared memory; then they split the head's features to accumulate the
 * weighted sum of rows. Rows of the other side are read from global memory and served by
 * L1/L2.
 *   forward: warp per query row i: scores, softmax, out_i.
 *   backward, phase 1: warp per query row i: p_i. (recomputed), dp_i., delta_i, ds_i., dq_i;
 *     the row's max, 1/sum and delta go to shared memory for phase 2.
 *   backward, phase 2 (after a block barrier): warp per key row j: p_.j recomputed from
 *     those statistics, ds_.j, then dk_j and dv_j. No j ever needs another block's data,
 *     so nothing is atomic and nothing goes through global scratch. */
#include <math.h>

#include "kernels/cuda/attention_common.cuh"

#define ATTN_WARPS 4    /* forward */
#define ATTN_BW_WARPS 8 /* backward: more work per row, so more warps per block */

/* a . b over head_dim fp32 values, a in shared memory, b a bf16 row in global memory, in
 * feature order. Both backward phases compute each score and dp with it, so phase 2
 * recomputes phase 1's probabilities up to the rounding of the few operations after it. */
__device__ __forceinline__ float attn_dot(const float *a, const bf16 *b, int head_dim)
{
    float dot = 0.0f;
    for (int d = 0; d < head_dim; d++)
        dot += a[d] * __bfloat162float(b[d]);
    return dot;
}

/* The lanes of a warp split the len keys: for its own j each writes p[j] = exp(s_j - max_j s_j),
 * s_j = (q . k_j) * scale, q being fp32 in shared memory. Returns sum_j p[j] and sets
 * *row_max, both to every lane. */
__device__ __forceinline__ float attn_exp_scores(float *p, float *row_max, const float *q, const bf16 *k_base,
                                                 size_t row_stride, int len, int head_dim, float scale, int lane)
{
    float mx = -INFINITY;
    for (int j = lane; j < len; j += 32) {
        p[j] = attn_dot(q, k_base + (size_t)j * row_stride, head_dim) * scale;
        mx = fmaxf(mx, p[j]);
    }
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int j = lane; j < len; j += 32) {
        p[j] = expf(p[j] - mx);
        sum += p[j];
    }
    *row_max = mx;
    return warp_sum(sum);
}

/* acc = sum_j w[j] * row_j over len bf16 rows (row j at base + j * stride), the lanes
 * splitting the features: lane l holds features l, l + 32, ... (CHUNKS = ceil(head_dim / 32)). */
template <int CHUNKS>
__device__ __forceinline__ void attn_weighted_rows(float *acc, const float *w, const bf16 *base, size_t stride,
                                                   int len, int head_dim, int lane)
{
    for (int c = 0; c < CHUNKS; c++)
        acc[c] = 0.0f;
    for (int j = 0; j < len; j++) {
        const bf16 *row = base + (size_t)j * stride;
        const float wj = w[j];
        for (int c = 0; c < CHUNKS; c++) {
            const int d = lane + 32 * c;
            if (d < head_dim)
                acc[c] += wj * __bfloat162float(row[d]);
        }
    }
}

/* out[d] = bf16(acc * factor) for the lane's features */
template <int CHUNKS>
__device__ __forceinline__ void attn_store_row(bf16 *out, const float *acc, float factor, int head_dim, int lane)
{
    for (int c = 0; c < CHUNKS; c++) {
        const int d = lane + 32 * c;
        if (d < head_dim)
            out[d] = __float2bfloat16_rn(acc[c] * factor);
    }
}

/* CHUNKS = ceil(head_dim / 32): how many features each lane accumulates. */
template <int CHUNKS>
__global__ static void attention_kernel(bf16 *out, const bf16 *qkv, const int32_t *cu_seqlens, int max_seqlen,
                                        int heads, int head_dim, float scale, AttnDropout drop)
{
    extern __shared__ float smem[]; /* q rows [ATTN_WARPS][head_dim], then p rows [ATTN_WARPS][max_seqlen] */
    const int start = cu_seqlens[blockIdx.x], len = cu_seqlens[blockIdx.x + 1] - start;
    attn_check_len(len, max_seqlen);
    const int D = heads * head_dim, warp = threadIdx.x / 32, lane = threadIdx.x % 32, head = blockIdx.y;
    const size_t row_stride = 3 * (size_t)D;
    const bf16 *q_base = qkv + (size_t)start * row_stride + (size_t)head * head_dim;
    const bf16 *k_base = q_base + D, *v_base = q_base + 2 * D;
    float *q = smem + warp * head_dim;
    float *p = smem + ATTN_WARPS * head_dim + (size_t)warp * max_seqlen;
    const uint64_t seq_seed = attn_seq_seed(drop, blockIdx.x);

    for (int i = warp; i < len; i += ATTN_WARPS) {
        for (int d = lane; d < head_dim; d += 32)
            q[d] = __bfloat162float(q_base[(size_t)i * row_stride + d]);
        __syncwarp();

        /* The denominator sums every probability; dropout then zeroes or rescales some. */
        float row_max, acc[CHUNKS];
        const float denom = attn_exp_scores(p, &row_max, q, k_base, row_stride, len, head_dim, scale, lane);
        for (int j = lane; j < len; j += 32)
            p[j] *= attn_keep(drop, seq_seed, i, head, j);
        __syncwarp();
        attn_weighted_rows<CHUNKS>(acc, p, v_base, row_stride, len, head_dim, lane);
        attn_store_row<CHUNKS>(out + (size_t)(start + i) * D + (size_t)head * head_dim, acc, 1.0f / denom, head_dim,
                               lane);
        /* q and p are rewritten for this warp's next row. */
        __syncwarp();
    }
}

template <int CHUNKS>
__global__ static void attention_backward_kernel(bf16 *dqkv, const bf16 *dout, const bf16 *qkv,
                                                 const int32_t *cu_seqlens, int max_seqlen, int heads, int head_dim,
                                                 float scale, AttnDropout drop)
{
    /* Per query row of the sequence: row_max, inv_sum, delta [max_seqlen] each; then per
     * warp: two head_dim rows (a, b) and two max_seqlen rows (p, ds). */
    extern __shared__ float smem[];
    const int start = cu_seqlens[blockIdx.x], len = cu_seqlens[blockIdx.x + 1] - start;
    attn_check_len(len, max_seqlen);
    const int D = heads * head_dim, warp = threadIdx.x / 32, lane = threadIdx.x % 32, head = blockIdx.y;
    const size_t row_stride = 3 * (size_t)D, head_offset = (size_t)head * head_dim;
    const bf16 *q_base = qkv + (size_t)start * row_stride + head_offset;
    const bf16 *k_base = q_base + D, *v_base = q_base + 2 * D;
    const bf16 *do_base = dout + (size_t)start * D + head_offset;
    bf16 *dq_base = dqkv + (size_t)start * row_stride + head_offset;
    bf16 *dk_base = dq_base + D, *dv_base = dq_base + 2 * D;
    float *row_max = smem, *inv_sum = smem + max_seqlen, *delta = smem + 2 * (size_t)max_seqlen;
    float *a = smem + 3 * (size_t)max_seqlen + (size_t)warp * (2 * head_dim + 2 * max_seqlen);
    float *b = a + head_dim, *p = b + head_dim, *ds = p + max_seqlen;
    float acc[CHUNKS];
    const uint64_t seq_seed = attn_seq_seed(drop, blockIdx.x);

    /* Phase 1: a = q_i, b = do_i; p = p_i., ds = ds_i. */
    for (int i = warp; i < len; i += ATTN_BW_WARPS) {
        for (int d = lane; d < head_dim; d += 32) {
            a[d] = __bfloat162float(q_base[(size_t)i * row_stride + d]);
            b[d] = __bfloat162float(do_base[(size_t)i * D + d]);
        }
        __syncwarp();
        float mx;
        const float inv = 1.0f / attn_exp_scores(p, &mx, a, k_base, row_stride, len, head_dim, scale, lane);
        float dlt = 0.0f;
        for (int j = lane; j < len; j += 32) {
            p[j] *= inv;
            ds[j] = attn_dot(b, v_base + (size_t)j * row_stride, head_dim) * attn_keep(drop, seq_seed, i, head, j);
            dlt += p[j] * ds[j];
        }
        dlt = warp_sum(dlt);
        for (int j = lane; j < len; j += 32)
            ds[j] = p[j] * (ds[j] - dlt);
        __syncwarp();

        attn_weighted_rows<CHUNKS>(acc, ds, k_base, row_stride, len, head_dim, lane);
        attn_store_row<CHUNKS>(dq_base + (size_t)i * row_stride, acc, scale, head_dim, lane);
        if (lane == 0) {
            row_max[i] = mx;
            inv_sum[i] = inv;
            delta[i] = dlt;
        }
        /* a, b, p and ds are rewritten for this warp's next row. */
        __syncwarp();
    }
    __syncthreads(); /* every row's statistics are in shared memory */

    /* Phase 2: a = k_j, b = v_j; p = p_.j m_.j (the dropped probabilities), ds = ds_.j. */
    for (int j = warp; j < len; j += ATTN_BW_WARPS) {
        for (int d = lane; d < head_dim; d += 32) {
            a[d] = __bfloat162float(k_base[(size_t)j * row_stride + d]);
            b[d] = __bfloat162float(v_base[(size_t)j * row_stride + d]);
        }
        __syncwarp();
        for (int i = lane; i < len; i += 32) {
            const float pij = expf(attn_dot(a, q_base + (size_t)i * row_stride, head_dim) * scale - row_max[i]) *
                              inv_sum[i];
            const float keep = attn_keep(drop, seq_seed, i, head, j);
            ds[i] = pij * (attn_dot(b, do_base + (size_t)i * D, head_dim) * keep - delta[i]);
            p[i] = pij * keep;
        }
        __syncwarp();

        attn_weighted_rows<CHUNKS>(acc, ds, q_base, row_stride, len, head_dim, lane);
        attn_store_row<CHUNKS>(dk_base + (size_t)j * row_stride, acc, scale, head_dim, lane);
        attn_weighted_rows<CHUNKS>(acc, p, do_base, D, len, head_dim, lane);
        attn_store_row<CHUNKS>(dv_base + (size_t)j * row_stride, acc, 1.0f, head_dim, lane);
        __syncwarp();
    }
}

template <int CHUNKS>
static void attention_launch(bf16 *out, const bf16 *qkv, const int32_t *cu_seqlens, int n_seqs, int max_seqlen,
                             int heads, int head_dim, AttnDropout drop)
{
    const size_t smem = (size_t)ATTN_WARPS * (head_dim + max_seqlen) * sizeof(float);
    attn_allow_smem(attention_kernel<CHUNKS>, smem);
    const dim3 grid(n_seqs, heads);
    attention_kernel<CHUNKS><<<grid, ATTN_WARPS * 32, smem, cuda_ctx.stream>>>(
        out, qkv, cu_seqlens, max_seqlen, heads, head_dim, 1.0f / sqrtf((float)head_dim), drop);
    CUDA_CHECK_LAUNCH();
}

template <int CHUNKS>
static void attention_backward_launch(bf16 *dqkv, const bf16 *dout, const bf16 *qkv, const int32_t *cu_seqlens,
                                      int n_seqs, int max_seqlen, int heads, int head_dim, AttnDropout drop)
{
    const size_t smem =
        (3 * (size_t)max_seqlen + (size_t)ATTN_BW_WARPS * (2 * head_dim + 2 * (size_t)max_seqlen)) * sizeof(float);
    attn_allow_smem(attention_backward_kernel<CHUNKS>, smem);
    const dim3 grid(n_seqs, heads);
    attention_backward_kernel<CHUNKS><<<grid, ATTN_BW_WARPS * 32, smem, cuda_ctx.stream>>>(
        dqkv, dout, qkv, cu_seqlens, max_seqlen, heads, head_dim, 1.0f / sqrtf((float)head_dim), drop);
    CUDA_CHECK_LAUNCH();
}

/* Checks what the kernels support (head_dim 1..128, heads <= 65535 for the grid) and
 * returns the call's dropout. */
static AttnDropout attention_setup(const char *what, int max_seqlen, int heads, int head_dim, float dropout_p,
                                   uint64_t seed, DropoutKeys keys)
{
    if (head_dim <= 0 || head_dim > 128 || heads > 65535 || max_seqlen < 0) {
        fprintf(stderr,
                "sentembed: error: %s: unsupported shape: %d heads of dim %d, max_seqlen %d "
                "(head_dim 1..128, heads <= 65535)\n",
                what, heads, head_dim, max_seqlen);
        exit(1);
    }
    AttnDropout drop;
    drop.p = dropout_p;
    drop.keep_scale = 1.0f / (1.0f - dropout_p); /* as the CPU reference computes it, in fp32 */
    drop.seed = seed;
    drop.keys = keys;
    drop.heads = heads;
    return drop;
}

void attention_forward_cuda(void *out, const void *qkv, const int32_t *cu_seqlens, int n_seqs, int max_seqlen,
                            int heads, int head_dim, float dropout_p, uint64_t seed, DropoutKeys keys)
{
    if (n_seqs <= 0 || heads <= 0)
        return;
    const AttnDropout drop = attention_setup("attention", max_seqlen, heads, head_dim, dropout_p, seed, keys);
    bf16 *o = (bf16 *)out;
    const bf16 *in = (const bf16 *)qkv;
    if (attention_tc_supported(true, head_dim, out, qkv, NULL))
        attention_tc_forward(o, in, cu_seqlens, n_seqs, max_seqlen, heads, head_dim, drop);
    else if (head_dim <= 32)
        attention_launch<1>(o, in, cu_seqlens, n_seqs, max_seqlen, heads, head_dim, drop);
    else if (head_dim <= 64)
        attention_launch<2>(o, in, cu_seqlens, n_seqs, max_seqlen, heads, head_dim, drop);
    else
        attention_launch<4>(o, in, cu_seqlens, n_seqs, max_seqlen, heads, head_dim, drop);
}

void attention_backward_cuda(void *dqkv, const void *dout, const void *qkv, const int32_t *cu_seqlens, int n_seqs,
                             int max_seqlen, int heads, int head_dim, float dropout_p, uint64_t seed,
                             DropoutKeys keys)
{
    if (n_seqs <= 0 || heads <= 0)
        return;
    const AttnDropout drop =
        attention_setup("attention backward", max_seqlen, heads, head_dim, dropout_p, seed, keys);
    bf16 *dq = (bf16 *)dqkv;
    const bf16 *g = (const bf16 *)dout, *in = (const bf16 *)qkv;
    if (attention_tc_supported(false, head_dim, dqkv, dout, qkv))
        attention_tc_backward(dq, g, in, cu_seqlens, n_seqs, max_seqlen, heads, head_dim, drop);
    else if (head_dim <= 32)
        attention_backward_launch<1>(dq, g, in, cu_seqlens, n_seqs, max_seqlen, heads, head_dim, drop);
    else if (head_dim <= 64)
        attention_backward_launch<2>(dq, g, in, cu_seqlens, n_seqs, max_seqlen, heads, head_dim, drop);
    else
        attention_backward_launch<4>(dq, g, in, cu_seqlens, n_seqs, max_seqlen, heads, head_dim, drop);
}
