/* collectives_cuda() in builds without NCCL (no MPI, or no NCCL found): a world of one
 * rank only, where a collective is a copy on the device or nothing at all. */
#include <stdio.h>

#include "host/dist.h"
#include "kernels/collectives.h"
#include "kernels/ops.h"

static const Ops *device_ops;

static void local_all_gather(void *out, const void *in, size_t bytes)
{
    if (out != in)
        device_ops->copy_on_device(out, in, bytes);
}

static void local_reduce_scatter_sum(float *out, const float *in, size_t n)
{
    device_ops->copy_on_device(out, in, n * sizeof *out);
}

static void local_barrier(void) { device_ops->synchronize(); }

/* dist's world-of-one sum and broadcast touch no memory: device pointers are safe there. */
static const Collectives LOCAL_COLLECTIVES = {
    .name = "local",
    .all_reduce_sum = dist_all_reduce_sum_f32,
    .all_gather = local_all_gather,
    .reduce_scatter_sum = local_reduce_scatter_sum,
    .broadcast = dist_broadcast,
    .barrier = local_barrier,
};

const Collectives *collectives_cuda(char *why, size_t why_cap)
{
    device_ops = ops_cuda(why, why_cap);
    if (!device_ops)
        return NULL;
    if (dist_world() > 1) {
        if (why && why_cap)
            snprintf(why, why_cap, "this sentembed was built without NCCL, so its GPUs cannot work in a job of %d "
                                   "ranks (configure with -DSENTEMBED_MPI=ON where MPI and NCCL are installed)",
                     dist_world());
        return NULL;
    }
    return &LOCAL_COLLECTIVES;
}
