#include "PolyKernels.h"
#include "clones.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

// exp(x) for x ≤ 0 in f32: Cephes expf (x = n·ln 2 + r with ln 2 in two parts, a degree-6
// polynomial in r, 2^n from the exponent bits; about 1 ulp), without branches or libm so
// that the loops calling it vectorise. libm's double exp ran one element at a time: it was
// most of scoring's time outside the matrix products (every scored token's row of the
// vocabulary). Measured against double exp on every f32 in [-80, 0]: at most 1.38 ulp.
static inline __attribute__((always_inline)) float exp_nonpositive(float x) {
    x = x > -87.0f ? x : -87.0f; // keeps 2^n a normal f32 (exp_shifted zeroes what lies below)
    const float round = 12582912.0f; // 1.5·2^23: adding it rounds to an integer
    float n = (x * 1.44269504088896341f + round) - round;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float e = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return e * scale;
}

// exp(d) for d = x − max: 0 below -87 (where f32 turns subnormal; such a term is 38 orders
// below the largest, 1), NaN for NaN as libm's expf.
static inline __attribute__((always_inline)) float exp_shifted(float d) {
    float e = exp_nonpositive(d);
    return d < -87.0f ? 0.0f : (d == d ? e : d);
}

#define LANES 16

// The largest entry (NaNs ignored). Lanes are explicit here and below because the compiler
// may not reorder a floating-point reduction by itself.
static inline __attribute__((always_inline)) float row_max(const float *x, size_t n) {
    float lane_max[LANES];
    for (int j = 0; j < LANES; j++) lane_max[j] = -INFINITY;
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) lane_max[j] = x[i + j] > lane_max[j] ? x[i + j] : lane_max[j];
    float m = -INFINITY;
    for (int j = 0; j < LANES; j++) if (lane_max[j] > m) m = lane_max[j];
    for (; i < n; i++) if (x[i] > m) m = x[i];
    return m;
}

// Every softmax in the model (router, prefill and decode attention) is this one: shift by
// the row's maximum, exponentiate, multiply by the reciprocal of the f32 sum.
static inline __attribute__((always_inline)) void softmax_row(float *x, size_t n) {
    float m = row_max(x, n);
    float lane[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            float e = exp_shifted(x[i + j] - m);
            x[i + j] = e;
            lane[j] += e;
        }
    float sum = 0.0f;
    for (int j = 0; j < LANES; j++) sum += lane[j];
    for (; i < n; i++) { x[i] = exp_shifted(x[i] - m); sum += x[i]; }
    float inv = 1.0f / sum;
    for (i = 0; i < n; i++) x[i] *= inv;
}

PK_CLONES
void pk_softmax(float *x, size_t rows, size_t n) {
    for (size_t r = 0; r < rows; r++) softmax_row(x + r * n, n);
}

PK_CLONES
void pk_softmax_causal(float *x, size_t ld, const size_t *valid, size_t rows) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * ld;
        softmax_row(row, valid[r]);
        for (size_t i = valid[r]; i < ld; i++) row[i] = 0.0f;
    }
}

// log Σ exp(x): the max shift in f32, the sum in double. A NaN in x makes the sum NaN, as
// libm's exp did. Inlined into each caller's clones, so it vectorises for each.
static inline __attribute__((always_inline)) float log_sum_exp(const float *x, size_t n, float *max) {
    float m = row_max(x, n);
    double acc[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) acc[j] += (double)exp_shifted(x[i + j] - m);
    double sum = 0.0;
    for (int j = 0; j < LANES; j++) sum += acc[j];
    for (; i < n; i++) sum += (double)exp_shifted(x[i] - m);
    *max = m;
    return m + (float)log(sum);
}

PK_CLONES
void pk_log_softmax(float *x, size_t n) {
    float m;
    float lse = log_sum_exp(x, n, &m);
    for (size_t i = 0; i < n; i++) x[i] -= lse;
}

PK_CLONES
void pk_log_softmax_top1(const float *x, size_t n, size_t token, float *token_logprob,
                         size_t *best, float *best_logprob) {
    float m;
    float lse = log_sum_exp(x, n, &m);
    *token_logprob = x[token] - lse;
    // x − lse rounds monotonically, so the largest log-prob is (m − lse); the first entry
    // that rounds to it is the first maximum of the log-softmaxed row. A NaN lse leaves
    // every entry NaN, where that scan stops at 0.
    float top = m - lse;
    size_t i = 0;
    if (top == top) {
        for (; i + LANES <= n; i += LANES) {
            int hit = 0;
            for (int j = 0; j < LANES; j++) hit |= x[i + j] - lse == top;
            if (hit) break;
        }
        while (i < n && !(x[i] - lse == top)) i++;
    }
    if (i == n) i = 0;
    *best = i;
    *best_logprob = x[i] - lse;
}
