#include "q8_lanes.h"
#include "q8_block.h"
#include "claim.h"
#include <stdlib.h>
#include <string.h>

// q8 decode batches of 4 or more tokens with the tokens in vector lanes. The row kernels
// of matmul_q8.c give each (row, token, pair of blocks) a vpdpbusd, a conversion, a scale
// product and an FMA on 512-bit vectors: 32 such operations per row, 64 weight bytes and 8
// tokens, and a batch of 8 was bound by them (6–7 GB/s of weights per core against 17–21
// for one token). Here a 256-bit register holds one 4-byte group of a block for 8 tokens
// (lane t: token t), and vpdpbusd takes the matching 4 weight bytes broadcast from memory
// ({1to8}): 8 of them sum a whole block for all 8 tokens, so the start, conversion, scale
// product and FMA come once per block and row, 24 operations on 256-bit vectors per row,
// 64 weight bytes and 8 tokens. The weights stay in their row layout; the activations are
// laid out once per call.
//
// vpdpbusd multiplies u8 (the register: activations + 128) by s8 (the weights), so each
// block's sum starts at −128 · Σ qw, which pk_q8_block_sums computes once per matrix (the
// row kernels derive it per call from the weights in their registers; here the weights
// are never in a register).

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define TL __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#define PK_INLINE static inline __attribute__((always_inline))

enum { LANES = 8, QB = 32, ROWS = 4 };

/// Activations for `groups` groups of 8 tokens: x[((g · nb + b) · 8 + j) · 8 + t] holds bytes
/// 4j … 4j + 3 of block b of token 8g + t as u8 (qa + 128), d[(g · nb + b) · 8 + t] its
/// scale. Lanes past the last token are zeros: u8 0 adds nothing to a sum, scale 0.
typedef struct { uint32_t *x; float *d; size_t nb, groups; } lanes_act;

/// Each block through pk_q8_block_u8, as matmul_q8.c's VNNI activations.
TL static int quantize(lanes_act *a, const float *x, size_t T, size_t C) {
    size_t nb = C / QB, groups = (T + LANES - 1) / LANES, cells = groups * nb * LANES;
    a->nb = nb;
    a->groups = groups;
    a->x = aligned_alloc(64, (cells * 8 * 4 + 63) / 64 * 64);
    a->d = aligned_alloc(64, (cells * 4 + 63) / 64 * 64);
    if (!a->x || !a->d) return -1;
    memset(a->x, 0, cells * 8 * 4);
    memset(a->d, 0, cells * 4);
    for (size_t t = 0; t < T; t++) {
        size_t g = t / LANES, lane = t % LANES;
        for (size_t b = 0; b < nb; b++) {
            uint32_t bytes[8];
            float d = pk_q8_block_u8(x + t * C + b * QB, 0xffff, 0xffff, (uint8_t *)bytes);
            size_t cell = g * nb + b;
            for (int j = 0; j < 8; j++) a->x[(cell * 8 + j) * LANES + lane] = bytes[j];
            a->d[cell * LANES + lane] = d;
        }
    }
    return 0;
}

// Each row's stream is prefetched 4 KiB ahead, as the row kernels'; the block sums and
// scales (2 bytes per block each) 1 KiB ahead.
#define PREFETCH 4096
#define SIDE_PREFETCH 512

