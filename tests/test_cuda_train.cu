/* GPU training-support test (label "gpu"): the CUDA backend's dropout, zero, sum_squares,
 * scale_f32, f32_to_act and AdamW against the CPU ops, and its fused losses (triplet, MNRL,
 * softmax) against the double references of trainer/loss_*.c, on fresh random inputs. Skips
 * (exit 77) where ops_cuda() finds no usable GPU.
 *
 * Each check passes when, for every element, |gpu - ref| <= tol_i; tol_i is derived per op
 * below (u = 2^-24 is fp32's unit roundoff) and printed, with max|d|, max|d| / max|ref|
 * ("rel") and the worst |d| / tol_i ratio (helpers: tests/cuda_test_util.h).
 *
 * Seed: the first argument, else the clock; printed so that a failure can be replayed. */
#include "tests/cuda_test_util.h"

extern "C" {
#include "trainer/loss.h"
#include "trainer/optimizer.h"
}

/* Fused losses: fp32 loss vs the double reference, relative; gradients: this fraction of the
 * largest reference gradient (see test_triplet). */
#define LOSS_RTOL 1e-4
#define GRAD_TOL 1e-4

static double *to_double(const float *v, size_t n)
{
    double *d = (double *)xmalloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = v[i];
    return d;
}

/* scale * v as floats (a reference gradient times grad_scale). */
static float *to_float_scaled(const double *v, size_t n, double scale)
{
    float *f = (float *)xmalloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)(scale * v[i]);
    return f;
}

/* A returned number (a loss, a sum): |got - ref| <= rtol |ref| + atol. */
static void check_value(const char *what, double got, double ref, double rtol, double atol)
{
    const double d = fabs(got - ref), tol = rtol * fabs(ref) + atol;
    const bool ok = d <= tol;
    printf("%-46s gpu %.9g  ref %.9g  |d| %9.3e  rel %9.3e  tol %.1e|ref|  %s\n", what, got, ref, d,
           ref != 0 ? d / fabs(ref) : d, rtol, ok ? "PASS" : "FAIL");
    if (ok)
        n_passed++;
    else
        n_failed++;
}

/* The same elements kept on both sides: the input is bf16 (|x| in [0.5, 2), so a zero means
 * dropped), the CPU runs on its fp32 values and its fp32 products are rounded to bf16 once,
 * as the kernel stores them: the results must be equal bit for bit, and so the count of
 * dropped elements. The batch has n_seqs sequences of 0 .. max_len rows (empty ones too,
 * which the kernel's search for a row's sequence must step over; the first has one at
 * least) of H columns. */
static void test_dropout(int n_seqs, int max_len, int H, float p)
{
    int32_t *cu = (int32_t *)xmalloc((n_seqs + 1) * sizeof *cu);
    cu[0] = 0;
    for (int s = 0; s < n_seqs; s++)
        cu[s + 1] = cu[s] + (s == 0) + (int)(rng_next() % (uint64_t)(max_len + (s != 0)));
    const int T = cu[n_seqs];
    const size_t n = (size_t)T * H;
    float *x = (float *)xmalloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = bf16_round(rng_uniform(0.5f, 2.0f) * (rng_next() & 1 ? 1.0f : -1.0f));
    const uint64_t seed = rng_next();
    const DropoutKeys keys = random_keys(n_seqs);
    void *d = gpu->alloc(n * gpu->act_size);
    int32_t *d_cu = (int32_t *)gpu_copy(cu, (n_seqs + 1) * sizeof *cu);
    gpu->upload_act(d, x, n);
    gpu->dropout(d, T, H, d_cu, n_seqs, keys, p, seed);
    float *got = host_act(d, n), *want = dup_vec(x, n);
    cpu->dropout(want, T, H, cu, n_seqs, keys, p, seed);
    size_t zeros_gpu = 0, zeros_cpu = 0;
    for (size_t i = 0; i < n; i++) {
        want[i] = bf16_round(want[i]);
        zeros_gpu += got[i] == 0.0f;
        zeros_cpu += want[i] == 0.0f;
    }
    char what[128];
    snprintf(what, sizeof what, "dropout %d seqs, T=%d H=%d p=%g (dropped %zu gpu, %zu cpu)", n_seqs, T, H, p,
             zeros_gpu, zeros_cpu);
    check(what, "0 (exact)", got, want, n, 0, 0, NULL);
    if (zeros_gpu != zeros_cpu)
        n_failed++;
    gpu->free(d), gpu->free(d_cu);
    free(cu), free(x), free(got), free(want);
}

