/* The gradient all-reduce alone: the time of one all_reduce_sum of --mb MB of floats through
 * the collectives table of --device, over the ranks of the job (run it under mpirun). Each
 * rep starts together (a barrier) and counts until every rank has its sum (the slowest
 * rank's time, by a max over ranks). Rank 0 prints one JSON line: median and fastest
 * seconds, and the bus bandwidth nccl-tests reports, bytes * 2 (world-1) / world / time.
 * usage: mpirun -np N bench_allreduce [--device cpu|cuda] [--mb 25] [--reps 20] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/clock.h"
#include "host/dist.h"
#include "host/error.h"
#include "kernels/collectives.h"
#include "kernels/ops.h"

static int compare_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double positive_arg(const char *v, const char *name)
{
    char *end;
    const double x = strtod(v, &end);
    if (*end || !(x > 0) || x > 1e6)
        se_die("bench_allreduce: %s %s: expected a positive number", name, v);
    return x;
}

int main(int argc, char **argv)
{
    dist_init(&argc, &argv);
    const char *device = "cpu";
    double mb = 25;
    int reps = 20;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            se_die("bench_allreduce: %s needs a value", a);
        if (!strcmp(a, "--device"))
            device = v;
        else if (!strcmp(a, "--mb"))
            mb = positive_arg(v, a);
        else if (!strcmp(a, "--reps"))
            reps = (int)positive_arg(v, a);
        else
            se_die("bench_allreduce: unknown option %s (--device, --mb, --reps)", a);
    }
    char why[512] = "";
    const int cuda = !strcmp(device, "cuda");
    const Collectives *c = cuda ? collectives_cuda(why, sizeof why) : collectives_cpu();
    const Ops *ops = cuda ? ops_cuda(why, sizeof why) : ops_cpu();
    if (!c || !ops)
        se_die("bench_allreduce: no %s collectives: %s", device, why);

    const size_t n = (size_t)(mb * 1e6 / sizeof(float));
    float *host = se_xmalloc(n * sizeof *host);
    for (size_t i = 0; i < n; i++)
        host[i] = (float)(i % 7);
    float *x = ops->alloc(n * sizeof *x);
    ops->copy_to_device(x, host, n * sizeof *x);
    c->all_reduce_sum(x, n); /* warm-up: connections, buffers */

    double *seconds = se_xmalloc((size_t)reps * sizeof *seconds);
    for (int r = 0; r < reps; r++) {
        c->barrier();
        const double start = se_now_s();
        c->all_reduce_sum(x, n);
        double took = se_now_s() - start;
        /* the job's time is its slowest rank's */
        double *all = se_xmalloc((size_t)dist_world() * sizeof *all);
        dist_all_gather(all, &took, sizeof took);
        for (int k = 0; k < dist_world(); k++)
            took = all[k] > took ? all[k] : took;
        free(all);
        seconds[r] = took;
    }
    qsort(seconds, (size_t)reps, sizeof *seconds, compare_double);
    const double median = seconds[reps / 2], world = dist_world();
    const double bytes = (double)n * sizeof(float);
    if (dist_rank() == 0)
        printf("{\"device\": \"%s\", \"collectives\": \"%s\", \"ranks\": %d, \"mb\": %.1f, \"reps\": %d, "
               "\"median_s\": %.6f, \"min_s\": %.6f, \"bus_gb_per_s\": %.2f}\n",
               device, c->name, dist_world(), bytes / 1e6, reps, median, seconds[0],
               world > 1 ? bytes * 2 * (world - 1) / world / median / 1e9 : 0.0);
    ops->free(x);
    free(host);
    free(seconds);
    dist_finalize();
    return 0;
}
