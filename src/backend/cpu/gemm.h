#pragma once
// The one CPU GEMM interface: C = alpha * op(A) @ op(B) + beta * C, row-major, float32 accumulate.
// Implemented over the BLAS library measured fastest on this machine (docs/benchmarks.md).
#include <cstdint>

#include "tessera/half.h"

namespace tessera::cpu {

void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
              int64_t ldc);

// bfloat16 operands, float32 output (AVX512_BF16 / AMX where the library has it).
void gemm_bf16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const bfloat16* a, int64_t lda, const bfloat16* b, int64_t ldb, float beta,
               float* c, int64_t ldc);

// Name of the library behind the calls ("openblas", "onednn", "blis"), for reports.
const char* gemm_backend_name();

}  // namespace tessera::cpu
