/* Gradient checks of every CPU backward op: the analytic gradient (our fp32 backward, with
 * dout = c) against central finite differences in double of an independent double
 * forward, for the loss L = sum_i c_i * out_i with random c. Each double forward is also
 * held against our fp32 forward, so both sides compute the same function. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/dropout_hash.h"
#include "tests/check.h"

static unsigned rng = 2024;
static double drand(void) /* uniform in [-1, 1) */
{
    rng = rng * 1664525u + 1013904223u;
    return (double)(rng >> 8) / 8388608.0 - 1.0;
}

typedef void (*ForwardD)(const double *in, double *out, const void *ctx);

static double loss(ForwardD f, const double *in, const double *c, size_t n_out, const void *ctx)
{
    double *out = calloc(n_out, sizeof *out), l = 0;
    f(in, out, ctx);
    for (size_t i = 0; i < n_out; i++)
        l += c[i] * out[i];
    free(out);
    return l;
}

static void numeric_grad(ForwardD f, const double *in, size_t n_in, const double *c, size_t n_out, const void *ctx,
                         double *g)
{
    double *x = malloc(n_in * sizeof *x);
    memcpy(x, in, n_in * sizeof *x);
    for (size_t i = 0; i < n_in; i++) {
        const double h = 1e-5 * fmax(1.0, fabs(in[i]));
        x[i] = in[i] + h;
        double lp = loss(f, x, c, n_out, ctx);
        x[i] = in[i] - h;
        double lm = loss(f, x, c, n_out, ctx);
        x[i] = in[i];
        g[i] = (lp - lm) / (2 * h);
    }
    free(x);
}

/* fp32 analytic vs double numeric: fp32 rounding of O(1) values leaves ~1e-6 relative. */
static void compare(const char *name, const float *analytic, const double *numeric, size_t n)
{
    double worst = 0, scale = 1;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(numeric[i]));
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(analytic[i] - numeric[i]));
    CHECK(worst <= 1e-4 * scale, "%s: max |analytic - numeric| = %.3g (scale %.3g)", name, worst, scale);
    printf("  %-28s max |diff| %.2e  (max |grad| %.2e, %zu values)\n", name, worst, scale, n);
}

static void compare_forward(const char *name, const float *ours, const double *ref, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(ours[i] - ref[i]));
    CHECK(worst <= 1e-5, "%s forward: our fp32 and the double reference differ by %.3g", name, worst);
}

static float *to_float(const double *d, size_t n)
{
    float *f = malloc((n ? n : 1) * sizeof *f);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)d[i];
    return f;
}

static double *random_vec(size_t n, double scale, double offset)
{
    double *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = offset + scale * drand();
    return v;
}

/* ---- shapes shared by the cases ---- */
enum { T = 9, H = 6, V = 7, P = 10, N_SEQ = 3, HEADS = 2, HD = 3, I = 5 };
static const int32_t CU[N_SEQ + 1] = {0, 1, 5, 9}; /* lengths 1, 4, 4 */
static const int32_t IDS[T] = {3, 1, 4, 1, 5, 6, 2, 6, 0}, POS[T] = {0, 0, 1, 2, 3, 0, 1, 2, 3},
                     TYPES[T] = {0, 0, 1, 1, 0, 1, 0, 0, 1};

static void embed_d(const double *in, double *out, const void *ctx)
{
    const double *word = in, *pos = in + V * H, *type = pos + P * H;
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++)
            out[t * H + h] = word[IDS[t] * H + h] + pos[POS[t] * H + h] + type[TYPES[t] * H + h];
}

static void ln_d(const double *in, double *out, const void *ctx)
{
    const double *x = in, *r = in + T * H, *g = r + T * H, *b = g + H;
    for (int t = 0; t < T; t++) {
        double m = 0, v = 0;
        for (int h = 0; h < H; h++)
            m += x[t * H + h] + r[t * H + h];
        m /= H;
        for (int h = 0; h < H; h++)
            v += pow(x[t * H + h] + r[t * H + h] - m, 2);
        v /= H;
        for (int h = 0; h < H; h++)
            out[t * H + h] = (x[t * H + h] + r[t * H + h] - m) / sqrt(v + 1e-5) * g[h] + b[h];
    }
}

