#include "PolyKernels.h"
#include "gemm.h"
#include <stddef.h>

// Prefill attention's two products per head, at the sizes attention has them: a block of at
// most 128 query rows against the keys up to its last position (a scored ending: ~20 rows ×
// ~100 keys), head dimension 64–128, every operand a strided slice of the q, k, v and context
// buffers. OpenBLAS ran them at ~4% of a HellaSwag-shaped scoring run, most of it what each of
// its calls costs before the first product (thousands of calls per step at these sizes), and
// its speed there depends on the kernels its build knows for the CPU. f32 math; sums run
// along the head dimension (scores) or the keys (context) in 16-lane partial sums.
//
// AVX-512 only: without it the callers keep OpenBLAS (return -1), which has AVX2 kernels.

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define PK_ATTN_SIMD 1
#define TARGET __attribute__((target("avx512f,avx512dq,avx512vl")))
#endif

#ifdef PK_ATTN_SIMD
#define MR 6 // query rows per tile: 6 × 4 sums + 4 keys + 1 query = 29 of 32 registers
#define NR 4 // keys (scores) or 16-lane vectors of the head dimension (context) per tile
#define KB 256 // keys per block: a block's keys or values (128 KiB at hd 128) stay in L2 for every
               // row tile (unblocked, 1536 keys ran at 93 / 104 GFLOP/s instead of ~150 / ~240)

static int has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

