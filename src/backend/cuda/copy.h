#pragma once
// Strided, converting copies on the GPU: the building block of AsType, Reshape, Concatenate and
// of kernels that need an operand in row-major order.
#include <memory>

#include "tessera/array.h"

namespace tessera::cuda {

// Writes `src` (any strides, on any device) converted to `dst_dtype` into `dst`, laid out with
// `dst_strides` (row-major when empty).
void copy_strided(const Array& src, void* dst, Dtype dst_dtype, const Strides& dst_strides = {});

// A row-major device copy of `a` in `dtype`.
std::shared_ptr<Buffer> contiguous_copy(const Array& a, Dtype dtype);

}  // namespace tessera::cuda
