#pragma once
// Contiguous float32 kernels for the elementwise math the models spend time in.
#include <cstdint>

#include "core/primitives.h"

namespace tessera::cpu {

// y[i] = op(x[i]) for float ops; y may alias x.
void unary_f32(UnaryOp op, const float* x, float* y, int64_t n);
// In-place exp of a row; returns the sum of the results (softmax's denominator).
float exp_shifted_sum(float* row, int64_t n, float shift);

}  // namespace tessera::cpu