PK_INLINE TL __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/// R rows (from q, row stride C; their scales and sums with stride nb) against token group g
/// (M tokens of it stored): out[t · ldo + r]. Blocks in chunks of 64, whose scales are
/// widened to f32 first so each block's is a broadcast from memory.
PK_INLINE TL void tile(float *out, size_t ldo, const lanes_act *a, size_t g, size_t M, const int8_t *q,
                       const uint16_t *ws, const int16_t *sums, int R, size_t C) {
    size_t nb = a->nb;
    __m256 o[ROWS];
    float wsf[ROWS][64] __attribute__((aligned(64)));
    for (int r = 0; r < R; r++) o[r] = _mm256_setzero_ps();
    size_t pf_col = PREFETCH % C;
    const int8_t *pf = q + PREFETCH / C * R * C;
    for (size_t b0 = 0; b0 < nb; b0 += 64) {
        size_t n = nb - b0 < 64 ? nb - b0 : 64;
        for (int r = 0; r < R; r++) {
            _mm_prefetch((const char *)(ws + r * nb + b0 + SIDE_PREFETCH), _MM_HINT_T0);
            for (size_t k = 0; k < n; k += 16) {
                __mmask16 m = n - k >= 16 ? 0xffff : (__mmask16)((1u << (n - k)) - 1);
                _mm512_store_ps(wsf[r] + k, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, ws + r * nb + b0 + k)));
            }
        }
        for (size_t i = 0; i < n; i++) {
            size_t b = b0 + i;
            if (b % 2 == 0) {
                for (int r = 0; r < R; r++) _mm_prefetch((const char *)(pf + r * C + pf_col), _MM_HINT_T0);
                pf_col += 64;
                if (pf_col >= C) { pf_col -= C; pf += R * C; }
            }
            if (b % 32 == 0)
                for (int r = 0; r < R; r++) _mm_prefetch((const char *)(sums + r * nb + b + SIDE_PREFETCH), _MM_HINT_T0);
            const uint32_t *xb = a->x + (g * nb + b) * 8 * LANES;
            __m256i acc[ROWS];
            for (int r = 0; r < R; r++) acc[r] = _mm256_set1_epi32(-128 * (int32_t)sums[r * nb + b]);
            for (int j = 0; j < 8; j++) {
                __m256i xv = _mm256_load_si256((const __m256i *)(xb + j * LANES));
                for (int r = 0; r < R; r++) acc[r] = _mm256_dpbusd_epi32(acc[r], xv, bcast4(q + r * C + b * QB + 4 * j));
            }
            __m256 d = _mm256_load_ps(a->d + (g * nb + b) * LANES);
            for (int r = 0; r < R; r++)
                o[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r]), _mm256_mul_ps(d, _mm256_set1_ps(wsf[r][i])), o[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        float lanes[LANES];
        _mm256_storeu_ps(lanes, o[r]);
        for (size_t t = 0; t < M; t++) out[t * ldo + r] = lanes[t];
    }
}

/// Rows r0 ..< r0 + n, in groups of 4 (the rest alone), each against every token group
/// while its rows are in cache.
TL static void rows_lanes(float *out, size_t ldo, const lanes_act *a, const int8_t *q, const uint16_t *scales,
                          const int16_t *sums, size_t T, size_t r0, size_t n, size_t C) {
    size_t nb = a->nb;
    for (size_t r = r0; r < r0 + n;) {
        int R = r0 + n - r >= ROWS ? ROWS : 1;
        for (size_t g = 0; g < a->groups; g++) {
            size_t M = T - g * LANES < LANES ? T - g * LANES : LANES;
            float *o = out + g * LANES * ldo + r;
            if (R == ROWS) tile(o, ldo, a, g, M, q + r * C, scales + r * nb, sums + r * nb, ROWS, C);
            else tile(o, ldo, a, g, M, q + r * C, scales + r * nb, sums + r * nb, 1, C);
        }
        r += R;
    }
}

int pk_q8_lanes_claim(float *out, size_t ldo, const float *x, const int8_t *q, const uint16_t *scales,
                      const int16_t *sums, size_t T, size_t rows, size_t C, size_t chunk, size_t *next) {
    lanes_act a = {0};
    int rc = quantize(&a, x, T, C);
    while (rc == 0) {
        size_t r0, n = pk_claim_rows(next, rows, chunk, &r0);
        if (n == 0) break;
        rows_lanes(out, ldo, &a, q, scales, sums, T, r0, n, C);
    }
    free(a.x);
    free(a.d);
    return rc;
}
#endif
