/* Pieces the losses share: cosine similarity and its gradient. */
#ifndef SENTEMBED_LOSS_COMMON_H
#define SENTEMBED_LOSS_COMMON_H

/* cos(x, y) = <x, y> / (max(|x|, 1e-12) max(|y|, 1e-12)), as F.normalize + dot. */
double cos_sim(const double *x, const double *y, int D);
/* Adds g * dcos/dx to dx and g * dcos/dy to dy (either may be NULL):
 * dcos/dx = y / (|x||y|) - cos * x / |x|^2. */
void cos_sim_backward(const double *x, const double *y, int D, double g, double *dx, double *dy);

#endif
