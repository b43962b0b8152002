/* Tensor-core attention for head_dim 32, 64 and 128: the function of attention.cu (its
 * header comment gives the formulas), computed by tiles with bf16 WMMA products and fp32
 * accumulators, as FlashAttention does. The simple kernels of attention.cu spent 2.4 s of a
 * 2.5 s bert-base MNRL step (batch 256, 128 tokens, H100) at under 1 TFLOP/s; the work here
 * is the same matrix products on the tensor cores.
 *
 * Blocks of TC_WARPS warps own TC_TILE = 64 rows of one (sequence, head); each warp owns 16
 * of them. The other side's rows stream through shared memory in chunks of 64, zero-filled
 * past the sequence's end (so no read leaves the sequence and no product sees garbage).
 * WMMA fragments are opaque, so every element-wise step (softmax, dropout, the ds formula)
 * goes through a small fp32 tile in shared memory.
 *
 *   forward: per query tile, an online softmax over key chunks: m = running row max of the
 *     scaled scores, l = running sum of exp(s - m), O = running sum of exp(s - m) m_ij v_j,
 *     rescaled by exp(m_old - m_new) when m grows; out = O / l. The STATS variant writes,
 *     instead of out, per (row, head): m, 1/l and delta = do . out (fp32, before rounding),
 *     which is sum_j p_ij dp_ij.
 *   backward: that STATS pass, then two kernels that recompute p_ij = exp(s_ij - m_i) / l_i
 *     tile by tile: one per key tile accumulates dV = sum_i p m do_i and dK = scale sum_i ds q_i;
 *     one per query tile accumulates dQ = scale sum_j ds k_j. Nothing is atomic, and each
 *     output element is written by exactly one warp.
 * Status: the backward passed every check of tests/test_cuda_backward.cu on an H100
 * (2026-11-27, benchmarks/results/gpu-h100-2026-11-27.md); the forward, fixed after that run
 * (each row was divided by another row's l at the store), passed every check on an H200
 * (benchmarks/results/gpu-h200-2026-11-27.md), where bert-base's training shape (768
 * sequences of 128 tokens, 12 heads of 64) took 1.4 ms forward and 4.1 ms backward against
 * 41 ms and 164 ms for the simple kernels. Both are the default.
 * Rounding beyond the simple kernels': p m (for P V and dV) and ds (for dK and dQ) are
 * rounded to bf16 before their products, a relative 2^-8 per element; tests/
 * test_cuda_backward.cu's error model counts it. */
#include <math.h>
#include <mma.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/attention_common.cuh"

using namespace nvcuda;

#define TC_WARPS 4
#define TC_TILE (TC_WARPS * 16) /* rows per block, and per streamed chunk */
#define TC_LDS 20               /* fp32 16x16 tile row stride (floats): a multiple of 4, padded */
#define FULL_MASK 0xffffffffu

typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> FragA;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> FragBRow;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> FragBCol;
typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> FragC;

/* bf16 rows in shared memory are HD + 8 wide: 16-byte aligned rows for the vector copies,
 * 32-byte aligned 16-row fragments for WMMA, and a 16-byte shift per row against bank
 * conflicts. fp32 tiles are HD + 4 wide. */
template <int HD> struct TcDims {
    static constexpr int LD = HD + 8, LDO = HD + 4;
    static constexpr size_t ROWS64 = (size_t)TC_TILE * LD * sizeof(bf16); /* a 64-row bf16 chunk */
    static constexpr size_t ROWS16 = (size_t)16 * LD * sizeof(bf16);
    static constexpr size_t OUT16 = (size_t)16 * LDO * sizeof(float);
    static constexpr size_t TILE_F = (size_t)16 * TC_LDS * sizeof(float);
    static constexpr size_t TILE_B = (size_t)16 * 16 * sizeof(bf16);
    static constexpr size_t P_ROW = (size_t)16 * (TC_TILE + 8) * sizeof(bf16); /* forward's P: 16 x 64 */
    static constexpr size_t S_ROW = (size_t)16 * (TC_TILE + 4) * sizeof(float); /* forward's S: 16 x 64 */
    /* per warp, then per block */
    static constexpr size_t FWD_WARP = ROWS16 + P_ROW + S_ROW + OUT16;
    static constexpr size_t FWD = 2 * ROWS64 + TC_WARPS * FWD_WARP;
    static constexpr size_t DKV_WARP = 2 * ROWS16 + 2 * TILE_F + 2 * TILE_B + OUT16;
    static constexpr size_t DKV = 2 * ROWS64 + 3 * TC_TILE * sizeof(float) + TC_WARPS * DKV_WARP;
    static constexpr size_t DQ_WARP = 2 * ROWS16 + 2 * TILE_F + TILE_B + OUT16 + 3 * 16 * sizeof(float);
    static constexpr size_t DQ = 2 * ROWS64 + TC_WARPS * DQ_WARP;
};

