#pragma once
// Vectorised row kernels behind LayerNorm and RMSNorm.
#include <cstdint>

#include "tessera/half.h"

namespace tessera::cpu {

float row_sum(const float* x, int64_t n);
// sum of (x[i] - center)^2
float row_squared_deviation(const float* x, int64_t n, float center);
// y[i] = (x[i] - center) * scale * weight[i] + bias[i]; weight/bias may be null.
void normalize_row(const float* x, int64_t n, float center, float scale, const float* weight,
                   const float* bias, float* y);
void normalize_row(const float* x, int64_t n, float center, float scale, const float* weight,
                   const float* bias, bfloat16* y);
void normalize_row(const float* x, int64_t n, float center, float scale, const float* weight,
                   const float* bias, float16* y);

}  // namespace tessera::cpu
