#include "PolyKernels.h"
#include <math.h>

static inline float relu(float v) { return v > 0.0f ? v : 0.0f; }

void pk_polynorm(float *out, const float *x, size_t rows, size_t n,
                 float w0, float w1, float w2, float b, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *o = out + r * n;
        // mean of x², x⁴ and x⁶: the squares of x, x² and x³.
        double s2 = 0, s4 = 0, s6 = 0;
        for (size_t i = 0; i < n; i++) {
            double v = xr[i];
            double v2 = v * v;
            s2 += v2;
            s4 += v2 * v2;
            s6 += v2 * v2 * v2;
        }
        float inv1 = 1.0f / sqrtf((float)(s2 / (double)n) + eps);
        float inv2 = 1.0f / sqrtf((float)(s4 / (double)n) + eps);
        float inv3 = 1.0f / sqrtf((float)(s6 / (double)n) + eps);
        float a3 = w0 * inv3, a2 = w1 * inv2, a1 = w2 * inv1;
        for (size_t i = 0; i < n; i++) {
            float v = xr[i];
            float v2 = v * v;
            o[i] = a3 * (v2 * v) + a2 * v2 + a1 * v + b;
        }
    }
}

void pk_polyrelu(float *out, const float *x, size_t n,
                 float w0, float w1, float w2, float b) {
    for (size_t i = 0; i < n; i++) {
        float v = relu(x[i]);
        float v2 = v * v;
        out[i] = w0 * (v2 * v) + w1 * v2 + w2 * v + b;
    }
}

void pk_relu(float *out, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = relu(x[i]);
}

static inline float gelu(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); }
static inline float gelu_tanh(float v) {
    const float k = 0.79788456080286536f; // sqrt(2/pi)
    return 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
}
static inline float silu(float v) { return v / (1.0f + expf(-v)); }

void pk_gelu(float *out, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = gelu(x[i]);
}

void pk_gelu_tanh(float *out, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = gelu_tanh(x[i]);
}

void pk_silu(float *out, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = silu(x[i]);
}

void pk_gated(float *out, const float *gate, const float *up, size_t n, pk_gate_activation act) {
    switch (act) {
    case PK_GATE_SILU: for (size_t i = 0; i < n; i++) out[i] = silu(gate[i]) * up[i]; break;
    case PK_GATE_GELU: for (size_t i = 0; i < n; i++) out[i] = gelu(gate[i]) * up[i]; break;
    case PK_GATE_RELU: for (size_t i = 0; i < n; i++) out[i] = relu(gate[i]) * up[i]; break;
    case PK_GATE_GELU_TANH: for (size_t i = 0; i < n; i++) out[i] = gelu_tanh(gate[i]) * up[i]; break;
    }
}
