/* GPU smoke test (label "gpu"): finds a device, runs a kernel and compares it with the
 * CPU. Skips (exit 77) where there is no GPU, as on CI machines. This is the pattern every
 * CUDA op test follows: fresh random inputs, the CPU result as the reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device.h"

__global__ static void axpy(int n, float a, const float *x, float *y)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = a * x[i] + y[i];
}

int main(void)
{
    char name[256];
    if (cuda_device_count(name, sizeof name) == 0) {
        printf("test_cuda_device: no GPU, skipped\n");
        return 77;
    }
    printf("device: %s\n", name);
    const int n = 1 << 20;
    float *x = (float *)malloc(n * sizeof(float)), *y = (float *)malloc(n * sizeof(float));
    float *want = (float *)malloc(n * sizeof(float));
    srand(1234);
    for (int i = 0; i < n; i++) {
        x[i] = (float)rand() / RAND_MAX - 0.5f;
        y[i] = (float)rand() / RAND_MAX - 0.5f;
        want[i] = 1.5f * x[i] + y[i];
    }
    float *dx, *dy;
    CUDA_CHECK(cudaMalloc(&dx, n * sizeof(float)));
    CUDA_CHECK(cudaMalloc(&dy, n * sizeof(float)));
    CUDA_CHECK(cudaMemcpy(dx, x, n * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(dy, y, n * sizeof(float), cudaMemcpyHostToDevice));
    axpy<<<(n + 255) / 256, 256>>>(n, 1.5f, dx, dy);
    CUDA_CHECK(cudaGetLastError());
    CUDA_CHECK(cudaMemcpy(y, dy, n * sizeof(float), cudaMemcpyDeviceToHost));
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad += fabsf(y[i] - want[i]) > 1e-6f; /* one fused multiply-add vs two roundings */
    CUDA_CHECK(cudaFree(dx));
    CUDA_CHECK(cudaFree(dy));
    free(x);
    free(y);
    free(want);
    printf("test_cuda_device: %d passed, %d failed\n", bad == 0, bad != 0);
    return bad != 0;
}