/* Bytes [offset, offset + len) of a buffer of random non-zero bytes: those and only those become 0. */
static void test_zero(size_t size, size_t offset, size_t len)
{
    unsigned char *bytes = (unsigned char *)xmalloc(size), *back = (unsigned char *)xmalloc(size);
    for (size_t i = 0; i < size; i++)
        bytes[i] = (unsigned char)(1 + rng_next() % 255);
    unsigned char *d = (unsigned char *)gpu_copy(bytes, size);
    gpu->zero(d + offset, len);
    gpu->copy_to_host(back, d, size);
    float *got = (float *)xmalloc(size * sizeof(float)), *want = (float *)xmalloc(size * sizeof(float));
    for (size_t i = 0; i < size; i++) {
        got[i] = back[i];
        want[i] = i >= offset && i < offset + len ? 0.0f : bytes[i];
    }
    char what[128];
    snprintf(what, sizeof what, "zero bytes [%zu, %zu) of %zu", offset, offset + len, size);
    check(what, "0 (exact)", got, want, size, 0, 0, NULL);
    gpu->free(d);
    free(bytes), free(back), free(got), free(want);
}

/* The input pipeline's copies: two pinned host buffers (host_alloc) queued to the device
 * with copy_to_device_async behind a kernel (zero) on the same stream, as a step does;
 * after the next waiting call the device holds both, byte for byte, and the kernel ran
 * first. */
static void test_async_copy(size_t n)
{
    float *host[2], *back = (float *)xmalloc(2 * n * sizeof(float)), *want = (float *)xmalloc(2 * n * sizeof(float));
    float *d = (float *)gpu->alloc(2 * n * sizeof(float));
    for (int k = 0; k < 2; k++) {
        host[k] = (float *)gpu->host_alloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++)
            want[k * n + i] = host[k][i] = rng_uniform(-1, 1);
    }
    gpu->zero(d, 2 * n * sizeof(float));
    for (int k = 0; k < 2; k++)
        gpu->copy_to_device_async(d + k * n, host[k], n * sizeof(float));
    gpu->copy_to_host(back, d, 2 * n * sizeof(float));
    char what[128];
    snprintf(what, sizeof what, "copy_to_device_async from host_alloc, 2 x %zu floats", n);
    check(what, "0 (exact)", back, want, 2 * n, 0, 0, NULL);
    for (int k = 0; k < 2; k++)
        gpu->host_free(host[k]);
    gpu->free(d);
    free(back), free(want);
}

/* All terms are positive, so fp32 partial sums are within (k + 8)u relative of the exact sum,
 * k the squares one thread adds (at most ~53, see train_support.cu) and 8 the levels of the
 * block tree; the partials are then summed in double. 1e-5 is above that worst case. */
static void test_sum_squares(size_t n)
{
    float *x = rand_vec(n, -1, 1, false);
    for (size_t i = 0; i < n; i += 7)
        x[i] *= 1e-3f; /* a spread of magnitudes */
    float *d = (float *)gpu_copy(x, n * sizeof(float));
    char what[128];
    snprintf(what, sizeof what, "sum_squares n=%zu", n);
    check_value(what, gpu->sum_squares(d, n), cpu->sum_squares(x, n), 1e-5, 0);
    gpu->free(d);
    free(x);
}

/* One fp32 multiply per element on both sides: exact. */
static void test_scale_f32(size_t n, float s)
{
    float *x = rand_vec(n, -3, 3, false);
    float *d = (float *)gpu_copy(x, n * sizeof(float));
    gpu->scale_f32(d, n, s);
    cpu->scale_f32(x, n, s);
    float *got = host_f32(d, n);
    char what[128];
    snprintf(what, sizeof what, "scale_f32 n=%zu s=%g", n, s);
    check(what, "0 (exact)", got, x, n, 0, 0, NULL);
    gpu->free(d);
    free(x), free(got);
}

