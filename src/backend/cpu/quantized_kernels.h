#pragma once
// Contiguous kernels of MLX's affine quantization: per-group parameters, packing, and
// dequantizing a window of a packed matrix into a small tile (what quantized_matmul feeds to
// the GEMM, so the whole float matrix never exists).
#include <cstdint>

#include "tessera/half.h"

namespace tessera::cpu {

// Per group of `group_size` floats: the float32 (scale, bias) pair MLX computes, before any
// rounding to the weights' dtype. params holds 2 * groups floats.
void quantize_group_params(const float* w, int64_t groups, int group_size, int bits, float* params);
// q = clamp(rint((w - bias) / scale), 0, 2^bits - 1), packed low bits first into uint32 words.
void quantize_pack(const float* w, const float* params, int64_t groups, int group_size, int bits,
                   uint32_t* packed);

// A row-major packed matrix of `cols` unpacked columns per row, with float32 scales and biases
// of cols / group_size entries per row.
struct PackedMatrix {
  const uint32_t* words;
  const float* scales;
  const float* biases;
  int64_t cols;
  int group_size, bits;
};

// out[r][c] = scale * q + bias for rows [row0, row0 + rows) and columns [col0, col0 + cols) of
// the matrix; col0 and cols are multiples of the group size. out has leading dimension ld.
void dequantize_window(const PackedMatrix& m, int64_t row0, int64_t rows, int64_t col0,
                       int64_t cols, float* out, int64_t ld);
void dequantize_window(const PackedMatrix& m, int64_t row0, int64_t rows, int64_t col0,
                       int64_t cols, bfloat16* out, int64_t ld);

}  // namespace tessera::cpu
