#pragma once
// int8 compute for 8-bit MLX weights on oneDNN's int8 matmul (AMX-INT8 where the CPU has it),
// see int8_onednn.cpp for the arithmetic and why.
#include <cstdint>

#include "tessera/array.h"

namespace tessera::cpu {

// Whether this path is enabled: only with TESSERA_INT8_ONEDNN=1. It is faster than the per-group
// kernel of int8_gemm.h (the default) but misses the 0.999 all-MiniLM cosine goal at one level
// (docs/benchmarks.md, "CPU speed (issue 7)", session 4), so it is opt-in.
bool onednn_int8_enabled();

// y [M, N] (row-major float32) = x [M, K] @ W^T + bias, W the 8-bit MLX weight (codes as uint32
// words [N, K / 4] with unit stride along K, float32 scales and biases [N, K / group_size]).
// Returns false, having written nothing, when oneDNN offers no optimised int8 kernel here.
bool onednn_int8_linear(const float* x, int64_t m, int64_t k, const Array& codes, const float* scales,
                        const float* biases, int group_size, const float* bias, float* y);

}  // namespace tessera::cpu