/* Round to nearest even, exactly as the host's bf16_round; the first values are ties
 * (1 + 2^-8 rounds down to 1, 1 + 3*2^-8 up to 1 + 2^-6) and the rest span many magnitudes. */
static void test_f32_to_act(size_t n)
{
    float *x = rand_vec(n, -1, 1, false), *want = (float *)xmalloc(n * sizeof *want);
    const float ties[] = {1.0f + 1.0f / 256, 1.0f + 3.0f / 256, -(1.0f + 1.0f / 256), 3.0f + 3.0f / 128};
    for (size_t i = 0; i < n; i++) {
        if (i < sizeof ties / sizeof *ties)
            x[i] = ties[i];
        else
            x[i] *= powf(10.0f, (float)(i % 13) - 6.0f);
        want[i] = bf16_round(x[i]);
    }
    float *d_src = (float *)gpu_copy(x, n * sizeof(float));
    void *d_dst = gpu->alloc(n * gpu->act_size);
    gpu->f32_to_act(d_dst, d_src, n);
    float *got = host_act(d_dst, n);
    char what[128];
    snprintf(what, sizeof what, "f32_to_act n=%zu (bf16 RNE)", n);
    check(what, "0 (exact)", got, want, n, 0, 0, NULL);
    gpu->free(d_src), gpu->free(d_dst);
    free(x), free(want), free(got);
}

/* Three AdamW steps from zero moments, fresh gradients each step. The kernel does
 * adamw_cpu's operations in the same order with explicitly rounded intrinsics (no FMA
 * contraction), IEEE sqrt and division, so the results are expected to be identical
 * (max|d| 0 where the C code has no FMA either, as on x86-64). The tolerance allows for a
 * compiler contracting a multiply-add on either side anyway: that moves each operation by at
 * most one rounding of its terms, and what is carried into later steps shrinks (by beta1,
 * beta2, shrink <= 1), so tol_i = 8u * A_i with A_i the sum of the magnitudes of the terms
 * that built the value: for m, beta1 A + (1 - beta1)|g|; for p, shrink A + |update| from
 * A = |p0|; v has only positive terms (8u relative). */
static void test_adamw(size_t n, bool decay)
{
    const AdamWConfig cfg = {1e-3, 0.9, 0.999, 1e-8, 0.01};
    float *p = rand_vec(n, -1, 1, false), *m = (float *)xmalloc(n * 4), *v = (float *)xmalloc(n * 4);
    float *a_m = (float *)xmalloc(n * 4), *a_p = (float *)xmalloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        m[i] = v[i] = a_m[i] = 0.0f;
        a_p[i] = fabsf(p[i]);
    }
    float *d_p = (float *)gpu_copy(p, n * 4), *d_m = (float *)gpu_copy(m, n * 4), *d_v = (float *)gpu_copy(v, n * 4);
    float *d_g = (float *)gpu->alloc(n * 4);
    for (long step = 1; step <= 3; step++) {
        float *g = rand_vec(n, -1e-2f, 1e-2f, false);
        for (size_t i = 0; i < n; i += 5)
            g[i] *= 100.0f; /* some large gradients too */
        const AdamWArgs args = adamw_args(&cfg, 1e-3 * step, step, decay);
        gpu->copy_to_device(d_g, g, n * 4);
        gpu->adamw(d_p, d_g, d_m, d_v, n, &args);
        cpu->adamw(p, g, m, v, n, &args);
        for (size_t i = 0; i < n; i++) {
            a_m[i] = (float)(args.beta1 * (double)a_m[i] + args.one_minus_beta1 * fabs((double)g[i]));
            const double update = (double)args.step_size * m[i] / (sqrt((double)v[i]) * args.inv_sqrt_bc2 + args.eps);
            a_p[i] = (float)(args.shrink * (double)a_p[i] + fabs(update));
        }
        free(g);
    }
    float *got_p = host_f32(d_p, n), *got_m = host_f32(d_m, n), *got_v = host_f32(d_v, n);
    for (size_t i = 0; i < n; i++) {
        a_m[i] = (float)(8 * U32 * a_m[i]);
        a_p[i] = (float)(8 * U32 * a_p[i]);
    }
    char what[128];
    snprintf(what, sizeof what, "adamw n=%zu 3 steps%s: m", n, decay ? " decay" : "");
    check(what, "8u*sum|terms|", got_m, m, n, 0, 0, a_m);
    snprintf(what, sizeof what, "adamw n=%zu 3 steps%s: v", n, decay ? " decay" : "");
    check(what, "8u|ref|", got_v, v, n, 8 * U32, 0, NULL);
    snprintf(what, sizeof what, "adamw n=%zu 3 steps%s: p", n, decay ? " decay" : "");
    check(what, "8u*sum|terms|", got_p, p, n, 0, 0, a_p);
    gpu->free(d_p), gpu->free(d_m), gpu->free(d_v), gpu->free(d_g);
    free(p), free(m), free(v), free(a_m), free(a_p), free(got_p), free(got_m), free(got_v);
}

