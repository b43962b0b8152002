/* GPU op test (label "gpu"): every op of the CUDA backend against the CPU reference on
 * fresh random inputs, over the shapes the encoder uses (H 384 and 768, 12 heads of 32 or
 * 64, ragged packed batches up to 512 tokens) and a few odd ones. Skips (exit 77) where
 * ops_cuda() finds no usable GPU.
 *
 * The CUDA side receives activations and GEMM weights through upload_act, i.e. rounded to
 * bf16; the CPU side gets the same bf16-rounded values as fp32, so the comparison measures
 * only what the kernels themselves add: the bf16 rounding of their outputs and the fp32
 * (instead of double, or in another order) accumulation. Each check passes when, for every
 * element, |gpu - cpu| <= tol_i; tol_i is derived per op below from those two error
 * sources (u = 2^-24 is fp32's unit roundoff, a bf16 rounding is at most 2^-8 relative) with
 * a margin of about 2, so a wrong index, a lost bias or a softmax/reduction bug fails. Per
 * check it prints max|d|, max|d| / max|ref| ("rel") and the worst |d| / tol_i ratio.
 *
 * Seed: the first argument, else the clock; printed so that a failure can be replayed. */
#include "tests/cuda_test_util.h"

/* The conversions themselves: upload_act must round to nearest even and download_act be exact. */
static void test_transfers(void)
{
    const size_t n = 100003;
    float *x = rand_vec(n, -1e4f, 1e4f, false), *want = dup_vec(x, n);
    for (size_t i = 0; i < n; i++) {
        if (i % 3 == 0)
            x[i] *= 1e-6f; /* small magnitudes too */
        want[i] = bf16_round(x[i]);
    }
    void *d = gpu_act(x, n);
    float *got = host_act(d, n);
    check("upload_act/download_act (bf16 RNE)", "0 (exact)", got, want, n, 0, 0, NULL);
    void *f = gpu_copy(x, n * sizeof(float));
    float *back = host_f32(f, n);
    check("copy_to_device/copy_to_host", "0 (exact)", back, x, n, 0, 0, NULL);
    gpu->free(d);
    gpu->free(f);
    free(x);
    free(want);
    free(got);
    free(back);
}

/* Three fp32 table rows summed in fp32 (order may differ: a few u of the sum) and rounded once. */
static void test_embed(const Batch *b, int H)
{
    const int vocab = 1000, n_pos = 512, n_types = 2, T = b->T;
    float *word = rand_vec((size_t)vocab * H, -1, 1, false), *pos = rand_vec((size_t)n_pos * H, -1, 1, false);
    float *type = rand_vec((size_t)n_types * H, -1, 1, false);
    int32_t *ids, *positions, *types;
    random_tokens(b, vocab, n_types, &ids, &positions, &types);
    float *ref = (float *)xmalloc((size_t)T * H * sizeof(float));
    cpu->embed(ref, ids, positions, types, word, pos, type, T, H);

    float *d_word = (float *)gpu_copy(word, (size_t)vocab * H * 4), *d_pos = (float *)gpu_copy(pos, (size_t)n_pos * H * 4);
    float *d_type = (float *)gpu_copy(type, (size_t)n_types * H * 4);
    int32_t *d_ids = (int32_t *)gpu_copy(ids, T * 4), *d_positions = (int32_t *)gpu_copy(positions, T * 4);
    int32_t *d_types = (int32_t *)gpu_copy(types, T * 4);
    void *d_out = gpu->alloc((size_t)T * H * gpu->act_size);
    gpu->embed(d_out, d_ids, d_positions, d_types, d_word, d_pos, d_type, T, H);
    float *got = host_act(d_out, (size_t)T * H);

    char what[128];
    snprintf(what, sizeof what, "embed %s H=%d", b->name, H);
    check(what, "2^-7|ref| + 3*2^-20", got, ref, (size_t)T * H, BF16_TOL, 16 * 3 * U32, NULL);
    void *dev[] = {d_word, d_pos, d_type, d_ids, d_positions, d_types, d_out};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++)
        gpu->free(dev[i]);
    free(word), free(pos), free(type), free(ids), free(positions), free(types), free(ref), free(got);
}

