/* Helpers shared by the GPU op tests (test_cuda_ops.cu, test_cuda_backward.cu): a seeded
 * RNG, bf16 rounding as the device does it, host <-> device copies through the op table, and
 * the element-wise check that prints max|d|, rel and the worst |d| / tol ratio. Each test is
 * one translation unit, so everything here is static (inline: a test need not use it all). */
#ifndef SENTEMBED_CUDA_TEST_UTIL_H
#define SENTEMBED_CUDA_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern "C" {
#include "kernels/ops.h"
}

#define BF16_TOL (1.0 / 128)   /* twice the largest relative error of one bf16 rounding, 2^-8 */
#define U32 (1.0 / 16777216.0) /* fp32 unit roundoff 2^-24 */
#define BF16_U (1.0 / 256)     /* bf16 unit roundoff 2^-8 */

static const char *test_name;
static const Ops *gpu, *cpu;
static int n_passed, n_failed;
static uint64_t rng_state;

static inline uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline float rng_uniform(float lo, float hi)
{
    return lo + (hi - lo) * (float)((rng_next() >> 40) * (1.0 / 16777216.0));
}

static inline void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "%s: out of host memory (%zu bytes)\n", test_name, bytes);
        exit(1);
    }
    return p;
}

/* Round to nearest even, as the device's __float2bfloat16_rn (inputs here are finite). */
static inline float bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* n uniform values in [lo, hi), rounded to bf16 when they stand for activations or weights. */
static inline float *rand_vec(size_t n, float lo, float hi, bool bf16)
{
    float *v = (float *)xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = bf16 ? bf16_round(rng_uniform(lo, hi)) : rng_uniform(lo, hi);
    return v;
}

static inline float *dup_vec(const float *v, size_t n)
{
    float *d = (float *)xmalloc(n * sizeof *d);
    memcpy(d, v, n * sizeof *d);
    return d;
}

static inline void *gpu_act(const float *host, size_t n)
{
    void *d = gpu->alloc(n * gpu->act_size);
    gpu->upload_act(d, host, n);
    return d;
}

static inline void *gpu_copy(const void *host, size_t bytes)
{
    void *d = gpu->alloc(bytes);
    gpu->copy_to_device(d, host, bytes);
    return d;
}

static inline float *host_act(const void *dev, size_t n)
{
    float *h = (float *)xmalloc(n * sizeof *h);
    gpu->download_act(h, dev, n);
    return h;
}

static inline float *host_f32(const void *dev, size_t n)
{
    float *h = (float *)xmalloc(n * sizeof *h);
    gpu->copy_to_host(h, dev, n * sizeof *h);
    return h;
}

static inline double max_abs(const float *v, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(v[i]));
    return m;
}

/* Passes when |got_i - ref_i| <= rtol*|ref_i| + atol + (atol_i ? atol_i[i] : 0) for every i;
 * NaN anywhere fails. */
static inline void check(const char *what, const char *tol_text, const float *got, const float *ref, size_t n,
                         double rtol, double atol, const float *atol_i)
{
    double max_d = 0, worst = 0;
    size_t bad = 0, first_bad = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - (double)ref[i]);
        const double tol = rtol * fabs((double)ref[i]) + atol + (atol_i ? atol_i[i] : 0.0);
        if (!(d <= tol)) {
            if (!bad)
                first_bad = i;
            bad++;
        }
        if (d > max_d || d != d)
            max_d = d;
        const double ratio = tol > 0 ? d / tol : (d > 0 ? INFINITY : 0.0);
        if (ratio > worst || ratio != ratio)
            worst = ratio;
    }
    const double max_ref = max_abs(ref, n);
    printf("%-46s max|d| %9.3e  rel %9.3e  worst |d|/tol %6.3f  tol %s  %s\n", what, max_d,
           max_ref > 0 ? max_d / max_ref : max_d, worst, tol_text, bad ? "FAIL" : "PASS");
    if (bad) {
        printf("    %zu of %zu elements out of tolerance; first at %zu: gpu %.9g cpu %.9g\n", bad, n, first_bad,
               got[first_bad], ref[first_bad]);
        n_failed++;
    } else {
        n_passed++;
    }
}

