#include "PolyKernels.h"
#include "clones.h"

void pk_rope(float *x, size_t ldx, const float *cos, const float *sin,
             size_t T, size_t heads, size_t hd) {
    size_t half = hd / 2;
    for (size_t t = 0; t < T; t++) {
        const float *c = cos + t * half;
        const float *s = sin + t * half;
        for (size_t h = 0; h < heads; h++) {
            float *v = x + t * ldx + h * hd;
            for (size_t j = 0; j < half; j++) {
                float x1 = v[j], x2 = v[j + half];
                v[j] = x1 * c[j] - x2 * s[j];
                v[j + half] = x2 * c[j] + x1 * s[j];
            }
        }
    }
}

#define DOT_LANES 16

/// Consecutive positions of one head's cached keys and values (rows `ld` apart).
typedef struct { const float *k, *v; size_t n; } pk_kv_run;

// q·k in DOT_LANES independent sums: one running sum is a chain of dependent adds that the
// compiler may not reorder without fast-math, and it held batched decode at one add latency
// per element (28% of a batch-8 q8 step at ~150 positions). The portable form, and the
// reference the AVX-512 kernel below is tested against.
PK_CLONES static void attend_one_portable(float *out, const float *q, const pk_kv_run runs[2], size_t ld,
                                          size_t hd, float scale, float *scores) {
    size_t whole = hd / DOT_LANES * DOT_LANES, L = runs[0].n + runs[1].n;
    for (size_t j = 0; j < L; j++) {
        const float *kj = j < runs[0].n ? runs[0].k + j * ld : runs[1].k + (j - runs[0].n) * ld;
        float lanes[DOT_LANES] = {0};
        for (size_t i = 0; i < whole; i += DOT_LANES)
            for (size_t l = 0; l < DOT_LANES; l++) lanes[l] += q[i + l] * kj[i + l];
        float s = 0.0f;
        for (size_t i = whole; i < hd; i++) s += q[i] * kj[i];
        for (size_t w = DOT_LANES / 2; w > 0; w /= 2)
            for (size_t l = 0; l < w; l++) lanes[l] += lanes[l + w];
        scores[j] = (lanes[0] + s) * scale;
    }
    pk_softmax(scores, 1, L);
    for (size_t i = 0; i < hd; i++) out[i] = 0.0f;
    for (size_t j = 0; j < L; j++) {
        const float *vj = j < runs[0].n ? runs[0].v + j * ld : runs[1].v + (j - runs[0].n) * ld;
        for (size_t i = 0; i < hd; i++) out[i] += scores[j] * vj[i];
    }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#include "gemm.h"
#define PK_ATTEND_SIMD 1

// The portable form as compiled spent its time waiting: each key's dot product one chain of
// FMAs and a reduction, each value row added into `out` through memory. Here 8 keys' dot
// products run side by side (one query load serves all 8) and are reduced together, and the
// output's 128 lanes stay in 8 registers across all values. Cached rows are a head's slice
// of each position (512 bytes 8 KiB apart at PolyNorm_1B's shape), so the next 8 keys and
// values are fetched ahead. Decode, 416 positions of a 4-layer 1B-shaped model: attention
// took 12.5% of a batch-1 step. One core, 16 heads at 416 / 1024 / 2048 positions from
// memory: 0.71–0.83 / 2.0–2.1 / 4.0–4.3 ms per layer portable, 0.37–0.70 / 0.91–1.01 / 1.85–1.91 here
// (without the prefetches 0.38–0.59 / 1.08–1.63 / 2.72–2.87).
#define KEYS 8   // keys per score tile
#define VECS 8   // 16-lane output vectors held in registers per pass over the values

__attribute__((target("avx512f,avx512dq,avx512vl"))) static inline __mmask16 head_lanes(size_t n) {
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

__attribute__((target("avx512f,avx512dq,avx512vl")))
static void attend_one_512(float *out, const float *q, const pk_kv_run runs[2], size_t ld,
                           size_t hd, float scale, float *scores) {
    size_t L = runs[0].n + runs[1].n;
    for (int run = 0, first = 0; run < 2; first += (int)runs[run].n, run++) {
        const float *k = runs[run].k;
        for (size_t j0 = 0; j0 < runs[run].n; j0 += KEYS) {
            size_t n = runs[run].n - j0 < KEYS ? runs[run].n - j0 : KEYS;
            const float *kr[KEYS];
            for (size_t r = 0; r < KEYS; r++) kr[r] = k + (j0 + (r < n ? r : 0)) * ld; // past n: a real key again, not stored
            __m512 acc[KEYS];
            for (int r = 0; r < KEYS; r++) acc[r] = _mm512_setzero_ps();
            for (size_t d = 0; d < hd; d += 16) {
                __mmask16 m = head_lanes(hd - d);
                __m512 qv = _mm512_maskz_loadu_ps(m, q + d);
                for (int r = 0; r < KEYS; r++) {
                    _mm_prefetch((const char *)(kr[r] + KEYS * ld + d), _MM_HINT_T0); // the next tile's keys
                    acc[r] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, kr[r] + d), acc[r]);
                }
            }
            __m256 s = _mm256_set_m128(pk_sum4_512(acc[4], acc[5], acc[6], acc[7]), pk_sum4_512(acc[0], acc[1], acc[2], acc[3]));
            _mm256_mask_storeu_ps(scores + first + j0, (__mmask8)((1u << n) - 1), _mm256_mul_ps(s, _mm256_set1_ps(scale)));
        }
    }
    pk_softmax(scores, 1, L);
    for (size_t d0 = 0; d0 < hd; d0 += 16 * VECS) {
        __mmask16 m[VECS];
        __m512 acc[VECS];
        for (int c = 0; c < VECS; c++) {
            m[c] = d0 + 16 * c < hd ? head_lanes(hd - d0 - 16 * c) : 0;
            acc[c] = _mm512_setzero_ps();
        }
        for (int run = 0, first = 0; run < 2; first += (int)runs[run].n, run++) {
            for (size_t j = 0; j < runs[run].n; j++) {
                const float *vj = runs[run].v + j * ld + d0;
                __m512 p = _mm512_set1_ps(scores[first + j]);
                for (int c = 0; c < VECS; c++) _mm_prefetch((const char *)(vj + 8 * ld + 16 * c), _MM_HINT_T0);
                for (int c = 0; c < VECS; c++) acc[c] = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m[c], vj + 16 * c), acc[c]);
            }
        }
        for (int c = 0; c < VECS; c++) _mm512_mask_storeu_ps(out + d0 + 16 * c, m[c], acc[c]);
    }
}
#endif

void pk_attend_runs_isa(int isa, float *out, const float *q, const float *k0, const float *v0, size_t L0,
                        const float *k, const float *v, size_t L, size_t ld, size_t hd, float scale, float *scores) {
    const pk_kv_run runs[2] = {{k0, v0, k0 ? L0 : 0}, {k, v, L}};
#ifdef PK_ATTEND_SIMD
    if (isa >= PK_ISA_AVX512 && pk_isa_best() >= PK_ISA_AVX512) {
        attend_one_512(out, q, runs, ld, hd, scale, scores);
        return;
    }
#endif
    (void)isa;
    attend_one_portable(out, q, runs, ld, hd, scale, scores);
}

void pk_attend_one_isa(int isa, float *out, const float *q, const float *k, const float *v, size_t ld,
                       size_t L, size_t hd, float scale, float *scores) {
    pk_attend_runs_isa(isa, out, q, NULL, NULL, 0, k, v, L, ld, hd, scale, scores);
}

void pk_attend_one(float *out, const float *q, const float *k, const float *v, size_t ld,
                   size_t L, size_t hd, float scale, float *scores) {
    pk_attend_one_isa(pk_isa_best(), out, q, k, v, ld, L, hd, scale, scores);
}