/* One output rounding (allowed 2^-7|ref|). The GPU's fp32 statistics over H values are off
 * by at most ~H*u*(max|z - mean|/std + |n|) in the normalised value n, times |gamma|: written
 * as H*2^-20*max|gamma*n|, a margin of ~4 over that worst case. With `in_place` the output
 * overwrites the residual, as the op allows. */
static void test_layernorm(const Batch *b, int H, bool residual, bool in_place)
{
    const int T = b->T;
    const size_t n = (size_t)T * H;
    float *x = rand_vec(n, -2.0f, 3.0f, true), *r = residual ? rand_vec(n, -2, 2, true) : NULL;
    float *gamma = rand_vec(H, 0.5f, 1.5f, false), *beta = rand_vec(H, -0.5f, 0.5f, false);
    float *ref = (float *)xmalloc(n * sizeof(float));
    cpu->layernorm(ref, x, r, gamma, beta, T, H, 1e-12f);

    void *d_x = gpu_act(x, n), *d_r = r ? gpu_act(r, n) : NULL;
    float *d_gamma = (float *)gpu_copy(gamma, H * 4), *d_beta = (float *)gpu_copy(beta, H * 4);
    void *d_out = in_place ? d_r : gpu->alloc(n * gpu->act_size);
    gpu->layernorm(d_out, d_x, d_r, d_gamma, d_beta, T, H, 1e-12f);
    float *got = host_act(d_out, n);

    double max_gn = 0;
    for (size_t i = 0; i < n; i++)
        max_gn = fmax(max_gn, fabs(ref[i] - beta[i % H]));
    char what[128], tol[96];
    snprintf(what, sizeof what, "layernorm %s H=%d%s%s", b->name, H, residual ? " +residual" : "",
             in_place ? " in place" : "");
    snprintf(tol, sizeof tol, "2^-7|ref| + H*2^-20*max|g*n| = %.1e", H * 16 * U32 * max_gn);
    check(what, tol, got, ref, n, BF16_TOL, H * 16 * U32 * max_gn, NULL);
    gpu->free(d_x);
    if (d_r)
        gpu->free(d_r);
    if (!in_place)
        gpu->free(d_out);
    gpu->free(d_gamma);
    gpu->free(d_beta);
    free(x), free(r), free(gamma), free(beta), free(ref), free(got);
}

/* bf16 products are exact in fp32, so the GEMM differs from the reference only by the
 * accumulation order (each side within K*u*sum|a||w| of the exact value; tensor cores may
 * truncate inside an MMA, so allow 2^-23 per term) and the output rounding: tol_i =
 * 2^-7|ref_i| + K*2^-21*sum_k|a_ik||w_jk| + 2^-7|bias_j|, the last term covering the
 * fallback that adds the bias after one rounding. `offset` shifts a, w and out by that many
 * elements, so cuBLASLt must cope with 2-byte aligned operands. */
