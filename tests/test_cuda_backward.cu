/* GPU backward-op test (label "gpu"): every backward op of the CUDA backend, and attention's
 * forward with dropout, against the CPU reference on fresh random inputs, over the encoder's
 * shapes (H 384 and 768, 12 heads of 32 or 64, ragged packed batches up to 512 tokens) and a
 * few odd ones. Skips (exit 77) where ops_cuda() finds no usable GPU.
 *
 * As in test_cuda_ops.cu: activations and GEMM weights reach the GPU through upload_act
 * (rounded to bf16) and the CPU gets the same bf16-rounded values, so the comparison measures
 * what the kernels add: the bf16 rounding of their outputs (allowed 2^-7|ref|, twice one
 * rounding) and fp32 accumulation in another order than the reference. Each check passes when
 * |gpu - cpu| <= tol_i for every element, tol_i derived per op below (u = 2^-24), as a bound
 * on both sides' rounding errors with a margin of about 2. Accumulated gradients (dw, dbias,
 * dgamma, tables) start from the same random values on both sides, which checks +=; written
 * ones start from garbage on the GPU. Per check it prints max|d|, rel and the worst ratio.
 *
 * Seed: the first argument, else the clock; printed so that a failure can be replayed. */
#include "kernels/dropout_hash.h"
#include "tests/cuda_test_util.h"

/* x[R,C] transposed to [C,R] */
static float *transposed(const float *x, int R, int C)
{
    float *t = (float *)xmalloc((size_t)R * C * sizeof(float));
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            t[(size_t)c * R + r] = x[(size_t)r * C + c];
    return t;
}

static float *zero_vec(size_t n)
{
    float *v = (float *)xmalloc(n * sizeof(float));
    memset(v, 0, n * sizeof(float));
    return v;
}

static float *abs_vec(const float *x, size_t n)
{
    float *v = dup_vec(x, n);
    for (size_t i = 0; i < n; i++)
        v[i] = fabsf(v[i]);
    return v;
}

/* A device act buffer holding garbage, so that a written output that is not written fails. */
static void *gpu_garbage_act(size_t n)
{
    float *junk = rand_vec(n, 100.0f, 200.0f, true);
    void *d = gpu_act(junk, n);
    free(junk);
    return d;
}

/* A written fp32 device buffer, filled with garbage likewise. */
static float *gpu_garbage_f32(size_t n)
{
    float *junk = rand_vec(n, 100.0f, 200.0f, false);
    float *d = (float *)gpu_copy(junk, n * sizeof(float));
    free(junk);
    return d;
}

/* Scatter-add into fp32 tables: entry i receives n_i token gradients. Any order of an fp32
 * sum of init + n_i terms is within n_i*u*(|init| + S_i) of the exact value, S_i the sum of
 * the terms' magnitudes; two sides and a margin of 2: tol_i = 4*n_i*u*(|init_i| + S_i). An
 * entry no token touches must come back unchanged. n_i and S_i come from the CPU op run on
 * ones and on |dout|. */
static void test_embed_backward(const Batch *b, int H)
{
    const int vocab = 200, n_pos = 512, n_types = 2, T = b->T; /* a small vocabulary: ids repeat */
    const int rows[3] = {vocab, n_pos, n_types};
    int32_t *ids, *positions, *types;
    random_tokens(b, vocab, n_types, &ids, &positions, &types);
    const size_t n = (size_t)T * H;
    float *dout = rand_vec(n, -1, 1, true), *abs_dout = abs_vec(dout, n), *ones = rand_vec(n, 1, 1, false);
    float *init[3], *ref[3], *count[3], *mag[3], *d_tab[3];
    for (int k = 0; k < 3; k++) {
        const size_t m = (size_t)rows[k] * H;
        init[k] = rand_vec(m, -1, 1, false);
        ref[k] = dup_vec(init[k], m);
        count[k] = zero_vec(m);
        mag[k] = zero_vec(m);
        d_tab[k] = (float *)gpu_copy(init[k], m * sizeof(float));
    }
    cpu->embed_backward(ref[0], ref[1], ref[2], dout, ids, positions, types, T, H);
    cpu->embed_backward(count[0], count[1], count[2], ones, ids, positions, types, T, H);
    cpu->embed_backward(mag[0], mag[1], mag[2], abs_dout, ids, positions, types, T, H);

    int32_t *d_ids = (int32_t *)gpu_copy(ids, T * 4), *d_positions = (int32_t *)gpu_copy(positions, T * 4);
    int32_t *d_types = (int32_t *)gpu_copy(types, T * 4);
    void *d_dout = gpu_act(dout, n);
    gpu->embed_backward(d_tab[0], d_tab[1], d_tab[2], d_dout, d_ids, d_positions, d_types, T, H);

    static const char *NAMES[3] = {"dword", "dpos", "dtype"};
    for (int k = 0; k < 3; k++) {
        const size_t m = (size_t)rows[k] * H;
        float *got = host_f32(d_tab[k], m);
        for (size_t i = 0; i < m; i++)
            mag[k][i] = (float)(4 * U32 * count[k][i] * (fabs(init[k][i]) + mag[k][i]));
        char what[128];
        snprintf(what, sizeof what, "embed_backward %s %s H=%d", NAMES[k], b->name, H);
        check(what, "4*n*u*(|init| + sum|dout|)", got, ref[k], m, 0, 0, mag[k]);
        free(got);
        gpu->free(d_tab[k]);
        free(init[k]), free(ref[k]), free(count[k]), free(mag[k]);
    }
    gpu->free(d_ids), gpu->free(d_positions), gpu->free(d_types), gpu->free(d_dout);
    free(ids), free(positions), free(types), free(dout), free(abs_dout), free(ones);
}

