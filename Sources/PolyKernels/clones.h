#pragma once

// Portable kernels compiled for AVX-512, AVX2 and plain x86-64, picked by an ifunc resolver.
// Not under ThreadSanitizer: clang instruments the resolver it generates, and the dynamic
// loader runs resolvers while relocating, before the TSan runtime has set up its thread
// state, so the test binary died with SIGSEGV in __tsan_func_entry before main. Under TSan
// the plain x86-64 version alone is built (the same C, so what TSan checks is unchanged).
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PK_UNDER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define PK_UNDER_TSAN 1
#endif

#if defined(__x86_64__) && defined(__linux__) && !defined(PK_UNDER_TSAN)
#define PK_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define PK_CLONES
#endif
