#pragma once
// float32 kernels for the elementwise math the models spend time in, vectorised per ISA.
#include <cstdint>

#include "core/primitives.h"

namespace tessera::cpu {

// y[i] = op(x[i]) for float ops; y may alias x.
void unary_f32(UnaryOp op, const float* x, float* y, int64_t n);
// out[i] = a[i*sa] op b[i*sb] for the arithmetic ops (not comparisons); sa, sb are element
// strides (0 = broadcast scalar, 1 = contiguous: the fast cases).
void binary_f32(BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n);
// In-place exp of a row; returns the sum of the results (softmax's denominator).
float exp_shifted_sum(float* row, int64_t n, float shift);

}  // namespace tessera::cpu
