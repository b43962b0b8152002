/* Branch-free float exp and erf that compilers vectorize, for the CPU kernels' hot loops
 * (libm's expf/erff are scalar calls). Accuracy: exp ~2 ulp over [-87, 88]; erf is
 * Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7 absolute, the approximation PyTorch's
 * own vectorized CPU erf uses; for GELU that is far below fp32 activation noise. */
#ifndef SENTEMBED_VECMATH_H
#define SENTEMBED_VECMATH_H

#include <stdint.h>

/* exp(x): x = n ln2 + r, |r| <= ln2/2; exp(r) by a degree-6 Taylor/minimax polynomial;
 * 2^n from the exponent bits. */
#define VM_INLINE static inline __attribute__((always_inline))

VM_INLINE float vm_expf(float x)
{
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    /* round to nearest by the 1.5 * 2^23 trick: vectorizes where floorf does not */
    float fn = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - fn * 0.693359375f - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union {
        int32_t i;
        float f;
    } scale = {.i = ((int32_t)fn + 127) << 23};
    return p * scale.f;
}

VM_INLINE float vm_erff(float x)
{
    float ax = x < 0 ? -x : x;
    float t = 1.0f / (1.0f + 0.3275911f * ax);
    float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
    float y = 1.0f - poly * vm_expf(-ax * ax);
    return x < 0 ? -y : y;
}

#endif
