#pragma once
// AVX-512 unpacking of MLX-format rows (16 weights per step: one masked load, a lane permute,
// variable shifts, a convert and an FMA), used when the CPU has AVX-512F/BW; quantized_kernels.cpp
// falls back to portable loops elsewhere (arm64, older x86).
#include <cstdint>

#include "backend/cpu/quantized_kernels.h"
#include "tessera/half.h"

namespace tessera::cpu {

bool has_avx512();

// `groups` groups of `group_size` values (a multiple of 16) starting at `words`, each group
// scale * q + bias, into out. Only call when has_avx512().
void dequantize_row_avx512(const uint32_t* words, const float* scales, const float* biases,
                           int64_t groups, int group_size, int bits, float* out);
void dequantize_row_avx512(const uint32_t* words, const float* scales, const float* biases,
                           int64_t groups, int group_size, int bits, bfloat16* out);

// Rows [n0, n0 + cols) of w (cols a multiple of 64, w.cols a multiple of 32) dequantized to
// bfloat16 in oneDNN's BA16a64b2a layout of W^T [K, cols] (what its AMX bfloat16 matmul reads;
// quantized_onednn.cpp). out holds K * cols values, 64-byte aligned. Only call when has_avx512()
// and the CPU has AVX512-BF16.
void dequantize_panel_ba16a64b2a(const PackedMatrix& w, int64_t n0, int64_t cols, bfloat16* out);

// out[r][n] = x[r] . dequantized row n of w, for rows r < rows (at most kFusedRows) and the
// rows n0 <= n < n1 of w: the weights go from their packed words through registers into FMAs,
// nothing is written back (the small-batch path: decode steps, single short sequences).
inline constexpr int64_t kFusedRows = 8;
void quantized_gemv_avx512(const float* x, int64_t rows, const PackedMatrix& w, int64_t n0,
                           int64_t n1, float* out, int64_t ld_out);

}  // namespace tessera::cpu