/* rows [first, first + n) of a sequence's bf16 matrix (row r at g + r * stride) into shared
 * memory rows of width LD, zeros from row `len` on; `threads` threads from `tid` share it. */
template <int HD>
__device__ __forceinline__ void tc_load_rows(bf16 *dst, const bf16 *g, size_t stride, int first, int n, int len,
                                             int tid, int threads)
{
    constexpr int VEC = HD / 8, LD = TcDims<HD>::LD;
    for (int idx = tid; idx < n * VEC; idx += threads) {
        const int r = idx / VEC, c = (idx % VEC) * 8;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (first + r < len)
            v = *(const uint4 *)(g + (size_t)(first + r) * stride + c);
        *(uint4 *)(dst + r * LD + c) = v;
    }
}

/* A warp's 16 x HD fp32 tile `t` (row stride LDO), times `factor`, as bf16 to rows
 * first .. first+15 of g (row stride `stride`), those below len only. */
template <int HD>
__device__ __forceinline__ void tc_store_rows(bf16 *g, size_t stride, const float *t, float factor, int first,
                                              int len, int lane)
{
    constexpr int LDO = TcDims<HD>::LDO;
    for (int idx = lane; idx < 16 * HD / 2; idx += 32) {
        const int r = idx / (HD / 2), c = (idx % (HD / 2)) * 2;
        if (first + r < len)
            *(__nv_bfloat162 *)(g + (size_t)(first + r) * stride + c) =
                __floats2bfloat162_rn(t[r * LDO + c] * factor, t[r * LDO + c + 1] * factor);
    }
}

/* The two 16 x 16 products of a backward sub-tile, over the head's HD features: s = A B^T
 * and t = C E^T, with A and C the warp's rows as fragments (a[HD/16], c[HD/16]) and B, E 16
 * rows of width LD in shared memory; both stored fp32 with row stride TC_LDS, visible to the
 * whole warp on return. */
template <int HD>
__device__ __forceinline__ void tc_tile_pair(float *s, float *t, const FragA *a, const bf16 *b, const FragA *c,
                                             const bf16 *e)
{
    constexpr int LD = TcDims<HD>::LD;
    FragC sf, tf;
    wmma::fill_fragment(sf, 0.0f);
    wmma::fill_fragment(tf, 0.0f);
    for (int kk = 0; kk < HD / 16; kk++) {
        FragBCol bf, ef;
        wmma::load_matrix_sync(bf, b + kk * 16, LD);
        wmma::load_matrix_sync(ef, e + kk * 16, LD);
        wmma::mma_sync(sf, a[kk], bf, sf);
        wmma::mma_sync(tf, c[kk], ef, tf);
    }
    wmma::store_matrix_sync(s, sf, TC_LDS, wmma::mem_row_major);
    wmma::store_matrix_sync(t, tf, TC_LDS, wmma::mem_row_major);
    __syncwarp();
}

/* Where a block of the three kernels works: its sequence (rows start .. start+len-1) and
 * head, its tile's first row (tile = blockIdx.z * TC_TILE), and the head's slices of
 * Q, K, V (row stride rs) and of dO (row stride D; NULL without dout). */
struct TcBlock {
    int start, len, tile, warp, lane, head, D;
    size_t rs;
    const bf16 *q, *k, *v, *dout;
};

/* False when the block's tile starts past its sequence: the whole block returns then, before
 * any barrier. */