/* Per row, with rstd, G = max|dout*gamma|, X = max|xhat|, Z = max|x + residual|: the GPU's
 * fp32 mean is within H*u*Z and rstd within (H+4)*u relative, so xhat is within
 * (H+5)*u*(rstd*Z + |xhat|); carrying that and the fp32 means of g and g*xhat through
 * dx = rstd*(g - mean(g) - xhat*mean(g*xhat)) bounds dx's error by
 * (H+5)*u*rstd*G*(3 + 4X^2 + 2X*rstd*Z) (the reference is double). tol = 2^-7|ref| + twice that.
 * dgamma/dbeta: both sides add T fp32 terms (T*u*sum of magnitudes each), and xhat's error
 * adds sum_t |dout|*(H+5)*u*(rstd*Z + |xhat|); tol = twice their sum. */
static void test_layernorm_backward(const Batch *b, int H, bool residual)
{
    const int T = b->T;
    const size_t n = (size_t)T * H;
    const float eps = 1e-12f;
    float *x = rand_vec(n, -2.0f, 3.0f, true), *r = residual ? rand_vec(n, -2, 2, true) : NULL;
    float *gamma = rand_vec(H, 0.5f, 1.5f, false), *dout = rand_vec(n, -1, 1, true);
    float *dg0 = rand_vec(H, -1, 1, false), *db0 = rand_vec(H, -1, 1, false);
    float *ref_dx = (float *)xmalloc(n * sizeof(float)), *ref_dg = dup_vec(dg0, H), *ref_db = dup_vec(db0, H);
    cpu->layernorm_backward(ref_dx, ref_dg, ref_db, dout, x, r, gamma, T, H, eps);

    float *tol_dx = (float *)xmalloc(n * sizeof(float));
    double *mag_g = (double *)calloc(H, sizeof(double)), *mag_b = (double *)calloc(H, sizeof(double));
    double *err_g = (double *)calloc(H, sizeof(double));
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * H, *rr = r ? r + (size_t)t * H : NULL, *dy = dout + (size_t)t * H;
        double sum = 0, var = 0, Z = 0, G = 0, X = 0;
        for (int h = 0; h < H; h++)
            sum += (double)xr[h] + (rr ? rr[h] : 0.0);
        const double mean = sum / H;
        for (int h = 0; h < H; h++) {
            const double z = (double)xr[h] + (rr ? rr[h] : 0.0);
            var += (z - mean) * (z - mean);
            Z = fmax(Z, fabs(z));
        }
        const double rstd = 1.0 / sqrt(var / H + eps);
        for (int h = 0; h < H; h++) {
            const double xhat = ((double)xr[h] + (rr ? rr[h] : 0.0) - mean) * rstd;
            X = fmax(X, fabs(xhat));
            G = fmax(G, fabs((double)dy[h] * gamma[h]));
            mag_g[h] += fabs(dy[h] * xhat);
            mag_b[h] += fabs(dy[h]);
            err_g[h] += fabs(dy[h]) * (H + 5) * U32 * (rstd * Z + fabs(xhat));
        }
        const double a = 2 * (H + 5) * U32 * rstd * G * (3 + 4 * X * X + 2 * X * rstd * Z);
        for (int h = 0; h < H; h++)
            tol_dx[(size_t)t * H + h] = (float)a;
    }
    float *tol_g = (float *)xmalloc(H * sizeof(float)), *tol_b = (float *)xmalloc(H * sizeof(float));
    for (int h = 0; h < H; h++) {
        tol_g[h] = (float)(2 * (2 * T * U32 * (fabs(dg0[h]) + mag_g[h]) + err_g[h]));
        tol_b[h] = (float)(4 * T * U32 * (fabs(db0[h]) + mag_b[h]));
    }

    void *d_x = gpu_act(x, n), *d_r = r ? gpu_act(r, n) : NULL, *d_dout = gpu_act(dout, n);
    void *d_dx = gpu_garbage_act(n);
    float *d_gamma = (float *)gpu_copy(gamma, H * 4), *d_dg = (float *)gpu_copy(dg0, H * 4);
    float *d_db = (float *)gpu_copy(db0, H * 4);
    gpu->layernorm_backward(d_dx, d_dg, d_db, d_dout, d_x, d_r, d_gamma, T, H, eps);
    float *got_dx = host_act(d_dx, n), *got_dg = host_f32(d_dg, H), *got_db = host_f32(d_db, H);

    char what[128];
    const char *res = residual ? " +residual" : "";
    snprintf(what, sizeof what, "layernorm_backward dx %s H=%d%s", b->name, H, res);
    check(what, "2^-7|ref| + 2(H+5)u*rstd*G*(3+4X^2+2X*rstd*Z)", got_dx, ref_dx, n, BF16_TOL, 0, tol_dx);
    snprintf(what, sizeof what, "layernorm_backward dgamma %s H=%d%s", b->name, H, res);
    check(what, "4Tu(|init|+sum|dy*xhat|) + xhat err", got_dg, ref_dg, H, 0, 0, tol_g);
    snprintf(what, sizeof what, "layernorm_backward dbeta %s H=%d%s", b->name, H, res);
    check(what, "4Tu(|init|+sum|dy|)", got_db, ref_db, H, 0, 0, tol_b);

    gpu->free(d_x), gpu->free(d_dout), gpu->free(d_dx), gpu->free(d_gamma), gpu->free(d_dg), gpu->free(d_db);
    if (d_r)
        gpu->free(d_r);
    free(x), free(r), free(gamma), free(dout), free(dg0), free(db0), free(ref_dx), free(ref_dg), free(ref_db);
    free(tol_dx), free(mag_g), free(mag_b), free(err_g), free(tol_g), free(tol_b);
    free(got_dx), free(got_dg), free(got_db);
}

/* One GEMM-backward case: random dout [M,N], a [M,K], w [N,K] (bf16-rounded for the bf16
 * op), random initial dw and dbias, the CPU reference and per-element bounds on the
 * accumulation-order error: da within per_term*N*sum_n|dout||w|, dw within
 * per_term*M*sum_m|dout||a| + 4u|init| (beta = 1 adds init), dbias within
 * 4Mu(|init| + sum|dout|). */
typedef struct {
    float *a, *w, *dout, *dw0, *db0, *ref_da, *ref_dw, *ref_db, *tol_da, *tol_dw, *tol_db;
} GemmBackwardCase;

