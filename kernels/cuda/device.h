/* GPU discovery for backend selection and for GPU tests, which skip where this says no. */
#ifndef SENTEMBED_CUDA_DEVICE_H
#define SENTEMBED_CUDA_DEVICE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices; 0 (not an error) when there is no driver or no GPU.
 * name (if not NULL) gets device 0's name. */
int cuda_device_count(char *name, size_t name_cap);

#ifdef __cplusplus
}
#endif

#endif