template <int HD>
__device__ __forceinline__ bool tc_block(TcBlock &b, const int32_t *cu_seqlens, int max_seqlen, int heads,
                                         const bf16 *qkv, const bf16 *dout)
{
    b.start = cu_seqlens[blockIdx.x];
    b.len = cu_seqlens[blockIdx.x + 1] - b.start;
    attn_check_len(b.len, max_seqlen);
    b.tile = blockIdx.z * TC_TILE;
    if (b.tile >= b.len)
        return false;
    b.warp = threadIdx.x / 32, b.lane = threadIdx.x % 32, b.head = blockIdx.y, b.D = heads * HD;
    b.rs = 3 * (size_t)b.D;
    const size_t ho = (size_t)b.head * HD;
    b.q = qkv + (size_t)b.start * b.rs + ho, b.k = b.q + b.D, b.v = b.q + 2 * b.D;
    b.dout = dout ? dout + (size_t)b.start * b.D + ho : NULL;
    return true;
}

/* A warp's accumulator fragments acc[HD/16] (16 rows), times `factor`, as bf16 rows
 * first .. first+15 of g (below len only), through the warp's fp32 tile t. */
template <int HD>
__device__ __forceinline__ void tc_store_acc(bf16 *g, size_t stride, float *t, const FragC *acc, float factor,
                                             int first, int len, int lane)
{
    for (int n = 0; n < HD / 16; n++)
        wmma::store_matrix_sync(t + n * 16, acc[n], TcDims<HD>::LDO, wmma::mem_row_major);
    __syncwarp();
    tc_store_rows<HD>(g, stride, t, factor, first, len, lane);
    __syncwarp(); /* t may be rewritten next */
}

/* m, 1/l and delta of rows first .. first+n-1 of the sequence at `start` (from the stats
 * pass) into m_out, inv_out, delta_out; zeros from row len on. `threads` threads from `tid`. */
__device__ __forceinline__ void tc_load_stats(float *m_out, float *inv_out, float *delta_out, const float *stats,
                                              int start, int first, int n, int len, int heads, int head, int tid,
                                              int threads)
{
    for (int t = tid; t < n; t += threads) {
        const bool ok = first + t < len;
        const float *st = stats + 3 * ((size_t)(start + first + t) * heads + head);
        m_out[t] = ok ? st[0] : 0.0f, inv_out[t] = ok ? st[1] : 0.0f, delta_out[t] = ok ? st[2] : 0.0f;
    }
}

