#pragma once
// Matrix-vector products for up to kGemvMaxRows rows against a [N, K] weight (gemv.cu).
#include <cstdint>

#include "tessera/activation.h"
#include "tessera/dtype.h"

namespace tessera::cuda {

inline constexpr int64_t kGemvMaxRows = 8;
// With an input norm the block stages the normalised rows of x in shared memory: at most this much
// (the default a block gets without opting in).
inline constexpr int64_t kGemvMaxNormBytes = 48 * 1024;

// out [rows, n] (contiguous) = x [rows, k] (row stride x_ld) · W^T with W [n, k] (row stride
// w_ld), plus bias [n] when given; every pointer on the device, all in one dtype. The epilogue
// of ops.h's linear: activation; glu (W holds 2n rows, gate then up, and bias 2n values:
// out = activation(gate) * up); + residual [rows, n] (contiguous). Rounded as the separate ops.
// The prologue of linear's input_norm: with norm_weight [k] (contiguous) x's rows are replaced by
// rms_norm(x, norm_weight, norm_eps) first.
struct GemvOperands {
  const void* x;
  int64_t x_ld;
  const void* w;
  int64_t w_ld;
  const void* bias;  // contiguous [n] ([2n] with glu) or nullptr
  void* out;
  int64_t rows, n, k;
  Activation activation = Activation::none;
  bool glu = false;
  const void* residual = nullptr;
  const void* norm_weight = nullptr;
  float norm_eps = 0.0f;
  // No kernel in flight writes w (overlap.cuh settled): its first chunks may be requested before
  // the kernel waits on its predecessor.
  bool early_weights = false;
};

// False (nothing launched) when the operands do not fit the kernel: rows, 16-byte alignment.
bool gemv(Dtype dtype, const GemvOperands& g);

}  // namespace tessera::cuda
