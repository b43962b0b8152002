/* The dropout mask as a pure function of (seed, the sequence's global key, the element's
 * place in its sequence), shared by the CPU and CUDA backends so that both drop exactly the
 * same elements: a run is reproducible from its seed, resumable without saving any RNG
 * stream, and the CUDA kernels are tested bit for bit against the CPU. splitmix64's
 * finalizer is a bijection with full avalanche, so neighbouring indices give
 * independent-looking 24-bit uniforms.
 *
 * A mask never depends on where a sequence sits in the packed batch, only on which example
 * it is: local sequence s = c * rows + r (text column c, row r of this batch) has the global
 * key (first_row + r) * n_columns + c, first_row being the index of this batch's row 0 in
 * the global batch. A data-parallel rank holding rows [first_row, first_row + rows) of the
 * global batch so draws the masks that one process holding the whole batch draws for them.
 *
 * Element i of sequence s is kept when se_dropout_uniform(se_dropout_seq_seed(seed, keys, s),
 * i) >= p and then scaled by 1 / (1 - p) (inverted dropout, as torch.nn.Dropout in training
 * mode). Index conventions, with positions counted from the sequence's first token:
 *   hidden dropout on an act [T, H]: i = position * H + column
 *   attention-probability dropout: i = se_attn_dropout_index(query position, heads, head,
 *     key position) = ((query * heads + head) << 16) + key (sequences are at most 65536
 *     tokens long). */
#ifndef SENTEMBED_DROPOUT_HASH_H
#define SENTEMBED_DROPOUT_HASH_H

#include <stdint.h>

#ifdef __CUDACC__
#define SE_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define SE_HOST_DEVICE static inline
#endif

/* Where a packed batch's sequences sit in the global batch: sequence s = c * rows + r is
 * column c of global row first_row + r. A batch that is not a training batch of columns
 * (inference, a test) is one column: {n_seqs, 1, 0}. */
typedef struct {
    int rows, n_columns;
    int64_t first_row;
} DropoutKeys;

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

SE_HOST_DEVICE uint64_t se_dropout_seq_key(DropoutKeys k, int s)
{
    const int c = s / k.rows, r = s % k.rows;
    return (uint64_t)(k.first_row + r) * (uint64_t)k.n_columns + (uint64_t)c;
}

/* The seed of sequence s's elements. Mixed once more than the index, so that (key a, index b)
 * and (key b, index a) do not meet in seed ^ mix(key) ^ mix(index). */
SE_HOST_DEVICE uint64_t se_dropout_seq_seed(uint64_t seed, DropoutKeys k, int s)
{
    return se_mix64(seed ^ se_mix64(se_dropout_seq_key(k, s)));
}

SE_HOST_DEVICE uint64_t se_attn_dropout_index(int query, int heads, int head, int key)
{
    return (((uint64_t)query * (uint64_t)heads + (uint64_t)head) << 16) + (uint64_t)key;
}

#endif