static GemmBackwardCase gemm_backward_case(int M, int N, int K, bool bf16, bool with_da, bool bias, double per_term)
{
    GemmBackwardCase c;
    c.a = rand_vec((size_t)M * K, -1, 1, bf16), c.w = rand_vec((size_t)N * K, -1, 1, bf16);
    c.dout = rand_vec((size_t)M * N, -1, 1, bf16);
    c.dw0 = rand_vec((size_t)N * K, -1, 1, false), c.db0 = rand_vec(N, -1, 1, false);
    c.ref_da = (float *)xmalloc((size_t)M * K * sizeof(float)), c.ref_dw = dup_vec(c.dw0, (size_t)N * K);
    c.ref_db = dup_vec(c.db0, N);
    float *da = with_da ? c.ref_da : NULL, *db = bias ? c.ref_db : NULL;
    if (bf16)
        cpu->matmul_backward(da, c.ref_dw, db, c.dout, c.a, c.w, M, N, K);
    else
        cpu->linear_f32_backward(da, c.ref_dw, db, c.dout, c.a, c.w, M, N, K);
    float *wt = transposed(c.w, N, K), *dout_t = transposed(c.dout, M, N), *at = transposed(c.a, M, K);
    c.tol_da = gemm_error_scale(c.dout, wt, M, K, N, N * per_term);
    c.tol_dw = gemm_error_scale(dout_t, at, N, K, M, M * per_term);
    for (size_t i = 0; i < (size_t)N * K; i++)
        c.tol_dw[i] += (float)(4 * U32 * fabs(c.dw0[i]));
    c.tol_db = (float *)xmalloc(N * sizeof(float));
    for (int j = 0; j < N; j++) {
        double sum = fabs(c.db0[j]);
        for (int m = 0; m < M; m++)
            sum += fabs(c.dout[(size_t)m * N + j]);
        c.tol_db[j] = (float)(4 * M * U32 * sum);
    }
    free(wt), free(dout_t), free(at);
    return c;
}

static void gemm_backward_case_free(GemmBackwardCase *c)
{
    float *all[] = {c->a, c->w, c->dout, c->dw0, c->db0, c->ref_da, c->ref_dw, c->ref_db, c->tol_da, c->tol_dw,
                    c->tol_db};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        free(all[i]);
}

/* As the forward GEMM test: bf16 products are exact in fp32, so each GEMM differs from the
 * reference by the accumulation order (allowing 2^-23 per term for tensor-core truncation:
 * per_term = 8u) plus, for da, the output rounding (2^-7|ref|); dw also has the beta = 1
 * addition (2^-22|ref|). `offset` shifts every operand (bf16 and fp32) by that many
 * elements, so cuBLASLt must cope with 2- and 4-byte aligned pointers. */
static void test_matmul_backward(int M, int N, int K, bool bias, bool with_da, int offset)
{
    GemmBackwardCase c = gemm_backward_case(M, N, K, true, with_da, bias, 8 * U32);
    const size_t es = gpu->act_size;
    char *d_a = (char *)gpu->alloc(((size_t)M * K + offset) * es),
         *d_w = (char *)gpu->alloc(((size_t)N * K + offset) * es);
    char *d_dout = (char *)gpu->alloc(((size_t)M * N + offset) * es),
         *d_da = (char *)gpu->alloc(((size_t)M * K + offset) * es);
    float *d_dw = (float *)gpu->alloc(((size_t)N * K + offset) * 4),
          *d_db = (float *)gpu->alloc(((size_t)N + offset) * 4);
    gpu->upload_act(d_a + offset * es, c.a, (size_t)M * K);
    gpu->upload_act(d_w + offset * es, c.w, (size_t)N * K);
    gpu->upload_act(d_dout + offset * es, c.dout, (size_t)M * N);
    float *junk = rand_vec((size_t)M * K, 100, 200, true);
    gpu->upload_act(d_da + offset * es, junk, (size_t)M * K);
    gpu->copy_to_device(d_dw + offset, c.dw0, (size_t)N * K * 4);
    gpu->copy_to_device(d_db + offset, c.db0, (size_t)N * 4);
    gpu->matmul_backward(with_da ? d_da + offset * es : NULL, d_dw + offset, bias ? d_db + offset : NULL,
                         d_dout + offset * es, d_a + offset * es, d_w + offset * es, M, N, K);
    float *got_da = host_act(d_da + offset * es, (size_t)M * K), *got_dw = host_f32(d_dw + offset, (size_t)N * K);
    float *got_db = host_f32(d_db + offset, N);

    char what[192], shape[96];
    snprintf(shape, sizeof shape, "M=%d N=%d K=%d%s%s", M, N, K, bias ? " +bias" : "", offset ? " misaligned" : "");
    if (with_da) {
        snprintf(what, sizeof what, "matmul_backward da %s", shape);
        check(what, "2^-7|ref| + N*2^-21*sum|dout||w|", got_da, c.ref_da, (size_t)M * K, BF16_TOL, 0, c.tol_da);
    } else {
        snprintf(what, sizeof what, "matmul_backward da=NULL leaves it %s", shape);
        check(what, "0 (untouched)", got_da, junk, (size_t)M * K, 0, 0, NULL);
    }
    snprintf(what, sizeof what, "matmul_backward dw %s", shape);
    check(what, "2^-22|ref| + M*2^-21*sum|dout||a| + 2^-22|init|", got_dw, c.ref_dw, (size_t)N * K, 4 * U32, 0,
          c.tol_dw);
    snprintf(what, sizeof what, "matmul_backward dbias %s", shape);
    check(what, bias ? "4Mu(|init|+sum|dout|)" : "0 (NULL: untouched)", got_db, bias ? c.ref_db : c.db0, N, 0, 0,
          bias ? c.tol_db : NULL);

    gpu->free(d_a), gpu->free(d_w), gpu->free(d_dout), gpu->free(d_da), gpu->free(d_dw), gpu->free(d_db);
    gemm_backward_case_free(&c);
    free(junk), free(got_da), free(got_dw), free(got_db);
}

