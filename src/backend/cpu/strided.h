#pragma once
// Walking n-d strided arrays on the CPU. Kernels see rows along the last (collapsed) dimension:
// fn(offsets, count, inner_strides) with one base offset and one inner stride per operand, so the
// inner loop is a plain (often unit-stride, vectorisable) loop. Rows run in parallel when there
// is enough work.
#include <omp.h>

#include <array>
#include <cstdint>

#include "tessera/array.h"

namespace tessera::cpu {

// Work (elements) below which a kernel stays on one thread: thread start-up costs more.
inline constexpr int64_t kParallelThreshold = 1 << 15;

template <size_t N, typename RowFn>
void for_each_row(const Shape& shape, const std::array<Strides, N>& strides, RowFn&& fn) {
  if (numel(shape) == 0) return;
  // Merge adjacent dims that are contiguous with each other in every operand.
  Shape dims;
  std::array<Strides, N> st;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !dims.empty();
    for (size_t k = 0; k < N && merge; ++k) merge = st[k].back() == strides[k][d] * shape[d];
    if (merge) {
      dims.back() *= shape[d];
      for (size_t k = 0; k < N; ++k) st[k].back() = strides[k][d];
    } else {
      dims.push_back(shape[d]);
      for (size_t k = 0; k < N; ++k) st[k].push_back(strides[k][d]);
    }
  }
  if (dims.empty()) {  // a single element
    dims.push_back(1);
    for (size_t k = 0; k < N; ++k) st[k].push_back(1);
  }
  int64_t inner = dims.back();
  std::array<int64_t, N> inner_strides;
  for (size_t k = 0; k < N; ++k) inner_strides[k] = st[k].back();
  int64_t rows = numel(dims) / inner;
  int outer_ndim = int(dims.size()) - 1;
  auto run_row = [&](int64_t row) {
    std::array<int64_t, N> offsets{};
    int64_t rem = row;
    for (int d = outer_ndim - 1; d >= 0; --d) {
      int64_t i = rem % dims[size_t(d)];
      rem /= dims[size_t(d)];
      for (size_t k = 0; k < N; ++k) offsets[k] += i * st[k][size_t(d)];
    }
    fn(offsets, inner, inner_strides);
  };
  if (rows * inner >= kParallelThreshold && rows > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) run_row(r);
  } else {
    for (int64_t r = 0; r < rows; ++r) run_row(r);
  }
}

// Arithmetic type for a storage type: 16-bit floats compute in float32.
template <typename T>
using compute_t = std::conditional_t<std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>, float, T>;

template <typename T>
inline compute_t<T> load(T v) {
  if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>)
    return to_float(v);
  else
    return v;
}

template <typename T, typename V>
inline T store(V v) {
  if constexpr (std::is_same_v<T, float16>)
    return to_float16(float(v));
  else if constexpr (std::is_same_v<T, bfloat16>)
    return to_bfloat16(float(v));
  else
    return T(v);
}

// Host pointer to an array's first element (already evaluated, on any device).
template <typename T>
const T* host_data(const Array& a) {
  return static_cast<const T*>(a.buffer()->host()) + a.offset();
}

// Copies (and converts) any strided array into row-major memory of type Out.
void copy_to_contiguous(const Array& src, void* dst, Dtype dst_dtype);

// A float32 row-major copy of `a` (no copy when it already is one): for kernels that compute in
// float32 whatever the storage type.
struct Float32View {
  const float* data;
  std::shared_ptr<Buffer> owned;
};
Float32View as_float32(const Array& a);

// Allocates `out` and lets fill(float*) write it in float32: in place when out is float32, else
// through a scratch buffer converted once to out's dtype.
template <typename Fill>
void write_float32_result(Array& out, Fill fill) {
  out.allocate();
  if (out.size() == 0) return;
  if (out.dtype() == Dtype::float32) return fill(static_cast<float*>(out.buffer()->mutable_host()));
  auto scratch = Buffer::allocate_host(size_t(out.size()) * sizeof(float));
  fill(static_cast<float*>(scratch->mutable_host()));
  Array tmp = Array::from_buffer(scratch, out.shape(), Dtype::float32);
  copy_to_contiguous(tmp, out.buffer()->mutable_host(), out.dtype());
}

}  // namespace tessera::cpu
