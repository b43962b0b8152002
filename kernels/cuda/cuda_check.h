/* One macro for every CUDA runtime call: on failure it prints file:line, the call and the
 * library's error string, and exits. */
#ifndef SENTEMBED_CUDA_CHECK_H
#define SENTEMBED_CUDA_CHECK_H

#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#define CUDA_CHECK(call)                                                                          \
    do {                                                                                          \
        cudaError_t cuda_check_status_ = (call);                                                  \
        if (cuda_check_status_ != cudaSuccess) {                                                  \
            fprintf(stderr, "sentembed: CUDA error at %s:%d: %s: %s\n", __FILE__, __LINE__, #call, \
                    cudaGetErrorString(cuda_check_status_));                                      \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

#endif
