// Gathers (take, take_along_axis) and top-k selection.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "backend/cpu/strided.h"
#include "core/primitives.h"

namespace tessera {

namespace {

// Integer indices as int64, validated against the axis size (negative counts from the end).
std::vector<int64_t> checked_indices(const Array& indices, int64_t axis_size, const char* op) {
  std::vector<int64_t> idx(size_t(indices.size()));
  dispatch_dtype(indices.dtype(), [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      std::vector<T> raw = indices.to_vector<T>();
      for (size_t i = 0; i < raw.size(); ++i) {
        int64_t v = int64_t(raw[i]);
        if (v < 0) v += axis_size;
        if (v < 0 || v >= axis_size)
          fail(op, "index " + std::to_string(int64_t(raw[i])) + " out of range for axis of size " +
                       std::to_string(axis_size));
        idx[i] = v;
      }
    }
  });
  return idx;
}

}  // namespace

void Take::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  const Array& a = inputs[0];
  out.allocate();
  int64_t axis_size = a.shape()[size_t(axis)];
  std::vector<int64_t> idx = checked_indices(inputs[1], axis_size, "take");
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= a.shape()[size_t(d)];
  for (int d = axis + 1; d < a.ndim(); ++d) inner *= a.shape()[size_t(d)];
  size_t item = itemsize(a.dtype());
  // Rows are copied from a contiguous source (embedding tables always are; others are compacted).
  std::shared_ptr<Buffer> compact;
  const uint8_t* src;
  if (a.is_contiguous()) {
    src = static_cast<const uint8_t*>(a.buffer()->host()) + a.offset() * int64_t(item);
  } else {
    compact = Buffer::allocate_host(a.nbytes());
    cpu::copy_to_contiguous(a, compact->mutable_host(), a.dtype());
    src = static_cast<const uint8_t*>(compact->host());
  }
  auto* dst = static_cast<uint8_t*>(out.buffer()->mutable_host());
  int64_t n = int64_t(idx.size());
  size_t row_bytes = size_t(inner) * item;
#pragma omp parallel for collapse(2) schedule(static) if (outer * n * inner >= cpu::kParallelThreshold)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(dst + (o * n + i) * int64_t(row_bytes),
                  src + (o * axis_size + idx[size_t(i)]) * int64_t(row_bytes), row_bytes);
}

void TakeAlongAxis::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  const Array& a = inputs[0];
  const Array& indices = inputs[1];
  out.allocate();
  int64_t axis_size = a.shape()[size_t(axis)];
  // to_vector reads row-major over out's shape, whatever the broadcast strides.
  std::vector<int64_t> idx = checked_indices(indices, axis_size, "take_along_axis");
  Strides a_strides = a.strides();
  Strides out_rm = row_major_strides(out.shape());
  dispatch_dtype(a.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* src = cpu::host_data<T>(a);
    T* dst = static_cast<T*>(out.buffer()->mutable_host());
    for (int64_t e = 0; e < out.size(); ++e) {
      int64_t rem = e, off = 0;
      for (int d = 0; d < out.ndim(); ++d) {
        int64_t i = rem / out_rm[size_t(d)];
        rem %= out_rm[size_t(d)];
        off += (d == axis ? idx[size_t(e)] : i) * a_strides[size_t(d)];
      }
      dst[e] = src[off];
    }
  });
}

void ArgTopK::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  const Array& a = inputs[0];
  out.allocate();
  int64_t n = a.shape()[size_t(axis)];
  int64_t stride = a.strides()[size_t(axis)];
  Shape lanes_shape = a.shape();
  lanes_shape[size_t(axis)] = 1;
  Strides out_st = row_major_strides(out.shape());
  int32_t* dst = static_cast<int32_t*>(out.buffer()->mutable_host());
  int64_t lanes = numel(lanes_shape);
  int kk = k;
  int ax = axis;
  dispatch_dtype(a.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* src = cpu::host_data<T>(a);
#pragma omp parallel for schedule(static) if (lanes * n >= cpu::kParallelThreshold)
    for (int64_t lane = 0; lane < lanes; ++lane) {
      int64_t rem = lane, in_off = 0, out_off = 0;
      for (int d = int(lanes_shape.size()) - 1; d >= 0; --d) {
        int64_t i = rem % lanes_shape[size_t(d)];
        rem /= lanes_shape[size_t(d)];
        in_off += i * a.strides()[size_t(d)];
        out_off += i * out_st[size_t(d)];
      }
      std::vector<int32_t> order(static_cast<size_t>(n));
      std::iota(order.begin(), order.end(), 0);
      auto value = [&](int32_t i) { return cpu::load(src[in_off + i * stride]); };
      std::partial_sort(order.begin(), order.begin() + kk, order.end(), [&](int32_t x, int32_t y) {
        auto vx = value(x), vy = value(y);
        return vx > vy || (vx == vy && x < y);
      });
      for (int j = 0; j < kk; ++j) dst[out_off + j * out_st[size_t(ax)]] = order[size_t(j)];
    }
  });
}

}  // namespace tessera
