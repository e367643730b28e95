#include "PolyKernels.h"
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define PK_PAUSE() _mm_pause()
#else
#define PK_PAUSE() ((void)0)
#endif

// A pool of threads that wait for work by spinning a short while before they sleep.
//
// Decode splits each weight product over the cores, ~30 products per token, the smallest
// (8 MiB) read in ~200 µs. Waking a sleeping worker (libdispatch, a futex) took tens of
// microseconds and now and then far longer, so the caller read most of a product alone;
// a worker that is already spinning starts within a fraction of a microsecond. After
// `PK_POOL_SPIN` pauses without work (0.3–0.7 ms: a pause is ~65 cycles on Zen, ~140 on
// recent Intel cores) a worker sleeps on a condition
// variable, so an idle server does not hold a core.
//
// One run at a time: parts are claimed from one 64-bit word holding (run number, parts,
// next part), so a worker that wakes late can never take a part of the next run or read one
// run's count with another's number, and the caller takes every part no worker claimed
// before returning. A run asked for while another is in progress (a part that splits work
// of its own, or a second thread) runs all its parts on its caller.

#define PK_POOL_SPIN 20000

struct pk_pool {
    int workers;
    pthread_t *ids;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    uint64_t claim;      // run << 32 | parts << 16 | next part
    uint32_t finished;   // parts of the current run done
    int sleepers;
    int busy;            // a run is in progress
    int stop;
    void (*fn)(void *, int);
    void *ctx;
};

/// Claims and runs parts of run `run` until none is left or the run has moved on.
static void work(pk_pool *p, uint32_t run) {
    uint64_t c = __atomic_load_n(&p->claim, __ATOMIC_ACQUIRE);
    for (;;) {
        if ((uint32_t)(c >> 32) != run) return;
        uint32_t part = (uint32_t)c & 0xffff, parts = (uint32_t)(c >> 16) & 0xffff;
        if (part >= parts) return;
        if (__atomic_compare_exchange_n(&p->claim, &c, c + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            p->fn(p->ctx, (int)part); // stable: the caller waits for this part before the next run
            __atomic_add_fetch(&p->finished, 1, __ATOMIC_RELEASE);
            c = __atomic_load_n(&p->claim, __ATOMIC_ACQUIRE);
        }
    }
}

static void *worker_main(void *arg) {
    pk_pool *p = arg;
    uint32_t seen = 0;
    for (;;) {
        uint32_t run = 0;
        for (int i = 0; i < PK_POOL_SPIN; i++) {
            run = (uint32_t)(__atomic_load_n(&p->claim, __ATOMIC_ACQUIRE) >> 32);
            if (run != seen || __atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) break;
            PK_PAUSE();
        }
        if (run == seen) {
            pthread_mutex_lock(&p->lock);
            __atomic_add_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
            while ((run = (uint32_t)(__atomic_load_n(&p->claim, __ATOMIC_SEQ_CST) >> 32)) == seen && !p->stop)
                pthread_cond_wait(&p->wake, &p->lock);
            __atomic_sub_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
            pthread_mutex_unlock(&p->lock);
        }
        if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) return NULL;
        seen = run;
        work(p, run);
    }
}

pk_pool *pk_pool_create(int workers) {
    pk_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->ids = calloc((size_t)(workers > 0 ? workers : 1), sizeof(pthread_t));
    if (!p->ids) { free(p); return NULL; }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&p->ids[i], NULL, worker_main, p) != 0) break;
        p->workers++;
    }
    return p;
}

int pk_pool_workers(const pk_pool *p) { return p ? p->workers : 0; }

void pk_pool_destroy(pk_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    __atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->workers; i++) pthread_join(p->ids[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p->ids);
    free(p);
}

void pk_pool_run(pk_pool *p, int parts, void (*fn)(void *, int), void *ctx) {
    if (parts <= 0) return;
    if (!p || p->workers == 0 || parts == 1 || parts > 0xffff || __atomic_exchange_n(&p->busy, 1, __ATOMIC_ACQUIRE)) {
        for (int i = 0; i < parts; i++) fn(ctx, i);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    __atomic_store_n(&p->finished, 0, __ATOMIC_RELAXED);
    uint32_t run = (uint32_t)(__atomic_load_n(&p->claim, __ATOMIC_RELAXED) >> 32) + 1;
    __atomic_store_n(&p->claim, (uint64_t)run << 32 | (uint64_t)parts << 16, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&p->sleepers, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    work(p, run);
    while (__atomic_load_n(&p->finished, __ATOMIC_ACQUIRE) < (uint32_t)parts) PK_PAUSE();
    __atomic_store_n(&p->busy, 0, __ATOMIC_RELEASE);
}

long pk_claim_next(long *counter) { return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED); }
