#include "PolyKernels.h"

void pk_add(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void pk_scale_add(float *out, const float *x, float scale, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] += scale * x[i];
}