static void test_matmul(int M, int N, int K, bool bias, int offset)
{
    float *a = rand_vec((size_t)M * K, -1, 1, true), *w = rand_vec((size_t)N * K, -1, 1, true);
    float *b = bias ? rand_vec(N, -1, 1, false) : NULL;
    float *ref = (float *)xmalloc((size_t)M * N * sizeof(float));
    cpu->matmul(ref, a, w, b, M, N, K);

    float *bound = gemm_error_scale(a, w, M, N, K, K * 8 * U32);
    for (size_t i = 0; b && i < (size_t)M * N; i++)
        bound[i] += (float)(BF16_TOL * fabs(b[i % N]));

    const size_t es = gpu->act_size;
    char *d_a = (char *)gpu->alloc(((size_t)M * K + offset) * es), *d_w = (char *)gpu->alloc(((size_t)N * K + offset) * es);
    char *d_out = (char *)gpu->alloc(((size_t)M * N + offset) * es);
    gpu->upload_act(d_a + offset * es, a, (size_t)M * K);
    gpu->upload_act(d_w + offset * es, w, (size_t)N * K);
    float *d_b = b ? (float *)gpu_copy(b, N * 4) : NULL;
    gpu->matmul(d_out + offset * es, d_a + offset * es, d_w + offset * es, d_b, M, N, K);
    float *got = host_act(d_out + offset * es, (size_t)M * N);

    char what[128];
    snprintf(what, sizeof what, "matmul M=%d N=%d K=%d%s%s", M, N, K, bias ? " +bias" : "",
             offset ? " misaligned" : "");
    check(what, "2^-7|ref| + K*2^-21*sum|a||w| + 2^-7|bias|", got, ref, (size_t)M * N, BF16_TOL, 0, bound);
    gpu->free(d_a), gpu->free(d_w), gpu->free(d_out);
    if (d_b)
        gpu->free(d_b);
    free(a), free(w), free(b), free(ref), free(bound), free(got);
}

/* One fp32 evaluation rounded once. Near v = -5, 1 + erf(v/sqrt 2) cancels: an erf that is
 * 2 ulp off (CUDA's bound) moves gelu by 0.5*|v|*2^-22 ~ 6e-7 absolute, hence the 2e-6. */
static void test_bias_gelu(int T, int N, bool bias)
{
    const size_t n = (size_t)T * N;
    float *x = rand_vec(n, -4, 4, true), *b = bias ? rand_vec(N, -1, 1, false) : NULL;
    void *d_x = gpu_act(x, n);
    float *d_b = b ? (float *)gpu_copy(b, N * 4) : NULL;
    cpu->bias_gelu(x, b, T, N);
    gpu->bias_gelu(d_x, d_b, T, N);
    float *got = host_act(d_x, n);
    char what[128];
    snprintf(what, sizeof what, "bias_gelu T=%d N=%d%s", T, N, bias ? "" : " (no bias)");
    check(what, "2^-7|ref| + 2e-6", got, x, n, BF16_TOL, 2e-6, NULL);
    gpu->free(d_x);
    if (d_b)
        gpu->free(d_b);
    free(x), free(b), free(got);
}

/* Scores differ by at most ds = 2*head_dim^2*u*scale*max|q|*max|k| (fp32 dot products on
 * both sides); the output's derivative w.r.t. a score is bounded by 2*max|v|, so that moves
 * it by 2*ds*max|v|. The weighted sums over up to L rows and expf (2 ulp) add
 * (4L + 16)*u*max|v|; the tensor-core path rounds the probabilities to bf16 before P V, which
 * adds up to 2^-8 sum_j p_j |v_j| <= 2^-8 max|v|; the output rounding is allowed 2^-7|ref|.
 * (test_cuda_backward checks the forward again with a per-element bound.) qk_range 12 makes the softmax
 * peaked, with scores (std ~50) that overflow expf unless the row maximum is subtracted. */
