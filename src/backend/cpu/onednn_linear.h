#pragma once
// Dense Linear layers on oneDNN's matmul primitive, with the weight reordered once into oneDNN's
// blocked layout and kept with the weight's buffer, and the bias and activation fused as
// post-ops (see onednn_linear.cpp for why and how).
#include <cstdint>

#include "tessera/activation.h"
#include "tessera/array.h"

namespace tessera::cpu {

// Whether onednn_linear computes this layer: float32 or bfloat16 throughout (x, weight and
// output), a host weight [N, K] with unit stride along K, and K > 0.
bool onednn_linear_supports(Dtype dtype, const Array& weight);

// out [M, N] = activation(x [M, K] @ weight^T + bias), x rows contiguous (row stride K), out
// contiguous in `dtype`, bias float32 [N] or null. Returns false, having written nothing, when
// oneDNN offers only its reference implementation for this shape (the caller then uses the
// generic GEMM path).
bool onednn_linear(Dtype dtype, const void* x, int64_t m, int64_t k, const Array& weight,
                   const float* bias, Activation activation, void* out);

}  // namespace tessera::cpu
