/* ops_cuda() in builds without CUDA: there is no GPU backend to give. */
#include <stdio.h>

#include "kernels/ops.h"

const Ops *ops_cuda(char *why, size_t why_cap)
{
    if (why && why_cap)
        snprintf(why, why_cap, "this sentembed was built without CUDA (configure with -DSENTEMBED_CUDA=ON where nvcc exists)");
    return NULL;
}

void ops_cuda_set_alloc_context(const char *what) { (void)what; }