static void test_attention(const Batch *b, int heads, int head_dim, float qk_range)
{
    const int T = b->T, D = heads * head_dim;
    float *qkv = (float *)xmalloc((size_t)T * 3 * D * sizeof(float));
    for (int t = 0; t < T; t++)
        for (int c = 0; c < 3 * D; c++) {
            const float range = c < 2 * D ? qk_range : 1.0f;
            qkv[(size_t)t * 3 * D + c] = bf16_round(rng_uniform(-range, range));
        }
    float *ref = (float *)xmalloc((size_t)T * D * sizeof(float));
    const DropoutKeys keys = {b->n_seqs, 1, 0}; /* no dropout: unused */
    cpu->attention(ref, qkv, b->cu_seqlens, b->n_seqs, b->max_seqlen, heads, head_dim, 0.0f, 0, keys);

    void *d_qkv = gpu_act(qkv, (size_t)T * 3 * D), *d_out = gpu->alloc((size_t)T * D * gpu->act_size);
    int32_t *d_cu = (int32_t *)gpu_copy(b->cu_seqlens, (b->n_seqs + 1) * 4);
    gpu->attention(d_out, d_qkv, d_cu, b->n_seqs, b->max_seqlen, heads, head_dim, 0.0f, 0, keys);
    float *got = host_act(d_out, (size_t)T * D);

    const double scale = 1.0 / sqrt((double)head_dim);
    const double ds = 2.0 * head_dim * head_dim * U32 * scale * qk_range * qk_range;
    const double atol = 2 * ds + (4.0 * b->max_seqlen + 16) * U32 + BF16_U;
    char what[128], tol[96];
    snprintf(what, sizeof what, "attention %s %dx%d%s", b->name, heads, head_dim, qk_range > 1 ? " peaked" : "");
    snprintf(tol, sizeof tol, "2^-7|ref| + (2ds + (4L+16)u + 2^-8)max|v| = %.1e", atol);
    check(what, tol, got, ref, (size_t)T * D, BF16_TOL, atol, NULL);
    gpu->free(d_qkv), gpu->free(d_out), gpu->free(d_cu);
    free(qkv), free(ref), free(got);
}

/* CLS and MAX copy bf16 values: exact. A fp32 sum of L values is within (L-1)*u*L*max|x|
 * of the (double) reference, so per sequence atol = L*2^-23*max|x| for the mean and
 * L^1.5*2^-23*max|x| for sum/sqrt(L), plus 2^-22|ref| for the final division. */
static void test_pool(const Batch *b, int H, PoolMode mode)
{
    static const char *NAMES[] = {"mean", "cls", "max", "mean_sqrt_len"};
    const int T = b->T, N = b->n_seqs;
    float *x = rand_vec((size_t)T * H, -2, 2, true);
    float *ref = (float *)xmalloc((size_t)N * H * sizeof(float));
    cpu->pool(ref, x, b->cu_seqlens, N, H, mode);

    void *d_x = gpu_act(x, (size_t)T * H);
    int32_t *d_cu = (int32_t *)gpu_copy(b->cu_seqlens, (N + 1) * 4);
    float *d_out = (float *)gpu->alloc((size_t)N * H * sizeof(float));
    gpu->pool(d_out, d_x, d_cu, N, H, mode);
    float *got = host_f32(d_out, (size_t)N * H);

    const bool exact = mode == POOL_CLS || mode == POOL_MAX;
    const double max_x = max_abs(x, (size_t)T * H);
    float *atol = (float *)xmalloc((size_t)N * H * sizeof(float));
    for (int s = 0; s < N; s++) {
        const double L = b->cu_seqlens[s + 1] - b->cu_seqlens[s];
        const double a = exact ? 0 : (mode == POOL_MEAN ? L : L * sqrt(L)) * 2 * U32 * max_x;
        for (int h = 0; h < H; h++)
            atol[(size_t)s * H + h] = (float)a;
    }
    char what[128];
    snprintf(what, sizeof what, "pool %s %s H=%d", NAMES[mode], b->name, H);
    check(what, exact ? "0 (exact)" : "2^-22|ref| + L(^1.5)*2^-23*max|x|", got, ref, (size_t)N * H,
          exact ? 0 : 4 * U32, 0, atol);
    gpu->free(d_x), gpu->free(d_cu), gpu->free(d_out);
    free(x), free(ref), free(got), free(atol);
}

/* fp32 on both sides: tol_i = 2^-22|ref_i| + K*2^-22*sum_k|a_ik||w_jk| (each side within
 * K*u*sum|a||w|, margin 2). Random data cannot tell TF32 from fp32 inside that worst-case
 * bound, so test_linear_not_tf32 checks it on purpose-made data. */
