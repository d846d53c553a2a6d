#pragma once
// Vectorised float32 <-> bfloat16 conversion of contiguous runs (weights at load, activations
// between bfloat16 storage and float32 arithmetic). Rounding: to nearest even, NaN kept quiet,
// exactly as to_bfloat16() in half.h.
#include <cstdint>

#include "tessera/half.h"

namespace tessera::cpu {

void float_to_bfloat16(const float* src, bfloat16* dst, int64_t n);
void bfloat16_to_float(const bfloat16* src, float* dst, int64_t n);

}  // namespace tessera::cpu
