#include "backend/cpu/convert_kernels.h"

#include <cstring>

#include "backend/cpu/simd.h"

namespace tessera::cpu {

TESSERA_SIMD
void float_to_bfloat16(const float* src, bfloat16* dst, int64_t n) {
  const uint32_t* in = reinterpret_cast<const uint32_t*>(src);
  uint16_t* out = reinterpret_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u = in[i];
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t quiet_nan = (u >> 16) | 0x40u;
    out[i] = uint16_t((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
  }
}

TESSERA_SIMD
void bfloat16_to_float(const bfloat16* src, float* dst, int64_t n) {
  const uint16_t* in = reinterpret_cast<const uint16_t*>(src);
  uint32_t* out = reinterpret_cast<uint32_t*>(dst);
  for (int64_t i = 0; i < n; ++i) out[i] = uint32_t(in[i]) << 16;
}

}  // namespace tessera::cpu
