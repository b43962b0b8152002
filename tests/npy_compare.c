/* npy_compare GOT.npy WANT.npy TOLERANCE: both float32 matrices of the same shape; prints
 * the max absolute difference (and where) and fails when it exceeds TOLERANCE. A helper
 * of the golden-parity scripts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "host/npy.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: npy_compare GOT.npy WANT.npy TOLERANCE\n");
        return 2;
    }
    float *got, *want;
    size_t gr, gc, wr, wc;
    SeError err;
    if (npy_read_f32(argv[1], &got, &gr, &gc, &err) || npy_read_f32(argv[2], &want, &wr, &wc, &err)) {
        fprintf(stderr, "npy_compare: %s\n", err.msg);
        return 1;
    }
    if (gr != wr || gc != wc) {
        printf("FAIL shape (%zu, %zu), expected (%zu, %zu)\n", gr, gc, wr, wc);
        return 1;
    }
    double tol = atof(argv[3]), worst = 0, sum = 0;
    size_t at = 0, bad = 0;
    for (size_t i = 0; i < gr * gc; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= worst) || isnan(got[i])) { /* NaN counts as the worst */
            worst = isnan(got[i]) ? INFINITY : d;
            at = i;
        }
        sum += d;
        bad += !(d <= tol);
    }
    size_t row = gc ? at / gc : 0, col = gc ? at % gc : 0;
    printf("%s: %zu x %zu, max |diff| %.3g at [%zu, %zu] (got %.7g, want %.7g), mean |diff| %.3g, %zu above %g\n",
           bad ? "FAIL" : "ok", gr, gc, worst, row, col, gr ? got[at] : 0.0, gr ? want[at] : 0.0,
           gr * gc > 0 ? sum / (double)(gr * gc) : 0.0, bad, tol);
    free(got);
    free(want);
    return bad ? 1 : 0;
}