/* gelu'(v) = cdf + v*pdf is at most ~1.13; CUDA's erff/expf are within 2 ulp, the CPU's
 * vm_erff within 1.5e-7 absolute and vm_expf 2 ulp, so gelu' differs by well under 1e-6:
 * dpre tol = 2^-7|ref| + 2e-6 (|dout| <= 1). dbias sums T values of dpre (the GPU before
 * rounding them): 4Tu(|init| + sum|dpre|) for the order plus T*2e-6 for gelu'. `in_place`
 * passes dpre == dout, as the trainer does. */
static void test_bias_gelu_backward(int T, int N, bool bias, bool in_place)
{
    const size_t n = (size_t)T * N;
    float *pre = rand_vec(n, -4, 4, true), *dout = rand_vec(n, -1, 1, true);
    float *b = bias ? rand_vec(N, -1, 1, false) : NULL, *db0 = rand_vec(N, -1, 1, false);
    float *ref = (float *)xmalloc(n * sizeof(float)), *ref_db = dup_vec(db0, N);
    cpu->bias_gelu_backward(ref, bias ? ref_db : NULL, dout, pre, b, T, N);
    float *tol_db = (float *)xmalloc(N * sizeof(float));
    for (int j = 0; j < N; j++) {
        double s = fabs(db0[j]);
        for (int t = 0; t < T; t++)
            s += fabs(ref[(size_t)t * N + j]);
        tol_db[j] = (float)(4 * T * U32 * s + T * 2e-6);
    }

    void *d_pre = gpu_act(pre, n), *d_dout = gpu_act(dout, n), *d_dpre = in_place ? d_dout : gpu_garbage_act(n);
    float *d_b = b ? (float *)gpu_copy(b, N * 4) : NULL, *d_db = (float *)gpu_copy(db0, N * 4);
    gpu->bias_gelu_backward(d_dpre, bias ? d_db : NULL, d_dout, d_pre, d_b, T, N);
    float *got = host_act(d_dpre, n), *got_db = host_f32(d_db, N);

    char what[128];
    snprintf(what, sizeof what, "bias_gelu_backward dpre T=%d N=%d%s%s", T, N, bias ? "" : " (no bias)",
             in_place ? " in place" : "");
    check(what, "2^-7|ref| + 2e-6", got, ref, n, BF16_TOL, 2e-6, NULL);
    snprintf(what, sizeof what, "bias_gelu_backward dbias T=%d N=%d%s", T, N, bias ? "" : " (NULL: untouched)");
    check(what, bias ? "4Tu(|init|+sum|dpre|) + T*2e-6" : "0", got_db, bias ? ref_db : db0, N, 0, 0,
          bias ? tol_db : NULL);

    gpu->free(d_pre), gpu->free(d_dout), gpu->free(d_db);
    if (!in_place)
        gpu->free(d_dpre);
    if (d_b)
        gpu->free(d_b);
    free(pre), free(dout), free(b), free(db0), free(ref), free(ref_db), free(tol_db), free(got), free(got_db);
}

/* Attention, forward with dropout and backward, against the CPU with the same seed (the
 * masks are the same hash, so every kept/dropped decision must agree and the differences stay
 * at rounding level). The tolerances come from an error model evaluated in double for every
 * (sequence, head), with m_ij the mask factor (0, 1/(1-p), or 1 without dropout):
 *   scores: both sides' fp32 dot products are within es_ij = (hd+1)*u*scale*sum_d|q_id||k_jd|
 *     each; softmax turns that into a relative error of p_ij of at most
 *     r_i = 2*2*max_j es_ij + (2L + 16 + 2 max_j|s_ij - max s_i|)*u (fp32 sums of L terms, 2 ulp
 *     expf, the argument's rounding), both sides counted; exp results below fp32's normal range
 *     (peaked rows) lose their relative precision, so p_ij is within ep_ij = p_ij r_i + 2^-125;
 *   dp_ij = m_ij (do_i . v_j): within edp_ij = 2(hd+1)*u*m_ij*sum_d|do_id||v_jd| + u|dp_ij|;
 *   delta_i = sum_j p_ij dp_ij: within edl_i = sum_j (ep_ij|dp_ij| + p_ij edp_ij) + (L+1)u sum_j p_ij|dp_ij|;
 *   ds_ij = p_ij (dp_ij - delta_i): within eds_ij = ep_ij|dp_ij - delta_i| + p_ij (edp_ij + edl_i) + 2u|ds_ij|;
 *   a weighted sum of L rows adds (L+1)u times the sum of magnitudes. So
 *     out_id:  sum_j m_ij (ep_ij + (L+1)u p_ij) |v_jd|      dv_jd: sum_i m_ij (ep_ij + (L+1)u p_ij) |do_id|
 *     dq_id:   scale sum_j (eds_ij + (L+1)u|ds_ij|) |k_jd|  dk_jd: scale sum_i (eds_ij + (L+1)u|ds_ij|) |q_id|
 * The tensor-core path (kernels/cuda/attention_tc.cu) also rounds p_ij m_ij and ds_ij to bf16
 * (relative 2^-8 each) before their products, so every p_ij m_ij above carries 2^-8 p_ij m_ij
 * more, every |ds_ij| 2^-8 |ds_ij| more, and delta_i (= do_i . out_i there) 2^-8 sum_j p_ij|dp_ij|.
 * tol = 2^-7|ref| + twice the bound. qk_range 12 makes the softmax peaked, with scores
 * that overflow expf unless the row maximum is subtracted. */
typedef struct {
    float *out, *dq, *dk, *dv; /* per element [T, D] bounds */
} AttnTol;