/// Lanes of a 16-lane vector that lie before `n` (all when n ≥ 16).
TARGET static inline __mmask16 lanes(size_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

/// s[t][0..<nr] = scale · q[t] · k[r] for mr query rows and 4 keys (those past nr repeat a
/// real key and are not stored). `mr` is a constant at each call.
TARGET static inline __attribute__((always_inline))
void scores_tile(float *s, size_t lds, const float *const q[MR], const float *const k[NR], size_t hd,
                 int mr, int nr, float scale) {
    __m512 acc[MR][NR];
    for (int t = 0; t < mr; t++)
        for (int r = 0; r < NR; r++) acc[t][r] = _mm512_setzero_ps();
    for (size_t d = 0; d < hd; d += 16) {
        __mmask16 m = lanes(hd - d);
        __m512 kv[NR];
        for (int r = 0; r < NR; r++) kv[r] = _mm512_maskz_loadu_ps(m, k[r] + d);
        for (int t = 0; t < mr; t++) {
            __m512 qv = _mm512_maskz_loadu_ps(m, q[t] + d);
            for (int r = 0; r < NR; r++) acc[t][r] = _mm512_fmadd_ps(qv, kv[r], acc[t][r]);
        }
    }
    __mmask8 store = (__mmask8)((1u << nr) - 1);
    for (int t = 0; t < mr; t++)
        _mm_mask_storeu_ps(s + (size_t)t * lds, store,
                           _mm_mul_ps(pk_sum4_512(acc[t][0], acc[t][1], acc[t][2], acc[t][3]), _mm_set1_ps(scale)));
}

/// out[t][d0 ..< d0 + 64] = Σ_j p[t][j] · v[j][d0 ...] for mr rows, the head dimension's lanes
/// past hd masked off. `mr` is a constant at each call.
TARGET static inline __attribute__((always_inline))
void context_tile(float *out, size_t ldo, const float *const p[MR], const float *v, size_t ldv, size_t keys,
                  size_t d0, size_t hd, int mr, int accumulate) {
    __m512 acc[MR][NR];
    __mmask16 m[NR];
    for (int c = 0; c < NR; c++) m[c] = d0 + 16 * c < hd ? lanes(hd - d0 - 16 * c) : 0;
    for (int t = 0; t < mr; t++)
        for (int c = 0; c < NR; c++) acc[t][c] = _mm512_setzero_ps();
    for (size_t j = 0; j < keys; j++) {
        const float *vj = v + j * ldv + d0;
        __m512 vv[NR];
        for (int c = 0; c < NR; c++) vv[c] = _mm512_maskz_loadu_ps(m[c], vj + 16 * c);
        for (int t = 0; t < mr; t++) {
            __m512 pt = _mm512_set1_ps(p[t][j]);
            for (int c = 0; c < NR; c++) acc[t][c] = _mm512_fmadd_ps(pt, vv[c], acc[t][c]);
        }
    }
    for (int t = 0; t < mr; t++)
        for (int c = 0; c < NR; c++) {
            float *o = out + (size_t)t * ldo + d0 + 16 * c;
            if (accumulate) acc[t][c] = _mm512_add_ps(acc[t][c], _mm512_maskz_loadu_ps(m[c], o));
            _mm512_mask_storeu_ps(o, m[c], acc[t][c]);
        }
}

TARGET static void scores(float *s, size_t lds, const float *q, size_t ldq, const float *k, size_t ldk,
                          size_t rows, size_t keys, size_t hd, float scale) {
    for (size_t b0 = 0; b0 < keys; b0 += KB)
    for (size_t t0 = 0; t0 < rows; t0 += MR) {
        int mr = rows - t0 < MR ? (int)(rows - t0) : MR;
        const float *qt[MR];
        for (int t = 0; t < MR; t++) qt[t] = q + (t0 + (size_t)(t < mr ? t : 0)) * ldq;
        for (size_t j0 = b0; j0 < keys && j0 < b0 + KB; j0 += NR) {
            int nr = keys - j0 < NR ? (int)(keys - j0) : NR;
            const float *kr[NR];
            for (int r = 0; r < NR; r++) kr[r] = k + (j0 + (size_t)(r < nr ? r : 0)) * ldk;
            float *o = s + t0 * lds + j0;
            switch (mr) { // one copy of the tile per row count, its loops unrolled
            case 6: scores_tile(o, lds, qt, kr, hd, 6, nr, scale); break;
            case 5: scores_tile(o, lds, qt, kr, hd, 5, nr, scale); break;
            case 4: scores_tile(o, lds, qt, kr, hd, 4, nr, scale); break;
            case 3: scores_tile(o, lds, qt, kr, hd, 3, nr, scale); break;
            case 2: scores_tile(o, lds, qt, kr, hd, 2, nr, scale); break;
            default: scores_tile(o, lds, qt, kr, hd, 1, nr, scale); break;
            }
        }
    }
}

TARGET static void context(float *out, size_t ldo, const float *p, size_t ldp, const float *v, size_t ldv,
                           size_t rows, size_t keys, size_t hd, int accumulate) {
    // Key blocks one after another, each summed into what the blocks before it left.
    for (size_t b0 = 0; b0 == 0 || b0 < keys; b0 += KB) {
        size_t kb = keys - b0 < KB ? keys - b0 : KB;
        const float *vb = v + b0 * ldv;
        int acc = accumulate || b0 > 0;
        for (size_t t0 = 0; t0 < rows; t0 += MR) {
            int mr = rows - t0 < MR ? (int)(rows - t0) : MR;
            const float *pt[MR];
            for (int t = 0; t < MR; t++) pt[t] = p + (t0 + (size_t)(t < mr ? t : 0)) * ldp + b0;
            for (size_t d0 = 0; d0 < hd; d0 += 16 * NR) {
                float *o = out + t0 * ldo;
                switch (mr) {
                case 6: context_tile(o, ldo, pt, vb, ldv, kb, d0, hd, 6, acc); break;
                case 5: context_tile(o, ldo, pt, vb, ldv, kb, d0, hd, 5, acc); break;
                case 4: context_tile(o, ldo, pt, vb, ldv, kb, d0, hd, 4, acc); break;
                case 3: context_tile(o, ldo, pt, vb, ldv, kb, d0, hd, 3, acc); break;
                case 2: context_tile(o, ldo, pt, vb, ldv, kb, d0, hd, 2, acc); break;
                default: context_tile(o, ldo, pt, vb, ldv, kb, d0, hd, 1, acc); break;
                }
            }
        }
    }
}
#endif

int pk_attn_scores(float *s, size_t lds, const float *q, size_t ldq, const float *k, size_t ldk,
                   size_t rows, size_t keys, size_t hd, float scale) {
#ifdef PK_ATTN_SIMD
    if (!has_avx512()) return -1;
    scores(s, lds, q, ldq, k, ldk, rows, keys, hd, scale);
    return 0;
#else
    (void)s; (void)lds; (void)q; (void)ldq; (void)k; (void)ldk; (void)rows; (void)keys; (void)hd; (void)scale;
    return -1;
#endif
}

int pk_attn_context(float *out, size_t ldo, const float *p, size_t ldp, const float *v, size_t ldv,
                    size_t rows, size_t keys, size_t hd, int accumulate) {
#ifdef PK_ATTN_SIMD
    if (!has_avx512()) return -1;
    context(out, ldo, p, ldp, v, ldv, rows, keys, hd, accumulate);
    return 0;
#else
    (void)out; (void)ldo; (void)p; (void)ldp; (void)v; (void)ldv; (void)rows; (void)keys; (void)hd; (void)accumulate;
    return -1;
#endif
}
