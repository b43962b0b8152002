/* The dropout mask as a pure function of (seed, element index), shared by the CPU and
 * CUDA backends so that both drop exactly the same elements: a run is reproducible from
 * its seed, resumable without saving any RNG stream, and the CUDA kernels are tested
 * bit for bit against the CPU. splitmix64's finalizer is a bijection with full avalanche,
 * so neighbouring indices give independent-looking 24-bit uniforms.
 *
 * Element i is kept when se_dropout_uniform(seed, i) >= p and then scaled by 1 / (1 - p)
 * (inverted dropout, as torch.nn.Dropout in training mode). Index conventions:
 *   hidden dropout on an act [T, H]: i = row * H + column
 *   attention-probability dropout: i = ((query_row * heads + head) << 16) + key_index,
 *     query_row being the packed token row and key_index the key's place in its sequence
 *     (sequences are at most 65536 tokens long). */
#ifndef SENTEMBED_DROPOUT_HASH_H
#define SENTEMBED_DROPOUT_HASH_H

#include <stdint.h>

#ifdef __CUDACC__
#define SE_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define SE_HOST_DEVICE static inline
#endif

SE_HOST_DEVICE uint64_t se_mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in [0, 1) with 24 bits, exact in float */
SE_HOST_DEVICE float se_dropout_uniform(uint64_t seed, uint64_t index)
{
    return (float)(se_mix64(seed ^ se_mix64(index)) >> 40) * (1.0f / 16777216.0f);
}

SE_HOST_DEVICE uint64_t se_attn_dropout_index(int64_t query_row, int heads, int head, int key_index)
{
    return (((uint64_t)query_row * (uint64_t)heads + (uint64_t)head) << 16) + (uint64_t)key_index;
}

#endif
