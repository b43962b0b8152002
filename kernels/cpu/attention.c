/* Multi-head self-attention over packed sequences (no padding, no mask needed):
 * for each sequence s (rows b = cu_seqlens[s] .. e-1), each head h, each query row i:
 *   score[j] = <Q[i,h], K[j,h]> / sqrt(head_dim)         for j in the same sequence
 *   p = softmax(score)                                    (max-subtracted)
 *   out[i,h] = sum_j p[j] * V[j,h]
 * qkv rows are [Q | K | V], each heads*head_dim wide; out rows are heads*head_dim wide.
 * This equals the padded computation with an additive -inf mask on the padding.
 * Training may drop probabilities: p[j] -> p[j] * keep(j) / (1 - dropout_p), keep from the
 * hash of kernels/dropout_hash.h at se_attn_dropout_index(i, heads, h, j) with sequence s's
 * seed se_dropout_seq_seed(seed, keys, s) (i, j: places in the sequence), as
 * torch.nn.Dropout does to BERT's attention probabilities.
 * Loops are ordered so the innermost runs over contiguous memory without a reduction
 * (K is transposed into a scratch first), which the compiler vectorizes. */
#include <math.h>
#include <stdlib.h>

#include "host/error.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/vecmath.h"
#include "kernels/dropout_hash.h"

typedef struct {
    int row, D, head_dim, heads;
    float scale;
    float dropout_p; /* 0: no dropout */
} AttnShape;

/* The mask seed of sequence s; without dropout there is none (and keys may be unset). */
static uint64_t mask_seed(float dropout_p, uint64_t seed, DropoutKeys keys, int s)
{
    return dropout_p > 0.0f ? se_dropout_seq_seed(seed, keys, s) : 0;
}

/* One (sequence, head): kt [head_dim, len] and score [len] are scratch; seq_seed is the
 * sequence's mask seed. */
__attribute__((target_clones("avx2", "default"))) static void attend_head(
    float *restrict out, const float *restrict qkv, int b, int len, int h, AttnShape s, uint64_t seq_seed,
    float *restrict kt, float *restrict score)
{
    const int hd = s.head_dim;
    for (int j = 0; j < len; j++) {
        const float *k = qkv + (size_t)(b + j) * s.row + s.D + h * hd;
        for (int d = 0; d < hd; d++)
            kt[d * len + j] = k[d];
    }
    for (int i = 0; i < len; i++) {
        const float *q = qkv + (size_t)(b + i) * s.row + h * hd;
        for (int j = 0; j < len; j++)
            score[j] = 0.0f;
        for (int d = 0; d < hd; d++) {
            const float qd = q[d] * s.scale, *kd = kt + d * len;
            for (int j = 0; j < len; j++)
                score[j] += qd * kd[j];
        }
        float mx = score[0];
        for (int j = 1; j < len; j++)
            mx = score[j] > mx ? score[j] : mx;
        for (int j = 0; j < len; j++)
            score[j] = vm_expf(score[j] - mx);
        float sum = 0.0f;
        for (int j = 0; j < len; j++)
            sum += score[j];
        const float inv = 1.0f / sum;
        float *o = out + (size_t)(b + i) * s.D + h * hd;
        for (int d = 0; d < hd; d++)
            o[d] = 0.0f;
        if (s.dropout_p > 0.0f) {
            const float keep_scale = 1.0f / (1.0f - s.dropout_p);
            for (int j = 0; j < len; j++) {
                const int kept = se_dropout_uniform(seq_seed, se_attn_dropout_index(i, s.heads, h, j)) >= s.dropout_p;
                score[j] = kept ? score[j] * keep_scale : 0.0f;
            }
        }
        for (int j = 0; j < len; j++) {
            const float p = score[j] * inv, *v = qkv + (size_t)(b + j) * s.row + 2 * s.D + h * hd;
            for (int d = 0; d < hd; d++)
                o[d] += p * v[d];
        }
    }
}

void attention_forward_cpu(float *out, const float *qkv, const int32_t *cu_seqlens, int n_seqs, int max_seqlen,
                           int heads, int head_dim, float dropout_p, uint64_t seed, DropoutKeys keys)
{
    const int D = heads * head_dim;
    const AttnShape shape = {3 * D, D, head_dim, heads, 1.0f / sqrtf((float)head_dim), dropout_p};
    const size_t cap = (size_t)(max_seqlen > 0 ? max_seqlen : 1);
#pragma omp parallel
    {
        float *kt = se_xmalloc(cap * (size_t)head_dim * sizeof *kt), *score = se_xmalloc(cap * sizeof *score);
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int s = 0; s < n_seqs; s++)
            for (int h = 0; h < heads; h++)
                if (cu_seqlens[s + 1] > cu_seqlens[s])
                    attend_head(out, qkv, cu_seqlens[s], cu_seqlens[s + 1] - cu_seqlens[s], h, shape,
                                mask_seed(dropout_p, seed, keys, s), kt, score);
        free(kt);
        free(score);
    }
}

/* Backward, per sequence and head, with P = softmax(Q K^T * scale) recomputed and, under
 * dropout, the same mask M (entries keep / (1 - p)) regenerated:
 *   dV = (P o M)^T dO,   dP = (dO V^T) o M,   dS = P o (dP - rowsum(dP o P)),
 *   dQ = scale * dS K,   dK = scale * dS^T Q.
 * dqkv is written ([dQ | dK | dV] in qkv's layout). As in the forward, every inner loop
 * runs over contiguous memory: K and V are transposed into kt, vt [head_dim, len]; dK and
 * dV are accumulated row by row in dk, dv [len, head_dim]. p, ds: [len] per query row. */
