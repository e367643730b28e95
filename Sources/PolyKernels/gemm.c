#include "PolyKernels.h"
#include "gemm.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// The blocking of the prefill GEMM, whatever the weights' format (gemm.h). K runs in blocks of
// KC steps (a step is the columns one packed weight lane holds). Up to MB tokens are packed at
// once over all of K, MR tokens interleaved per column (xp[k][t]); then for each NC-row weight
// block the K blocks run one after another, so that block's outputs (MB × NC floats) stay in
// cache while they accumulate, instead of every output streaming through memory once per K
// block (10-20% of the time at 512 tokens). The format packs each K block of NR weight rows
// as its micro-kernel reads them; the kernel keeps an MR × NR tile of outputs in registers.
// Each output sums its columns in order within a block, blocks one after another, so the
// result is f32 math on the (widened or dequantised) weights up to that summation order.
//
// Tokens and rows are padded with zeros to whole tiles (stores are clipped), K to a whole step.

#define MB 512 // tokens packed at once (rounded up to whole tiles): ≈ 2 KiB × K of x per thread

/// xp[k · MR + t] for the MR tokens from t0 and the n columns from c0; zero padded.
/// Columns before `from` are left to the caller (pack_x512 transposes them).
/// The tokens and columns that exist are copied without a test per element, the padding
/// zeroed after: with the test inside the one loop, packing was a tenth of a scoring run's
/// CPU time on a 256-wide model (each worker packs all of x for its share of the rows).
static void pack_x_from(float *xp, const float *x, size_t T, size_t K, size_t t0, size_t c0, size_t n, size_t MR,
                        size_t from) {
    size_t live = T > t0 ? (T - t0 < MR ? T - t0 : MR) : 0;
    size_t valid = K > c0 ? (K - c0 < n ? K - c0 : n) : 0;
    for (size_t t = 0; t < live; t++) {
        const float *xr = x + (t0 + t) * K + c0;
        for (size_t k = from; k < valid; k++) xp[k * MR + t] = xr[k];
        for (size_t k = valid > from ? valid : from; k < n; k++) xp[k * MR + t] = 0;
    }
    for (size_t t = live; t < MR; t++)
        for (size_t k = from; k < n; k++) xp[k * MR + t] = 0;
}

static void pack_x(float *xp, const float *x, size_t T, size_t K, size_t t0, size_t c0, size_t n, size_t MR) {
    pack_x_from(xp, x, T, K, t0, c0, n, MR, 0);
}

#ifdef PK_GEMM_SIMD
/// pack_x for MR ≤ 16 with 16-column blocks transposed in registers: the scalar copy, with
/// stores MR floats apart, was 2.3% of a 512-token prefill's samples on two cores (every
/// worker packs all of x for its share of the rows), this one 1.3%.
PK_T512 void pk_gemm_pack_x512(float *xp, const float *x, size_t T, size_t K, size_t t0, size_t c0, size_t n,
                               size_t MR) {
    size_t live = T > t0 ? (T - t0 < MR ? T - t0 : MR) : 0;
    size_t valid = K > c0 ? (K - c0 < n ? K - c0 : n) : 0, blocks = MR <= 16 ? valid / 16 * 16 : 0;
    __mmask16 lanes = (__mmask16)(MR >= 16 ? 0xffffu : (1u << MR) - 1u);
    for (size_t k = 0; k < blocks; k += 16) {
        __m512i r[16], c[16];
        for (size_t t = 0; t < 16; t++)
            r[t] = t < live ? _mm512_loadu_si512(x + (t0 + t) * K + c0 + k) : _mm512_setzero_si512();
        pk_transpose16(c, r);
        for (size_t m = 0; m < 16; m++) _mm512_mask_storeu_epi32(xp + (k + m) * MR, lanes, c[m]);
    }
    pack_x_from(xp, x, T, K, t0, c0, n, MR, blocks);
}
#endif

int pk_gemm_blocked(const pk_gemm_format *f, float *out, size_t ldo, const float *x, const void *weights,
                    size_t T, size_t rows, size_t K) {
    if (T == 0 || rows == 0) return 0;
    if (K == 0) {
        for (size_t t = 0; t < T; t++) memset(out + t * ldo, 0, rows * sizeof(float));
        return 0;
    }
    size_t MR = f->MR, NR = f->NR, S = f->step, KC = f->KC, NC = f->NC;
    pk_gemm_pack_x pack_tokens = f->pack_x ? f->pack_x : pack_x;
    size_t KS = (K + S - 1) / S, blocks = (KS + KC - 1) / KC, mb = (MB + MR - 1) / MR * MR;
    size_t stride = (T < mb ? (T + MR - 1) / MR * MR : mb) * S * KC; // floats per packed K block of x
    if (blocks > SIZE_MAX / (stride * sizeof(float))) return -1;
    float *xp = aligned_alloc(64, blocks * stride * sizeof(float));
    uint32_t *wp = aligned_alloc(64, KC * NC * sizeof(uint32_t));
    if (!xp || !wp) { free(xp); free(wp); return -1; }
    for (size_t m0 = 0; m0 < T; m0 += mb) {
        size_t mt = T - m0 < mb ? T - m0 : mb, tiles = (mt + MR - 1) / MR;
        for (size_t k0 = 0; k0 < KS; k0 += KC) {
            size_t kc = KS - k0 < KC ? KS - k0 : KC;
            for (size_t i = 0; i < tiles; i++)
                pack_tokens(xp + k0 / KC * stride + i * MR * S * kc, x + m0 * K, mt, K, i * MR, S * k0, S * kc, MR);
        }
        for (size_t nc0 = 0; nc0 < rows; nc0 += NC) {
            size_t ncn = rows - nc0 < NC ? rows - nc0 : NC;
            for (size_t k0 = 0; k0 < KS; k0 += KC) {
                size_t kc = KS - k0 < KC ? KS - k0 : KC;
                for (size_t n0 = 0; n0 < ncn; n0 += NR)
                    f->pack(wp + n0 * kc, weights, K, nc0 + n0, ncn - n0 < NR ? ncn - n0 : NR, k0, kc, NR);
                const float *xb = xp + k0 / KC * stride;
                for (size_t i = 0; i < tiles; i++) { // one token tile stays in L1 across the panels
                    size_t t0 = i * MR, mr = mt - t0 < MR ? mt - t0 : MR;
                    for (size_t n0 = 0; n0 < ncn; n0 += NR)
                        f->kernel(out + (m0 + t0) * ldo + nc0 + n0, ldo, xb + i * MR * S * kc, wp + n0 * kc,
                                  kc, mr, ncn - n0 < NR ? ncn - n0 : NR, k0 > 0);
                }
            }
        }
    }
    free(xp);
    free(wp);
    return 0;
}
