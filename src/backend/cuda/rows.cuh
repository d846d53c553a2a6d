#pragma once
// Kernels that work on rows of the last axis (softmax, norms, rope): one strided layout finds
// each row's first element, a single stride walks along the row.
#include "backend/cuda/device_types.cuh"

namespace tessera::cuda {

struct RowLayout {
  StridedLayout<1> rows;  // offset of each row's first element
  int64_t row_count, row_length, inner_stride;
};

inline RowLayout row_layout(const Array& a) {
  Shape outer(a.shape().begin(), a.shape().end() - 1);
  Strides outer_strides(a.strides().begin(), a.strides().end() - 1);
  int64_t n = a.shape(-1);
  return {make_layout<1>(outer, {&outer_strides}), numel(outer), n, a.strides().back()};
}

__device__ __forceinline__ int64_t row_offset(const RowLayout& layout, int64_t row) {
  int64_t off[1];
  layout.rows.offsets(row, off);
  return off[0];
}

inline constexpr int kRowWarpsPerBlock = 8;
inline unsigned row_blocks(int64_t rows) { return unsigned((rows + kRowWarpsPerBlock - 1) / kRowWarpsPerBlock); }

}  // namespace tessera::cuda
