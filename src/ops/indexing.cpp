#include "ops/op_utils.h"

namespace tessera {

using detail::build;

namespace {
void check_indices(const Array& indices, const char* op) {
  TESSERA_CHECK(!is_floating(indices.dtype()) && indices.dtype() != Dtype::bool_, op,
                "indices must be integers, got " + std::string(name(indices.dtype())));
}
}  // namespace

Array take(const Array& a, const Array& indices, int axis) {
  check_indices(indices, "take");
  int ax = detail::normalize_axis(axis, a.ndim(), "take");
  Shape shape(a.shape().begin(), a.shape().begin() + ax);
  shape.insert(shape.end(), indices.shape().begin(), indices.shape().end());
  shape.insert(shape.end(), a.shape().begin() + ax + 1, a.shape().end());
  return build<Take>(std::move(shape), a.dtype(), {a, indices}, ax);
}

Array take_along_axis(const Array& a, const Array& indices, int axis) {
  check_indices(indices, "take_along_axis");
  int ax = detail::normalize_axis(axis, a.ndim(), "take_along_axis");
  TESSERA_CHECK(indices.ndim() == a.ndim(), "take_along_axis",
                "indices must have the same rank as the array");
  Shape a_shape = a.shape(), idx_shape = indices.shape();
  a_shape[size_t(ax)] = 1;
  idx_shape[size_t(ax)] = 1;
  Shape shape = detail::broadcast_shapes(a_shape, idx_shape, "take_along_axis");
  Shape a_target = shape, out_shape = shape;
  a_target[size_t(ax)] = a.shape()[size_t(ax)];
  out_shape[size_t(ax)] = indices.shape()[size_t(ax)];
  return build<TakeAlongAxis>(out_shape, a.dtype(),
                              {broadcast_to(a, a_target), broadcast_to(indices, out_shape)}, ax);
}

std::pair<Array, Array> topk(const Array& a, int k, int axis) {
  int ax = detail::normalize_axis(axis, a.ndim(), "topk");
  TESSERA_CHECK(k >= 1 && k <= a.shape()[size_t(ax)], "topk",
                "k=" + std::to_string(k) + " out of range for axis of size " +
                    std::to_string(a.shape()[size_t(ax)]));
  Shape shape = a.shape();
  shape[size_t(ax)] = k;
  Array indices = build<ArgTopK>(shape, Dtype::int32, {a}, k, ax);
  return {take_along_axis(a, indices, ax), indices};
}

}  // namespace tessera