typedef struct {
    const char *name;
    int n_seqs, T, max_seqlen;
    int32_t cu_seqlens[8];
} Batch;

static inline Batch make_batch(const char *name, const int *lens, int n)
{
    Batch b;
    memset(&b, 0, sizeof b);
    b.name = name;
    b.n_seqs = n;
    for (int s = 0; s < n; s++) {
        b.cu_seqlens[s + 1] = b.cu_seqlens[s] + lens[s];
        if (lens[s] > b.max_seqlen)
            b.max_seqlen = lens[s];
    }
    b.T = b.cu_seqlens[n];
    return b;
}

/* Dropout keys for n_seqs sequences as a training batch has them: two columns where n_seqs
 * is even, one otherwise, and a random first row, so that a mask drawn from the wrong
 * sequence's key shows. */
static inline DropoutKeys random_keys(int n_seqs)
{
    const int columns = n_seqs % 2 == 0 ? 2 : 1;
    const DropoutKeys k = {n_seqs / columns, columns, (int64_t)(rng_next() % 100000)};
    return k;
}

/* Tokens of batch b (malloc'ed arrays of b->T): ids below vocab, types below n_types, and
 * positions counting from 0 in each sequence. */
static inline void random_tokens(const Batch *b, int vocab, int n_types, int32_t **ids, int32_t **positions,
                                 int32_t **types)
{
    *ids = (int32_t *)xmalloc(b->T * sizeof(int32_t));
    *positions = (int32_t *)xmalloc(b->T * sizeof(int32_t));
    *types = (int32_t *)xmalloc(b->T * sizeof(int32_t));
    for (int s = 0; s < b->n_seqs; s++)
        for (int t = b->cu_seqlens[s]; t < b->cu_seqlens[s + 1]; t++) {
            (*ids)[t] = (int32_t)(rng_next() % vocab);
            (*positions)[t] = t - b->cu_seqlens[s];
            (*types)[t] = (int32_t)(rng_next() % n_types);
        }
}

/* scale * sum_k |a_ik||w_jk| for every output (i, j): the size of a GEMM's rounding error
 * bound, computed with the CPU GEMM on absolute values. */
static inline float *gemm_error_scale(const float *a, const float *w, int M, int N, int K, double scale)
{
    float *abs_a = dup_vec(a, (size_t)M * K), *abs_w = dup_vec(w, (size_t)N * K);
    for (size_t i = 0; i < (size_t)M * K; i++)
        abs_a[i] = fabsf(abs_a[i]);
    for (size_t i = 0; i < (size_t)N * K; i++)
        abs_w[i] = fabsf(abs_w[i]);
    float *bound = (float *)xmalloc((size_t)M * N * sizeof(float));
    cpu->matmul(bound, abs_a, abs_w, NULL, M, N, K);
    for (size_t i = 0; i < (size_t)M * N; i++)
        bound[i] = (float)(bound[i] * scale);
    free(abs_a);
    free(abs_w);
    return bound;
}

/* Finds the GPU (false, with the reason printed: the test is skipped) and seeds the RNG from
 * argv[1], else the clock, printing the seed so a failure can be replayed. */
static inline bool cuda_test_start(const char *name, int argc, char **argv)
{
    char why[256] = "";
    test_name = name;
    gpu = ops_cuda(why, sizeof why);
    if (!gpu) {
        printf("%s: %s, skipped\n", name, why);
        return false;
    }
    cpu = ops_cpu();
    rng_state = argc > 1 ? strtoull(argv[1], NULL, 10) : (uint64_t)time(NULL);
    printf("%s: seed %llu (replay with: %s %llu)\n", name, (unsigned long long)rng_state, name,
           (unsigned long long)rng_state);
    return true;
}

/* The exit status: 0 when every check passed. */
static inline int cuda_test_finish(void)
{
    printf("%s: %d passed, %d failed\n", test_name, n_passed, n_failed);
    return n_failed != 0;
}

#endif
