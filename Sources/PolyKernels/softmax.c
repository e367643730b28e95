#include "PolyKernels.h"
#include <math.h>

// Every softmax in the model (router, prefill and decode attention) is this one: shift by
// the row's maximum, exponentiate, multiply by the reciprocal of the f32 sum.
static void softmax_row(float *x, size_t n) {
    float m = -INFINITY;
    for (size_t i = 0; i < n; i++) if (x[i] > m) m = x[i];
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) { x[i] = expf(x[i] - m); sum += x[i]; }
    float inv = 1.0f / sum;
    for (size_t i = 0; i < n; i++) x[i] *= inv;
}

void pk_softmax(float *x, size_t rows, size_t n) {
    for (size_t r = 0; r < rows; r++) softmax_row(x + r * n, n);
}

void pk_softmax_causal(float *x, size_t ld, const size_t *valid, size_t rows) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * ld;
        softmax_row(row, valid[r]);
        for (size_t i = valid[r]; i < ld; i++) row[i] = 0.0f;
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
