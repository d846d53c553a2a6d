// The quantized primitives on the CPU. quantized_matmul with bfloat16 activations (more than
// kFusedRows rows) dequantizes panels of the weight into oneDNN's AMX layout and runs its matmul
// primitive on them (quantized_onednn.cpp); otherwise it dequantizes one block of the weight at
// a time into a per-thread tile small enough for L2 and hands it to the GEMM (oneDNN's sgemm /
// gemm_bf16bf16f32), threads working on disjoint blocks of output columns. Either way the float
// weight matrix never exists as a whole.
#include <omp.h>

#include <algorithm>
#include <optional>
#include <cstring>
#include <vector>

#include "backend/cpu/gemm.h"
#include "backend/cpu/quantized_avx512.h"
#include "backend/cpu/quantized_kernels.h"
#include "backend/cpu/quantized_onednn.h"
#include "backend/cpu/unary_kernels.h"
#include "backend/cpu/strided.h"
#include "core/primitives.h"

namespace tessera {

namespace {

// A contiguous host copy of a uint32 array (no copy when it already is one).
struct PackedView {
  const uint32_t* data;
  std::shared_ptr<Buffer> owned;
};
PackedView as_contiguous_words(const Array& a) {
  if (a.is_contiguous()) return {cpu::host_data<uint32_t>(a), nullptr};
  auto buffer = Buffer::allocate_host(a.nbytes());
  cpu::copy_to_contiguous(a, buffer->mutable_host(), Dtype::uint32);
  return {static_cast<const uint32_t*>(buffer->host()), buffer};
}

// The packed weights with float32 scales and biases, and what keeps them alive.
struct PackedOperand {
  PackedView words;
  cpu::Float32View scales, biases;
  cpu::PackedMatrix matrix;
  int64_t rows;
};
PackedOperand packed_operand(const Array& w, const Array& scales, const Array& biases,
                             int group_size, int bits) {
  PackedOperand p{as_contiguous_words(w), cpu::as_float32(scales), cpu::as_float32(biases), {}, 0};
  int64_t cols = w.shape(-1) * 32 / bits;
  p.rows = w.size() / std::max<int64_t>(w.shape(-1), 1);
  p.matrix = {p.words.data, p.scales.data, p.biases.data, cols, group_size, bits};
  return p;
}

// Output columns per tile. Each GEMM call packs all of x again, so when x is large (many rows)
// fewer, larger tiles win (4 MB, L3); with few rows a tile stays in L2 (1 MB). Tiles split the
// columns evenly, leave work for every thread, and are whole groups when the weight is not
// transposed (groups then run along the output).
int64_t columns_per_tile(int64_t m, int64_t n, int64_t k, size_t element_size, int group_size,
                         bool transpose) {
  const int64_t budget = (m >= 1024 ? 4 << 20 : 1 << 20) / int64_t(element_size);
  const int64_t align = transpose ? 16 : group_size;
  const int64_t threads = omp_get_max_threads();
  const int64_t widest = std::min<int64_t>(budget / std::max<int64_t>(k, 1), (n + threads - 1) / threads);
  const int64_t tiles = (n + std::max<int64_t>(widest, 1) - 1) / std::max<int64_t>(widest, 1);
  const int64_t even = (n + tiles - 1) / tiles;
  return std::max(align, (even + align - 1) / align * align);
}

// Adds bias[n0, n0 + cols) to those columns of every row of c, right after they were computed.
void add_bias(const float* bias, int64_t rows, int64_t n0, int64_t cols, float* c, int64_t ldc) {
  if (!bias) return;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = n0; j < n0 + cols; ++j) c[r * ldc + j] += bias[j];
}

// c[M, N] = x[M, K] @ W (dequantized; W^T when transposed) [+ bias], E the tile's element type.
template <typename E, typename Gemm>
void tiled_quantized_matmul(const E* x, int64_t m, int64_t k, const cpu::PackedMatrix& w,
                            bool transpose, int64_t n, const float* bias, float* c, Gemm gemm) {
  const int64_t tile_cols = columns_per_tile(m, n, k, sizeof(E), w.group_size, transpose);
  const int64_t tiles = (n + tile_cols - 1) / tile_cols;
#pragma omp parallel
  {
    std::vector<E> tile(size_t(tile_cols * k));
#pragma omp for schedule(dynamic)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t n0 = t * tile_cols, cols = std::min(tile_cols, n - n0);
      if (transpose) {  // rows n0.. of W [N, K]: the tile is [cols, K], used transposed
        cpu::dequantize_window(w, n0, cols, 0, k, tile.data(), k);
        gemm(false, true, m, cols, k, x, k, tile.data(), k, c + n0, n);
      } else {  // columns n0.. of W [K, N]: the tile is [K, cols]
        cpu::dequantize_window(w, 0, k, n0, cols, tile.data(), cols);
        gemm(false, false, m, cols, k, x, k, tile.data(), cols, c + n0, n);
      }
      add_bias(bias, m, n0, cols, c, n);
    }
  }
}

}  // namespace

void QuantizeGroupParams::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  out.allocate();
  cpu::Float32View w = cpu::as_float32(inputs[0]);
  const int64_t groups = inputs[0].size() / group_size;
  float* params = static_cast<float*>(out.buffer()->mutable_host());
#pragma omp parallel for schedule(static) if (inputs[0].size() >= cpu::kParallelThreshold)
  for (int64_t g = 0; g < groups; ++g)
    cpu::quantize_group_params(w.data + g * group_size, 1, group_size, bits, params + 2 * g);
}

