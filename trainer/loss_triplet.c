/* TripletLoss (see loss.h). Distances and their gradients:
 *   euclidean  d = ||a - x + eps||_2,  dd/da = (a - x + eps) / d
 *   manhattan  d = ||a - x + eps||_1,  dd/da = sign(a - x + eps)
 *   cosine     d = 1 - cos(a, x)
 * (eps = 1e-6, as torch.nn.functional.pairwise_distance adds it). The loss of a triplet
 * is relu(d(a,p) - d(a,n) + margin): its gradient flows only when that is positive. A
 * sign error (d(a,n) - d(a,p), the sentence-transformers 5.x euclidean bug) gives a
 * different value whenever the two distances differ; tests/test_loss.c checks both. */
#include <math.h>
#include <string.h>

#include "trainer/loss.h"
#include "trainer/loss_common.h"

#define PAIRWISE_EPS 1e-6

static double distance(const double *a, const double *x, int D, TripletMetric m)
{
    if (m == TRIPLET_COSINE)
        return 1.0 - cos_sim(a, x, D);
    double s = 0;
    for (int d = 0; d < D; d++) {
        double diff = a[d] - x[d] + PAIRWISE_EPS;
        s += m == TRIPLET_EUCLIDEAN ? diff * diff : fabs(diff);
    }
    return m == TRIPLET_EUCLIDEAN ? sqrt(s) : s;
}

/* Adds g * dd/da to da and g * dd/dx to dx. */
static void distance_backward(const double *a, const double *x, int D, TripletMetric m, double g, double *da,
                              double *dx)
{
    if (m == TRIPLET_COSINE) {
        cos_sim_backward(a, x, D, -g, da, dx);
        return;
    }
    double dist = distance(a, x, D, m);
    for (int d = 0; d < D; d++) {
        double diff = a[d] - x[d] + PAIRWISE_EPS;
        double dd = m == TRIPLET_EUCLIDEAN ? (dist > 0 ? diff / dist : 0.0) : (diff > 0) - (diff < 0);
        if (da)
            da[d] += g * dd;
        if (dx)
            dx[d] -= g * dd;
    }
}

double loss_triplet(const double *a, const double *p, const double *n, int B, int D, TripletMetric metric,
                    double margin, double *da, double *dp, double *dn)
{
    double total = 0;
    for (double **g = (double *[]){da, dp, dn}, **end = g + 3; g < end; g++)
        if (*g)
            memset(*g, 0, (size_t)B * D * sizeof **g);
    for (int i = 0; i < B; i++) {
        const double *ai = a + (size_t)i * D, *pi = p + (size_t)i * D, *ni = n + (size_t)i * D;
        double z = distance(ai, pi, D, metric) - distance(ai, ni, D, metric) + margin;
        if (z <= 0)
            continue;
        total += z;
        double g = 1.0 / B;
        distance_backward(ai, pi, D, metric, g, da ? da + (size_t)i * D : NULL, dp ? dp + (size_t)i * D : NULL);
        distance_backward(ai, ni, D, metric, -g, da ? da + (size_t)i * D : NULL, dn ? dn + (size_t)i * D : NULL);
    }
    return total / B;
}
