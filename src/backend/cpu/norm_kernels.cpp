#include "backend/cpu/norm_kernels.h"

#include "backend/cpu/simd.h"

namespace tessera::cpu {

TESSERA_SIMD
float row_sum(const float* x, int64_t n) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += x[i];
  return s;
}

TESSERA_SIMD
float row_squared_deviation(const float* x, int64_t n, float center) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += (x[i] - center) * (x[i] - center);
  return s;
}

namespace {
inline float to_storage(float v, float) { return v; }
inline bfloat16 to_storage(float v, bfloat16) { return to_bfloat16(v); }
inline float16 to_storage(float v, float16) { return to_float16(v); }

template <typename T>
inline void normalize(const float* x, int64_t n, float center, float scale, const float* weight,
                      const float* bias, T* y) {
  for (int64_t i = 0; i < n; ++i) {
    float v = (x[i] - center) * scale;
    if (weight) v *= weight[i];
    if (bias) v += bias[i];
    y[i] = to_storage(v, T{});
  }
}
}  // namespace

TESSERA_SIMD
void normalize_row(const float* x, int64_t n, float center, float scale, const float* weight,
                   const float* bias, float* y) {
  normalize(x, n, center, scale, weight, bias, y);
}

TESSERA_SIMD
void normalize_row(const float* x, int64_t n, float center, float scale, const float* weight,
                   const float* bias, bfloat16* y) {
  normalize(x, n, center, scale, weight, bias, y);
}

void normalize_row(const float* x, int64_t n, float center, float scale, const float* weight,
                   const float* bias, float16* y) {
  normalize(x, n, center, scale, weight, bias, y);
}

}  // namespace tessera::cpu