/* Anchors uniform in [-1, 1); a positive or negative row is its anchor plus noise of a random
 * size, so distances and cosines vary over a wide range between rows. */
static void near_row(float *x, const float *a, int D, float lo, float hi)
{
    const float s = rng_uniform(lo, hi);
    for (int d = 0; d < D; d++)
        x[d] = a[d] + s * rng_uniform(-1, 1);
}

/* The hinge argument d(a,p) - d(a,n) + margin of one triplet, from the reference itself (with
 * a margin far above any distance every row is active and the loss is the argument), and its
 * scale d(a,p) + d(a,n) (the reference's d(a,x) - d(a,a), d(a,a) being ~eps). */
static void triplet_hinge(const float *a, const float *p, const float *n, int D, TripletMetric metric,
                          double margin, double *z, double *scale)
{
    double *da = to_double(a, D), *dp = to_double(p, D), *dn = to_double(n, D);
    const double big = 1e6;
    *z = loss_triplet(da, dp, dn, 1, D, metric, big + margin, NULL, NULL, NULL) - big;
    *scale = loss_triplet(da, dp, da, 1, D, metric, 0, NULL, NULL, NULL) +
             loss_triplet(da, dn, da, 1, D, metric, 0, NULL, NULL, NULL);
    free(da), free(dp), free(dn);
}

static int compare_double(const void *x, const void *y)
{
    const double dx = *(const double *)x, dy = *(const double *)y;
    return (dx > dy) - (dx < dy);
}

/* TripletLoss on emb [3 rows, D]. The margin is the median of d(a,n) - d(a,p), so about half
 * the triplets are inactive (zero loss and gradient). A triplet whose hinge argument is within
 * 5% of d(a,p) + d(a,n) of zero is redrawn: fp32 distances (relative error ~1e-6: block-tree
 * sums over D <= 1024 terms) could put it on the other side of the relu than the double
 * reference, and near zero its loss would be ill-conditioned.
 *
 * Tolerances (all fused losses): the loss rel 1e-4, gradients 1e-4 * max|ref grad| + 1e-12 *
 * grad_scale. The fp32 kernels compute dot products and norms over D terms (block trees, or
 * 32-term tiles of the MNRL GEMM) to ~1e-6 relative, exp and log within 2 ulp; MNRL's scale
 * (20) amplifies a cosine's error in the logits, so softmax probabilities, and with them the
 * gradient entries and the (log1p-computed) row losses, can be off by ~2e-5 relative in a bad
 * case (typically ~1e-6): 1e-4 leaves a margin of ~5 over that. The absolute terms (1e-12),
 * far below any nonzero value here, only matter where the whole reference is zero (every
 * triplet inactive, or MNRL with a single candidate); the kernels then give exact zeros. */
