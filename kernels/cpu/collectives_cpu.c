/* The CPU backend's collectives: MPI on host buffers, which host/dist.c already does. */
#include "host/dist.h"
#include "kernels/collectives.h"

static const Collectives CPU_COLLECTIVES = {
    .name = "mpi",
    .all_reduce_sum = dist_all_reduce_sum_f32,
    .all_gather = dist_all_gather,
    .reduce_scatter_sum = dist_reduce_scatter_sum_f32,
    .broadcast = dist_broadcast,
    .barrier = dist_barrier,
};

const Collectives *collectives_cpu(void) { return &CPU_COLLECTIVES; }
