/* MultipleNegativesRankingLoss (see loss.h): for anchor i, logits z_ij = scale * cos(a_i, c_j)
 * over every candidate j (all positives, then each column of negatives), and
 *   loss = mean_i (logsumexp_j z_ij - z_ii)
 *   dz_ij = (softmax_j(z_i) - [j == i]) / B, then through the cosine to a_i and c_j. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host/error.h"
#include "trainer/loss.h"
#include "trainer/loss_common.h"

double loss_mnrl(const double *a, const double *cand, int B, int n_neg_cols, int D, double scale, double *da,
                 double *dcand)
{
    const int C = B * (1 + n_neg_cols);
    double *z = se_xmalloc((size_t)C * sizeof *z), total = 0;
    if (da)
        memset(da, 0, (size_t)B * D * sizeof *da);
    if (dcand)
        memset(dcand, 0, (size_t)C * D * sizeof *dcand);
    for (int i = 0; i < B; i++) {
        const double *ai = a + (size_t)i * D;
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < C; j++) {
            z[j] = scale * cos_sim(ai, cand + (size_t)j * D, D);
            mx = z[j] > mx ? z[j] : mx;
        }
        for (int j = 0; j < C; j++)
            sum += exp(z[j] - mx);
        total += mx + log(sum) - z[i];
        for (int j = 0; j < C; j++) {
            double dz = (exp(z[j] - mx) / sum - (j == i)) / B;
            cos_sim_backward(ai, cand + (size_t)j * D, D, dz * scale, da ? da + (size_t)i * D : NULL,
                             dcand ? dcand + (size_t)j * D : NULL);
        }
    }
    free(z);
    return total / B;
}
