// RMSNorm and PolyNorm: the forward keeps what the backward needs, the backward beside it;
// inference calls the forward without saving.
// Parameter gradients (dw, dcoef) are accumulated with +=.
#include "PolyKernels.h"
#include "clones.h"
#include <math.h>

// The double sums run in NORM_LANES independent lanes, added at the end: one running sum
// is a chain of dependent adds the compiler may not reorder, and was ~7% of a scoring run
// on a 256-wide model (the engine thread's serial share).
#define NORM_LANES 8

// pk_rmsnorm is this kernel without saving, so training and inference agree bit for bit.
PK_CLONES
void pk_rmsnorm_forward(float *out, float *rstd, const float *x, const float *weight,
                        size_t rows, size_t n, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *o = out + r * n;
        double lane[NORM_LANES] = {0};
        size_t i = 0;
        for (; i + NORM_LANES <= n; i += NORM_LANES)
            for (int j = 0; j < NORM_LANES; j++) lane[j] += (double)xr[i + j] * (double)xr[i + j];
        double s = 0.0;
        for (int j = 0; j < NORM_LANES; j++) s += lane[j];
        for (; i < n; i++) s += (double)xr[i] * (double)xr[i];
        float inv = 1.0f / sqrtf((float)(s / (double)n) + eps);
        if (rstd) rstd[r] = inv;
        if (weight) {
            for (size_t i = 0; i < n; i++) o[i] = weight[i] * (xr[i] * inv);
        } else {
            for (size_t i = 0; i < n; i++) o[i] = xr[i] * inv;
        }
    }
}

// y_i = w_i x_i r with r = (mean x² + eps)^-½, so dr/dx_j = -r³ x_j / n and
// dx_j = r w_j g_j - (r³ x_j / n) Σ_i g_i w_i x_i.
void pk_rmsnorm_backward(float *dx, float *dweight, const float *dout, const float *x,
                         const float *weight, const float *rstd, size_t rows, size_t n) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n, *g = dout + r * n;
        float *d = dx + r * n;
        float inv = rstd[r];
        double dot = 0.0;
        for (size_t i = 0; i < n; i++) dot += (double)g[i] * weight[i] * xr[i];
        float c = (float)(dot / (double)n) * inv * inv * inv;
        for (size_t i = 0; i < n; i++) {
            d[i] += inv * weight[i] * g[i] - c * xr[i];
            if (dweight) dweight[i] += g[i] * xr[i] * inv;
        }
    }
}

// pk_polynorm is this kernel without saving; inv[r*3 + k-1] is the inverse norm of x^k.
PK_CLONES
void pk_polynorm_forward(float *out, float *inv, const float *x, size_t rows, size_t n,
                         float w0, float w1, float w2, float b, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *o = out + r * n;
        // mean of x², x⁴ and x⁶: the squares of x, x² and x³.
        double l2[NORM_LANES] = {0}, l4[NORM_LANES] = {0}, l6[NORM_LANES] = {0};
        size_t i = 0;
        for (; i + NORM_LANES <= n; i += NORM_LANES)
            for (int j = 0; j < NORM_LANES; j++) {
                double v2 = (double)xr[i + j] * xr[i + j];
                l2[j] += v2;
                l4[j] += v2 * v2;
                l6[j] += v2 * v2 * v2;
            }
        double s2 = 0, s4 = 0, s6 = 0;
        for (int j = 0; j < NORM_LANES; j++) {
            s2 += l2[j];
            s4 += l4[j];
            s6 += l6[j];
        }
        for (; i < n; i++) {
            double v2 = (double)xr[i] * xr[i];
            s2 += v2;
            s4 += v2 * v2;
            s6 += v2 * v2 * v2;
        }
        float inv1 = 1.0f / sqrtf((float)(s2 / (double)n) + eps);
        float inv2 = 1.0f / sqrtf((float)(s4 / (double)n) + eps);
        float inv3 = 1.0f / sqrtf((float)(s6 / (double)n) + eps);
        if (inv) {
            inv[r * 3 + 0] = inv1;
            inv[r * 3 + 1] = inv2;
            inv[r * 3 + 2] = inv3;
        }
        float a3 = w0 * inv3, a2 = w1 * inv2, a1 = w2 * inv1;
        for (size_t i = 0; i < n; i++) {
            float v = xr[i], v2 = v * v;
            o[i] = a3 * (v2 * v) + a2 * v2 + a1 * v + b;
        }
    }
}

// Each term is w·norm(u) with u = x^k: d norm(u)_j / du = inv g_j - inv³ u_j/n Σ g_i u_i,
// then du/dx = k x^(k-1). dcoef = [dw0, dw1, dw2, db]; dx is overwritten.
void pk_polynorm_backward(float *dx, float *dcoef, const float *dout, const float *x,
                          const float *inv, size_t rows, size_t n, float w0, float w1, float w2) {
    double dw0 = 0, dw1 = 0, dw2 = 0, db = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n, *g = dout + r * n;
        float *d = dx + r * n;
        float i1 = inv[r * 3 + 0], i2 = inv[r * 3 + 1], i3 = inv[r * 3 + 2];
        double gu1 = 0, gu2 = 0, gu3 = 0, gs = 0;
        for (size_t i = 0; i < n; i++) {
            double v = xr[i], v2 = v * v;
            gu1 += g[i] * v;
            gu2 += g[i] * v2;
            gu3 += g[i] * v2 * v;
            gs += g[i];
        }
        dw0 += gu3 * i3;
        dw1 += gu2 * i2;
        dw2 += gu1 * i1;
        db += gs;
        // Σ_i (w g_i) u_i · inv³ / n for each term.
        float c1 = (float)(w2 * gu1 / (double)n) * i1 * i1 * i1;
        float c2 = (float)(w1 * gu2 / (double)n) * i2 * i2 * i2;
        float c3 = (float)(w0 * gu3 / (double)n) * i3 * i3 * i3;
        for (size_t i = 0; i < n; i++) {
            float v = xr[i], v2 = v * v, gi = g[i];
            float du1 = w2 * i1 * gi - c1 * v;
            float du2 = w1 * i2 * gi - c2 * v2;
            float du3 = w0 * i3 * gi - c3 * v2 * v;
            d[i] = du1 + du2 * 2.0f * v + du3 * 3.0f * v2;
        }
    }
    dcoef[0] += (float)dw0;
    dcoef[1] += (float)dw1;
    dcoef[2] += (float)dw2;
    dcoef[3] += (float)db;
}

void pk_rmsnorm(float *out, const float *x, const float *weight,
                size_t rows, size_t n, float eps) {
    pk_rmsnorm_forward(out, NULL, x, weight, rows, n, eps);
}

void pk_polynorm(float *out, const float *x, size_t rows, size_t n,
                 float w0, float w1, float w2, float b, float eps) {
    pk_polynorm_forward(out, NULL, x, rows, n, w0, w1, w2, b, eps);
}
