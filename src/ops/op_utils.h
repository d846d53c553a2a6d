#pragma once
// Helpers shared by the op builders in src/ops/.
#include <optional>
#include <string>
#include <vector>

#include "core/primitives.h"
#include "tessera/ops.h"

namespace tessera::detail {

// Maps a possibly negative axis into [0, ndim); `op` names the caller in the error.
int normalize_axis(int axis, int ndim, const char* op);
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

template <typename P, typename... Args>
Array build(Shape shape, Dtype dtype, std::vector<Array> inputs, Args&&... args) {
  return Array::make(std::move(shape), dtype, std::make_shared<P>(std::forward<Args>(args)...),
                     std::move(inputs), default_stream());
}

void check_floating(const Array& a, const char* op);

// linear's / quantized_linear's input_norm weight, checked against x [..., K] (floating, [K]) and
// cast to the product's dtype: the input the primitive takes.
Array input_norm_weight(const InputRmsNorm& norm, const Array& x, Dtype dtype, const char* op);

// gather_matmul's operand checks (x floating with `in` features, int32 indices whose shape x's
// leading shape is, with or without the last axis; w's `out` rows even with a glu; row_weights
// floating of indices' shape) and its result: appended to `inputs` (row_weights cast to x's
// dtype), and the shape returned.
Shape gather_matmul_shape(const Array& x, const Array& indices, int64_t in, int64_t out, Activation glu,
                          const std::optional<Array>& row_weights, std::vector<Array>& inputs, const char* op);

}  // namespace tessera::detail
