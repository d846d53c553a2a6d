#pragma once
// Template bodies of array.h.
#include <cstring>

namespace tessera {

template <typename T>
Array::Array(const std::vector<T>& values, Shape shape) {
  TESSERA_CHECK(int64_t(values.size()) == numel(shape), "array",
                std::to_string(values.size()) + " values do not fill shape " + to_string(shape));
  auto buffer = Buffer::allocate_host(values.size() * sizeof(T));
  if constexpr (std::is_same_v<T, bool>) {
    auto* dst = static_cast<bool*>(buffer->mutable_host());
    for (size_t i = 0; i < values.size(); ++i) dst[i] = values[i];
  } else {
    std::memcpy(buffer->mutable_host(), values.data(), values.size() * sizeof(T));
  }
  *this = from_buffer(std::move(buffer), std::move(shape), dtype_of<T>());
}

template <typename T>
const T* Array::data() const {
  TESSERA_CHECK(dtype_of<T>() == dtype(), "data", "array is " + std::string(name(dtype())));
  return static_cast<const T*>(host_first_element());
}

template <typename T>
T* Array::mutable_data() {
  TESSERA_CHECK(dtype_of<T>() == dtype(), "data", "array is " + std::string(name(dtype())));
  eval(*this);
  return static_cast<T*>(node_->buffer->mutable_host()) + node_->offset;
}

template <typename T>
std::vector<T> Array::to_vector() const {
  const T* base = data<T>();
  std::vector<T> out(static_cast<size_t>(size()));
  const Shape& sh = shape();
  const Strides& st = strides();
  std::vector<int64_t> idx(sh.size(), 0);
  for (int64_t i = 0; i < size(); ++i) {
    int64_t off = 0;
    for (size_t d = 0; d < sh.size(); ++d) off += idx[d] * st[d];
    out[size_t(i)] = base[off];
    for (int d = int(sh.size()) - 1; d >= 0; --d) {
      if (++idx[size_t(d)] < sh[size_t(d)]) break;
      idx[size_t(d)] = 0;
    }
  }
  return out;
}

template <typename T>
T Array::item() const {
  TESSERA_CHECK(size() == 1, "item", "array has " + std::to_string(size()) + " elements");
  return *data<T>();
}

}  // namespace tessera
