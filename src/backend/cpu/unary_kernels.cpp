#include "backend/cpu/unary_kernels.h"

#include <cmath>

#include "backend/cpu/simd.h"
#include "backend/cpu/vector_math.h"

namespace tessera::cpu {

TESSERA_SIMD
void unary_f32(UnaryOp op, const float* x, float* y, int64_t n) {
  // One loop per op so each vectorises on its own.
  switch (op) {
    case UnaryOp::exp:
      for (int64_t i = 0; i < n; ++i) y[i] = vmath::exp(x[i]);
      return;
    case UnaryOp::tanh:
      for (int64_t i = 0; i < n; ++i) y[i] = vmath::tanh(x[i]);
      return;
    case UnaryOp::erf:
      for (int64_t i = 0; i < n; ++i) y[i] = vmath::erf(x[i]);
      return;
    case UnaryOp::gelu:
      for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.0f + vmath::erf(x[i] * 0.70710678118654752f));
      return;
    case UnaryOp::gelu_tanh:
      for (int64_t i = 0; i < n; ++i) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + vmath::tanh(0.79788456080286535588f * (v + 0.044715f * v * v * v)));
      }
      return;
    case UnaryOp::sigmoid:
      for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + vmath::exp(-x[i]));
      return;
    case UnaryOp::silu:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + vmath::exp(-x[i]));
      return;
    case UnaryOp::relu:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
      return;
    case UnaryOp::negative:
      for (int64_t i = 0; i < n; ++i) y[i] = -x[i];
      return;
    case UnaryOp::abs:
      for (int64_t i = 0; i < n; ++i) y[i] = std::fabs(x[i]);
      return;
    case UnaryOp::square:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] * x[i];
      return;
    case UnaryOp::sqrt:
      for (int64_t i = 0; i < n; ++i) y[i] = std::sqrt(x[i]);
      return;
    case UnaryOp::rsqrt:
      for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / std::sqrt(x[i]);
      return;
    case UnaryOp::log:
      for (int64_t i = 0; i < n; ++i) y[i] = std::log(x[i]);
      return;
  }
}

namespace {
// One loop per stride pattern so the contiguous and broadcast cases vectorise.
template <typename F>
inline void zip(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n, F f) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = a[0];
    for (int64_t i = 0; i < n; ++i) out[i] = f(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i * sa], b[i * sb]);
  }
}
}  // namespace

TESSERA_SIMD
void binary_f32(BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  switch (op) {
    case BinaryOp::add: return zip(a, sa, b, sb, out, n, [](float x, float y) { return x + y; });
    case BinaryOp::subtract: return zip(a, sa, b, sb, out, n, [](float x, float y) { return x - y; });
    case BinaryOp::multiply: return zip(a, sa, b, sb, out, n, [](float x, float y) { return x * y; });
    case BinaryOp::divide: return zip(a, sa, b, sb, out, n, [](float x, float y) { return x / y; });
    case BinaryOp::maximum: return zip(a, sa, b, sb, out, n, [](float x, float y) { return x > y ? x : y; });
    case BinaryOp::minimum: return zip(a, sa, b, sb, out, n, [](float x, float y) { return x < y ? x : y; });
    default: break;  // comparisons produce bool and take the generic path
  }
}

TESSERA_SIMD
float exp_shifted_sum(float* row, int64_t n, float shift) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) {
    row[i] = vmath::exp(row[i] - shift);
    sum += row[i];
  }
  return sum;
}

}  // namespace tessera::cpu
