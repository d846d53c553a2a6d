#include "tessera/array.h"

#include <unordered_set>

#include "core/primitives.h"
#include "core/profiler.h"

namespace tessera {

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Strides row_major_strides(const Shape& shape) {
  Strides s(shape.size());
  int64_t acc = 1;
  for (int i = int(shape.size()) - 1; i >= 0; --i) {
    s[size_t(i)] = acc;
    acc *= shape[size_t(i)];
  }
  return s;
}

std::optional<Strides> reshaped_strides(const Shape& shape, const Strides& strides, const Shape& target) {
  if (numel(shape) == 0) return row_major_strides(target);
  Shape dims;  // the source without its size-1 dims, which constrain nothing
  Strides dim_strides;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    dims.push_back(shape[i]);
    dim_strides.push_back(strides[i]);
  }
  Strides out(target.size(), 0);
  // Match groups of source dims [oi, oj) to target dims [ni, nj) with the same element count; a
  // group is viewable when its source dims are evenly spaced (each stride = next stride * next size).
  size_t oi = 0, ni = 0;
  while (ni < target.size() && oi < dims.size()) {
    if (target[ni] == 1) {
      ++ni;
      continue;
    }
    size_t oj = oi + 1, nj = ni + 1;
    int64_t old_count = dims[oi], new_count = target[ni];
    while (old_count != new_count) {
      if (new_count < old_count) {
        if (nj == target.size()) return std::nullopt;
        new_count *= target[nj++];
      } else {
        if (oj == dims.size()) return std::nullopt;
        old_count *= dims[oj++];
      }
    }
    for (size_t k = oi; k + 1 < oj; ++k)
      if (dim_strides[k] != dims[k + 1] * dim_strides[k + 1]) return std::nullopt;
    out[nj - 1] = dim_strides[oj - 1];
    for (size_t k = nj - 1; k > ni; --k) out[k - 1] = out[k] * target[k];
    ni = nj;
    oi = oj;
  }
  // Size-1 dims take the stride a row-major neighbour would give them (any stride is valid).
  for (size_t k = target.size(); k-- > 0;)
    if (target[k] == 1) out[k] = k + 1 < target.size() ? out[k + 1] * target[k + 1] : 1;
  return out;
}

std::string to_string(const Shape& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + ")";
}

Array Array::scalar(double value, Dtype dtype) {
  return dispatch_dtype(dtype, [&](auto t) {
    using T = decltype(t);
    return Array(std::vector<T>{from_double<T>(value)}, Shape{});
  });
}

Array Array::from_buffer(std::shared_ptr<Buffer> buffer, Shape shape, Dtype dtype, Strides strides,
                         int64_t offset) {
  Array a;
  a.node_ = std::make_shared<ArrayNode>();
  a.node_->strides = strides.empty() ? row_major_strides(shape) : std::move(strides);
  a.node_->shape = std::move(shape);
  a.node_->dtype = dtype;
  a.node_->offset = offset;
  a.node_->stream = buffer->on_host() ? Stream{Device::cpu(), 0} : default_stream();
  a.node_->buffer = std::move(buffer);
  return a;
}

Array Array::from_buffer(std::shared_ptr<Buffer> buffer, Stream stream, Shape shape, Dtype dtype,
                         Strides strides, int64_t offset) {
  Array a = from_buffer(std::move(buffer), std::move(shape), dtype, std::move(strides), offset);
  a.node_->stream = stream;
  return a;
}

Array Array::make(Shape shape, Dtype dtype, std::shared_ptr<Primitive> primitive,
                  std::vector<Array> inputs, Stream stream) {
  Array a;
  a.node_ = std::make_shared<ArrayNode>();
  a.node_->shape = std::move(shape);
  a.node_->dtype = dtype;
  a.node_->stream = stream;
  a.node_->primitive = std::move(primitive);
  a.node_->inputs = std::move(inputs);
  return a;
}

int64_t Array::shape(int axis) const {
  int n = ndim();
  int a = axis < 0 ? axis + n : axis;
  TESSERA_CHECK(a >= 0 && a < n, "shape",
                "axis " + std::to_string(axis) + " out of range for " + to_string(shape()));
  return node_->shape[size_t(a)];
}

bool Array::is_contiguous() const {
  int64_t expected = 1;
  for (int i = ndim() - 1; i >= 0; --i) {
    if (node_->shape[size_t(i)] != 1 && node_->strides[size_t(i)] != expected) return false;
    expected *= node_->shape[size_t(i)];
  }
  return true;
}

const void* Array::host_first_element() const {
  eval(*this);
  return static_cast<const uint8_t*>(node_->buffer->host()) + node_->offset * int64_t(itemsize(dtype()));
}

void Array::set_data(std::shared_ptr<Buffer> buffer) {
  set_view(std::move(buffer), row_major_strides(node_->shape), 0);
}

void Array::set_view(std::shared_ptr<Buffer> buffer, Strides strides, int64_t offset) {
  node_->buffer = std::move(buffer);
  node_->strides = std::move(strides);
  node_->offset = offset;
}

void Array::allocate() {
  set_data(Buffer::allocate_device(device(), nbytes()));
}

void Array::detach() {
  node_->primitive.reset();
  node_->inputs.clear();
}

bool Array::is_donatable() const {
  return node_.use_count() == 1 && node_->buffer && node_->buffer.use_count() == 1 &&
         !node_->buffer->read_only();
}

void eval(const std::vector<Array>& arrays) {
  // Post-order DFS (iterative: graphs of big models are deep) over the pending nodes.
  std::vector<Array> order;
  std::unordered_set<const ArrayNode*> visited;
  std::vector<std::pair<Array, size_t>> stack;
  for (const Array& root : arrays) {
    if (!root.valid() || root.evaluated() || visited.count(root.node())) continue;
    stack.emplace_back(root, 0);
    visited.insert(root.node());
    while (!stack.empty()) {
      auto& [node, next_input] = stack.back();
      if (next_input < node.inputs().size()) {
        const Array& in = node.inputs()[next_input++];
        if (!in.evaluated() && visited.insert(in.node()).second) stack.emplace_back(in, 0);
        continue;
      }
      order.push_back(std::move(node));
      stack.pop_back();
    }
  }
  // Run in order; each node lets go of its inputs once computed, and we let go of each node once
  // run, so an intermediate is freed as soon as its last consumer has run.
  const bool profile = profiler::enabled();
  for (Array& a : order) {
    Primitive& p = *a.primitive();
    auto start = profile ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    if (a.device().type == DeviceType::cpu)
      p.eval_cpu(a.inputs(), a);
    else
      p.eval_cuda(a.inputs(), a);
    if (profile) profiler::record(p.name(), std::chrono::steady_clock::now() - start);
    a.detach();
    a = Array();
  }
}

}  // namespace tessera
