// Backward of the attention pieces whose forward is in attention.c.
#include "PolyKernels.h"
#include <math.h>

// The forward rotation is orthogonal, so the backward rotates by the opposite angle:
// dx1 = dy1 c + dy2 s, dx2 = dy2 c - dy1 s.
void pk_rope_backward(float *dx, size_t ldx, const float *cos, const float *sin,
                      size_t T, size_t heads, size_t hd) {
    size_t half = hd / 2;
    for (size_t t = 0; t < T; t++) {
        const float *c = cos + t * half, *s = sin + t * half;
        for (size_t h = 0; h < heads; h++) {
            float *v = dx + t * ldx + h * hd;
            for (size_t j = 0; j < half; j++) {
                float g1 = v[j], g2 = v[j + half];
                v[j] = g1 * c[j] + g2 * s[j];
                v[j + half] = g2 * c[j] - g1 * s[j];
            }
        }
    }
}

// dS_i = scale · P_i (dP_i - Σ_j P_j dP_j) over the causal row r (r + 1 entries); the rest 0.
void pk_softmax_causal_backward(float *dscores, const float *probs, const float *dprobs,
                                size_t ld, size_t rows, float scale) {
    for (size_t r = 0; r < rows; r++) {
        const float *p = probs + r * ld, *dp = dprobs + r * ld;
        float *ds = dscores + r * ld;
        size_t n = r + 1;
        double dot = 0.0;
        for (size_t i = 0; i < n; i++) dot += (double)p[i] * dp[i];
        float fdot = (float)dot;
        for (size_t i = 0; i < n; i++) ds[i] = scale * p[i] * (dp[i] - fdot);
        for (size_t i = n; i < ld; i++) ds[i] = 0.0f;
    }
}
