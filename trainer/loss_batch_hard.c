/* BatchHardTripletLoss (see loss.h). Distances are euclidean, d(i, j) = ||e_i - e_j||,
 * with zero gradient where d = 0 (the reference masks the square root there). For anchor i:
 * p = argmax over j != i with y_j = y_i of d(i, j), n = argmin over y_j != y_i of d(i, j);
 * loss_i = relu(d(i, p) - d(i, n) + margin), averaged over anchors. An anchor without any
 * positive or negative contributes relu(0 - d(i, n) + margin) or its positive term alone,
 * as the reference's masking gives (no gradient flows through a missing side). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host/error.h"
#include "trainer/loss.h"

static double dist(const double *a, const double *b, int D)
{
    double s = 0;
    for (int k = 0; k < D; k++)
        s += (a[k] - b[k]) * (a[k] - b[k]);
    return sqrt(s);
}

/* Adds g * dd(i,j)/de to de[i] and de[j]. */
static void dist_backward(const double *e, int i, int j, int D, double g, double *de)
{
    double d = dist(e + (size_t)i * D, e + (size_t)j * D, D);
    if (d == 0 || !de)
        return;
    for (int k = 0; k < D; k++) {
        double diff = (e[(size_t)i * D + k] - e[(size_t)j * D + k]) / d;
        de[(size_t)i * D + k] += g * diff;
        de[(size_t)j * D + k] -= g * diff;
    }
}

double loss_batch_hard_triplet(const double *e, const double *labels, int B, int D, double margin, double *de)
{
    if (de)
        memset(de, 0, (size_t)B * D * sizeof *de);
    double total = 0;
    for (int i = 0; i < B; i++) {
        int p = -1, n = -1;
        double dp = 0, dn = INFINITY;
        for (int j = 0; j < B; j++) {
            double d = dist(e + (size_t)i * D, e + (size_t)j * D, D);
            if (j != i && labels[j] == labels[i] && (p < 0 || d > dp))
                p = j, dp = d;
            if (labels[j] != labels[i] && d < dn)
                n = j, dn = d;
        }
        if (n < 0) { /* no negative: the reference's min then lands on a masked entry */
            continue;
        }
        double z = dp - dn + margin;
        if (z <= 0)
            continue;
        total += z;
        if (p >= 0)
            dist_backward(e, i, p, D, 1.0 / B, de);
        dist_backward(e, i, n, D, -1.0 / B, de);
    }
    return total / B;
}
