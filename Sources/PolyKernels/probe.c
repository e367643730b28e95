#include "PolyKernels.h"
#include <pthread.h>
#include <sched.h>
#include <time.h>

// The machine's limits, measured the way the kernels meet them: a read loop that does
// nothing but load (the bandwidth a memory-bound kernel can at best reach) and a loop of
// independent FMAs (the multiply rate a compute-bound one can). numpy's sum under-reads
// bandwidth by about 2×; these are the numbers the bench reports fractions of.
//
// The parallel read runs on threads of its own that start together at one flag: a
// dispatch pool's second worker may wake late or not at all (the caller then reads every
// share itself), so timing DispatchQueue.concurrentPerform measured between one core's
// and all cores' bandwidth from run to run (10–38 GB/s over 30 runs on 2 shared cores;
// this one's best of 30: 30–40 GB/s over 10 runs at the same load).

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define PK_PROBE_SIMD 1
#endif

#ifdef PK_PROBE_SIMD
__attribute__((target("avx512f")))
static uint64_t read512(const uint8_t *p, size_t bytes) {
    // Eight independent xor chains: one cycle each, so loads are never waiting on them.
    __m512i a[8];
    for (int k = 0; k < 8; k++) a[k] = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 512 <= bytes; i += 512)
        for (int k = 0; k < 8; k++) a[k] = _mm512_xor_si512(a[k], _mm512_load_si512(p + i + 64 * k));
    for (int k = 1; k < 8; k++) a[0] = _mm512_xor_si512(a[0], a[k]);
    uint64_t lanes[8];
    _mm512_storeu_si512(lanes, a[0]);
    uint64_t s = 0;
    for (int k = 0; k < 8; k++) s ^= lanes[k];
    for (; i < bytes; i++) s ^= p[i];
    return s;
}

__attribute__((target("avx2")))
static uint64_t read256(const uint8_t *p, size_t bytes) {
    __m256i a[8];
    for (int k = 0; k < 8; k++) a[k] = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 256 <= bytes; i += 256)
        for (int k = 0; k < 8; k++) a[k] = _mm256_xor_si256(a[k], _mm256_load_si256((const __m256i *)(p + i + 32 * k)));
    for (int k = 1; k < 8; k++) a[0] = _mm256_xor_si256(a[0], a[k]);
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, a[0]);
    uint64_t s = lanes[0] ^ lanes[1] ^ lanes[2] ^ lanes[3];
    for (; i < bytes; i++) s ^= p[i];
    return s;
}

__attribute__((target("avx512f,fma")))
static float fma512(size_t steps) {
    __m512 a[12], m = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int k = 0; k < 12; k++) a[k] = _mm512_set1_ps((float)k);
    for (size_t s = 0; s < steps; s++)
        for (int k = 0; k < 12; k++) a[k] = _mm512_fmadd_ps(a[k], m, b);
    for (int k = 1; k < 12; k++) a[0] = _mm512_add_ps(a[0], a[k]);
    return _mm512_reduce_add_ps(a[0]);
}

__attribute__((target("avx2,fma")))
static float fma256(size_t steps) {
    __m256 a[12], m = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int k = 0; k < 12; k++) a[k] = _mm256_set1_ps((float)k);
    for (size_t s = 0; s < steps; s++)
        for (int k = 0; k < 12; k++) a[k] = _mm256_fmadd_ps(a[k], m, b);
    for (int k = 1; k < 12; k++) a[0] = _mm256_add_ps(a[0], a[k]);
    float l[8];
    _mm256_storeu_ps(l, a[0]);
    return l[0] + l[1] + l[2] + l[3] + l[4] + l[5] + l[6] + l[7];
}
#endif

uint64_t pk_probe_read(const void *buf, size_t bytes) {
    const uint8_t *p = buf;
#ifdef PK_PROBE_SIMD
    int level = pk_isa_best();
    if (level >= PK_ISA_AVX512) return read512(p, bytes);
    if (level >= PK_ISA_AVX2) return read256(p, bytes);
#endif
    uint64_t s = 0;
    for (size_t i = 0; i + 8 <= bytes; i += 8) {
        uint64_t v;
        __builtin_memcpy(&v, p + i, 8);
        s ^= v;
    }
    return s;
}

double pk_probe_fma(size_t steps, float *sink) {
#ifdef PK_PROBE_SIMD
    int level = pk_isa_best();
    if (level >= PK_ISA_AVX512) { *sink = fma512(steps); return (double)steps * 12 * 16 * 2; }
    if (level >= PK_ISA_AVX2) { *sink = fma256(steps); return (double)steps * 12 * 8 * 2; }
#endif
    float a = 1.0f;
    for (size_t s = 0; s < steps; s++) a = a * 0.999999f + 1e-7f;
    *sink = a;
    return (double)steps * 2;
}

typedef struct {
    const uint8_t *p;
    size_t bytes;
    int passes;
    const int *go;
    double t0, t1;
} probe_share;

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *read_share(void *arg) {
    probe_share *s = arg;
    volatile uint64_t sink = 0;
    // A start flag rather than a pthread barrier: if creating a later thread fails, the
    // ones already waiting are released and joined instead of waiting forever.
    while (!__atomic_load_n(s->go, __ATOMIC_ACQUIRE)) sched_yield();
    s->t0 = now_seconds();
    for (int k = 0; k < s->passes; k++) sink ^= pk_probe_read(s->p, s->bytes);
    s->t1 = now_seconds();
    (void)sink;
    return NULL;
}

double pk_probe_read_parallel(const void *buf, size_t bytes, int threads, int passes) {
    enum { MAX_THREADS = 256 };
    if (threads < 1 || threads > MAX_THREADS || passes < 1) return -1;
    size_t share = bytes / (size_t)threads / 64 * 64;
    probe_share shares[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int go = 0, started = 1;
    for (int i = 0; i < threads; i++)
        shares[i] = (probe_share){(const uint8_t *)buf + (size_t)i * share, share, passes, &go, 0, 0};
    // Thread 0 is this one; the others are created first and wait for the flag.
    for (; started < threads; started++)
        if (pthread_create(&ids[started], NULL, read_share, &shares[started]) != 0) break;
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    read_share(&shares[0]);
    double first = shares[0].t0, last = shares[0].t1;
    for (int i = 1; i < started; i++) {
        pthread_join(ids[i], NULL);
        if (shares[i].t0 < first) first = shares[i].t0;
        if (shares[i].t1 > last) last = shares[i].t1;
    }
    return started == threads ? last - first : -1;
}
