#include "PolyKernels.h"
#include <math.h>

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

void pk_softmax_causal(float *x, size_t ld, const size_t *valid, size_t rows) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * ld;
        size_t n = valid[r];
        float m = -INFINITY;
        for (size_t i = 0; i < n; i++) if (row[i] > m) m = row[i];
        float sum = 0.0f;
        for (size_t i = 0; i < n; i++) { row[i] = expf(row[i] - m); sum += row[i]; }
        float inv = 1.0f / sum;
        for (size_t i = 0; i < n; i++) row[i] *= inv;
        for (size_t i = n; i < ld; i++) row[i] = 0.0f;
    }
}

void pk_log_softmax(float *x, size_t n) {
    float m = -INFINITY;
    for (size_t i = 0; i < n; i++) if (x[i] > m) m = x[i];
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += exp((double)(x[i] - m));
    float lse = m + (float)log(sum);
    for (size_t i = 0; i < n; i++) x[i] -= lse;
}

void pk_add(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void pk_scale_add(float *out, const float *x, float scale, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] += scale * x[i];
}

void pk_attend_one(float *out, const float *q, const float *k, const float *v, size_t ld,
                   size_t L, size_t hd, float scale, float *scores) {
    float m = -INFINITY;
    for (size_t j = 0; j < L; j++) {
        const float *kj = k + j * ld;
        float s = 0.0f;
        for (size_t i = 0; i < hd; i++) s += q[i] * kj[i];
        s *= scale;
        scores[j] = s;
        if (s > m) m = s;
    }
    float sum = 0.0f;
    for (size_t j = 0; j < L; j++) { scores[j] = expf(scores[j] - m); sum += scores[j]; }
    float inv = 1.0f / sum;
    for (size_t i = 0; i < hd; i++) out[i] = 0.0f;
    for (size_t j = 0; j < L; j++) {
        const float *vj = v + j * ld;
        float p = scores[j] * inv;
        for (size_t i = 0; i < hd; i++) out[i] += p * vj[i];
    }
}
