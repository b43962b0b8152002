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

/* Backward: each table row receives the sum of the output gradients of the tokens that
 * read it (a scatter-add): dword[ids[t]] += dout[t], dpos[positions[t]] += dout[t],
 * dtype[types[t]] += dout[t]. Tokens are walked in order (rows repeat), columns in
 * parallel, so the sums are deterministic. */
void embed_backward_cpu(float *dword, float *dpos, float *dtype, const float *dout, const int32_t *ids,
                        const int32_t *positions, const int32_t *types, int T, int H)
{
#pragma omp parallel for schedule(static)
    for (int h = 0; h < H; h++)
        for (int t = 0; t < T; t++) {
            float g = dout[(size_t)t * H + h];
            dword[(size_t)ids[t] * H + h] += g;
            dpos[(size_t)positions[t] * H + h] += g;
            dtype[(size_t)types[t] * H + h] += g;
        }
}