static void test_triplet(int rows, int D, TripletMetric metric, float grad_scale)
{
    static const char *NAMES[] = {"euclidean", "cosine", "manhattan"};
    const size_t nd = (size_t)rows * D;
    float *emb = rand_vec(3 * nd, -1, 1, false), *a = emb, *p = emb + nd, *n = emb + 2 * nd;
    double *gap = (double *)xmalloc(rows * sizeof(double)), z, scale;
    for (int i = 0; i < rows; i++) {
        near_row(p + (size_t)i * D, a + (size_t)i * D, D, 0.2f, 1.5f);
        near_row(n + (size_t)i * D, a + (size_t)i * D, D, 0.2f, 1.5f);
        triplet_hinge(a + (size_t)i * D, p + (size_t)i * D, n + (size_t)i * D, D, metric, 0, &z, &scale);
        gap[i] = -z;
    }
    qsort(gap, rows, sizeof *gap, compare_double);
    const float margin = (float)gap[rows / 2];
    int active = 0;
    for (int i = 0; i < rows; i++) {
        float *ai = a + (size_t)i * D, *pi = p + (size_t)i * D, *ni = n + (size_t)i * D;
        for (;;) {
            triplet_hinge(ai, pi, ni, D, metric, margin, &z, &scale);
            if (fabs(z) > 0.05 * scale)
                break;
            near_row(pi, ai, D, 0.2f, 1.5f);
            near_row(ni, ai, D, 0.2f, 1.5f);
        }
        active += z > 0;
    }

    double *e = to_double(emb, 3 * nd), *ref = (double *)xmalloc(3 * nd * sizeof(double));
    const double ref_loss = loss_triplet(e, e + nd, e + 2 * nd, rows, D, metric, margin, ref, ref + nd, ref + 2 * nd);
    float *want = to_float_scaled(ref, 3 * nd, grad_scale);

    float *d_emb = (float *)gpu_copy(emb, 3 * nd * 4), *d_grad = (float *)gpu->alloc(3 * nd * 4);
    const double loss = gpu->loss_triplet(d_grad, d_emb, rows, D, metric, margin, grad_scale);
    float *got = host_f32(d_grad, 3 * nd);

    char what[128], tol[96];
    snprintf(what, sizeof what, "triplet %s rows=%d D=%d (%d active): loss", NAMES[metric], rows, D, active);
    check_value(what, loss, ref_loss, LOSS_RTOL, 1e-12);
    snprintf(what, sizeof what, "triplet %s rows=%d D=%d: grad", NAMES[metric], rows, D);
    const double atol = GRAD_TOL * max_abs(want, 3 * nd) + 1e-12 * grad_scale;
    snprintf(tol, sizeof tol, "1e-4*max|ref| + 1e-12*gs = %.1e", atol);
    check(what, tol, got, want, 3 * nd, 0, atol, NULL);
    gpu->free(d_emb), gpu->free(d_grad);
    free(emb), free(gap), free(e), free(ref), free(want), free(got);
}

/* MNRL on emb [columns rows, D] (anchors, positives, hard negatives): positives closer to
 * their anchor than the negatives, so the softmax is peaked at the target but not saturated.
 * Tolerances as test_triplet's. */
static void test_mnrl(int rows, int columns, int D, float scale, float grad_scale)
{
    const size_t nd = (size_t)rows * D, total = (size_t)columns * nd;
    float *emb = rand_vec(total, -1, 1, false);
    for (int c = 1; c < columns; c++)
        for (int i = 0; i < rows; i++)
            near_row(emb + c * nd + (size_t)i * D, emb + (size_t)i * D, D, c == 1 ? 0.5f : 1.0f,
                     c == 1 ? 1.0f : 2.0f);

    double *e = to_double(emb, total), *ref = (double *)xmalloc(total * sizeof(double));
    const double ref_loss = loss_mnrl(e, e + nd, rows, columns - 2, D, scale, ref, ref + nd);
    float *want = to_float_scaled(ref, total, grad_scale);

    float *d_emb = (float *)gpu_copy(emb, total * 4), *d_grad = (float *)gpu->alloc(total * 4);
    const double loss = gpu->loss_mnrl(d_grad, d_emb, rows, columns, D, scale, grad_scale);
    float *got = host_f32(d_grad, total);

    char what[128], tol[96];
    snprintf(what, sizeof what, "mnrl rows=%d columns=%d D=%d: loss", rows, columns, D);
    check_value(what, loss, ref_loss, LOSS_RTOL, 1e-12);
    snprintf(what, sizeof what, "mnrl rows=%d columns=%d D=%d: grad", rows, columns, D);
    const double atol = GRAD_TOL * max_abs(want, total) + 1e-12 * grad_scale;
    snprintf(tol, sizeof tol, "1e-4*max|ref| + 1e-12*gs = %.1e", atol);
    check(what, tol, got, want, total, 0, atol, NULL);
    gpu->free(d_emb), gpu->free(d_grad);
    free(emb), free(e), free(ref), free(want), free(got);
}

