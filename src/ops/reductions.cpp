#include <algorithm>

#include "ops/op_utils.h"

namespace tessera {

using detail::build;

namespace {

Array reduce(ReduceOp op, const Array& a, std::vector<int> axes, bool keepdims, const char* name) {
  if (axes.empty())
    for (int i = 0; i < a.ndim(); ++i) axes.push_back(i);
  for (int& ax : axes) ax = detail::normalize_axis(ax, a.ndim(), name);
  std::sort(axes.begin(), axes.end());
  TESSERA_CHECK(std::adjacent_find(axes.begin(), axes.end()) == axes.end(), name, "repeated axis");
  Shape kept = a.shape();
  for (int ax : axes) {
    TESSERA_CHECK(a.shape()[size_t(ax)] > 0 || op == ReduceOp::sum, name,
                  "cannot reduce an empty axis");
    kept[size_t(ax)] = 1;
  }
  // mean of integers is a float, as numpy; the others keep the dtype.
  Dtype dtype = op == ReduceOp::mean && !is_floating(a.dtype()) ? Dtype::float32 : a.dtype();
  Array out = build<Reduce>(kept, dtype, {a}, op, axes);
  if (keepdims) return out;
  Shape squeezed;
  for (int i = 0; i < a.ndim(); ++i)
    if (!std::binary_search(axes.begin(), axes.end(), i)) squeezed.push_back(a.shape()[size_t(i)]);
  return reshape(out, squeezed);
}

}  // namespace

Array sum(const Array& a, std::vector<int> axes, bool keepdims) {
  return reduce(ReduceOp::sum, a, std::move(axes), keepdims, "sum");
}
Array mean(const Array& a, std::vector<int> axes, bool keepdims) {
  return reduce(ReduceOp::mean, a, std::move(axes), keepdims, "mean");
}
Array max(const Array& a, std::vector<int> axes, bool keepdims) {
  return reduce(ReduceOp::max, a, std::move(axes), keepdims, "max");
}
Array min(const Array& a, std::vector<int> axes, bool keepdims) {
  return reduce(ReduceOp::min, a, std::move(axes), keepdims, "min");
}

Array argmax(const Array& a, int axis, bool keepdims) {
  int ax = detail::normalize_axis(axis, a.ndim(), "argmax");
  TESSERA_CHECK(a.shape()[size_t(ax)] > 0, "argmax", "empty axis");
  Shape kept = a.shape();
  kept[size_t(ax)] = 1;
  Array out = build<ArgMax>(kept, Dtype::int32, {a}, ax);
  return keepdims ? out : squeeze(out, ax);
}

}  // namespace tessera
