/* Embeddings: out[t,:] = word[ids[t],:] + pos[positions[t],:] + type[types[t],:]
 * The tables are fp32; the sum is formed in fp32 in that order and rounded once to the
 * bf16 activation. Ids are trusted here: the caller checks them against the vocabulary.
 * Backward, a scatter-add into the fp32 table gradients (accumulated):
 *   dword[ids[t]] += dout[t],  dpos[positions[t]] += dout[t],  dtype[types[t]] += dout[t]
 * with fp32 atomics, so the order of the additions (and the last bits) varies by run. */
#include "kernels/cuda/common.cuh"

__global__ static void embed_kernel(bf16 *out, const int32_t *ids, const int32_t *positions,
                                    const int32_t *types, const float *word, const float *pos,
                                    const float *type, int H)
{
    const size_t t = blockIdx.x;
    const float *w = word + (size_t)ids[t] * H;
    const float *p = pos + (size_t)positions[t] * H;
    const float *ty = type + (size_t)types[t] * H;
    for (int h = threadIdx.x; h < H; h += blockDim.x)
        out[t * H + h] = __float2bfloat16_rn(w[h] + p[h] + ty[h]);
}

void embed_forward_cuda(void *out, const int32_t *ids, const int32_t *positions, const int32_t *types,
                        const float *word, const float *pos, const float *type, int T, int H)
{
    if (T <= 0 || H <= 0)
        return;
    embed_kernel<<<T, 256, 0, cuda_ctx.stream>>>((bf16 *)out, ids, positions, types, word, pos, type, H);
    CUDA_CHECK_LAUNCH();
}

#define EMBED_BW_TOKENS 16 /* tokens per block of the backward */

/* A block takes a run of EMBED_BW_TOKENS tokens, its threads the features. Word and position
 * rows get one atomicAdd per token; every token hits one of the few type rows, so a thread
 * first sums its column over consecutive tokens of the same type and adds each such sum
 * once, which keeps the contention on those rows 16 times lower. */
__global__ static void embed_backward_kernel(float *dword, float *dpos, float *dtype, const bf16 *dout,
                                             const int32_t *ids, const int32_t *positions, const int32_t *types,
                                             int T, int H)
{
    const int t0 = blockIdx.x * EMBED_BW_TOKENS, t1 = min(T, t0 + EMBED_BW_TOKENS);
    for (int h = threadIdx.x; h < H; h += blockDim.x) {
        int type = types[t0];
        float type_sum = 0.0f;
        for (int t = t0; t < t1; t++) {
            const float g = __bfloat162float(dout[(size_t)t * H + h]);
            atomicAdd(&dword[(size_t)ids[t] * H + h], g);
            atomicAdd(&dpos[(size_t)positions[t] * H + h], g);
            if (types[t] != type) {
                atomicAdd(&dtype[(size_t)type * H + h], type_sum);
                type = types[t];
                type_sum = 0.0f;
            }
            type_sum += g;
        }
        atomicAdd(&dtype[(size_t)type * H + h], type_sum);
    }
}

void embed_backward_cuda(float *dword, float *dpos, float *dtype, const void *dout, const int32_t *ids,
                         const int32_t *positions, const int32_t *types, int T, int H)
{
    if (T <= 0 || H <= 0)
        return;
    const unsigned int blocks = (unsigned int)((T + EMBED_BW_TOKENS - 1) / EMBED_BW_TOKENS);
    embed_backward_kernel<<<blocks, 256, 0, cuda_ctx.stream>>>(dword, dpos, dtype, (const bf16 *)dout, ids,
                                                                positions, types, T, H);
    CUDA_CHECK_LAUNCH();
}