typedef struct {
    float *kt, *vt, *p, *ds, *dk, *dv;
} AttnScratch;

__attribute__((target_clones("avx2", "default"))) static void attend_head_backward(
    float *restrict dqkv, const float *restrict dout, const float *restrict qkv, int b, int len, int h, AttnShape s,
    uint64_t seq_seed, AttnScratch w)
{
    const int hd = s.head_dim;
    float *restrict kt = w.kt, *restrict vt = w.vt, *restrict p = w.p, *restrict ds = w.ds, *restrict dk = w.dk,
                    *restrict dv = w.dv;
    for (int j = 0; j < len; j++) {
        const float *k = qkv + (size_t)(b + j) * s.row + s.D + h * hd, *v = k + s.D;
        for (int d = 0; d < hd; d++) {
            kt[d * len + j] = k[d];
            vt[d * len + j] = v[d];
        }
    }
    for (size_t e = 0; e < (size_t)len * hd; e++)
        dk[e] = dv[e] = 0.0f;
    const float keep_scale = s.dropout_p > 0.0f ? 1.0f / (1.0f - s.dropout_p) : 1.0f;
    for (int i = 0; i < len; i++) {
        const float *q = qkv + (size_t)(b + i) * s.row + h * hd, *dO = dout + (size_t)(b + i) * s.D + h * hd;
        /* p = softmax(scale q K^T), dp = dO V^T */
        for (int j = 0; j < len; j++)
            p[j] = ds[j] = 0.0f;
        for (int d = 0; d < hd; d++) {
            const float qd = q[d] * s.scale, gd = dO[d], *kd = kt + d * len, *vd = vt + d * len;
            for (int j = 0; j < len; j++) {
                p[j] += qd * kd[j];
                ds[j] += gd * vd[j];
            }
        }
        float mx = p[0];
        for (int j = 1; j < len; j++)
            mx = p[j] > mx ? p[j] : mx;
        float sum = 0.0f;
        for (int j = 0; j < len; j++)
            sum += p[j] = vm_expf(p[j] - mx);
        const float inv = 1.0f / sum;
        for (int j = 0; j < len; j++)
            p[j] *= inv;
        if (s.dropout_p > 0.0f) /* ds holds dP' (gradient of the dropped probabilities): mask it */
            for (int j = 0; j < len; j++)
                ds[j] = se_dropout_uniform(seq_seed, se_attn_dropout_index(i, s.heads, h, j)) >= s.dropout_p
                            ? ds[j] * keep_scale : 0.0f;
        float row = 0.0f;
        for (int j = 0; j < len; j++)
            row += ds[j] * p[j];
        for (int j = 0; j < len; j++)
            ds[j] = p[j] * (ds[j] - row) * s.scale; /* scale folded in for dQ and dK */
        if (s.dropout_p > 0.0f) /* from here on p holds the dropped probabilities, for dV */
            for (int j = 0; j < len; j++)
                p[j] = se_dropout_uniform(seq_seed, se_attn_dropout_index(i, s.heads, h, j)) >= s.dropout_p
                           ? p[j] * keep_scale : 0.0f;
        float *dq = dqkv + (size_t)(b + i) * s.row + h * hd;
        for (int d = 0; d < hd; d++)
            dq[d] = 0.0f;
        for (int j = 0; j < len; j++) {
            const float *k = qkv + (size_t)(b + j) * s.row + s.D + h * hd, sij = ds[j], pij = p[j];
            float *dkj = dk + (size_t)j * hd, *dvj = dv + (size_t)j * hd;
            for (int d = 0; d < hd; d++) {
                dq[d] += sij * k[d];
                dkj[d] += sij * q[d];
                dvj[d] += pij * dO[d];
            }
        }
    }
    for (int j = 0; j < len; j++) {
        float *dkr = dqkv + (size_t)(b + j) * s.row + s.D + h * hd, *dvr = dkr + s.D;
        for (int d = 0; d < hd; d++) {
            dkr[d] = dk[(size_t)j * hd + d];
            dvr[d] = dv[(size_t)j * hd + d];
        }
    }
}

void attention_backward_cpu(float *dqkv, const float *dout, const float *qkv, const int32_t *cu_seqlens, int n_seqs,
                            int max_seqlen, int heads, int head_dim, float dropout_p, uint64_t seed,
                            DropoutKeys keys)
{
    const int D = heads * head_dim;
    const AttnShape shape = {3 * D, D, head_dim, heads, 1.0f / sqrtf((float)head_dim), dropout_p};
    const size_t cap = (size_t)(max_seqlen > 0 ? max_seqlen : 1), hd = (size_t)head_dim;
#pragma omp parallel
    {
        float *mem = se_xmalloc((4 * cap * hd + 2 * cap) * sizeof *mem);
        AttnScratch w = {mem, mem + cap * hd, mem + 2 * cap * hd, mem + 2 * cap * hd + cap,
                         mem + 2 * cap * hd + 2 * cap, mem + 3 * cap * hd + 2 * cap};
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int s = 0; s < n_seqs; s++)
            for (int h = 0; h < heads; h++)
                if (cu_seqlens[s + 1] > cu_seqlens[s])
                    attend_head_backward(dqkv, dout, qkv, cu_seqlens[s], cu_seqlens[s + 1] - cu_seqlens[s], h, shape,
                                         mask_seed(dropout_p, seed, keys, s), w);
        free(mem);
    }
}
