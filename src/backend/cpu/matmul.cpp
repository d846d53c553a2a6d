// Batched matrix product over the one GEMM interface. Operands are read in place whenever their
// last two dims are row- or column-major (transposed views cost nothing); batch dims may be
// broadcast (stride 0), and a broadcast right operand lets the whole batch run as one GEMM.
#include <algorithm>
#include <optional>

#include "backend/cpu/gemm.h"
#include "backend/cpu/strided.h"
#include "core/primitives.h"

namespace tessera {

namespace {

struct MatrixLayout {
  bool transposed;
  int64_t ld;
};

// How a [rows, cols] matrix with these strides can be handed to BLAS, if it can.
std::optional<MatrixLayout> blas_layout(int64_t rows, int64_t cols, int64_t row_stride,
                                        int64_t col_stride) {
  if ((col_stride == 1 || cols == 1) && (rows == 1 || row_stride >= std::max<int64_t>(cols, 1)))
    return MatrixLayout{false, rows == 1 ? std::max<int64_t>(cols, 1) : row_stride};
  if ((row_stride == 1 || rows == 1) && (cols == 1 || col_stride >= std::max<int64_t>(rows, 1)))
    return MatrixLayout{true, cols == 1 ? std::max<int64_t>(rows, 1) : col_stride};
  return std::nullopt;
}

// An operand as BLAS sees it: element type E, a base pointer, a layout, and batch strides.
template <typename E>
struct Operand {
  const E* data;
  MatrixLayout layout;
  Strides batch_strides;
  std::shared_ptr<Buffer> owned;
};

template <typename E>
Operand<E> prepare(const Array& a, Dtype compute_dtype) {
  int nd = a.ndim();
  int64_t rows = a.shape()[size_t(nd - 2)], cols = a.shape()[size_t(nd - 1)];
  auto layout = blas_layout(rows, cols, a.strides()[size_t(nd - 2)], a.strides()[size_t(nd - 1)]);
  if (a.dtype() == compute_dtype && layout) {
    const auto* base = static_cast<const E*>(a.buffer()->host()) + a.offset();
    return {base, *layout, Strides(a.strides().begin(), a.strides().end() - 2), nullptr};
  }
  // Otherwise a row-major copy in the compute dtype (broadcast batch entries are materialised).
  auto buffer = Buffer::allocate_host(size_t(a.size()) * sizeof(E));
  cpu::copy_to_contiguous(a, buffer->mutable_host(), compute_dtype);
  Strides rm = row_major_strides(a.shape());
  return {static_cast<const E*>(buffer->host()), MatrixLayout{false, std::max<int64_t>(cols, 1)},
          Strides(rm.begin(), rm.end() - 2), buffer};
}

template <typename E, typename Gemm>
void batched_gemm(const Array& a_arr, const Array& b_arr, float* c, Dtype compute_dtype, Gemm gemm) {
  Operand<E> a = prepare<E>(a_arr, compute_dtype);
  Operand<E> b = prepare<E>(b_arr, compute_dtype);
  int nd = a_arr.ndim();
  int64_t m = a_arr.shape()[size_t(nd - 2)], k = a_arr.shape()[size_t(nd - 1)];
  int64_t n = b_arr.shape()[size_t(nd - 1)];
  Shape batch(a_arr.shape().begin(), a_arr.shape().end() - 2);
  int64_t batches = numel(batch);

  // Fold the batch into M when B is shared by every batch entry and A's rows are evenly spaced.
  bool b_shared = std::all_of(b.batch_strides.begin(), b.batch_strides.end(), [](int64_t s) { return s == 0; });
  if (b_shared && batches > 1 && !a.layout.transposed) {
    bool rows_even = true;
    int64_t expect = m * a.layout.ld;
    for (int d = int(batch.size()) - 1; d >= 0 && rows_even; --d) {
      if (batch[size_t(d)] == 1) continue;
      rows_even = a.batch_strides[size_t(d)] == expect;
      expect *= batch[size_t(d)];
    }
    if (rows_even) {
      gemm(false, b.layout.transposed, m * batches, n, k, a.data, a.layout.ld, b.data, b.layout.ld,
           c, n);
      return;
    }
  }
  auto offset_of = [&](const Strides& strides, int64_t index) {
    int64_t off = 0;
    for (int d = int(batch.size()) - 1; d >= 0; --d) {
      off += (index % batch[size_t(d)]) * strides[size_t(d)];
      index /= batch[size_t(d)];
    }
    return off;
  };
  // Many small products (attention heads): one per thread; one big product: BLAS threads it.
  bool parallel_batches = batches > 1 && m * n * k < (1 << 24);
#pragma omp parallel for schedule(static) if (parallel_batches)
  for (int64_t i = 0; i < batches; ++i) {
    gemm(a.layout.transposed, b.layout.transposed, m, n, k, a.data + offset_of(a.batch_strides, i),
         a.layout.ld, b.data + offset_of(b.batch_strides, i), b.layout.ld, c + i * m * n, n);
  }
}

}  // namespace

void Matmul::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  out.allocate();
  const Array& a = inputs[0];
  const Array& b = inputs[1];
  if (out.size() == 0) return;
  // float32 output goes straight into out; 16-bit outputs go through a float32 scratch.
  std::shared_ptr<Buffer> scratch;
  float* c;
  if (out.dtype() == Dtype::float32) {
    c = static_cast<float*>(out.buffer()->mutable_host());
  } else {
    scratch = Buffer::allocate_host(size_t(out.size()) * sizeof(float));
    c = static_cast<float*>(scratch->mutable_host());
  }
  if (a.shape(-1) == 0) {  // empty inner dimension: the product is all zeros
    std::fill(c, c + out.size(), 0.0f);
  } else if (out.dtype() == Dtype::bfloat16) {
    batched_gemm<bfloat16>(a, b, c, Dtype::bfloat16,
                           [](bool ta, bool tb, int64_t m, int64_t n, int64_t k, const bfloat16* pa,
                              int64_t lda, const bfloat16* pb, int64_t ldb, float* pc, int64_t ldc) {
                             cpu::gemm_bf16(ta, tb, m, n, k, 1.0f, pa, lda, pb, ldb, 0.0f, pc, ldc);
                           });
  } else {  // float32, and float16 computed in float32
    batched_gemm<float>(a, b, c, Dtype::float32,
                        [](bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* pa,
                           int64_t lda, const float* pb, int64_t ldb, float* pc, int64_t ldc) {
                          cpu::gemm_f32(ta, tb, m, n, k, 1.0f, pa, lda, pb, ldb, 0.0f, pc, ldc);
                        });
  }
  if (inputs.size() == 3) {  // bias epilogue, in float32 before any rounding
    cpu::Float32View bias = cpu::as_float32(inputs[2]);
    int64_t n = out.shape(-1), rows = out.size() / n;
#pragma omp parallel for schedule(static) if (out.size() >= cpu::kParallelThreshold)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < n; ++j) c[r * n + j] += bias.data[j];
  }
  if (scratch) {
    Array tmp = Array::from_buffer(scratch, out.shape(), Dtype::float32);
    cpu::copy_to_contiguous(tmp, out.buffer()->mutable_host(), out.dtype());
  }
}

}  // namespace tessera
