#include "PolyKernels.h"
#include "gemm.h"
#include <stdint.h>
#include <stddef.h>

// bf16 × bf16 → f32 matrix product on AVX512-BF16 (vdpbf16ps): twice the multiply rate of
// f32 FMAs and half the bytes. Opt-in (activations are rounded to bf16, as in a bf16
// PyTorch run), used for prefill; decode stays on the exact f32 path.
//
// Inner products along K, weights read in place: both operands are row-major with K
// contiguous, so a 512-bit load of either is 32 consecutive terms of the same sums and
// nothing has to be packed. (The earlier kernel transposed every 64-row panel of weights
// into pair-interleaved order on each call: a scalar pass that cost as much as the
// products themselves at 80-token prefills.) Each tile keeps 6 tokens × 4 rows of 16-lane
// partial sums in registers and reduces them once per K block.

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define PK_BF16DOT 1
#endif

int pk_has_bf16dot(void) {
#ifdef PK_BF16DOT
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
#else
    return 0;
#endif
}

#ifdef PK_BF16DOT
#define MR 6       // tokens per tile: 6 activation vectors + 24 sums + 1 weight vector = 31 registers
#define NR 4       // weight rows per tile
#define KC 2048    // most K terms per block: a tile's 6 activation rows (24 KB) stay in L1
#define NB 128     // weight rows per block: 128 × KC bf16 (512 KB) stay in L2 for every token tile (64: 2–5% slower)

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/// out[t][0..<nr] (+)= x[t] · w[r] over kn terms for the `mr` tokens of `x` and 4 weight rows
/// (rows past `nr` repeat a real row and are not stored), fetching the kn terms at `next` into
/// L2 on the way. `mr` is a constant at each call.
TARGET static inline __attribute__((always_inline))
void tile(float *out, size_t ldo, const uint16_t *const x[MR], const uint16_t *const w[NR],
          const uint16_t *next, size_t kn, int mr, int nr, int accumulate) {
    __m512 acc[MR][NR];
    for (int t = 0; t < mr; t++)
        for (int r = 0; r < NR; r++) acc[t][r] = _mm512_setzero_ps();
    size_t k = 0;
    for (; k + 32 <= kn; k += 32) {
        _mm_prefetch((const char *)(next + k), _MM_HINT_T1);
        // Weight rows come from L2: asking 256 bytes ahead hides its latency (8–12% here).
        for (int r = 0; r < NR; r++) _mm_prefetch((const char *)(w[r] + k + 128), _MM_HINT_T0);
        __m512bh xv[MR];
        for (int t = 0; t < mr; t++) xv[t] = (__m512bh)_mm512_loadu_si512(x[t] + k);
        for (int r = 0; r < NR; r++) {
            __m512bh wv = (__m512bh)_mm512_loadu_si512(w[r] + k);
            for (int t = 0; t < mr; t++) acc[t][r] = _mm512_dpbf16_ps(acc[t][r], xv[t], wv);
        }
    }
    if (k < kn) { // the last kn % 32 terms; masked-off halves are zeros and add nothing
        __mmask32 m = (__mmask32)((1ull << (kn - k)) - 1);
        __m512bh xv[MR];
        for (int t = 0; t < mr; t++) xv[t] = (__m512bh)_mm512_maskz_loadu_epi16(m, x[t] + k);
        for (int r = 0; r < NR; r++) {
            __m512bh wv = (__m512bh)_mm512_maskz_loadu_epi16(m, w[r] + k);
            for (int t = 0; t < mr; t++) acc[t][r] = _mm512_dpbf16_ps(acc[t][r], xv[t], wv);
        }
    }
    __mmask8 store = (__mmask8)((1u << nr) - 1);
    for (int t = 0; t < mr; t++) {
        __m128 s = pk_sum4_512(acc[t][0], acc[t][1], acc[t][2], acc[t][3]);
        float *o = out + (size_t)t * ldo;
        if (accumulate) s = _mm_add_ps(s, _mm_maskz_loadu_ps(store, o));
        _mm_mask_storeu_ps(o, store, s);
    }
}

TARGET static void gemm(float *out, size_t ldo, const uint16_t *xb, size_t ldx, const uint16_t *w,
                        size_t T, size_t rows, size_t K) {
    // Balanced K blocks, each a whole number of 32-term vectors but the last.
    size_t blocks = (K + KC - 1) / KC;
    size_t kc = ((K + blocks - 1) / blocks + 31) / 32 * 32;
    for (size_t k0 = 0; k0 < K; k0 += kc) {
        size_t kn = K - k0 < kc ? K - k0 : kc;
        int accumulate = k0 > 0;
        for (size_t n0 = 0; n0 < rows; n0 += NB) {
            size_t n1 = rows - n0 < NB ? rows : n0 + NB;
            for (size_t t0 = 0; t0 < T; t0 += MR) {
                int mr = T - t0 < MR ? (int)(T - t0) : MR;
                const uint16_t *x[MR];
                for (int t = 0; t < MR; t++) x[t] = xb + (t0 + (size_t)(t < mr ? t : 0)) * ldx + k0;
                for (size_t r0 = n0; r0 < n1; r0 += NR) {
                    int nr = n1 - r0 < NR ? (int)(n1 - r0) : NR;
                    const uint16_t *wr[NR];
                    for (int r = 0; r < NR; r++) wr[r] = w + (r0 + (size_t)(r < nr ? r : 0)) * K + k0;
                    // The first 64 tiles of a block fetch the next block's rows, one each, so that
                    // block does not start at memory speed (with few tokens a block's products
                    // take little longer than reading its weights from memory).
                    size_t q = t0 / MR * (NB / NR) + (r0 - n0) / NR, ahead = n1 + q;
                    const uint16_t *next = q < NB && ahead < rows ? w + ahead * K + k0 : wr[0];
                    float *o = out + t0 * ldo + r0;
                    switch (mr) { // one copy of the tile per token count, its loops unrolled
                    case 6: tile(o, ldo, x, wr, next, kn, 6, nr, accumulate); break;
                    case 5: tile(o, ldo, x, wr, next, kn, 5, nr, accumulate); break;
                    case 4: tile(o, ldo, x, wr, next, kn, 4, nr, accumulate); break;
                    case 3: tile(o, ldo, x, wr, next, kn, 3, nr, accumulate); break;
                    case 2: tile(o, ldo, x, wr, next, kn, 2, nr, accumulate); break;
                    default: tile(o, ldo, x, wr, next, kn, 1, nr, accumulate); break;
                    }
                }
            }
        }
    }
}
#endif

int pk_gemm_bf16dot(float *out, size_t ldo, const uint16_t *xb, size_t ldx, const uint16_t *w,
                    size_t T, size_t rows, size_t K) {
#ifdef PK_BF16DOT
    if (!pk_has_bf16dot()) return -1;
    if (T == 0 || rows == 0) return 0;
    if (K == 0) {
        for (size_t t = 0; t < T; t++)
            for (size_t r = 0; r < rows; r++) out[t * ldo + r] = 0;
        return 0;
    }
    gemm(out, ldo, xb, ldx, w, T, rows, K);
    return 0;
#else
    (void)out; (void)ldo; (void)xb; (void)ldx; (void)w; (void)T; (void)rows; (void)K;
    return -1;
#endif
}