static void test_linear(int M, int N, int K)
{
    float *a = rand_vec((size_t)M * K, -1, 1, false), *w = rand_vec((size_t)N * K, -1, 1, false);
    float *b = rand_vec(N, -1, 1, false);
    float *ref = (float *)xmalloc((size_t)M * N * sizeof(float));
    cpu->linear_f32(ref, a, w, b, M, N, K);
    float *bound = gemm_error_scale(a, w, M, N, K, K * 4 * U32);

    float *d_a = (float *)gpu_copy(a, (size_t)M * K * 4), *d_w = (float *)gpu_copy(w, (size_t)N * K * 4);
    float *d_b = (float *)gpu_copy(b, N * 4), *d_out = (float *)gpu->alloc((size_t)M * N * 4);
    gpu->linear_f32(d_out, d_a, d_w, d_b, M, N, K);
    float *got = host_f32(d_out, (size_t)M * N);
    char what[128];
    snprintf(what, sizeof what, "linear_f32 M=%d N=%d K=%d", M, N, K);
    check(what, "2^-22|ref| + K*2^-22*sum|a||w|", got, ref, (size_t)M * N, 4 * U32, 0, bound);
    gpu->free(d_a), gpu->free(d_w), gpu->free(d_b), gpu->free(d_out);
    free(a), free(w), free(b), free(ref), free(bound), free(got);
}

/* a = 1 + 2^-15 needs more mantissa bits than TF32's 10, and every partial sum of 64 such
 * terms is exact in fp32, so fp32 gives exactly 64 + 2^-9 in any order and TF32 gives 64. */
static void test_linear_not_tf32(void)
{
    const int M = 4, N = 4, K = 64;
    float *a = (float *)xmalloc(M * K * 4), *w = (float *)xmalloc(N * K * 4), *b = (float *)xmalloc(N * 4);
    float want[M * N];
    for (int i = 0; i < M * K; i++)
        a[i] = 1.0f + 1.0f / 32768;
    for (int i = 0; i < N * K; i++)
        w[i] = 1.0f;
    for (int i = 0; i < N; i++)
        b[i] = 0.0f;
    for (int i = 0; i < M * N; i++)
        want[i] = 64.0f + 1.0f / 512;
    float *d_a = (float *)gpu_copy(a, M * K * 4), *d_w = (float *)gpu_copy(w, N * K * 4);
    float *d_b = (float *)gpu_copy(b, N * 4), *d_out = (float *)gpu->alloc(M * N * 4);
    gpu->linear_f32(d_out, d_a, d_w, d_b, M, N, K);
    float *got = host_f32(d_out, M * N);
    check("linear_f32 is fp32, not TF32", "0 (exact)", got, want, M * N, 0, 0, NULL);
    gpu->free(d_a), gpu->free(d_w), gpu->free(d_b), gpu->free(d_out);
    free(a), free(w), free(b), free(got);
}

/* CUDA's tanhf is within 2 ulp, glibc's within ~1: 4 ulp = 2^-21 relative. */
static void test_tanh(size_t n)
{
    float *x = rand_vec(n, -5, 5, false);
    x[0] = 0.0f, x[1] = 20.0f, x[2] = -20.0f, x[3] = 1e-30f;
    float *d_x = (float *)gpu_copy(x, n * 4);
    cpu->tanh_f32(x, n);
    gpu->tanh_f32(d_x, n);
    float *got = host_f32(d_x, n);
    char what[128];
    snprintf(what, sizeof what, "tanh_f32 n=%zu", n);
    check(what, "2^-21|ref|", got, x, n, 8 * U32, 0, NULL);
    gpu->free(d_x);
    free(x), free(got);
}