template <int HD, bool STATS>
__global__ static void __launch_bounds__(TC_WARPS * 32)
    attention_tc_forward_kernel(bf16 *out, float *stats, const bf16 *dout, const bf16 *qkv,
                                const int32_t *cu_seqlens, int max_seqlen, int heads, float scale, AttnDropout drop)
{
    typedef TcDims<HD> Dm;
    constexpr int LD = Dm::LD, LDO = Dm::LDO, LDP = TC_TILE + 8, LDS = TC_TILE + 4;
    extern __shared__ __align__(128) unsigned char smem[];
    TcBlock blk;
    if (!tc_block<HD>(blk, cu_seqlens, max_seqlen, heads, qkv, NULL))
        return;
    const int start = blk.start, len = blk.len, q_first = blk.tile, warp = blk.warp, lane = blk.lane,
              head = blk.head, D = blk.D;
    const size_t rs = blk.rs;
    const bf16 *q_g = blk.q, *k_g = blk.k, *v_g = blk.v;
    bf16 *Ks = (bf16 *)smem, *Vs = (bf16 *)(smem + Dm::ROWS64);
    unsigned char *mine = smem + 2 * Dm::ROWS64 + warp * Dm::FWD_WARP;
    bf16 *Qw = (bf16 *)mine, *Pw = (bf16 *)(mine + Dm::ROWS16);
    float *Sw = (float *)(mine + Dm::ROWS16 + Dm::P_ROW), *Ow = (float *)(mine + Dm::ROWS16 + Dm::P_ROW + Dm::S_ROW);
    const int q0 = q_first + warp * 16;
    /* A warp whose rows all lie past the sequence's end (most warps of a short sentence's
     * block) only helps load the chunks. */
    const bool active = q0 < len;

    FragA qf[HD / 16];
    if (active) {
        tc_load_rows<HD>(Qw, q_g, rs, q0, 16, len, lane, 32);
        for (int idx = lane; idx < 16 * LDO; idx += 32)
            Ow[idx] = 0.0f;
        __syncwarp();
        for (int kk = 0; kk < HD / 16; kk++)
            wmma::load_matrix_sync(qf[kk], Qw + kk * 16, LD);
    }

    /* Lanes 2r and 2r+1 own row r: keys (lane & 1) * 32 .. + 31 of each chunk, and the same
     * half of the row's features. Both keep the row's m and l. */
    const int r = lane >> 1, half = lane & 1, i = q0 + r;
    const uint64_t seq_seed = attn_seq_seed(drop, blockIdx.x);
    float m_run = -INFINITY, l_run = 0.0f;
    for (int kt = 0; kt < len; kt += TC_TILE) {
        __syncthreads(); /* the last chunk is read by every warp */
        tc_load_rows<HD>(Ks, k_g, rs, kt, TC_TILE, len, threadIdx.x, blockDim.x);
        tc_load_rows<HD>(Vs, v_g, rs, kt, TC_TILE, len, threadIdx.x, blockDim.x);
        __syncthreads();
        if (!active)
            continue;
        for (int n = 0; n < TC_TILE / 16; n++) { /* S = Q K^T, 16 x 64 */
            FragC sf;
            wmma::fill_fragment(sf, 0.0f);
            for (int kk = 0; kk < HD / 16; kk++) {
                FragBCol kf;
                wmma::load_matrix_sync(kf, Ks + n * 16 * LD + kk * 16, LD);
                wmma::mma_sync(sf, qf[kk], kf, sf);
            }
            wmma::store_matrix_sync(Sw + n * 16, sf, LDS, wmma::mem_row_major);
        }
        __syncwarp();
        const int valid = min(TC_TILE, len - kt); /* >= 1: kt < len */
        const float *srow = Sw + r * LDS;
        float mx = -INFINITY;
        for (int c = half * 32; c < half * 32 + 32; c++)
            if (c < valid)
                mx = fmaxf(mx, srow[c]);
        /* scale > 0: the maximum of the scaled scores is the scaled maximum */
        mx = fmaxf(mx, __shfl_xor_sync(FULL_MASK, mx, 1)) * scale;
        const float m_new = fmaxf(m_run, mx), alpha = expf(m_run - m_new); /* first chunk: exp(-inf) = 0 */
        float sum = 0.0f;
        for (int c = half * 32; c < half * 32 + 32; c++) {
            float p = 0.0f, pm = 0.0f;
            if (c < valid) {
                p = expf(srow[c] * scale - m_new);
                pm = p * attn_keep(drop, seq_seed, i, head, kt + c);
            }
            sum += p; /* the denominator sums every probability; dropout zeroes or rescales */
            Pw[r * LDP + c] = __float2bfloat16_rn(pm);
        }
        sum += __shfl_xor_sync(FULL_MASK, sum, 1);
        l_run = l_run * alpha + sum;
        m_run = m_new;
        for (int d = half * (HD / 2); d < (half + 1) * (HD / 2); d++)
            Ow[r * LDO + d] *= alpha;
        __syncwarp();
        for (int n = 0; n < HD / 16; n++) { /* O += P V */
            FragC of;
            wmma::load_matrix_sync(of, Ow + n * 16, LDO, wmma::mem_row_major);
            for (int kk = 0; kk < TC_TILE / 16; kk++) {
                FragA pf;
                FragBRow vf;
                wmma::load_matrix_sync(pf, Pw + kk * 16, LDP);
                wmma::load_matrix_sync(vf, Vs + kk * 16 * LD + n * 16, LD);
                wmma::mma_sync(of, pf, vf, of);
            }
            wmma::store_matrix_sync(Ow + n * 16, of, LDO, wmma::mem_row_major);
        }
        __syncwarp();
    }
    if (!active)
        return;
    const float inv = 1.0f / l_run; /* row r's: each row has its own l */
    if (!STATS) {
        for (int d = half * (HD / 2); d < (half + 1) * (HD / 2); d++)
            Ow[r * LDO + d] *= inv;
        __syncwarp();
        tc_store_rows<HD>(out + (size_t)start * D + (size_t)head * HD, D, Ow, 1.0f, q0, len, lane);
        return;
    }
    /* delta_i = do_i . out_i, out_i in fp32 */
    float dl = 0.0f;
    if (i < len) {
        const bf16 *g = dout + (size_t)(start + i) * D + (size_t)head * HD;
        for (int d = half * (HD / 2); d < (half + 1) * (HD / 2); d++)
            dl += __bfloat162float(g[d]) * (Ow[r * LDO + d] * inv);
    }
    dl += __shfl_xor_sync(FULL_MASK, dl, 1);
    if (i < len && half == 0) {
        float *st = stats + 3 * ((size_t)(start + i) * heads + head);
        st[0] = m_run, st[1] = inv, st[2] = dl;
    }
}