static void matmul_d(const double *in, double *out, const void *ctx)
{
    const double *a = in, *w = in + T * H, *b = w + I * H;
    for (int m = 0; m < T; m++)
        for (int n = 0; n < I; n++) {
            double s = b[n];
            for (int k = 0; k < H; k++)
                s += a[m * H + k] * w[n * H + k];
            out[m * I + n] = s;
        }
}

static void gelu_d(const double *in, double *out, const void *ctx)
{
    const double *pre = in, *b = in + T * I;
    for (int t = 0; t < T; t++)
        for (int n = 0; n < I; n++) {
            double z = pre[t * I + n] + b[n];
            out[t * I + n] = 0.5 * z * (1 + erf(z / sqrt(2.0)));
        }
}

typedef struct {
    float p;
    uint64_t seed;
    DropoutKeys keys;
} DropoutCtx;

/* the kept fraction's scale 1 / (1 - p), or 0 for a dropped element of sequence s
 * (kernels/dropout_hash.h) */
static double keep_d(const DropoutCtx *dc, int s, uint64_t index)
{
    if (!dc || dc->p <= 0)
        return 1.0;
    return se_dropout_uniform(se_dropout_seq_seed(dc->seed, dc->keys, s), index) >= dc->p ? 1.0 / (1.0 - (double)dc->p)
                                                                                          : 0.0;
}

static void dropout_d(const double *x, double *out, const void *ctx)
{
    for (int s = 0; s < N_SEQ; s++)
        for (int t = CU[s]; t < CU[s + 1]; t++)
            for (int h = 0; h < H; h++)
                out[t * H + h] = x[t * H + h] * keep_d(ctx, s, (uint64_t)(t - CU[s]) * H + h);
}

/* ctx: a DropoutCtx for dropout on the probabilities, or NULL */
static void attention_d(const double *qkv, double *out, const void *ctx)
{
    const int D = HEADS * HD, row = 3 * D;
    for (int s = 0; s < N_SEQ; s++)
        for (int h = 0; h < HEADS; h++)
            for (int i = CU[s]; i < CU[s + 1]; i++) {
                double sc[T], mx = -1e300, sum = 0;
                for (int j = CU[s]; j < CU[s + 1]; j++) {
                    double dot = 0;
                    for (int d = 0; d < HD; d++)
                        dot += qkv[i * row + h * HD + d] * qkv[j * row + D + h * HD + d];
                    sc[j] = dot / sqrt((double)HD);
                    mx = fmax(mx, sc[j]);
                }
                for (int j = CU[s]; j < CU[s + 1]; j++)
                    sum += sc[j] = exp(sc[j] - mx);
                for (int d = 0; d < HD; d++) {
                    double o = 0;
                    for (int j = CU[s]; j < CU[s + 1]; j++)
                        o += sc[j] / sum * keep_d(ctx, s, se_attn_dropout_index(i - CU[s], HEADS, h, j - CU[s])) *
                             qkv[j * row + 2 * D + h * HD + d];
                    out[i * D + h * HD + d] = o;
                }
            }
}

static void pool_d(const double *x, double *out, const void *ctx)
{
    PoolMode mode = *(const PoolMode *)ctx;
    for (int s = 0; s < N_SEQ; s++) {
        int b = CU[s], len = CU[s + 1] - b;
        for (int h = 0; h < H; h++) {
            double acc = mode == POOL_MAX ? -1e300 : 0;
            for (int t = b; t < b + len; t++)
                acc = mode == POOL_MAX ? fmax(acc, x[t * H + h]) : acc + x[t * H + h];
            out[s * H + h] = mode == POOL_CLS    ? x[b * H + h]
                             : mode == POOL_MAX  ? acc
                             : mode == POOL_MEAN ? acc / len
                                                 : acc / sqrt((double)len);
        }
    }
}

static void tanh_d(const double *x, double *out, const void *ctx)
{
    for (int i = 0; i < T * H; i++)
        out[i] = tanh(x[i]);
}

static void normalize_d(const double *x, double *out, const void *ctx)
{
    for (int r = 0; r < T; r++) {
        double ss = 0;
        for (int d = 0; d < H; d++)
            ss += x[r * H + d] * x[r * H + d];
        for (int d = 0; d < H; d++)
            out[r * H + d] = x[r * H + d] / fmax(sqrt(ss), 1e-12);
    }
}