/* SoftmaxLoss on u | v with L labels; every fifth element of v equals u's, where |u - v| has
 * no derivative and both sides take sign 0. dW and db start from random values and must
 * become init + grad_scale * reference: tolerances as test_triplet's on the increment, plus
 * 2u of the accumulated value for the rounding of the sum. With `bad_label` row 0's label
 * is L: the loss must be NaN. */
static void test_softmax(int rows, int D, int L, float grad_scale, bool bad_label)
{
    const size_t nd = (size_t)rows * D, nw = (size_t)L * 3 * D;
    float *emb = rand_vec(2 * nd, -1, 1, false), *W = rand_vec(nw, -0.05f, 0.05f, false), *b = rand_vec(L, -0.5f, 0.5f, false);
    float *dW0 = rand_vec(nw, -1, 1, false), *db0 = rand_vec(L, -1, 1, false);
    for (size_t k = 0; k < nd; k += 5)
        emb[nd + k] = emb[k];
    int32_t *labels = (int32_t *)xmalloc(rows * sizeof(int32_t));
    for (int i = 0; i < rows; i++)
        labels[i] = (int32_t)(rng_next() % L);
    if (bad_label)
        labels[0] = L;

    float *d_emb = (float *)gpu_copy(emb, 2 * nd * 4), *d_W = (float *)gpu_copy(W, nw * 4);
    float *d_b = (float *)gpu_copy(b, L * 4), *d_dW = (float *)gpu_copy(dW0, nw * 4);
    float *d_db = (float *)gpu_copy(db0, L * 4), *d_grad = (float *)gpu->alloc(2 * nd * 4);
    int32_t *d_labels = (int32_t *)gpu_copy(labels, rows * sizeof(int32_t));
    const double loss = gpu->loss_softmax(d_grad, d_dW, d_db, d_emb, d_labels, d_W, d_b, rows, D, L, grad_scale);
    char what[128], tol[96];
    if (bad_label) {
        snprintf(what, sizeof what, "softmax rows=%d D=%d L=%d label %d: loss is NaN", rows, D, L, L);
        const bool nan = loss != loss;
        printf("%-46s gpu %.9g  %s\n", what, loss, nan ? "PASS" : "FAIL");
        if (nan)
            n_passed++;
        else
            n_failed++;
    } else {
        double *e = to_double(emb, 2 * nd), *dW = to_double(W, nw), *db = to_double(b, L);
        double *ref = (double *)xmalloc(2 * nd * sizeof(double)), *ref_dW = (double *)xmalloc(nw * sizeof(double));
        double *ref_db = (double *)xmalloc(L * sizeof(double));
        const double ref_loss =
            loss_softmax(e, e + nd, labels, rows, D, L, dW, db, ref, ref + nd, ref_dW, ref_db);
        float *want = to_float_scaled(ref, 2 * nd, grad_scale), *got = host_f32(d_grad, 2 * nd);
        snprintf(what, sizeof what, "softmax rows=%d D=%d L=%d: loss", rows, D, L);
        check_value(what, loss, ref_loss, LOSS_RTOL, 1e-12);
        snprintf(what, sizeof what, "softmax rows=%d D=%d L=%d: grad", rows, D, L);
        double atol = GRAD_TOL * max_abs(want, 2 * nd) + 1e-12 * grad_scale;
        snprintf(tol, sizeof tol, "1e-4*max|ref| + 1e-12*gs = %.1e", atol);
        check(what, tol, got, want, 2 * nd, 0, atol, NULL);

        /* parameter gradients: init + grad_scale * reference, compared on the increment's scale */
        const double *refs[2] = {ref_dW, ref_db};
        const float *inits[2] = {dW0, db0};
        float *devs[2] = {d_dW, d_db};
        const size_t ns[2] = {nw, (size_t)L};
        const char *names[2] = {"dW", "db"};
        for (int k = 0; k < 2; k++) {
            float *inc = to_float_scaled(refs[k], ns[k], grad_scale), *want_k = (float *)xmalloc(ns[k] * 4);
            for (size_t i = 0; i < ns[k]; i++)
                want_k[i] = (float)((double)inits[k][i] + grad_scale * refs[k][i]);
            float *got_k = host_f32(devs[k], ns[k]);
            atol = GRAD_TOL * max_abs(inc, ns[k]) + 1e-12 * grad_scale;
            snprintf(what, sizeof what, "softmax rows=%d D=%d L=%d: %s (accumulated)", rows, D, L, names[k]);
            snprintf(tol, sizeof tol, "1e-4*max|inc| (%.1e) + 2u|ref|", atol);
            check(what, tol, got_k, want_k, ns[k], 2 * U32, atol, NULL);
            free(inc), free(want_k), free(got_k);
        }
        free(e), free(dW), free(db), free(ref), free(ref_dW), free(ref_db), free(want), free(got);
    }
    gpu->free(d_emb), gpu->free(d_W), gpu->free(d_b), gpu->free(d_dW), gpu->free(d_db), gpu->free(d_grad);
    gpu->free(d_labels);
    free(emb), free(W), free(b), free(dW0), free(db0), free(labels);
}

