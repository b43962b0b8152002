/* Multi-head self-attention over packed sequences (no padding, no mask needed):
 * for each sequence s (rows b = cu_seqlens[s] .. e-1), each head h, each query row i:
 *   score[j] = <Q[i,h], K[j,h]> / sqrt(head_dim)         for j in the same sequence
 *   p = softmax(score)                                    (max-subtracted, fp32 / double sum)
 *   out[i,h] = sum_j p[j] * V[j,h]
 * qkv rows are [Q | K | V], each heads*head_dim wide; out rows are heads*head_dim wide.
 * This equals the padded computation with an additive -inf mask on the padding. */
#include <math.h>
#include <stdlib.h>

#include "host/error.h"
#include "kernels/cpu/cpu_ops.h"

void attention_forward_cpu(float *out, const float *qkv, const int32_t *cu_seqlens, int n_seqs, int max_seqlen,
                           int heads, int head_dim)
{
    const int D = heads * head_dim, row = 3 * D;
    const float scale = 1.0f / sqrtf((float)head_dim);
#pragma omp parallel
    {
        float *score = se_xmalloc((size_t)(max_seqlen > 0 ? max_seqlen : 1) * sizeof *score);
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int s = 0; s < n_seqs; s++) {
            for (int h = 0; h < heads; h++) {
                int b = cu_seqlens[s], len = cu_seqlens[s + 1] - b;
                for (int i = 0; i < len; i++) {
                    const float *q = qkv + (size_t)(b + i) * row + h * head_dim;
                    float mx = -INFINITY;
                    for (int j = 0; j < len; j++) {
                        const float *k = qkv + (size_t)(b + j) * row + D + h * head_dim;
                        float dot = 0;
                        for (int d = 0; d < head_dim; d++)
                            dot += q[d] * k[d];
                        score[j] = dot * scale;
                        if (score[j] > mx)
                            mx = score[j];
                    }
                    double sum = 0;
                    for (int j = 0; j < len; j++) {
                        score[j] = expf(score[j] - mx);
                        sum += score[j];
                    }
                    float inv = (float)(1.0 / sum);
                    float *o = out + (size_t)(b + i) * D + h * head_dim;
                    for (int d = 0; d < head_dim; d++)
                        o[d] = 0;
                    for (int j = 0; j < len; j++) {
                        const float *v = qkv + (size_t)(b + j) * row + 2 * D + h * head_dim;
                        float p = score[j] * inv;
                        for (int d = 0; d < head_dim; d++)
                            o[d] += p * v[d];
                    }
                }
            }
        }
        free(score);
    }
}
