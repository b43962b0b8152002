/* Multi-head self-attention over packed sequences (no padding, no mask needed):
 * for each sequence s (rows b = cu_seqlens[s] .. e-1), each head h, each query row i:
 *   score[j] = <Q[i,h], K[j,h]> / sqrt(head_dim)         for j in the same sequence
 *   p = softmax(score)                                    (max-subtracted)
 *   out[i,h] = sum_j p[j] * V[j,h]
 * qkv rows are [Q | K | V], each heads*head_dim wide; out rows are heads*head_dim wide.
 * This equals the padded computation with an additive -inf mask on the padding.
 * Training may drop probabilities: p[j] -> p[j] * keep(j) / (1 - dropout_p), keep from the
 * hash of kernels/dropout_hash.h at se_attn_dropout_index(b + i, heads, h, j), as
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
    uint64_t seed;
} AttnShape;

/* One (sequence, head): kt [head_dim, len] and score [len] are scratch. */
__attribute__((target_clones("avx2", "default"))) static void attend_head(
    float *restrict out, const float *restrict qkv, int b, int len, int h, AttnShape s, float *restrict kt,
    float *restrict score)
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
                const int kept = se_dropout_uniform(s.seed, se_attn_dropout_index(b + i, s.heads, h, j)) >= s.dropout_p;
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
                           int heads, int head_dim, float dropout_p, uint64_t seed)
{
    const int D = heads * head_dim;
    const AttnShape shape = {3 * D, D, head_dim, heads, 1.0f / sqrtf((float)head_dim), dropout_p, seed};
    const size_t cap = (size_t)(max_seqlen > 0 ? max_seqlen : 1);
#pragma omp parallel
    {
        float *kt = se_xmalloc(cap * (size_t)head_dim * sizeof *kt), *score = se_xmalloc(cap * sizeof *score);
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int s = 0; s < n_seqs; s++)
            for (int h = 0; h < heads; h++)
                if (cu_seqlens[s + 1] > cu_seqlens[s])
                    attend_head(out, qkv, cu_seqlens[s], cu_seqlens[s + 1] - cu_seqlens[s], h, shape, kt, score);
        free(kt);
        free(score);
    }
}

/* Backward, per sequence and head, with P = softmax(Q K^T * scale) recomputed and, under
 * dropout, the same mask M (entries keep / (1 - p)) regenerated:
 *   dV = (P o M)^T dO,   dP = (dO V^T) o M,   dS = P o (dP - rowsum(dP o P)),
 *   dQ = scale * dS K,   dK = scale * dS^T Q.
 * dqkv is written ([dQ | dK | dV] in qkv's layout). p and ds are len x len scratch. */
static void attend_head_backward(float *dqkv, const float *dout, const float *qkv, int b, int len, int h, AttnShape s,
                                 float *p, float *ds)
{
    const int hd = s.head_dim;
#define Q(i) (qkv + (size_t)(b + (i)) * s.row + h * hd)
#define K(j) (qkv + (size_t)(b + (j)) * s.row + s.D + h * hd)
#define V(j) (qkv + (size_t)(b + (j)) * s.row + 2 * s.D + h * hd)
#define DQKV(i, part) (dqkv + (size_t)(b + (i)) * s.row + (part) * s.D + h * hd)
    for (int i = 0; i < len; i++) {
        float *pi = p + (size_t)i * len, mx = -INFINITY;
        for (int j = 0; j < len; j++) {
            float dot = 0;
            for (int d = 0; d < hd; d++)
                dot += Q(i)[d] * K(j)[d];
            pi[j] = dot * s.scale;
            mx = pi[j] > mx ? pi[j] : mx;
        }
        double sum = 0;
        for (int j = 0; j < len; j++)
            sum += pi[j] = expf(pi[j] - mx);
        for (int j = 0; j < len; j++)
            pi[j] = (float)(pi[j] / sum);
        const float *dO = dout + (size_t)(b + i) * s.D + h * hd;
        const float keep_scale = s.dropout_p > 0.0f ? 1.0f / (1.0f - s.dropout_p) : 1.0f;
        double row = 0;
        for (int j = 0; j < len; j++) {
            float dp = 0;
            for (int d = 0; d < hd; d++)
                dp += dO[d] * V(j)[d];
            if (s.dropout_p > 0.0f)
                dp = se_dropout_uniform(s.seed, se_attn_dropout_index(b + i, s.heads, h, j)) >= s.dropout_p
                         ? dp * keep_scale : 0.0f;
            ds[(size_t)i * len + j] = dp;
            row += (double)dp * pi[j];
        }
        for (int j = 0; j < len; j++)
            ds[(size_t)i * len + j] = pi[j] * (ds[(size_t)i * len + j] - (float)row);
        if (s.dropout_p > 0.0f) /* from here on p holds the dropped probabilities, for dV */
            for (int j = 0; j < len; j++)
                pi[j] = se_dropout_uniform(s.seed, se_attn_dropout_index(b + i, s.heads, h, j)) >= s.dropout_p
                            ? pi[j] * keep_scale : 0.0f;
    }
    for (int i = 0; i < len; i++) {
        float *dq = DQKV(i, 0), *dk = DQKV(i, 1), *dv = DQKV(i, 2);
        for (int d = 0; d < hd; d++) {
            double q = 0, k = 0, v = 0;
            for (int j = 0; j < len; j++) {
                q += (double)ds[(size_t)i * len + j] * K(j)[d];
                k += (double)ds[(size_t)j * len + i] * Q(j)[d];
                v += (double)p[(size_t)j * len + i] * dout[(size_t)(b + j) * s.D + h * hd + d];
            }
            dq[d] = (float)(q * s.scale);
            dk[d] = (float)(k * s.scale);
            dv[d] = (float)v;
        }
    }
#undef Q
#undef K
#undef V
#undef DQKV
}

void attention_backward_cpu(float *dqkv, const float *dout, const float *qkv, const int32_t *cu_seqlens, int n_seqs,
                            int max_seqlen, int heads, int head_dim, float dropout_p, uint64_t seed)
{
    const int D = heads * head_dim;
    const AttnShape shape = {3 * D, D, head_dim, heads, 1.0f / sqrtf((float)head_dim), dropout_p, seed};
    const size_t cap = (size_t)(max_seqlen > 0 ? max_seqlen : 1);
#pragma omp parallel
    {
        float *p = se_xmalloc(cap * cap * sizeof *p), *ds = se_xmalloc(cap * cap * sizeof *ds);
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int s = 0; s < n_seqs; s++)
            for (int h = 0; h < heads; h++)
                if (cu_seqlens[s + 1] > cu_seqlens[s])
                    attend_head_backward(dqkv, dout, qkv, cu_seqlens[s], cu_seqlens[s + 1] - cu_seqlens[s], h, shape,
                                         p, ds);
        free(p);
        free(ds);
    }
}