static AttnTol attention_error_model(const Batch *b, const float *qkv, const float *dout, int heads, int hd,
                                     float dropout_p, uint64_t seed, DropoutKeys keys)
{
    const int T = b->T, D = heads * hd, row = 3 * D;
    const double scale = 1.0 / sqrt((double)hd), keep_scale = 1.0f / (1.0f - dropout_p);
    AttnTol tol = {zero_vec((size_t)T * D), zero_vec((size_t)T * D), zero_vec((size_t)T * D), zero_vec((size_t)T * D)};
    const size_t cap = (size_t)(b->max_seqlen > 0 ? b->max_seqlen : 1);
    double *w_v = (double *)xmalloc(cap * cap * sizeof(double)), *w_ds = (double *)xmalloc(cap * cap * sizeof(double));
    double *s = (double *)xmalloc(cap * sizeof(double)), *p = (double *)xmalloc(cap * sizeof(double));
    double *dp = (double *)xmalloc(cap * sizeof(double)), *edp = (double *)xmalloc(cap * sizeof(double));
    double *m = (double *)xmalloc(cap * sizeof(double));
    for (int sq = 0; sq < b->n_seqs; sq++) {
        const int start = b->cu_seqlens[sq], L = b->cu_seqlens[sq + 1] - start;
        const uint64_t seq_seed = se_dropout_seq_seed(seed, keys, sq);
        for (int h = 0; h < heads; h++) {
#define Q(i) (qkv + (size_t)(start + (i)) * row + h * hd)
#define K(j) (qkv + (size_t)(start + (j)) * row + D + h * hd)
#define V(j) (qkv + (size_t)(start + (j)) * row + 2 * D + h * hd)
#define G(i) (dout + (size_t)(start + (i)) * D + h * hd)
            for (int i = 0; i < L; i++) {
                double mx = -INFINITY, es_max = 0;
                for (int j = 0; j < L; j++) {
                    double dot = 0, mag = 0, gv = 0, gv_mag = 0;
                    for (int d = 0; d < hd; d++) {
                        dot += (double)Q(i)[d] * K(j)[d];
                        mag += fabs((double)Q(i)[d] * K(j)[d]);
                        gv += (double)G(i)[d] * V(j)[d];
                        gv_mag += fabs((double)G(i)[d] * V(j)[d]);
                    }
                    const bool kept =
                        se_dropout_uniform(seq_seed, se_attn_dropout_index(i, heads, h, j)) >= dropout_p;
                    m[j] = dropout_p > 0 ? (kept ? keep_scale : 0.0) : 1.0;
                    s[j] = dot * scale;
                    dp[j] = m[j] * gv;
                    edp[j] = 2 * (hd + 1) * U32 * m[j] * gv_mag + U32 * fabs(dp[j]);
                    mx = fmax(mx, s[j]);
                    es_max = fmax(es_max, (hd + 1) * U32 * scale * mag);
                }
                double sum = 0, spread = 0;
                for (int j = 0; j < L; j++) {
                    sum += p[j] = exp(s[j] - mx);
                    spread = fmax(spread, mx - s[j]);
                }
                const double r = 4 * es_max + (2.0 * L + 16 + 2 * spread) * U32, floor = ldexp(1.0, -125);
                double delta = 0, pdp = 0, edl = 0;
                for (int j = 0; j < L; j++) {
                    p[j] /= sum;
                    delta += p[j] * dp[j];
                    pdp += p[j] * fabs(dp[j]);
                    edl += (p[j] * r + floor) * fabs(dp[j]) + p[j] * edp[j];
                }
                edl += (L + 1) * U32 * pdp + BF16_U * pdp;
                for (int j = 0; j < L; j++) {
                    const double ep = p[j] * r + floor, ds = p[j] * (dp[j] - delta);
                    const double eds = ep * fabs(dp[j] - delta) + p[j] * (edp[j] + edl) + 2 * U32 * fabs(ds);
                    w_ds[(size_t)i * L + j] = eds + ((L + 1) * U32 + BF16_U) * fabs(ds);
                    w_v[(size_t)i * L + j] = m[j] * (ep + ((L + 1) * U32 + BF16_U) * p[j]);
                }
            }
            for (int i = 0; i < L; i++)
                for (int d = 0; d < hd; d++) {
                    double o = 0, dq = 0, dk = 0, dv = 0;
                    for (int j = 0; j < L; j++) {
                        o += w_v[(size_t)i * L + j] * fabs(V(j)[d]);
                        dq += w_ds[(size_t)i * L + j] * fabs(K(j)[d]);
                        dk += w_ds[(size_t)j * L + i] * fabs(Q(j)[d]); /* i plays the key here */
                        dv += w_v[(size_t)j * L + i] * fabs(G(j)[d]);
                    }
                    const size_t at = (size_t)(start + i) * D + h * hd + d;
                    tol.out[at] = (float)(2 * o);
                    tol.dq[at] = (float)(2 * scale * dq);
                    tol.dk[at] = (float)(2 * scale * dk);
                    tol.dv[at] = (float)(2 * dv);
                }
#undef Q
#undef K
#undef V
#undef G
        }
    }
    free(w_v), free(w_ds), free(s), free(p), free(dp), free(edp), free(m);
    return tol;
}

/* part 0, 1, 2 (Q, K, V) of dqkv [T, 3D] as [T, D] */
static float *qkv_part(const float *dqkv, int T, int D, int part)
{
    float *x = (float *)xmalloc((size_t)T * D * sizeof(float));
    for (int t = 0; t < T; t++)
        memcpy(x + (size_t)t * D, dqkv + (size_t)t * 3 * D + (size_t)part * D, D * sizeof(float));
    return x;
}

