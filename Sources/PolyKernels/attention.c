#include "PolyKernels.h"

void pk_rope(float *x, size_t ldx, const float *cos, const float *sin,
             size_t T, size_t heads, size_t hd) {
    size_t half = hd / 2;
    for (size_t t = 0; t < T; t++) {
        const float *c = cos + t * half;
        const float *s = sin + t * half;
        for (size_t h = 0; h < heads; h++) {
            float *v = x + t * ldx + h * hd;
            for (size_t j = 0; j < half; j++) {
                float x1 = v[j], x2 = v[j + half];
                v[j] = x1 * c[j] - x2 * s[j];
                v[j + half] = x2 * c[j] + x1 * s[j];
            }
        }
    }
}

void pk_attend_one(float *out, const float *q, const float *k, const float *v, size_t ld,
                   size_t L, size_t hd, float scale, float *scores) {
    for (size_t j = 0; j < L; j++) {
        const float *kj = k + j * ld;
        float s = 0.0f;
        for (size_t i = 0; i < hd; i++) s += q[i] * kj[i];
        scores[j] = s * scale;
    }
    pk_softmax(scores, 1, L);
    for (size_t i = 0; i < hd; i++) out[i] = 0.0f;
    for (size_t j = 0; j < L; j++) {
        const float *vj = v + j * ld;
        for (size_t i = 0; i < hd; i++) out[i] += scores[j] * vj[i];
    }
}
