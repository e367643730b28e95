#include "PolyKernels.h"
#include <math.h>

static inline float relu(float v) { return v > 0.0f ? v : 0.0f; }

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
