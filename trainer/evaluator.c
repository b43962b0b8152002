#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/evaluator.h"
#include "trainer/loss_common.h"

double pearson_correlation(const double *x, const double *y, size_t n)
{
    double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++)
        mx += x[i], my += y[i];
    mx /= (double)n, my /= (double)n;
    for (size_t i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}

static const double *rank_keys;
static int by_key(const void *a, const void *b)
{
    double x = rank_keys[*(const size_t *)a], y = rank_keys[*(const size_t *)b];
    return x < y ? -1 : x > y;
}

/* 1-based ranks, ties get the average of the ranks they span (scipy's rankdata). */
static void average_ranks(const double *v, size_t n, double *rank)
{
    size_t *idx = se_xmalloc((n ? n : 1) * sizeof *idx);
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    rank_keys = v;
    qsort(idx, n, sizeof *idx, by_key);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && v[idx[j + 1]] == v[idx[i]])
            j++;
        double r = (double)(i + j) / 2.0 + 1.0;
        for (size_t k = i; k <= j; k++)
            rank[idx[k]] = r;
        i = j + 1;
    }
    free(idx);
}

double spearman_correlation(const double *x, const double *y, size_t n)
{
    double *rx = se_xmalloc((n ? n : 1) * sizeof *rx), *ry = se_xmalloc((n ? n : 1) * sizeof *ry);
    average_ranks(x, n, rx);
    average_ranks(y, n, ry);
    double r = pearson_correlation(rx, ry, n);
    free(rx);
    free(ry);
    return r;
}

static bool constant(const double *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[0])
            return false;
    return true;
}

int evaluate(SentenceModel *m, const Dataset *d, EvalResult *out, SeError *err)
{
    const int K = d->n_columns, D = m->out_dim;
    const size_t n = d->n_rows;
    memset(out, 0, sizeof *out);
    out->n = n;
    if (!((K == 2 && d->label) || K == 3))
        return se_fail(err, "evaluation data must have 2 text columns and a label (similarity) or 3 text columns "
                       "(triplets); it has %d column(s)%s", K, d->label ? " and a label" : "");
    /* embed column by column (the dataset is row-major) */
    const char **texts = se_xmalloc(n * sizeof *texts);
    size_t *lens = se_xmalloc(n * sizeof *lens);
    float *emb = se_xmalloc((size_t)K * n * (size_t)D * sizeof *emb);
    for (int c = 0; c < K; c++) {
        for (size_t i = 0; i < n; i++) {
            texts[i] = d->text[i * (size_t)K + (size_t)c];
            lens[i] = d->len[i * (size_t)K + (size_t)c];
        }
        sm_encode(m, texts, lens, n, false, emb + (size_t)c * n * (size_t)D, NULL, NULL);
    }
    double *a = se_xmalloc((size_t)D * sizeof *a), *b = se_xmalloc((size_t)D * sizeof *b);
    double *score = se_xmalloc(n * sizeof *score);
    size_t correct = 0;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < D; k++) {
            a[k] = emb[i * (size_t)D + (size_t)k];
            b[k] = emb[(n + i) * (size_t)D + (size_t)k];
        }
        score[i] = cos_sim(a, b, D);
        if (K == 3) {
            for (int k = 0; k < D; k++)
                b[k] = emb[(2 * n + i) * (size_t)D + (size_t)k];
            correct += score[i] > cos_sim(a, b, D);
        }
    }
    if (K == 2) {
        out->pearson = pearson_correlation(score, d->label, n);
        out->spearman = spearman_correlation(score, d->label, n);
        /* a correlation is undefined exactly when one side does not vary */
        if (n < 2)
            out->undefined = "fewer than 2 pairs";
        else if (constant(d->label, n))
            out->undefined = "all gold scores are equal";
        else if (constant(score, n))
            out->undefined = "all cosine similarities are equal";
    } else {
        out->accuracy = (double)correct / (double)n;
    }
    free(texts), free(lens), free(emb), free(a), free(b), free(score);
    return 0;
}
