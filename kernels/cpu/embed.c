/* Embeddings: out[t,:] = word[ids[t],:] + pos[positions[t],:] + type[types[t],:].
 * (The LayerNorm that follows in BERT is a separate op.) Ids are validated by the caller. */
#include "kernels/cpu/cpu_ops.h"

void embed_forward_cpu(float *out, const int32_t *ids, const int32_t *positions, const int32_t *types,
                       const float *word, const float *pos, const float *type, int T, int H)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *w = word + (size_t)ids[t] * H, *p = pos + (size_t)positions[t] * H,
                    *y = type + (size_t)types[t] * H;
        float *o = out + (size_t)t * H;
        for (int h = 0; h < H; h++)
            o[h] = w[h] + p[h] + y[h];
    }
}
