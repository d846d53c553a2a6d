#pragma once
// Runtime ISA dispatch for auto-vectorised loops: on x86-64 a function marked TESSERA_SIMD is
// compiled for AVX-512, AVX2 and the baseline, and the loader picks the best clone for the CPU.
// Elsewhere (arm64: NEON is baseline) it is a plain function.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TESSERA_SIMD __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TESSERA_SIMD
#endif
