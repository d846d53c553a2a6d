#include "backend/cpu/convert_kernels.h"

#include "backend/cpu/simd.h"

namespace tessera::cpu {

TESSERA_SIMD
void float_to_bfloat16(const float* src, bfloat16* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = to_bfloat16(src[i]);
}

TESSERA_SIMD
void bfloat16_to_float(const bfloat16* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = to_float(src[i]);
}

}  // namespace tessera::cpu
