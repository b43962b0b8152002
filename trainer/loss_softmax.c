/* SoftmaxLoss (see loss.h): x_i = concat(u_i, v_i, |u_i - v_i|) [3D], logits = W x_i + b,
 * loss = mean_i CE(logits_i, y_i). With g = (softmax(logits_i) - onehot(y_i)) / B:
 *   dW += g x_i^T,  db += g,  dx_i = W^T g,  and dx splits into du, dv and
 *   sign(u - v) * d|u - v| (to u, minus to v). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host/error.h"
#include "trainer/loss.h"

double loss_softmax(const double *u, const double *v, const int *labels, int B, int D, int L, const double *W,
                    const double *b, double *du, double *dv, double *dW, double *db)
{
    const int F = 3 * D;
    double *x = se_xmalloc((size_t)F * sizeof *x), *z = se_xmalloc((size_t)L * sizeof *z), total = 0;
    if (du)
        memset(du, 0, (size_t)B * D * sizeof *du);
    if (dv)
        memset(dv, 0, (size_t)B * D * sizeof *dv);
    if (dW)
        memset(dW, 0, (size_t)L * F * sizeof *dW);
    if (db)
        memset(db, 0, (size_t)L * sizeof *db);
    for (int i = 0; i < B; i++) {
        const double *ui = u + (size_t)i * D, *vi = v + (size_t)i * D;
        for (int d = 0; d < D; d++) {
            x[d] = ui[d];
            x[D + d] = vi[d];
            x[2 * D + d] = fabs(ui[d] - vi[d]);
        }
        double mx = -INFINITY, sum = 0;
        for (int l = 0; l < L; l++) {
            double s = b[l];
            for (int f = 0; f < F; f++)
                s += W[(size_t)l * F + f] * x[f];
            z[l] = s;
            mx = s > mx ? s : mx;
        }
        for (int l = 0; l < L; l++)
            sum += exp(z[l] - mx);
        total += mx + log(sum) - z[labels[i]];
        for (int l = 0; l < L; l++) {
            double g = (exp(z[l] - mx) / sum - (l == labels[i])) / B;
            if (db)
                db[l] += g;
            for (int f = 0; f < F; f++) {
                if (dW)
                    dW[(size_t)l * F + f] += g * x[f];
                double dx = g * W[(size_t)l * F + f];
                if (f < D) {
                    if (du)
                        du[(size_t)i * D + f] += dx;
                } else if (f < 2 * D) {
                    if (dv)
                        dv[(size_t)i * D + f - D] += dx;
                } else {
                    double diff = ui[f - 2 * D] - vi[f - 2 * D], sgn = (diff > 0) - (diff < 0);
                    if (du)
                        du[(size_t)i * D + f - 2 * D] += sgn * dx;
                    if (dv)
                        dv[(size_t)i * D + f - 2 * D] -= sgn * dx;
                }
            }
        }
    }
    free(x);
    free(z);
    return total / B;
}