/* dK and dV of a 64-key tile: warp w owns keys k0 .. k0+15; query chunks of 64 stream through
 * shared memory with their m, 1/l and delta. Per 16-query sub-tile: S^T = K Q^T and
 * dP^T = V dO^T (keys as rows), then p, pm = p m and ds = p (dP m - delta) element-wise,
 * then dV += pm dO and dK += ds Q in accumulator fragments that live through the loop. */
template <int HD>
__global__ static void __launch_bounds__(TC_WARPS * 32)
    attention_tc_dkv_kernel(bf16 *dqkv, const float *stats, const bf16 *dout, const bf16 *qkv,
                            const int32_t *cu_seqlens, int max_seqlen, int heads, float scale, AttnDropout drop)
{
    typedef TcDims<HD> Dm;
    constexpr int LD = Dm::LD;
    extern __shared__ __align__(128) unsigned char smem[];
    TcBlock blk;
    if (!tc_block<HD>(blk, cu_seqlens, max_seqlen, heads, qkv, dout))
        return;
    const int start = blk.start, len = blk.len, k_first = blk.tile, warp = blk.warp, lane = blk.lane,
              head = blk.head, D = blk.D;
    const size_t rs = blk.rs, ho = (size_t)head * HD;
    const bf16 *q_g = blk.q, *k_g = blk.k, *v_g = blk.v, *do_g = blk.dout;
    bf16 *Qc = (bf16 *)smem, *dOc = (bf16 *)(smem + Dm::ROWS64);
    float *mc = (float *)(smem + 2 * Dm::ROWS64), *ic = mc + TC_TILE, *dc = ic + TC_TILE;
    unsigned char *mine = smem + 2 * Dm::ROWS64 + 3 * TC_TILE * sizeof(float) + warp * Dm::DKV_WARP;
    bf16 *Kw = (bf16 *)mine, *Vw = (bf16 *)(mine + Dm::ROWS16);
    float *St = (float *)(mine + 2 * Dm::ROWS16), *dPt = (float *)(mine + 2 * Dm::ROWS16 + Dm::TILE_F);
    bf16 *Pm = (bf16 *)(mine + 2 * Dm::ROWS16 + 2 * Dm::TILE_F), *dSt = Pm + 16 * 16;
    float *Out = (float *)(mine + 2 * Dm::ROWS16 + 2 * Dm::TILE_F + 2 * Dm::TILE_B);
    const int k0 = k_first + warp * 16;
    const bool active = k0 < len; /* warp-uniform; an idle warp still meets the barriers */
    const uint64_t seq_seed = attn_seq_seed(drop, blockIdx.x);

    tc_load_rows<HD>(Kw, k_g, rs, k0, 16, len, lane, 32);
    tc_load_rows<HD>(Vw, v_g, rs, k0, 16, len, lane, 32);
    __syncwarp();
    FragA kf[HD / 16], vf[HD / 16];
    FragC dk[HD / 16], dv[HD / 16];
    for (int kk = 0; kk < HD / 16; kk++) {
        wmma::load_matrix_sync(kf[kk], Kw + kk * 16, LD);
        wmma::load_matrix_sync(vf[kk], Vw + kk * 16, LD);
        wmma::fill_fragment(dk[kk], 0.0f);
        wmma::fill_fragment(dv[kk], 0.0f);
    }
    for (int qt = 0; qt < len; qt += TC_TILE) {
        __syncthreads();
        tc_load_rows<HD>(Qc, q_g, rs, qt, TC_TILE, len, threadIdx.x, blockDim.x);
        tc_load_rows<HD>(dOc, do_g, D, qt, TC_TILE, len, threadIdx.x, blockDim.x);
        tc_load_stats(mc, ic, dc, stats, start, qt, TC_TILE, len, heads, head, threadIdx.x, blockDim.x);
        __syncthreads();
        if (!active)
            continue;
        for (int sub = 0; sub < TC_TILE / 16 && qt + sub * 16 < len; sub++) {
            const bf16 *Qs = Qc + sub * 16 * LD, *dOs = dOc + sub * 16 * LD;
            tc_tile_pair<HD>(St, dPt, kf, Qs, vf, dOs);
            for (int e = lane; e < 256; e += 32) {
                const int rk = e >> 4, cq = e & 15, j = k0 + rk, iq = sub * 16 + cq, i = qt + iq;
                float pm = 0.0f, ds = 0.0f;
                if (i < len && j < len) {
                    const float p = expf(St[rk * TC_LDS + cq] * scale - mc[iq]) * ic[iq];
                    const float keep = attn_keep(drop, seq_seed, i, head, j);
                    pm = p * keep;
                    ds = p * (dPt[rk * TC_LDS + cq] * keep - dc[iq]);
                }
                Pm[e] = __float2bfloat16_rn(pm);
                dSt[e] = __float2bfloat16_rn(ds);
            }
            __syncwarp();
            FragA pa, sa;
            wmma::load_matrix_sync(pa, Pm, 16);
            wmma::load_matrix_sync(sa, dSt, 16);
            for (int n = 0; n < HD / 16; n++) {
                FragBRow gb, qb;
                wmma::load_matrix_sync(gb, dOs + n * 16, LD);
                wmma::load_matrix_sync(qb, Qs + n * 16, LD);
                wmma::mma_sync(dv[n], pa, gb, dv[n]);
                wmma::mma_sync(dk[n], sa, qb, dk[n]);
            }
            __syncwarp(); /* St, dPt, Pm, dSt are rewritten next */
        }
    }
    if (!active)
        return;
    bf16 *dq_g = dqkv + (size_t)start * rs + ho;
    tc_store_acc<HD>(dq_g + D, rs, Out, dk, scale, k0, len, lane);
    tc_store_acc<HD>(dq_g + 2 * D, rs, Out, dv, 1.0f, k0, len, lane);
}

