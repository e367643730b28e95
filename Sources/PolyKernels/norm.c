#include "PolyKernels.h"
#include <math.h>

static inline double mean_square(const float *x, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    return s / (double)n;
}

void pk_rmsnorm(float *out, const float *x, const float *weight,
                size_t rows, size_t n, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *o = out + r * n;
        float inv = 1.0f / sqrtf((float)mean_square(xr, n) + eps);
        if (weight) {
            for (size_t i = 0; i < n; i++) o[i] = weight[i] * (xr[i] * inv);
        } else {
            for (size_t i = 0; i < n; i++) o[i] = xr[i] * inv;
        }
    }
}
