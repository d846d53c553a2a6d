#pragma once
// Strided, converting copies on the GPU: the building block of AsType, Reshape, Concatenate and
// of kernels that need an operand in row-major order.
#include <memory>

#include "tessera/array.h"

namespace tessera::cuda {

// Moves the destination by a count read on the device: clamp(*index, 0, max) * stride elements.
struct DestinationShift {
  const int32_t* index = nullptr;  // none: no shift
  int64_t stride = 0;
  int max = 0;
};

// Writes `src` (any strides, on any device) converted to `dst_dtype` into `dst`, laid out with
// `dst_strides` (row-major when empty), moved by `shift`.
void copy_strided(const Array& src, void* dst, Dtype dst_dtype, const Strides& dst_strides = {},
                  DestinationShift shift = {});

// A row-major device copy of `a` in `dtype`.
std::shared_ptr<Buffer> contiguous_copy(const Array& a, Dtype dtype);

}  // namespace tessera::cuda
