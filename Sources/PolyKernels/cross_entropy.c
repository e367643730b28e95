// Token cross-entropy with log-softmax in f32 over the vocabulary (as torch's
// F.cross_entropy on f32 logits) and an ignore index.
#include "PolyKernels.h"
#include <math.h>

static float row_logsumexp(const float *x, size_t V) {
    float m = -INFINITY;
    for (size_t i = 0; i < V; i++) if (x[i] > m) m = x[i];
    double s = 0.0;
    for (size_t i = 0; i < V; i++) s += exp((double)(x[i] - m));
    return m + (float)log(s);
}

double pk_cross_entropy_forward(float *losses, const float *logits, const int32_t *targets,
                                size_t rows, size_t V) {
    double total = 0.0;
    for (size_t r = 0; r < rows; r++) {
        int32_t t = targets[r];
        if (t == PK_IGNORE_INDEX) { if (losses) losses[r] = 0.0f; continue; }
        const float *x = logits + r * V;
        float l = row_logsumexp(x, V) - x[t];
        if (losses) losses[r] = l;
        total += l;
    }
    return total;
}

double pk_cross_entropy_backward(float *dlogits, const float *logits, const int32_t *targets,
                                 size_t rows, size_t V, float scale) {
    double total = 0.0;
    for (size_t r = 0; r < rows; r++) {
        int32_t t = targets[r];
        float *d = dlogits + r * V;
        if (t == PK_IGNORE_INDEX) {
            for (size_t i = 0; i < V; i++) d[i] = 0.0f;
            continue;
        }
        const float *x = logits + r * V;
        float lse = row_logsumexp(x, V);
        total += lse - x[t];
        for (size_t i = 0; i < V; i++) d[i] = scale * expf(x[i] - lse);
        d[t] -= scale;
    }
    return total;
}
