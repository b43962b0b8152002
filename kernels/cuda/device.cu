#include <stdio.h>

#include "kernels/cuda/device.h"

extern "C" int cuda_device_count(char *name, size_t name_cap)
{
    int n = 0;
    /* Any failure here (no driver, no device, driver too old) means "no GPU". */
    if (cudaGetDeviceCount(&n) != cudaSuccess || n <= 0) {
        cudaGetLastError();
        return 0;
    }
    if (name && name_cap) {
        cudaDeviceProp prop;
        if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
            snprintf(name, name_cap, "%s (sm_%d%d)", prop.name, prop.major, prop.minor);
        else
            name[0] = '\0';
    }
    return n;
}