static void test_attention_backward(const Batch *b, int heads, int hd, float qk_range, float dropout_p)
{
    const int T = b->T, D = heads * hd;
    float *qkv = (float *)xmalloc((size_t)T * 3 * D * sizeof(float));
    for (int t = 0; t < T; t++)
        for (int c = 0; c < 3 * D; c++) {
            const float range = c < 2 * D ? qk_range : 1.0f;
            qkv[(size_t)t * 3 * D + c] = bf16_round(rng_uniform(-range, range));
        }
    float *dout = rand_vec((size_t)T * D, -1, 1, true);
    const uint64_t seed = rng_next();
    const DropoutKeys keys = random_keys(b->n_seqs);
    float *ref_out = (float *)xmalloc((size_t)T * D * sizeof(float));
    float *ref_dqkv = (float *)xmalloc((size_t)T * 3 * D * sizeof(float));
    cpu->attention(ref_out, qkv, b->cu_seqlens, b->n_seqs, b->max_seqlen, heads, hd, dropout_p, seed, keys);
    cpu->attention_backward(ref_dqkv, dout, qkv, b->cu_seqlens, b->n_seqs, b->max_seqlen, heads, hd, dropout_p, seed,
                            keys);
    const AttnTol tol = attention_error_model(b, qkv, dout, heads, hd, dropout_p, seed, keys);

    void *d_qkv = gpu_act(qkv, (size_t)T * 3 * D), *d_dout = gpu_act(dout, (size_t)T * D);
    void *d_out = gpu_garbage_act((size_t)T * D), *d_dqkv = gpu_garbage_act((size_t)T * 3 * D);
    int32_t *d_cu = (int32_t *)gpu_copy(b->cu_seqlens, (b->n_seqs + 1) * 4);
    gpu->attention(d_out, d_qkv, d_cu, b->n_seqs, b->max_seqlen, heads, hd, dropout_p, seed, keys);
    gpu->attention_backward(d_dqkv, d_dout, d_qkv, d_cu, b->n_seqs, b->max_seqlen, heads, hd, dropout_p, seed, keys);
    float *got_out = host_act(d_out, (size_t)T * D), *got_dqkv = host_act(d_dqkv, (size_t)T * 3 * D);

    char what[160], desc[96];
    snprintf(desc, sizeof desc, "%s %dx%d%s p=%g", b->name, heads, hd, qk_range > 1 ? " peaked" : "", dropout_p);
    snprintf(what, sizeof what, "attention forward %s", desc);
    check(what, "2^-7|ref| + 2*model (see source)", got_out, ref_out, (size_t)T * D, BF16_TOL, 0, tol.out);
    static const char *PARTS[3] = {"dQ", "dK", "dV"};
    const float *part_tol[3] = {tol.dq, tol.dk, tol.dv};
    for (int part = 0; part < 3; part++) {
        float *got = qkv_part(got_dqkv, T, D, part), *ref = qkv_part(ref_dqkv, T, D, part);
        snprintf(what, sizeof what, "attention_backward %s %s", PARTS[part], desc);
        check(what, "2^-7|ref| + 2*model (see source)", got, ref, (size_t)T * D, BF16_TOL, 0, part_tol[part]);
        free(got), free(ref);
    }

    gpu->free(d_qkv), gpu->free(d_dout), gpu->free(d_out), gpu->free(d_dqkv), gpu->free(d_cu);
    free(qkv), free(dout), free(ref_out), free(ref_dqkv), free(got_out), free(got_dqkv);
    free(tol.out), free(tol.dq), free(tol.dk), free(tol.dv);
}

/* Every mode computes the same fp32 value as the CPU (a copy, or one IEEE division by len or
 * sqrtf(len)) and rounds it once: the GPU must return exactly the bf16 rounding of the
 * reference. A third of the columns hold integers, so the maximum is tied in many of them
 * and max must pick the first of the tied rows, as the CPU does. */
static void test_pool_backward(const Batch *b, int H, PoolMode mode)
{
    static const char *NAMES[] = {"mean", "cls", "max", "mean_sqrt_len"};
    const int T = b->T, N = b->n_seqs;
    float *x = rand_vec((size_t)T * H, -2, 2, true), *dout = rand_vec((size_t)N * H, -1, 1, false);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h += 3)
            x[(size_t)t * H + h] = rintf(x[(size_t)t * H + h]);
    float *ref = (float *)xmalloc((size_t)T * H * sizeof(float));
    cpu->pool_backward(ref, dout, x, b->cu_seqlens, N, H, mode);
    for (size_t i = 0; i < (size_t)T * H; i++)
        ref[i] = bf16_round(ref[i]);

    void *d_x = gpu_act(x, (size_t)T * H), *d_dx = gpu_garbage_act((size_t)T * H);
    float *d_dout = (float *)gpu_copy(dout, (size_t)N * H * 4);
    int32_t *d_cu = (int32_t *)gpu_copy(b->cu_seqlens, (N + 1) * 4);
    gpu->pool_backward(d_dx, d_dout, d_x, d_cu, N, H, mode);
    float *got = host_act(d_dx, (size_t)T * H);
    char what[128];
    snprintf(what, sizeof what, "pool_backward %s %s H=%d", NAMES[mode], b->name, H);
    check(what, "0 (bf16 of the same fp32 value)", got, ref, (size_t)T * H, 0, 0, NULL);
    gpu->free(d_x), gpu->free(d_dx), gpu->free(d_dout), gpu->free(d_cu);
    free(x), free(dout), free(ref), free(got);
}

/* fp32 on both sides: each GEMM within inner*u*sum|x||y| per side, so per_term = 4u (margin 2)
 * and tol = 2^-22|ref| + the case's bounds. */
static void test_linear_backward(int M, int N, int K, bool with_da)
{
    GemmBackwardCase c = gemm_backward_case(M, N, K, false, with_da, true, 4 * U32);
    float *d_a = (float *)gpu_copy(c.a, (size_t)M * K * 4), *d_w = (float *)gpu_copy(c.w, (size_t)N * K * 4);
    float *d_dout = (float *)gpu_copy(c.dout, (size_t)M * N * 4), *d_da = gpu_garbage_f32((size_t)M * K);
    float *d_dw = (float *)gpu_copy(c.dw0, (size_t)N * K * 4), *d_db = (float *)gpu_copy(c.db0, N * 4);
    gpu->linear_f32_backward(with_da ? d_da : NULL, d_dw, d_db, d_dout, d_a, d_w, M, N, K);
    float *got_da = host_f32(d_da, (size_t)M * K), *got_dw = host_f32(d_dw, (size_t)N * K);
    float *got_db = host_f32(d_db, N);

    char what[128];
    if (with_da) {
        snprintf(what, sizeof what, "linear_f32_backward da M=%d N=%d K=%d", M, N, K);
        check(what, "2^-22|ref| + N*2^-22*sum|dout||w|", got_da, c.ref_da, (size_t)M * K, 4 * U32, 0, c.tol_da);
    }
    snprintf(what, sizeof what, "linear_f32_backward dw M=%d N=%d K=%d%s", M, N, K, with_da ? "" : " (da NULL)");
    check(what, "2^-22|ref| + M*2^-22*sum|dout||a| + 2^-22|init|", got_dw, c.ref_dw, (size_t)N * K, 4 * U32, 0,
          c.tol_dw);
    snprintf(what, sizeof what, "linear_f32_backward dbias M=%d N=%d K=%d", M, N, K);
    check(what, "4Mu(|init|+sum|dout|)", got_db, c.ref_db, N, 0, 0, c.tol_db);

    gpu->free(d_a), gpu->free(d_w), gpu->free(d_dout), gpu->free(d_da), gpu->free(d_dw), gpu->free(d_db);
    gemm_backward_case_free(&c);
    free(got_da), free(got_dw), free(got_db);
}

