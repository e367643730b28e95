#include "PolyKernels.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// bf16 × bf16 → f32 matrix product on AVX512-BF16 (vdpbf16ps): twice the multiply rate of
// f32 FMAs and half the bytes. Opt-in (activations are rounded to bf16, as in a bf16
// PyTorch run), used for prefill; decode stays on the exact f32 path.

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define PK_BF16DOT 1
#endif

int pk_has_bf16dot(void) {
#ifdef PK_BF16DOT
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

#ifdef PK_BF16DOT
#define PANEL 64  // weight rows per packed panel: four 16-lane vectors of outputs
#define TILE 4    // tokens per micro-tile

/// `panel` (K/2 · PANEL lanes, 64-byte aligned) comes from the caller, which alone can fail.
__attribute__((target("avx512f,avx512bf16")))
static void gemm(float *out, size_t ldo, const uint16_t *xb, const uint16_t *w,
                 size_t T, size_t rows, size_t K, uint32_t *panel) {
    size_t K2 = K / 2;
    // panel[k2][j] = the pair (w[j][2·k2], w[j][2·k2+1]) of panel row j, as one 32-bit lane.
    for (size_t n0 = 0; n0 < rows; n0 += PANEL) {
        size_t nb = rows - n0 < PANEL ? rows - n0 : PANEL;
        for (size_t j = 0; j < PANEL; j++) {
            if (j < nb) {
                const uint16_t *src = w + (n0 + j) * K;
                for (size_t k2 = 0; k2 < K2; k2++) {
                    uint32_t pair;
                    memcpy(&pair, src + 2 * k2, 4);
                    panel[k2 * PANEL + j] = pair;
                }
            } else {
                for (size_t k2 = 0; k2 < K2; k2++) panel[k2 * PANEL + j] = 0;
            }
        }
        for (size_t t0 = 0; t0 < T; t0 += TILE) {
            __m512 acc[TILE][4];
            for (int t = 0; t < TILE; t++)
                for (int v = 0; v < 4; v++) acc[t][v] = _mm512_setzero_ps();
            const uint16_t *a = xb + t0 * K; // xb has zero rows up to a multiple of TILE
            for (size_t k2 = 0; k2 < K2; k2++) {
                const uint32_t *p = panel + k2 * PANEL;
                __m512bh w0 = (__m512bh)_mm512_load_si512(p);
                __m512bh w1 = (__m512bh)_mm512_load_si512(p + 16);
                __m512bh w2 = (__m512bh)_mm512_load_si512(p + 32);
                __m512bh w3 = (__m512bh)_mm512_load_si512(p + 48);
                for (int t = 0; t < TILE; t++) {
                    uint32_t pair;
                    memcpy(&pair, a + t * K + 2 * k2, 4);
                    __m512bh x = (__m512bh)_mm512_set1_epi32((int)pair);
                    acc[t][0] = _mm512_dpbf16_ps(acc[t][0], x, w0);
                    acc[t][1] = _mm512_dpbf16_ps(acc[t][1], x, w1);
                    acc[t][2] = _mm512_dpbf16_ps(acc[t][2], x, w2);
                    acc[t][3] = _mm512_dpbf16_ps(acc[t][3], x, w3);
                }
            }
            for (int t = 0; t < TILE && t0 + t < T; t++) {
                for (int v = 0; v < 4; v++) {
                    size_t c0 = (size_t)v * 16;
                    if (c0 >= nb) break;
                    size_t n = nb - c0 < 16 ? nb - c0 : 16;
                    __mmask16 mask = (__mmask16)((1u << n) - 1u);
                    _mm512_mask_storeu_ps(out + (t0 + t) * ldo + n0 + c0, mask, acc[t][v]);
                }
            }
        }
    }
}
#endif

int pk_gemm_bf16dot(float *out, size_t ldo, const uint16_t *xb, const uint16_t *w,
                    size_t T, size_t rows, size_t K) {
#ifdef PK_BF16DOT
    if (!pk_has_bf16dot() || K % 2 != 0) return -1;
    size_t lanes = K / 2;
    if (lanes > (SIZE_MAX - 64) / (PANEL * 4)) return -1;
    uint32_t *panel = aligned_alloc(64, lanes * PANEL * 4 + 64);
    if (!panel) return -1;
    gemm(out, ldo, xb, w, T, rows, K, panel);
    free(panel);
    return 0;
#else
    (void)out; (void)ldo; (void)xb; (void)w; (void)T; (void)rows; (void)K;
    return -1;
#endif
}
