/* Losses on (u, v, label) pairs (see loss.h): CosineSimilarityLoss, CoSENTLoss and
 * ContrastiveLoss, all built on c_i = cos(u_i, v_i):
 *   cosine similarity  mean((c_i - y_i)^2)                 dc_i = 2 (c_i - y_i) / B
 *   CoSENT             log(1 + sum_{y_i < y_j} exp(s (c_i - c_j)))
 *                      dc_i = s (sum_{j: y_i < y_j} w_ij - sum_{j: y_j < y_i} w_ji),
 *                      w_ij = exp(s (c_i - c_j)) / (1 + sum ...)
 *   contrastive        d = 1 - c, mean(0.5 (y d^2 + (1 - y) relu(m - d)^2))
 *                      dd_i = (y d - (1 - y) relu(m - d)) / B,  dc_i = -dd_i */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host/error.h"
#include "trainer/loss.h"
#include "trainer/loss_common.h"

/* Pushes the per-pair gradients dc (w.r.t. c_i) back to u and v. */
static void pairs_backward(const double *u, const double *v, int B, int D, const double *dc, double *du, double *dv)
{
    if (du)
        memset(du, 0, (size_t)B * D * sizeof *du);
    if (dv)
        memset(dv, 0, (size_t)B * D * sizeof *dv);
    for (int i = 0; i < B; i++)
        cos_sim_backward(u + (size_t)i * D, v + (size_t)i * D, D, dc[i], du ? du + (size_t)i * D : NULL,
                         dv ? dv + (size_t)i * D : NULL);
}

static double *pair_cosines(const double *u, const double *v, int B, int D)
{
    double *c = se_xmalloc((size_t)(B ? B : 1) * sizeof *c);
    for (int i = 0; i < B; i++)
        c[i] = cos_sim(u + (size_t)i * D, v + (size_t)i * D, D);
    return c;
}

double loss_cosine_similarity(const double *u, const double *v, const double *labels, int B, int D, double *du,
                              double *dv)
{
    double *c = pair_cosines(u, v, B, D), total = 0;
    for (int i = 0; i < B; i++) {
        double e = c[i] - labels[i];
        total += e * e;
        c[i] = 2 * e / B; /* now dc */
    }
    pairs_backward(u, v, B, D, c, du, dv);
    free(c);
    return total / B;
}

double loss_cosent(const double *u, const double *v, const double *labels, int B, int D, double scale, double *du,
                   double *dv)
{
    double *c = pair_cosines(u, v, B, D), *dc = se_xcalloc((size_t)(B ? B : 1), sizeof *dc);
    /* logsumexp over {0} and every s (c_i - c_j) with y_i < y_j, shifted by its max */
    double mx = 0, sum = 0;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++)
            if (labels[i] < labels[j] && scale * (c[i] - c[j]) > mx)
                mx = scale * (c[i] - c[j]);
    sum = exp(-mx);
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++)
            if (labels[i] < labels[j])
                sum += exp(scale * (c[i] - c[j]) - mx);
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++)
            if (labels[i] < labels[j]) {
                double w = exp(scale * (c[i] - c[j]) - mx) / sum;
                dc[i] += scale * w;
                dc[j] -= scale * w;
            }
    pairs_backward(u, v, B, D, dc, du, dv);
    free(c);
    free(dc);
    return mx + log(sum);
}

double loss_contrastive(const double *u, const double *v, const double *labels, int B, int D, double margin,
                        double *du, double *dv)
{
    double *c = pair_cosines(u, v, B, D), total = 0;
    for (int i = 0; i < B; i++) {
        double d = 1.0 - c[i], y = labels[i], h = margin - d > 0 ? margin - d : 0;
        total += 0.5 * (y * d * d + (1 - y) * h * h);
        c[i] = -(y * d - (1 - y) * h) / B; /* dc = -dd */
    }
    pairs_backward(u, v, B, D, c, du, dv);
    free(c);
    return total / B;
}

double loss_online_contrastive(const double *u, const double *v, const double *labels, int B, int D, double margin,
                               double *du, double *dv)
{
    double *c = pair_cosines(u, v, B, D), *dc = se_xcalloc((size_t)(B ? B : 1), sizeof *dc);
    double pos_max = -INFINITY, neg_min = INFINITY, pos_sum = 0, neg_sum = 0, total = 0;
    int n_pos = 0, n_neg = 0;
    for (int i = 0; i < B; i++) {
        double d = 1.0 - c[i];
        if (labels[i] == 1) {
            pos_max = d > pos_max ? d : pos_max;
            pos_sum += d;
            n_pos++;
        } else if (labels[i] == 0) {
            neg_min = d < neg_min ? d : neg_min;
            neg_sum += d;
            n_neg++;
        }
    }
    /* with one side empty the reference compares against the other side's mean */
    double neg_limit = n_pos ? pos_max : neg_sum / (n_neg ? n_neg : 1);
    double pos_limit = n_neg ? neg_min : pos_sum / (n_pos ? n_pos : 1);
    for (int i = 0; i < B; i++) {
        double d = 1.0 - c[i];
        if (labels[i] == 1 && d > pos_limit) {
            total += d * d;
            dc[i] = -2 * d; /* d = 1 - c */
        } else if (labels[i] == 0 && d < neg_limit && margin - d > 0) {
            total += (margin - d) * (margin - d);
            dc[i] = 2 * (margin - d); /* d/dc of (m - (1 - c))^2 */
        }
    }
    pairs_backward(u, v, B, D, dc, du, dv);
    free(c);
    free(dc);
    return total;
}