int main(int argc, char **argv)
{
    if (!cuda_test_start("test_cuda_train", argc, argv))
        return 77;

    const size_t sizes[] = {1, 1000, 1000003, 1 << 20};
    /* {sequences, longest, H}: rows of a multiple of 8 go 8 elements at a time */
    static const int shapes[][3] = {{1, 1, 1}, {5, 20, 50}, {7, 300, 768}, {300, 40, 64}, {2, 1500, 333}};
    for (int k = 0; k < 5; k++) {
        test_dropout(shapes[k][0], shapes[k][1], shapes[k][2], 0.1f);
        test_dropout(shapes[k][0], shapes[k][1], shapes[k][2], 0.5f);
    }
    test_dropout(5, 20, 64, 0.0f); /* a no-op */
    test_zero(4099, 5, 3001);
    test_zero(64, 0, 64);
    test_async_copy(1 << 20);
    test_async_copy(3);
    for (int k = 0; k < 3; k++)
        test_sum_squares(sizes[k]);
    test_sum_squares(25000007); /* many squares per thread */
    test_scale_f32(1000003, 0.37f);
    test_f32_to_act(1000003);
    test_adamw(1000003, true);
    test_adamw(1000, false);

    const int rows[] = {1, 16, 256}, dims[] = {384, 768, 37};
    for (int r = 0; r < 3; r++)
        for (int d = 0; d < 3; d++) {
            for (int metric = TRIPLET_EUCLIDEAN; metric <= TRIPLET_MANHATTAN; metric++)
                test_triplet(rows[r], dims[d], (TripletMetric)metric, 0.37f);
            test_mnrl(rows[r], 2, dims[d], 20.0f, 2.5f);
            test_mnrl(rows[r], 3, dims[d], 20.0f, 2.5f);
            test_softmax(rows[r], dims[d], 3, 0.5f, false);
        }
    test_mnrl(1024, 3, 384, 20.0f, 1.0f); /* the largest batch: 1024 x 2048 similarities */
    test_softmax(16, 768, 3, 1.0f, true);

    return cuda_test_finish();
}