/* dQ of a 64-query tile: warp w owns queries q0 .. q0+15; key chunks of 64 (K and V) stream
 * through shared memory. Per 16-key sub-tile: S = Q K^T, dP = dO V^T, ds element-wise, and
 * dQ += ds K. */
template <int HD>
__global__ static void __launch_bounds__(TC_WARPS * 32)
    attention_tc_dq_kernel(bf16 *dqkv, const float *stats, const bf16 *dout, const bf16 *qkv,
                           const int32_t *cu_seqlens, int max_seqlen, int heads, float scale, AttnDropout drop)
{
    typedef TcDims<HD> Dm;
    constexpr int LD = Dm::LD, LDO = Dm::LDO;
    extern __shared__ __align__(128) unsigned char smem[];
    TcBlock blk;
    if (!tc_block<HD>(blk, cu_seqlens, max_seqlen, heads, qkv, dout))
        return;
    const int start = blk.start, len = blk.len, q_first = blk.tile, warp = blk.warp, lane = blk.lane,
              head = blk.head, D = blk.D;
    const size_t rs = blk.rs, ho = (size_t)head * HD;
    const bf16 *q_g = blk.q, *k_g = blk.k, *v_g = blk.v, *do_g = blk.dout;
    bf16 *Kc = (bf16 *)smem, *Vc = (bf16 *)(smem + Dm::ROWS64);
    unsigned char *mine = smem + 2 * Dm::ROWS64 + warp * Dm::DQ_WARP;
    bf16 *Qw = (bf16 *)mine, *dOw = (bf16 *)(mine + Dm::ROWS16);
    float *S = (float *)(mine + 2 * Dm::ROWS16), *dP = (float *)(mine + 2 * Dm::ROWS16 + Dm::TILE_F);
    bf16 *dS = (bf16 *)(mine + 2 * Dm::ROWS16 + 2 * Dm::TILE_F);
    float *Out = (float *)(mine + 2 * Dm::ROWS16 + 2 * Dm::TILE_F + Dm::TILE_B);
    float *mw = Out + 16 * LDO, *iw = mw + 16, *dw = iw + 16;
    const int q0 = q_first + warp * 16;
    const bool active = q0 < len;
    const uint64_t seq_seed = attn_seq_seed(drop, blockIdx.x);

    tc_load_rows<HD>(Qw, q_g, rs, q0, 16, len, lane, 32);
    tc_load_rows<HD>(dOw, do_g, D, q0, 16, len, lane, 32);
    tc_load_stats(mw, iw, dw, stats, start, q0, 16, len, heads, head, lane, 32);
    __syncwarp();
    FragA qf[HD / 16], gf[HD / 16];
    FragC dq[HD / 16];
    for (int kk = 0; kk < HD / 16; kk++) {
        wmma::load_matrix_sync(qf[kk], Qw + kk * 16, LD);
        wmma::load_matrix_sync(gf[kk], dOw + kk * 16, LD);
        wmma::fill_fragment(dq[kk], 0.0f);
    }
    for (int kt = 0; kt < len; kt += TC_TILE) {
        __syncthreads();
        tc_load_rows<HD>(Kc, k_g, rs, kt, TC_TILE, len, threadIdx.x, blockDim.x);
        tc_load_rows<HD>(Vc, v_g, rs, kt, TC_TILE, len, threadIdx.x, blockDim.x);
        __syncthreads();
        if (!active)
            continue;
        for (int sub = 0; sub < TC_TILE / 16 && kt + sub * 16 < len; sub++) {
            const bf16 *Ks = Kc + sub * 16 * LD, *Vs = Vc + sub * 16 * LD;
            tc_tile_pair<HD>(S, dP, qf, Ks, gf, Vs);
            for (int e = lane; e < 256; e += 32) {
                const int rq = e >> 4, ck = e & 15, i = q0 + rq, j = kt + sub * 16 + ck;
                float ds = 0.0f;
                if (i < len && j < len) {
                    const float p = expf(S[rq * TC_LDS + ck] * scale - mw[rq]) * iw[rq];
                    ds = p * (dP[rq * TC_LDS + ck] * attn_keep(drop, seq_seed, i, head, j) - dw[rq]);
                }
                dS[e] = __float2bfloat16_rn(ds);
            }
            __syncwarp();
            FragA sa;
            wmma::load_matrix_sync(sa, dS, 16);
            for (int n = 0; n < HD / 16; n++) {
                FragBRow kb;
                wmma::load_matrix_sync(kb, Ks + n * 16, LD);
                wmma::mma_sync(dq[n], sa, kb, dq[n]);
            }
            __syncwarp();
        }
    }
    if (!active)
        return;
    tc_store_acc<HD>(dqkv + (size_t)start * rs + ho, rs, Out, dq, scale, q0, len, lane);
}

