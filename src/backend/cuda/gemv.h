#pragma once
// Matrix-vector products for up to kGemvMaxRows rows against a [N, K] weight (gemv.cu).
#include <cstdint>

#include "tessera/dtype.h"

namespace tessera::cuda {

inline constexpr int64_t kGemvMaxRows = 8;

// out [rows, n] (contiguous) = x [rows, k] (row stride x_ld) · W^T with W [n, k] (row stride
// w_ld), plus bias [n] when given; every pointer on the device, all in one dtype.
struct GemvOperands {
  const void* x;
  int64_t x_ld;
  const void* w;
  int64_t w_ld;
  const void* bias;  // contiguous [n] or nullptr
  void* out;
  int64_t rows, n, k;
};

// False (nothing launched) when the operands do not fit the kernel: rows, 16-byte alignment.
bool gemv(Dtype dtype, const GemvOperands& g);

}  // namespace tessera::cuda
