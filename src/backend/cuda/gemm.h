#pragma once
// cuBLASLt behind the matmul primitives: the best algorithm per shape, picked once by timing.
#include "tessera/array.h"

namespace tessera::cuda {

// out[..., M, N] = a @ b (+ bias [N]) with every operand already on the device in out's dtype;
// out is allocated by the caller. gelu_tanh (with a bias) applies the tanh-approximate GELU in
// cuBLASLt's epilogue, the same formula as UnaryOp::gelu_tanh.
void gemm(const Array& a, const Array& b, const Array* bias, Array& out, bool gelu_tanh = false);

}  // namespace tessera::cuda