/* 1 + 2^-15 needs more mantissa bits than TF32's 10, and every partial sum of 64 such terms
 * is exact in fp32: with dout = 1 (64 x 64) and a = w = 1 + 2^-15 (64 x 4), da and dw are
 * exactly 64 + 2^-9 in fp32 and 64 under TF32; dbias is 64. */
static void test_linear_backward_not_tf32(void)
{
    const int M = 64, N = 64, K = 4;
    float *dout = rand_vec(M * N, 1, 1, false), *a = rand_vec(M * K, 1, 1, false), *w = rand_vec(N * K, 1, 1, false);
    for (int i = 0; i < M * K; i++)
        a[i] = w[i] = 1.0f + 1.0f / 32768;
    float *want = rand_vec(M * K, 64.0f + 1.0f / 512, 64.0f + 1.0f / 512, false), *want_db = rand_vec(N, 64, 64, false);
    float *d_dout = (float *)gpu_copy(dout, M * N * 4), *d_a = (float *)gpu_copy(a, M * K * 4);
    float *d_w = (float *)gpu_copy(w, N * K * 4), *d_da = gpu_garbage_f32(M * K);
    float *zeros = zero_vec(N * K), *d_dw = (float *)gpu_copy(zeros, N * K * 4),
          *d_db = (float *)gpu_copy(zeros, N * 4);
    gpu->linear_f32_backward(d_da, d_dw, d_db, d_dout, d_a, d_w, M, N, K);
    float *got_da = host_f32(d_da, M * K), *got_dw = host_f32(d_dw, N * K), *got_db = host_f32(d_db, N);
    check("linear_f32_backward da is fp32, not TF32", "0 (exact)", got_da, want, M * K, 0, 0, NULL);
    check("linear_f32_backward dw is fp32, not TF32", "0 (exact)", got_dw, want, N * K, 0, 0, NULL);
    check("linear_f32_backward dbias of ones", "0 (exact)", got_db, want_db, N, 0, 0, NULL);
    gpu->free(d_dout), gpu->free(d_a), gpu->free(d_w), gpu->free(d_da), gpu->free(d_dw), gpu->free(d_db);
    free(dout), free(a), free(w), free(zeros), free(want), free(want_db), free(got_da), free(got_dw), free(got_db);
}

/* dx = dout*(1 - y^2): the GPU may fuse 1 - y*y into one FMA where the CPU rounds y*y first,
 * which differs by u*y^2 <= u absolute inside the parenthesis; with the two products'
 * roundings: |d| <= u|dout| + 4u|ref|, doubled. `in_place` passes dx == dout, as the trainer. */
static void test_tanh_backward(size_t n, bool in_place)
{
    float *y = rand_vec(n, -5, 5, false), *dout = rand_vec(n, -1, 1, false);
    for (size_t i = 0; i < n; i++)
        y[i] = tanhf(y[i]);
    float *ref = (float *)xmalloc(n * sizeof(float)), *tol = abs_vec(dout, n);
    cpu->tanh_backward(ref, dout, y, n);
    for (size_t i = 0; i < n; i++)
        tol[i] = (float)(2 * U32 * tol[i]);
    float *d_y = (float *)gpu_copy(y, n * 4), *d_dout = (float *)gpu_copy(dout, n * 4);
    float *d_dx = in_place ? d_dout : gpu_garbage_f32(n);
    gpu->tanh_backward(d_dx, d_dout, d_y, n);
    float *got = host_f32(d_dx, n);
    char what[128];
    snprintf(what, sizeof what, "tanh_backward n=%zu%s", n, in_place ? " in place" : "");
    check(what, "2^-21|ref| + 2u|dout|", got, ref, n, 8 * U32, 0, tol);
    gpu->free(d_y), gpu->free(d_dout);
    if (!in_place)
        gpu->free(d_dx);
    free(y), free(dout), free(ref), free(tol), free(got);
}

/* With n the clamped norm and y = x/n: the fp32 sums of D terms (squares, x*dout) are within
 * D*u of their magnitudes, so dx = (dout - y<y,dout>)/n is within
 * (D+8)*u*(|dout_i| + |y_i| sum_d|y_d dout_d|)/n; tol = twice that + 2^-22|ref|. Row 0 is zero
 * and row 1 has a norm below 1e-12, so both take the clamp (dx = dout / 1e-12). `in_place`
 * passes dx == dout, as the trainer does. */