void QuantizePack::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  out.allocate();
  cpu::Float32View w = cpu::as_float32(inputs[0]);
  cpu::Float32View params = cpu::as_float32(inputs[1]);
  const int64_t groups = inputs[0].size() / group_size, words_per_group = group_size * bits / 32;
  uint32_t* packed = static_cast<uint32_t*>(out.buffer()->mutable_host());
  const int64_t threads = omp_get_max_threads();
  const int64_t chunk = (groups + threads - 1) / threads;
#pragma omp parallel for schedule(static) if (inputs[0].size() >= cpu::kParallelThreshold)
  for (int64_t g0 = 0; g0 < groups; g0 += chunk) {
    const int64_t count = std::min(chunk, groups - g0);
    cpu::quantize_pack(w.data + g0 * group_size, params.data + 2 * g0, count, group_size, bits,
                       packed + g0 * words_per_group);
  }
}

void Dequantize::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  PackedOperand w = packed_operand(inputs[0], inputs[1], inputs[2], group_size, bits);
  const int64_t cols = w.matrix.cols;
  cpu::write_float32_result(out, [&](float* c) {
#pragma omp parallel for schedule(static) if (out.size() >= cpu::kParallelThreshold)
    for (int64_t r = 0; r < w.rows; ++r) cpu::dequantize_window(w.matrix, r, 1, 0, cols, c + r * cols, cols);
  });
}

void QuantizedMatmul::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  if (glu || has_residual || norm_eps) return eval_unfused(inputs, out, false);  // the activation alone is fused below
  const Array& x = inputs[0];
  PackedOperand w = packed_operand(inputs[1], inputs[2], inputs[3], group_size, bits);
  const int64_t k = x.shape(-1), n = out.shape(-1), m = x.size() / std::max<int64_t>(k, 1);
  std::optional<cpu::Float32View> bias_view;
  if (has_bias) bias_view = cpu::as_float32(inputs[4]);
  const float* bias = bias_view ? bias_view->data : nullptr;

  // bfloat16 activations and result past the few-row kernel: panels dequantized into oneDNN's
  // AMX layout, bias and activation fused, bfloat16 written directly (quantized_onednn.cpp).
  std::vector<bfloat16> rows;  // x's rows back to back, when they are not already
  auto bf16_rows = [&] {
    if (x.is_contiguous()) return cpu::host_data<bfloat16>(x);
    rows.resize(size_t(x.size()));
    cpu::copy_to_contiguous(x, rows.data(), Dtype::bfloat16);
    return static_cast<const bfloat16*>(rows.data());
  };
  if (x.dtype() == Dtype::bfloat16 && out.dtype() == Dtype::bfloat16 && transpose && m > cpu::kFusedRows &&
      k > 0 && n % 64 == 0) {
    out.allocate();
    if (cpu::quantized_linear_bf16(bf16_rows(), m, w.matrix, n, bias, activation,
                                   static_cast<bfloat16*>(out.buffer()->mutable_host())))
      return;
  }

  auto product = [&](float* c) {
    if (k == 0) {
      std::fill(c, c + out.size(), 0.0f);
      return add_bias(bias, m, 0, n, c, n);
    }
    if (transpose && m <= cpu::kFusedRows && cpu::has_avx512()) {
      // Few rows: every weight is used m times only, so unpacking it straight into FMAs beats
      // writing a tile for the GEMM; threads split the output columns.
      cpu::Float32View xf = cpu::as_float32(x);
      const int64_t threads = omp_get_max_threads();
      const int64_t chunk = (n + threads - 1) / threads;
#pragma omp parallel for schedule(static) if (n * k >= cpu::kParallelThreshold)
      for (int64_t n0 = 0; n0 < n; n0 += chunk) {
        const int64_t n1 = std::min(n, n0 + chunk);
        cpu::quantized_gemv_avx512(xf.data, m, w.matrix, n0, n1, c, n);
        add_bias(bias, m, n0, n1 - n0, c, n);
      }
      return;
    }
    // bfloat16 activations keep bfloat16 tiles, so the GEMM takes bfloat16 operands.
    if (x.dtype() == Dtype::bfloat16) {
      tiled_quantized_matmul(bf16_rows(), m, k, w.matrix, transpose, n, bias, c,
                             [](bool ta, bool tb, int64_t m_, int64_t n_, int64_t k_, const bfloat16* a,
                                int64_t lda, const bfloat16* b, int64_t ldb, float* cc, int64_t ldc) {
                               cpu::gemm_bf16(ta, tb, m_, n_, k_, 1.0f, a, lda, b, ldb, 0.0f, cc, ldc);
                             });
      return;
    }
    cpu::Float32View xf = cpu::as_float32(x);
    tiled_quantized_matmul(xf.data, m, k, w.matrix, transpose, n, bias, c,
                           [](bool ta, bool tb, int64_t m_, int64_t n_, int64_t k_, const float* a,
                              int64_t lda, const float* b, int64_t ldb, float* cc, int64_t ldc) {
                             cpu::gemm_f32(ta, tb, m_, n_, k_, 1.0f, a, lda, b, ldb, 0.0f, cc, ldc);
                           });
  };
  cpu::write_float32_result(out, [&](float* c) {
    product(c);
    if (activation != Activation::none) cpu::unary_f32(activation_op(activation), c, c, out.size());
  });
}

}  // namespace tessera
