#include "PolyKernels.h"
#include "clones.h"

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

#define DOT_LANES 16

// q·k in DOT_LANES independent sums: one running sum is a chain of dependent adds that the
// compiler may not reorder without fast-math, and it held batched decode at one add latency
// per element (28% of a batch-8 q8 step at ~150 positions).
PK_CLONES void pk_attend_one(float *out, const float *q, const float *k, const float *v, size_t ld,
                             size_t L, size_t hd, float scale, float *scores) {
    size_t whole = hd / DOT_LANES * DOT_LANES;
    for (size_t j = 0; j < L; j++) {
        const float *kj = k + j * ld;
        float lanes[DOT_LANES] = {0};
        for (size_t i = 0; i < whole; i += DOT_LANES)
            for (size_t l = 0; l < DOT_LANES; l++) lanes[l] += q[i + l] * kj[i + l];
        float s = 0.0f;
        for (size_t i = whole; i < hd; i++) s += q[i] * kj[i];
        for (size_t w = DOT_LANES / 2; w > 0; w /= 2)
            for (size_t l = 0; l < w; l++) lanes[l] += lanes[l + w];
        scores[j] = (lanes[0] + s) * scale;
    }
    pk_softmax(scores, 1, L);
    for (size_t i = 0; i < hd; i++) out[i] = 0.0f;
    for (size_t j = 0; j < L; j++) {
        const float *vj = v + j * ld;
        for (size_t i = 0; i < hd; i++) out[i] += scores[j] * vj[i];
    }
}
