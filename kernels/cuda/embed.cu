/* Embeddings: out[t,:] = word[ids[t],:] + pos[positions[t],:] + type[types[t],:]
 * The tables are fp32; the sum is formed in fp32 in that order and rounded once to the
 * bf16 activation. Ids are trusted here: the caller checks them against the vocabulary. */
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
