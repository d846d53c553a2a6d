#include <algorithm>
#include <numeric>

#include "ops/op_utils.h"

namespace tessera {

using detail::build;
using detail::normalize_axis;

Array reshape(const Array& a, Shape shape) {
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      TESSERA_CHECK(infer < 0, "reshape", "more than one -1 in " + to_string(shape));
      infer = int(i);
    } else {
      TESSERA_CHECK(shape[i] >= 0, "reshape", "negative dimension in " + to_string(shape));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    TESSERA_CHECK(known > 0 && a.size() % known == 0, "reshape",
                  "cannot reshape " + to_string(a.shape()) + " to " + to_string(shape));
    shape[size_t(infer)] = a.size() / known;
  }
  TESSERA_CHECK(numel(shape) == a.size(), "reshape",
                "cannot reshape " + to_string(a.shape()) + " to " + to_string(shape));
  if (shape == a.shape()) return a;
  return build<Reshape>(std::move(shape), a.dtype(), {a});
}

Array transpose(const Array& a, std::vector<int> axes) {
  TESSERA_CHECK(int(axes.size()) == a.ndim(), "transpose",
                "permutation has " + std::to_string(axes.size()) + " axes for a " +
                    std::to_string(a.ndim()) + "-d array");
  std::vector<bool> seen(axes.size(), false);
  Shape shape(axes.size());
  for (size_t i = 0; i < axes.size(); ++i) {
    axes[i] = normalize_axis(axes[i], a.ndim(), "transpose");
    TESSERA_CHECK(!seen[size_t(axes[i])], "transpose", "repeated axis in permutation");
    seen[size_t(axes[i])] = true;
    shape[i] = a.shape()[size_t(axes[i])];
  }
  return build<Transpose>(std::move(shape), a.dtype(), {a}, std::move(axes));
}

Array transpose(const Array& a) {
  std::vector<int> axes(size_t(a.ndim()));
  std::iota(axes.rbegin(), axes.rend(), 0);
  return transpose(a, axes);
}

Array swapaxes(const Array& a, int axis1, int axis2) {
  std::vector<int> axes(size_t(a.ndim()));
  std::iota(axes.begin(), axes.end(), 0);
  std::swap(axes[size_t(normalize_axis(axis1, a.ndim(), "swapaxes"))],
            axes[size_t(normalize_axis(axis2, a.ndim(), "swapaxes"))]);
  return transpose(a, axes);
}

Array expand_dims(const Array& a, int axis) {
  Shape shape = a.shape();
  int ax = normalize_axis(axis, a.ndim() + 1, "expand_dims");
  shape.insert(shape.begin() + ax, 1);
  return reshape(a, shape);
}

Array squeeze(const Array& a, int axis) {
  int ax = normalize_axis(axis, a.ndim(), "squeeze");
  TESSERA_CHECK(a.shape()[size_t(ax)] == 1, "squeeze",
                "axis " + std::to_string(axis) + " of " + to_string(a.shape()) + " is not 1");
  Shape shape = a.shape();
  shape.erase(shape.begin() + ax);
  return reshape(a, shape);
}

Array broadcast_to(const Array& a, const Shape& shape) {
  if (a.shape() == shape) return a;
  TESSERA_CHECK(detail::broadcast_shapes(a.shape(), shape, "broadcast_to") == shape, "broadcast_to",
                "cannot broadcast " + to_string(a.shape()) + " to " + to_string(shape));
  return build<Broadcast>(shape, a.dtype(), {a});
}

Array slice(const Array& a, std::vector<int64_t> start, std::vector<int64_t> stop,
            std::vector<int64_t> step) {
  size_t n = size_t(a.ndim());
  TESSERA_CHECK(start.size() <= n && stop.size() == start.size() &&
                    (step.empty() || step.size() == start.size()),
                "slice", "start/stop/step lengths do not match a " + std::to_string(n) + "-d array");
  Shape shape = a.shape();
  start.resize(n, 0);
  step.resize(n, 1);
  for (size_t i = 0; i < n; ++i) {
    int64_t dim = a.shape()[i];
    if (i >= stop.size()) stop.push_back(dim);
    TESSERA_CHECK(step[i] > 0, "slice", "step must be positive");
    auto clamp = [dim](int64_t v) { return std::clamp(v < 0 ? v + dim : v, int64_t(0), dim); };
    start[i] = clamp(start[i]);
    int64_t end = std::max(clamp(stop[i]), start[i]);
    shape[i] = (end - start[i] + step[i] - 1) / step[i];
  }
  return build<Slice>(std::move(shape), a.dtype(), {a}, std::move(start), std::move(step));
}

Array slice_axis(const Array& a, int axis, int64_t start, int64_t stop) {
  int ax = normalize_axis(axis, a.ndim(), "slice");
  std::vector<int64_t> starts(size_t(a.ndim()), 0), stops(a.shape().begin(), a.shape().end());
  starts[size_t(ax)] = start;
  stops[size_t(ax)] = stop;
  return slice(a, starts, stops);
}

std::vector<Array> split(const Array& a, const std::vector<int64_t>& indices, int axis) {
  int ax = normalize_axis(axis, a.ndim(), "split");
  std::vector<Array> parts;
  int64_t begin = 0;
  for (int64_t idx : indices) {
    TESSERA_CHECK(idx >= begin && idx <= a.shape()[size_t(ax)], "split",
                  "split indices must be increasing and within the axis");
    parts.push_back(slice_axis(a, ax, begin, idx));
    begin = idx;
  }
  parts.push_back(slice_axis(a, ax, begin, a.shape()[size_t(ax)]));
  return parts;
}

std::vector<Array> split(const Array& a, int sections, int axis) {
  int ax = normalize_axis(axis, a.ndim(), "split");
  int64_t dim = a.shape()[size_t(ax)];
  TESSERA_CHECK(sections > 0 && dim % sections == 0, "split",
                "axis of size " + std::to_string(dim) + " does not split into " +
                    std::to_string(sections) + " equal parts");
  std::vector<int64_t> indices;
  for (int i = 1; i < sections; ++i) indices.push_back(dim / sections * i);
  return split(a, indices, ax);
}

Array concatenate(const std::vector<Array>& arrays, int axis) {
  TESSERA_CHECK(!arrays.empty(), "concatenate", "no arrays given");
  const Array& first = arrays.front();
  int ax = normalize_axis(axis, first.ndim(), "concatenate");
  Shape shape = first.shape();
  shape[size_t(ax)] = 0;
  Dtype dtype = first.dtype();
  for (const Array& x : arrays) dtype = promote(dtype, x.dtype());
  std::vector<Array> inputs;
  for (const Array& x : arrays) {
    TESSERA_CHECK(x.ndim() == first.ndim(), "concatenate", "arrays differ in rank");
    for (int d = 0; d < x.ndim(); ++d)
      TESSERA_CHECK(d == ax || x.shape()[size_t(d)] == first.shape()[size_t(d)], "concatenate",
                    "shapes " + to_string(first.shape()) + " and " + to_string(x.shape()) +
                        " differ outside the axis");
    shape[size_t(ax)] += x.shape()[size_t(ax)];
    inputs.push_back(astype(x, dtype));
  }
  return build<Concatenate>(std::move(shape), dtype, std::move(inputs), ax);
}

}  // namespace tessera
