#pragma once
// quantized_matmul with bfloat16 activations on oneDNN's AMX bfloat16 matmul: each thread
// dequantizes a panel of output columns (<= ~1 MB, L2) straight into the blocked layout the
// AMX kernel reads, then runs a single-threaded matmul primitive over all rows against it, with
// the bias and the activation fused (see quantized_onednn.cpp for why).
#include <cstdint>

#include "backend/cpu/quantized_kernels.h"
#include "tessera/activation.h"
#include "tessera/half.h"

namespace tessera::cpu {

// out [M, N] (row-major bfloat16) = activation(x [M, K] @ W^T + bias), W the packed rows of w
// (N rows of K = w.cols), x row-major, bias float32 [N] or null. Returns false, having written
// nothing, when this path does not apply: no AVX-512, N not a multiple of 64, or oneDNN offers
// no AMX (brgemm) kernel for the shape.
bool quantized_linear_bf16(const bfloat16* x, int64_t m, const PackedMatrix& w, int64_t n,
                           const float* bias, Activation activation, bfloat16* out);

}  // namespace tessera::cpu
