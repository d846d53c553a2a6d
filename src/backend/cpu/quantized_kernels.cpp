#include "backend/cpu/quantized_kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backend/cpu/convert_kernels.h"
#include "backend/cpu/quantized_avx512.h"
#include "backend/cpu/simd.h"

namespace tessera::cpu {

// MLX's rule, step by step in float32 (bit-identity depends on it): the scale spans the group's
// range over 2^bits - 1 steps, signed so that the edge of larger magnitude maps to a whole q;
// the bias is then that edge exactly and the scale is re-derived from it, so 0 or the extreme
// weight is represented without error. A group whose edge rounds to q = 0 keeps bias 0.
void quantize_group_params(const float* w, int64_t groups, int group_size, int bits, float* params) {
  const float steps = float((1 << bits) - 1);
  for (int64_t g = 0; g < groups; ++g) {
    const float* x = w + g * group_size;
    float lo = std::numeric_limits<float>::infinity(), hi = -lo;
    for (int i = 0; i < group_size; ++i) {
      lo = std::min(lo, x[i]);
      hi = std::max(hi, x[i]);
    }
    const bool low_edge = std::abs(lo) > std::abs(hi);
    float scale = std::max((hi - lo) / steps, 1e-7f);
    scale = low_edge ? scale : -scale;
    const float edge = low_edge ? lo : hi;
    const float q_edge = std::rint(edge / scale);
    float bias = 0.0f;
    if (q_edge != 0.0f) {
      scale = edge / q_edge;
      bias = edge;
    }
    params[2 * g] = scale;
    params[2 * g + 1] = bias;
  }
}

namespace {

template <int Bits>
TESSERA_SIMD void pack_groups(const float* w, const float* params, int64_t groups, int group_size,
                              uint32_t* packed) {
  constexpr int per_word = 32 / Bits;
  const float top = float((1 << Bits) - 1);
  const int64_t words_per_group = group_size / per_word;
  for (int64_t g = 0; g < groups; ++g) {
    const float scale = params[2 * g], bias = params[2 * g + 1];
    const float* x = w + g * group_size;
    uint32_t* out = packed + g * words_per_group;
    for (int64_t j = 0; j < words_per_group; ++j) {
      uint32_t word = 0;
      for (int p = 0; p < per_word; ++p) {
        float q = std::rint((x[j * per_word + p] - bias) / scale);
        q = std::min(std::max(q, 0.0f), top);
        word |= uint32_t(q) << (p * Bits);
      }
      out[j] = word;
    }
  }
}

// One row's window, `groups` groups starting at word `words`: the inner loop unpacks one word
// into 32 / Bits floats with constant shifts, which the compiler vectorises across words.
template <int Bits>
TESSERA_SIMD void dequantize_row(const uint32_t* words, const float* scales, const float* biases,
                                 int64_t groups, int group_size, float* out) {
  constexpr int per_word = 32 / Bits;
  constexpr uint32_t mask = (1u << Bits) - 1;
  const int64_t words_per_group = group_size / per_word;
  for (int64_t g = 0; g < groups; ++g) {
    const float scale = scales[g], bias = biases[g];
    const uint32_t* w = words + g * words_per_group;
    float* o = out + g * group_size;
    for (int64_t j = 0; j < words_per_group; ++j) {
      const uint32_t word = w[j];
      for (int p = 0; p < per_word; ++p) o[j * per_word + p] = float((word >> (p * Bits)) & mask) * scale + bias;
    }
  }
}

void dequantize_row(const PackedMatrix& m, int64_t row, int64_t col0, int64_t cols, float* out) {
  const int64_t groups_per_row = m.cols / m.group_size, words_per_row = m.cols * m.bits / 32;
  const int64_t group0 = col0 / m.group_size;
  const uint32_t* words = m.words + row * words_per_row + col0 * m.bits / 32;
  const float* scales = m.scales + row * groups_per_row + group0;
  const float* biases = m.biases + row * groups_per_row + group0;
  const int64_t groups = cols / m.group_size;
  if (has_avx512()) return dequantize_row_avx512(words, scales, biases, groups, m.group_size, m.bits, out);
  switch (m.bits) {
    case 2: return dequantize_row<2>(words, scales, biases, groups, m.group_size, out);
    case 4: return dequantize_row<4>(words, scales, biases, groups, m.group_size, out);
    default: return dequantize_row<8>(words, scales, biases, groups, m.group_size, out);
  }
}

}  // namespace

void quantize_pack(const float* w, const float* params, int64_t groups, int group_size, int bits,
                   uint32_t* packed) {
  switch (bits) {
    case 2: return pack_groups<2>(w, params, groups, group_size, packed);
    case 4: return pack_groups<4>(w, params, groups, group_size, packed);
    default: return pack_groups<8>(w, params, groups, group_size, packed);
  }
}

void dequantize_window(const PackedMatrix& m, int64_t row0, int64_t rows, int64_t col0,
                       int64_t cols, float* out, int64_t ld) {
  for (int64_t r = 0; r < rows; ++r) dequantize_row(m, row0 + r, col0, cols, out + r * ld);
}

void dequantize_window(const PackedMatrix& m, int64_t row0, int64_t rows, int64_t col0,
                       int64_t cols, bfloat16* out, int64_t ld) {
  if (has_avx512()) {
    const int64_t groups_per_row = m.cols / m.group_size, words_per_row = m.cols * m.bits / 32;
    const int64_t group0 = col0 / m.group_size;
    for (int64_t r = row0; r < row0 + rows; ++r)
      dequantize_row_avx512(m.words + r * words_per_row + col0 * m.bits / 32,
                            m.scales + r * groups_per_row + group0, m.biases + r * groups_per_row + group0,
                            cols / m.group_size, m.group_size, m.bits, out + (r - row0) * ld);
    return;
  }
  // Portable: through one float32 row in L1.
  thread_local std::vector<float> row;
  row.resize(size_t(cols));
  for (int64_t r = 0; r < rows; ++r) {
    dequantize_row(m, row0 + r, col0, cols, row.data());
    float_to_bfloat16(row.data(), out + r * ld, cols);
  }
}

}  // namespace tessera::cpu