/* The backward's per-(row, head) m, 1/l, delta: a grow-only device buffer, kept for the
 * next call (the op table has no workspace argument). */
static float *tc_stats;
static size_t tc_stats_cap;

static float *tc_stats_buffer(size_t floats)
{
    if (floats > tc_stats_cap) {
        if (tc_stats)
            CUDA_CHECK(cudaFree(tc_stats));
        CUDA_CHECK(cudaMalloc(&tc_stats, floats * sizeof(float)));
        tc_stats_cap = floats;
    }
    return tc_stats;
}

/* SENTEMBED_ATTENTION=simple keeps every call on the kernels of attention.cu (a fallback,
 * and their benchmark); unset or "tc", the tensor-core kernels take what they support. */
bool attention_tc_supported(bool forward, int head_dim, const void *a, const void *b, const void *c)
{
    (void)forward; /* both directions have passed on a GPU */
    static int use_tc = -1;
    if (use_tc < 0) {
        const char *e = getenv("SENTEMBED_ATTENTION");
        use_tc = !(e && !strcmp(e, "simple"));
    }
    const uintptr_t misaligned = ((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) & 15u;
    return use_tc && !misaligned && (head_dim == 32 || head_dim == 64 || head_dim == 128);
}

template <int HD>
static void tc_forward(bf16 *out, const bf16 *qkv, const int32_t *cu, int n_seqs, int max_seqlen, int heads,
                       AttnDropout drop)
{
    if (max_seqlen <= 0)
        return; /* no token: nothing to write (and a grid of depth 0 is not a launch) */
    const size_t smem = TcDims<HD>::FWD;
    attn_allow_smem(attention_tc_forward_kernel<HD, false>, smem);
    const dim3 grid(n_seqs, heads, (max_seqlen + TC_TILE - 1) / TC_TILE);
    attention_tc_forward_kernel<HD, false><<<grid, TC_WARPS * 32, smem, cuda_ctx.stream>>>(
        out, NULL, NULL, qkv, cu, max_seqlen, heads, 1.0f / sqrtf((float)HD), drop);
    CUDA_CHECK_LAUNCH();
}

template <int HD>
static void tc_backward(bf16 *dqkv, const bf16 *dout, const bf16 *qkv, const int32_t *cu, int n_seqs, int max_seqlen,
                        int heads, AttnDropout drop)
{
    typedef TcDims<HD> Dm;
    if (max_seqlen <= 0)
        return;
    /* the rows are the packed tokens: cu_seqlens[n_seqs] of them, which only the device
     * knows; every row is < n_seqs * max_seqlen */
    float *stats = tc_stats_buffer(3 * (size_t)n_seqs * max_seqlen * heads);
    const float scale = 1.0f / sqrtf((float)HD);
    const dim3 grid(n_seqs, heads, (max_seqlen + TC_TILE - 1) / TC_TILE);
    attn_allow_smem(attention_tc_forward_kernel<HD, true>, Dm::FWD);
    attention_tc_forward_kernel<HD, true><<<grid, TC_WARPS * 32, Dm::FWD, cuda_ctx.stream>>>(
        NULL, stats, dout, qkv, cu, max_seqlen, heads, scale, drop);
    CUDA_CHECK_LAUNCH();
    attn_allow_smem(attention_tc_dkv_kernel<HD>, Dm::DKV);
    attention_tc_dkv_kernel<HD><<<grid, TC_WARPS * 32, Dm::DKV, cuda_ctx.stream>>>(dqkv, stats, dout, qkv, cu,
                                                                                 max_seqlen, heads, scale, drop);
    CUDA_CHECK_LAUNCH();
    attn_allow_smem(attention_tc_dq_kernel<HD>, Dm::DQ);
    attention_tc_dq_kernel<HD><<<grid, TC_WARPS * 32, Dm::DQ, cuda_ctx.stream>>>(dqkv, stats, dout, qkv, cu,
                                                                               max_seqlen, heads, scale, drop);
    CUDA_CHECK_LAUNCH();
}

void attention_tc_forward(bf16 *out, const bf16 *qkv, const int32_t *cu_seqlens, int n_seqs, int max_seqlen,
                          int heads, int head_dim, AttnDropout drop)
{
    if (head_dim == 32)
        tc_forward<32>(out, qkv, cu_seqlens, n_seqs, max_seqlen, heads, drop);
    else if (head_dim == 64)
        tc_forward<64>(out, qkv, cu_seqlens, n_seqs, max_seqlen, heads, drop);
    else
        tc_forward<128>(out, qkv, cu_seqlens, n_seqs, max_seqlen, heads, drop);
}

void attention_tc_backward(bf16 *dqkv, const bf16 *dout, const bf16 *qkv, const int32_t *cu_seqlens, int n_seqs,
                           int max_seqlen, int heads, int head_dim, AttnDropout drop)
{
    if (head_dim == 32)
        tc_backward<32>(dqkv, dout, qkv, cu_seqlens, n_seqs, max_seqlen, heads, drop);
    else if (head_dim == 64)
        tc_backward<64>(dqkv, dout, qkv, cu_seqlens, n_seqs, max_seqlen, heads, drop);
    else
        tc_backward<128>(dqkv, dout, qkv, cu_seqlens, n_seqs, max_seqlen, heads, drop);
}
