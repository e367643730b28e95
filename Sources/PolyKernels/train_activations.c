// Backward of the elementwise MLP activations (their forwards are in activations.c and
// keep nothing: the backward reads the pre-activation x). Input gradients are overwritten,
// parameter gradients accumulated.
#include "PolyKernels.h"
#include <math.h>

void pk_polyrelu_backward(float *dx, float *dcoef, const float *dout, const float *x, size_t n,
                          float w0, float w1, float w2) {
    double dw0 = 0, dw1 = 0, dw2 = 0, db = 0;
    for (size_t i = 0; i < n; i++) {
        float g = dout[i];
        db += g;
        if (x[i] > 0.0f) {
            float r = x[i], r2 = r * r;
            dw0 += (double)g * r2 * r;
            dw1 += (double)g * r2;
            dw2 += (double)g * r;
            dx[i] = g * (3.0f * w0 * r2 + 2.0f * w1 * r + w2);
        } else {
            dx[i] = 0.0f;
        }
    }
    dcoef[0] += (float)dw0;
    dcoef[1] += (float)dw1;
    dcoef[2] += (float)dw2;
    dcoef[3] += (float)db;
}

static inline float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

// The value and the derivative of each activation code of pk_gated.
static inline float act_value(float v, pk_gate_activation act) {
    switch (act) {
    case PK_GATE_SILU: return v * sigmoid(v);
    case PK_GATE_GELU: return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    case PK_GATE_RELU: return v > 0.0f ? v : 0.0f;
    default: {
        const float k = 0.79788456080286536f;
        return 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
    }
}

static inline float act_derivative(float v, pk_gate_activation act) {
    switch (act) {
    case PK_GATE_SILU: {
        float s = sigmoid(v);
        return s * (1.0f + v * (1.0f - s));
    }
    case PK_GATE_GELU: {
        const float inv_sqrt_2pi = 0.39894228040143268f;
        return 0.5f * (1.0f + erff(v * 0.70710678118654752f)) + v * inv_sqrt_2pi * expf(-0.5f * v * v);
    }
    case PK_GATE_RELU: return v > 0.0f ? 1.0f : 0.0f;
    default: {
        const float k = 0.79788456080286536f;
        float u = k * (v + 0.044715f * v * v * v);
        float t = tanhf(u);
        return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * k * (1.0f + 3.0f * 0.044715f * v * v);
    }
    }
}

void pk_activation_backward(float *dx, const float *dout, const float *x, size_t n, pk_gate_activation act) {
    for (size_t i = 0; i < n; i++) dx[i] = dout[i] * act_derivative(x[i], act);
}

void pk_gated_backward(float *dgate, float *dup, const float *dout, const float *gate,
                       const float *up, size_t n, pk_gate_activation act) {
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        dup[i] = dout[i] * act_value(g, act);
        dgate[i] = dout[i] * up[i] * act_derivative(g, act);
    }
}