/* Runs the double forward, our fp32 forward (via `ours`), the numeric and our analytic
 * gradient. */
typedef struct {
    const char *name;
    ForwardD f;
    size_t n_in, n_out;
    const void *ctx;
} Case;

static double *setup(const Case *k, const double *in, double **c, float **dout)
{
    double *g = malloc(k->n_in * sizeof *g);
    *c = random_vec(k->n_out, 1, 0);
    *dout = to_float(*c, k->n_out);
    numeric_grad(k->f, in, k->n_in, *c, k->n_out, k->ctx, g);
    return g;
}

static void check_forward(const Case *k, const double *in, const float *ours)
{
    double *ref = calloc(k->n_out, sizeof *ref);
    k->f(in, ref, k->ctx);
    compare_forward(k->name, ours, ref, k->n_out);
    free(ref);
}

int main(void)
{
    double *c, *g;
    float *dout;
    printf("finite differences (double) vs fp32 backward:\n");
    { /* embeddings */
        Case k = {"embed", embed_d, (size_t)(V + P + 2) * H, T * H, NULL};
        double *in = random_vec(k.n_in, 1, 0);
        float *fin = to_float(in, k.n_in), *out = malloc(k.n_out * sizeof *out);
        embed_forward_cpu(out, IDS, POS, TYPES, fin, fin + V * H, fin + (V + P) * H, T, H);
        check_forward(&k, in, out);
        g = setup(&k, in, &c, &dout);
        float *grad = calloc(k.n_in, sizeof *grad);
        embed_backward_cpu(grad, grad + V * H, grad + (V + P) * H, dout, IDS, POS, TYPES, T, H);
        compare("embed (word, pos, type)", grad, g, k.n_in);
        free(in), free(fin), free(out), free(g), free(c), free(dout), free(grad);
    }
    { /* LayerNorm with residual */
        Case k = {"layernorm", ln_d, (size_t)2 * T * H + 2 * H, T * H, NULL};
        double *in = random_vec(k.n_in, 1.5, 0.2);
        float *fin = to_float(in, k.n_in), *out = malloc(k.n_out * sizeof *out);
        ln_forward_cpu(out, fin, fin + T * H, fin + 2 * T * H, fin + 2 * T * H + H, T, H, 1e-5f);
        check_forward(&k, in, out);
        g = setup(&k, in, &c, &dout);
        float *grad = calloc(k.n_in, sizeof *grad);
        ln_backward_cpu(grad, grad + 2 * T * H, grad + 2 * T * H + H, dout, fin, fin + T * H, fin + 2 * T * H, T, H,
                        1e-5f);
        memcpy(grad + T * H, grad, T * H * sizeof *grad); /* the residual gets the same gradient */
        compare("layernorm (x, residual, gamma, beta)", grad, g, k.n_in);
        free(in), free(fin), free(out), free(g), free(c), free(dout), free(grad);
    }
    { /* matmul + bias */
        Case k = {"matmul", matmul_d, (size_t)T * H + I * H + I, T * I, NULL};
        double *in = random_vec(k.n_in, 1, 0);
        float *fin = to_float(in, k.n_in), *out = malloc(k.n_out * sizeof *out);
        matmul_forward_cpu(out, fin, fin + T * H, fin + T * H + I * H, T, I, H);
        check_forward(&k, in, out);
        g = setup(&k, in, &c, &dout);
        float *grad = calloc(k.n_in, sizeof *grad);
        matmul_backward_cpu(grad, grad + T * H, grad + T * H + I * H, dout, fin, fin + T * H, T, I, H);
        compare("matmul (a, w, bias)", grad, g, k.n_in);
        free(in), free(fin), free(out), free(g), free(c), free(dout), free(grad);
    }
    { /* bias + GELU */
        Case k = {"bias_gelu", gelu_d, (size_t)T * I + I, T * I, NULL};
        double *in = random_vec(k.n_in, 3, 0);
        float *fin = to_float(in, k.n_in), *out = malloc(k.n_out * sizeof *out);
        memcpy(out, fin, k.n_out * sizeof *out);
        bias_gelu_forward_cpu(out, fin + T * I, T, I);
        double *ref = calloc(k.n_out, sizeof *ref);
        gelu_d(in, ref, NULL);
        double worst = 0;
        for (size_t i = 0; i < k.n_out; i++)
            worst = fmax(worst, fabs(out[i] - ref[i]));
        /* erf approximation: 1.5e-7 absolute, times |z|/2 <= 2 */
        CHECK(worst <= 5e-7, "bias_gelu forward vs exact erf: %.3g", worst);
        free(ref);
        g = setup(&k, in, &c, &dout);
        float *grad = calloc(k.n_in, sizeof *grad);
        bias_gelu_backward_cpu(grad, grad + T * I, dout, fin, fin + T * I, T, I);
        compare("bias_gelu (pre, bias)", grad, g, k.n_in);
        free(in), free(fin), free(out), free(g), free(c), free(dout), free(grad);
    }
    for (int with_dropout = 0; with_dropout <= 1; with_dropout++) { /* attention on a ragged packed batch */
        const int D = HEADS * HD;
        /* p = 0.3 drops a few of the 33 probabilities per head (the seed is fixed, so the
         * mask is part of the function the finite differences see) */
        static const DropoutCtx drop = {0.3f, 77, {1, N_SEQ, 2}}; /* one row of 3 columns, global row 2 */
        const DropoutCtx *dc = with_dropout ? &drop : NULL;
        Case k = {with_dropout ? "attention+dropout" : "attention", attention_d, (size_t)T * 3 * D, T * D, dc};
        double *in = random_vec(k.n_in, 1.5, 0);
        float *fin = to_float(in, k.n_in), *out = malloc(k.n_out * sizeof *out);
        const float p = dc ? dc->p : 0.0f;
        const uint64_t seed = dc ? dc->seed : 0;
        const DropoutKeys keys = {N_SEQ, 1, 0}; /* unused without dropout */
        attention_forward_cpu(out, fin, CU, N_SEQ, 4, HEADS, HD, p, seed, dc ? dc->keys : keys);
        check_forward(&k, in, out);
        g = setup(&k, in, &c, &dout);
        float *grad = calloc(k.n_in, sizeof *grad);
        attention_backward_cpu(grad, dout, fin, CU, N_SEQ, 4, HEADS, HD, p, seed, dc ? dc->keys : keys);
        compare(with_dropout ? "attention+dropout (q, k, v)" : "attention (q, k, v)", grad, g, k.n_in);
        free(in), free(fin), free(out), free(g), free(c), free(dout), free(grad);
    }
    { /* hidden dropout: linear, and its backward is the same call on the gradient */
        static const DropoutCtx drop = {0.25f, 5, {N_SEQ, 1, 5}}; /* three rows of one column from global row 5 */
        Case k = {"dropout", dropout_d, (size_t)T * H, T * H, &drop};
        double *in = random_vec(k.n_in, 1, 0);
        float *fin = to_float(in, k.n_in), *out = to_float(in, k.n_in);
        dropout_cpu(out, H, CU, N_SEQ, drop.keys, drop.p, drop.seed);
        check_forward(&k, in, out);
        g = setup(&k, in, &c, &dout);
        dropout_cpu(dout, H, CU, N_SEQ, drop.keys, drop.p, drop.seed);
        compare("dropout", dout, g, k.n_in);
        size_t zeros = 0;
        for (size_t i = 0; i < k.n_out; i++)
            zeros += out[i] == 0.0f;
        CHECK(zeros > 0 && zeros < k.n_out, "dropout 0.25 on %zu elements dropped %zu", k.n_out, zeros);
        free(in), free(fin), free(out), free(g), free(c), free(dout);
    }
    { /* the mask's statistics: 10^6 draws at p = 0.1 (1000 sequences of 10 rows of 100, two
       * columns of 500 rows) keep 90% within 5 standard deviations, and the kept elements carry
       * the 1 / (1 - p) scale, so the mean is preserved */
        enum { SEQS = 1000, LEN = 10, W = 100 };
        const size_t n = (size_t)SEQS * LEN * W;
        const DropoutKeys keys = {SEQS / 2, 2, 0};
        int32_t *cu = malloc((SEQS + 1) * sizeof *cu);
        for (int s = 0; s <= SEQS; s++)
            cu[s] = s * LEN;
        float *x = malloc(n * sizeof *x);
        for (size_t i = 0; i < n; i++)
            x[i] = 1.0f;
        dropout_cpu(x, W, cu, SEQS, keys, 0.1f, 12345);
        double kept = 0, sum = 0;
        for (size_t i = 0; i < n; i++)
            kept += x[i] != 0.0f, sum += x[i];
        const double sd = sqrt(n * 0.1 * 0.9);
        CHECK(fabs(kept - 0.9 * n) < 5 * sd, "dropout 0.1 kept %.0f of %zu (expected %.0f +- %.0f)", kept, n, 0.9 * n,
              5 * sd);
        CHECK(fabs(sum / n - 1.0) < 5 * sd / n / 0.9, "dropout 0.1 changed the mean to %.5f", sum / n);
        float *y = malloc(n * sizeof *y);
        for (size_t i = 0; i < n; i++)
            y[i] = 1.0f;
        dropout_cpu(y, W, cu, SEQS, keys, 0.1f, 12346);
        size_t same = 0;
        for (size_t i = 0; i < n; i++)
            same += (x[i] == 0.0f) && (y[i] == 0.0f);
        /* independent masks for neighbouring seeds: both dropped ~ p^2 n = 10^4 */
        CHECK(fabs((double)same - 0.01 * n) < 5 * sqrt(n * 0.01), "seeds 12345 and 12346 both dropped %zu", same);
        /* and for neighbouring sequences at the same places: ~ p^2 n / 2 */
        const size_t per_seq = (size_t)LEN * W;
        same = 0;
        for (size_t s = 0; s + 1 < SEQS; s += 2)
            for (size_t i = 0; i < per_seq; i++)
                same += (x[s * per_seq + i] == 0.0f) && (x[(s + 1) * per_seq + i] == 0.0f);
        CHECK(fabs((double)same - 0.005 * n) < 5 * sqrt(n * 0.005), "sequences 2k and 2k+1 both dropped %zu", same);
        free(x), free(y), free(cu);
    }
    for (PoolMode mode = POOL_MEAN; mode <= POOL_MEAN_SQRT_LEN; mode++) {
        static const char *NAMES[] = {"pool mean", "pool cls", "pool max", "pool mean_sqrt_len"};
        Case k = {NAMES[mode], pool_d, (size_t)T * H, N_SEQ * H, &mode};
        double *in = random_vec(k.n_in, 1, 0);
        float *fin = to_float(in, k.n_in), *out = malloc(k.n_out * sizeof *out);
        pool_forward_cpu(out, fin, CU, N_SEQ, H, mode);
        check_forward(&k, in, out);
        g = setup(&k, in, &c, &dout);
        float *grad = calloc(k.n_in, sizeof *grad);
        pool_backward_cpu(grad, dout, fin, CU, N_SEQ, H, mode);
        compare(NAMES[mode], grad, g, k.n_in);
        free(in), free(fin), free(out), free(g), free(c), free(dout), free(grad);
    }
    { /* tanh and normalize (Dense activation, Normalize module) */
        Case kt = {"tanh", tanh_d, (size_t)T * H, T * H, NULL}, kn = {"normalize", normalize_d, (size_t)T * H, T * H, NULL};
        double *in = random_vec(kt.n_in, 1.5, 0);
        float *fin = to_float(in, kt.n_in), *out = malloc(kt.n_out * sizeof *out);
        memcpy(out, fin, kt.n_out * sizeof *out);
        tanh_forward_cpu(out, kt.n_out);
        check_forward(&kt, in, out);
        g = setup(&kt, in, &c, &dout);
        float *grad = calloc(kt.n_in, sizeof *grad);
        tanh_backward_cpu(grad, dout, out, kt.n_in);
        compare("tanh", grad, g, kt.n_in);
        free(g), free(c), free(dout);
        memcpy(out, fin, kn.n_out * sizeof *out);
        normalize_forward_cpu(out, T, H);
        check_forward(&kn, in, out);
        g = setup(&kn, in, &c, &dout);
        normalize_backward_cpu(grad, dout, fin, T, H);
        compare("normalize", grad, g, kn.n_in);
        free(in), free(fin), free(out), free(g), free(c), free(dout), free(grad);
    }
    return check_summary("test_grad_cpu");
}