/* The fp32 sum of D squares is within D*u relative (positive terms), the norm within half
 * of that, and the division adds an ulp: (D + 8)*u relative. Row 0 is zero and row 1 has a
 * norm below 1e-12, so both take the clamp. */
static void test_normalize(int N, int D)
{
    float *x = rand_vec((size_t)N * D, -1, 1, false);
    for (int d = 0; d < D; d++) {
        x[d] = 0.0f;
        x[D + d] *= 1e-14f;
    }
    float *d_x = (float *)gpu_copy(x, (size_t)N * D * 4);
    cpu->normalize(x, N, D);
    gpu->normalize(d_x, N, D);
    float *got = host_f32(d_x, (size_t)N * D);
    char what[128];
    snprintf(what, sizeof what, "normalize N=%d D=%d", N, D);
    check(what, "(D+8)*2^-24|ref|", got, x, (size_t)N * D, (D + 8) * U32, 0, NULL);
    gpu->free(d_x);
    free(x), free(got);
}

int main(int argc, char **argv)
{
    if (!cuda_test_start("test_cuda_ops", argc, argv))
        return 77;

    const int lens_a[] = {1, 7, 128, 300}, lens_b[] = {512, 3, 64}, lens_c[] = {1};
    const Batch ba = make_batch("[1,7,128,300]", lens_a, 4), bb = make_batch("[512,3,64]", lens_b, 3);
    const Batch bc = make_batch("[1]", lens_c, 1);

    test_transfers();
    for (int H = 384; H <= 768; H += 384) {
        test_embed(&ba, H);
        test_layernorm(&ba, H, false, false);
        test_layernorm(&ba, H, true, false);
        test_layernorm(&bb, H, true, true);
    }
    test_embed(&bc, 384);
    test_layernorm(&ba, 1024, true, false); /* the warp-per-row kernel's widest rows */
    test_layernorm(&bb, 64, true, true);
    test_layernorm(&ba, 100, true, false); /* H % 8 != 0: the block-per-row kernel */

    /* The encoder's GEMMs (QKV, output, FFN up and down) for both widths, then odd shapes. */
    test_matmul(ba.T, 3 * 384, 384, true, 0);
    test_matmul(ba.T, 384, 384, true, 0);
    test_matmul(ba.T, 1536, 384, false, 0);
    test_matmul(ba.T, 384, 1536, true, 0);
    test_matmul(bb.T, 3 * 768, 768, true, 0);
    test_matmul(bb.T, 3072, 768, false, 0);
    test_matmul(bb.T, 768, 3072, true, 0);
    test_matmul(1, 1, 1, true, 0);
    test_matmul(5, 3, 7, true, 0);
    test_matmul(37, 50, 24, false, 1);
    test_matmul(ba.T, 384, 384, true, 3);

    test_bias_gelu(ba.T, 1536, true);
    test_bias_gelu(bb.T, 3072, true);
    test_bias_gelu(7, 33, false);
    test_bias_gelu(ba.T, 392, true); /* a row tile with idle threads */

    test_attention(&ba, 12, 32, 1.0f);
    test_attention(&ba, 12, 64, 1.0f);
    test_attention(&bb, 12, 32, 1.0f);
    test_attention(&bb, 12, 64, 1.0f);
    test_attention(&ba, 12, 64, 12.0f);
    test_attention(&bc, 12, 64, 1.0f);

    for (int mode = POOL_MEAN; mode <= POOL_MEAN_SQRT_LEN; mode++) {
        test_pool(&ba, 384, (PoolMode)mode);
        test_pool(&ba, 768, (PoolMode)mode);
        test_pool(&bb, 768, (PoolMode)mode);
    }

    test_linear(16, 256, 768);
    test_linear(16, 3, 3 * 768);
    test_linear(5, 7, 3);
    test_linear_not_tf32();
    test_tanh(16 * 256 + 3);
    test_normalize(16, 384);
    test_normalize(16, 768);

    return cuda_test_finish();
}
