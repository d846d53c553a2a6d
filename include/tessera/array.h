#pragma once
// Array: a cheap shared handle to an n-d tensor that is either materialised (a buffer plus
// shape/strides/offset, possibly a view into another array's buffer) or pending (a primitive and
// its inputs). Ops only build the graph; eval() runs it and drops every intermediate as soon as
// nothing refers to it.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/buffer.h"
#include "tessera/device.h"
#include "tessera/dtype.h"
#include "tessera/error.h"

namespace tessera {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;  // in elements

int64_t numel(const Shape& shape);
Strides row_major_strides(const Shape& shape);
// The strides that show `shape`/`strides` as `target` without moving data, if any (splitting or
// merging dims whose elements are evenly spaced); std::nullopt when only a copy can.
std::optional<Strides> reshaped_strides(const Shape& shape, const Strides& strides, const Shape& target);
std::string to_string(const Shape& shape);  // "(2,3)"

class Array;
class Primitive;

struct ArrayNode {
  Shape shape;
  Strides strides;
  int64_t offset = 0;  // in elements, into buffer
  Dtype dtype = Dtype::float32;
  Stream stream;  // where the primitive runs / the buffer lives
  std::shared_ptr<Buffer> buffer;  // set once evaluated
  std::shared_ptr<Primitive> primitive;
  std::vector<Array> inputs;
};

class Array {
 public:
  Array() = default;
  // A host array holding a copy of `values`.
  template <typename T>
  Array(const std::vector<T>& values, Shape shape);
  template <typename T>
  Array(std::initializer_list<T> values, Shape shape) : Array(std::vector<T>(values), shape) {}
  // A scalar (shape ()) of the given dtype.
  static Array scalar(double value, Dtype dtype);
  // A materialised array over existing storage (e.g. a mapped checkpoint region).
  static Array from_buffer(std::shared_ptr<Buffer> buffer, Shape shape, Dtype dtype,
                           Strides strides = {}, int64_t offset = 0);
  // The same, placed on `stream` (a backend's view of device storage it is filling).
  static Array from_buffer(std::shared_ptr<Buffer> buffer, Stream stream, Shape shape, Dtype dtype,
                           Strides strides = {}, int64_t offset = 0);
  // A pending array computed by `primitive` from `inputs` on `stream`.
  static Array make(Shape shape, Dtype dtype, std::shared_ptr<Primitive> primitive,
                    std::vector<Array> inputs, Stream stream);

  bool valid() const { return node_ != nullptr; }
  const Shape& shape() const { return node_->shape; }
  int64_t shape(int axis) const;  // negative axes count from the end
  int ndim() const { return int(node_->shape.size()); }
  int64_t size() const { return numel(node_->shape); }
  Dtype dtype() const { return node_->dtype; }
  Device device() const { return node_->stream.device; }
  Stream stream() const { return node_->stream; }
  size_t nbytes() const { return size_t(size()) * itemsize(dtype()); }

  bool evaluated() const { return node_->buffer != nullptr; }
  const Strides& strides() const { return node_->strides; }
  int64_t offset() const { return node_->offset; }
  bool is_contiguous() const;  // row-major, no gaps
  const std::shared_ptr<Buffer>& buffer() const { return node_->buffer; }
  const std::shared_ptr<Primitive>& primitive() const { return node_->primitive; }
  const std::vector<Array>& inputs() const { return node_->inputs; }

  // Evaluates if needed; host pointer to the first element (respect strides()).
  template <typename T>
  const T* data() const;
  template <typename T>
  T* mutable_data();
  // Evaluates, copies to a contiguous host vector.
  template <typename T>
  std::vector<T> to_vector() const;
  template <typename T>
  T item() const;

  // Used by primitives while evaluating this array.
  void set_data(std::shared_ptr<Buffer> buffer);  // contiguous, offset 0
  void set_view(std::shared_ptr<Buffer> buffer, Strides strides, int64_t offset);
  void allocate();  // fresh contiguous buffer on this array's device
  void detach();    // drop primitive and inputs once evaluated
  // Nothing else refers to this array or its buffer, so a primitive consuming it may reuse its
  // buffer for its output (buffer donation, as MLX).
  bool is_donatable() const;

  bool same_node(const Array& other) const { return node_ == other.node_; }
  const ArrayNode* node() const { return node_.get(); }

 private:
  std::shared_ptr<ArrayNode> node_;
  const void* host_first_element() const;
};

// Materialises the arrays (and what they depend on).
void eval(const std::vector<Array>& arrays);
inline void eval(const Array& a) { eval(std::vector<Array>{a}); }

}  // namespace tessera

#include "tessera/array_impl.h"
