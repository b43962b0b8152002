#include <math.h>

#include "trainer/loss_common.h"

static double norm_of(const double *x, int D)
{
    double s = 0;
    for (int d = 0; d < D; d++)
        s += x[d] * x[d];
    s = sqrt(s);
    return s > 1e-12 ? s : 1e-12;
}

double cos_sim(const double *x, const double *y, int D)
{
    double dot = 0;
    for (int d = 0; d < D; d++)
        dot += x[d] * y[d];
    return dot / (norm_of(x, D) * norm_of(y, D));
}

void cos_sim_backward(const double *x, const double *y, int D, double g, double *dx, double *dy)
{
    double nx = norm_of(x, D), ny = norm_of(y, D), c = cos_sim(x, y, D);
    for (int d = 0; d < D; d++) {
        if (dx)
            dx[d] += g * (y[d] / (nx * ny) - c * x[d] / (nx * nx));
        if (dy)
            dy[d] += g * (x[d] / (nx * ny) - c * y[d] / (ny * ny));
    }
}