static void test_normalize_backward(int N, int D, bool in_place)
{
    const size_t n = (size_t)N * D;
    float *x = rand_vec(n, -1, 1, false), *dout = rand_vec(n, -1, 1, false);
    for (int d = 0; d < D; d++) {
        x[d] = 0.0f;
        x[D + d] *= 1e-14f;
    }
    float *ref = (float *)xmalloc(n * sizeof(float)), *tol = (float *)xmalloc(n * sizeof(float));
    cpu->normalize_backward(ref, dout, x, N, D);
    for (int r = 0; r < N; r++) {
        const float *v = x + (size_t)r * D, *g = dout + (size_t)r * D;
        double ss = 0, yg = 0;
        for (int d = 0; d < D; d++)
            ss += (double)v[d] * v[d];
        const double inv = 1.0 / fmax(sqrt(ss), 1e-12);
        for (int d = 0; d < D; d++)
            yg += fabs(v[d] * inv * g[d]);
        for (int d = 0; d < D; d++)
            tol[(size_t)r * D + d] = (float)(2 * (D + 8) * U32 * inv * (fabs(g[d]) + fabs(v[d] * inv) * yg));
    }
    float *d_x = (float *)gpu_copy(x, n * 4), *d_dout = (float *)gpu_copy(dout, n * 4);
    float *d_dx = in_place ? d_dout : gpu_garbage_f32(n);
    gpu->normalize_backward(d_dx, d_dout, d_x, N, D);
    float *got = host_f32(d_dx, n);
    char what[128];
    snprintf(what, sizeof what, "normalize_backward N=%d D=%d%s", N, D, in_place ? " in place" : "");
    check(what, "2^-22|ref| + 2(D+8)u(|dout|+|y|sum|y*dout|)/n", got, ref, n, 4 * U32, 0, tol);
    gpu->free(d_x), gpu->free(d_dout);
    if (!in_place)
        gpu->free(d_dx);
    free(x), free(dout), free(ref), free(tol), free(got);
}

/* The same fp32 sum of two bf16 values on both sides, rounded once on the GPU: exact. */
static void test_add_act(size_t n)
{
    float *y = rand_vec(n, -1, 1, true), *x = rand_vec(n, -1, 1, true);
    void *d_y = gpu_act(y, n), *d_x = gpu_act(x, n);
    cpu->add_act(y, x, n);
    for (size_t i = 0; i < n; i++)
        y[i] = bf16_round(y[i]);
    gpu->add_act(d_y, d_x, n);
    float *got = host_act(d_y, n);
    char what[128];
    snprintf(what, sizeof what, "add_act n=%zu", n);
    check(what, "0 (bf16 of the same fp32 sum)", got, y, n, 0, 0, NULL);
    gpu->free(d_y), gpu->free(d_x);
    free(y), free(x), free(got);
}

int main(int argc, char **argv)
{
    if (!cuda_test_start("test_cuda_backward", argc, argv))
        return 77;

    const int lens_a[] = {1, 7, 33, 128, 300}, lens_b[] = {512, 3, 64}, lens_c[] = {1}, lens_d[] = {5, 2};
    const Batch ba = make_batch("[1,7,33,128,300]", lens_a, 5), bb = make_batch("[512,3,64]", lens_b, 3);
    const Batch bc = make_batch("[1]", lens_c, 1), bd = make_batch("[5,2]", lens_d, 2);

    for (int H = 384; H <= 768; H += 384) {
        test_embed_backward(&ba, H);
        test_layernorm_backward(&ba, H, false);
        test_layernorm_backward(&ba, H, true);
    }
    test_embed_backward(&bb, 768);
    test_embed_backward(&bc, 384);
    test_layernorm_backward(&bb, 768, true);
    test_layernorm_backward(&bd, 100, true); /* H % 8 != 0: the block-per-row kernel */
    test_layernorm_backward(&ba, 1024, true); /* the warp-per-row kernel's widest rows */
    test_layernorm_backward(&bd, 64, false);  /* ... and a row a quarter of a warp wide */

    /* The encoder's GEMMs (QKV, output, FFN up and down) for both widths, then odd shapes. */
    test_matmul_backward(ba.T, 3 * 384, 384, true, true, 0);
    test_matmul_backward(ba.T, 384, 384, true, true, 0);
    test_matmul_backward(ba.T, 1536, 384, false, true, 0);
    test_matmul_backward(ba.T, 384, 1536, true, true, 0);
    test_matmul_backward(bb.T, 3 * 768, 768, true, true, 0);
    test_matmul_backward(bb.T, 3072, 768, false, true, 0);
    test_matmul_backward(bb.T, 768, 3072, true, true, 0);
    test_matmul_backward(ba.T, 384, 384, true, false, 0);
    test_matmul_backward(1, 1, 1, true, true, 0);
    test_matmul_backward(5, 3, 7, true, true, 0);
    test_matmul_backward(37, 50, 24, true, true, 1);
    test_matmul_backward(ba.T, 384, 384, true, true, 3);

    test_bias_gelu_backward(ba.T, 1536, true, true);
    test_bias_gelu_backward(bb.T, 3072, true, true);
    test_bias_gelu_backward(ba.T, 1536, true, false);
    test_bias_gelu_backward(7, 33, false, false);
    test_bias_gelu_backward(ba.T, 392, true, false); /* a row tile with idle threads in the dbias sum */

    for (int drop = 0; drop < 2; drop++) {
        const float p = drop ? 0.1f : 0.0f;
        test_attention_backward(&ba, 12, 32, 1.0f, p);
        test_attention_backward(&ba, 12, 64, 1.0f, p);
        test_attention_backward(&bb, 12, 32, 1.0f, p);
        test_attention_backward(&bb, 12, 64, 1.0f, p);
    }
    test_attention_backward(&ba, 12, 64, 12.0f, 0.0f);
    test_attention_backward(&ba, 12, 64, 12.0f, 0.1f);
    test_attention_backward(&bc, 12, 64, 1.0f, 0.1f);
    test_attention_backward(&bd, 3, 80, 1.0f, 0.1f);

    for (int mode = POOL_MEAN; mode <= POOL_MEAN_SQRT_LEN; mode++) {
        test_pool_backward(&ba, 384, (PoolMode)mode);
        test_pool_backward(&ba, 768, (PoolMode)mode);
        test_pool_backward(&bb, 768, (PoolMode)mode);
    }

    test_linear_backward(16, 256, 768, true);
    test_linear_backward(16, 3, 3 * 768, true);
    test_linear_backward(5, 7, 3, true);
    test_linear_backward(16, 256, 768, false);
    test_linear_backward_not_tf32();
    test_tanh_backward(16 * 256 + 3, false);
    test_tanh_backward(16 * 256 + 3, true);
    test_normalize_backward(16, 384, false);
    test_normalize_backward(16, 768, true);
    test_normalize_backward(3, 5, true);
    test_add_act((size_t)ba.T * 768);
    test_add_act(1001);

    return cuda_test_finish();
}
