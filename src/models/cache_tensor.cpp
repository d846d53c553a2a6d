#include "models/cache_tensor.h"

#include "tessera/error.h"
#include "tessera/ops.h"

namespace tessera {

namespace {

// A buffer of `capacity` slots along axis 2 that keeps the old buffer's slots. Evaluated now:
// growth is rare, and a buffer that exists before a decode step is captured (DecodeGraph) stays
// out of the graph instead of being rebuilt by every replay.
Array regrown(const Array& old, Shape shape, int64_t capacity, Dtype dtype) {
  shape[2] = capacity;
  Array fresh = zeros(shape, dtype);
  Array grown = old.valid() ? slice_update(fresh, old, {0, 0, 0, 0}) : fresh;
  eval(grown);
  return grown;
}

}  // namespace

void CacheTensor::grow(const Array& like, int64_t capacity) {
  if (!quantized()) {
    data_ = regrown(data_, like.shape(), capacity, like.dtype());
  } else {
    int64_t d = like.shape(3);
    TESSERA_CHECK(d % quant_.group_size == 0, "kv cache",
                  "the " + std::to_string(quant_.bits) + "-bit cache quantizes each head's " + std::to_string(d) +
                      " values in groups of " + std::to_string(quant_.group_size) + ", which must divide it");
    Shape packed = like.shape(), groups = like.shape();
    packed[3] = d * quant_.bits / 32;
    groups[3] = d / quant_.group_size;
    data_ = regrown(data_, packed, capacity, Dtype::uint32);
    scales_ = regrown(scales_, groups, capacity, like.dtype());
    biases_ = regrown(biases_, groups, capacity, like.dtype());
  }
  capacity_ = capacity;
}

void CacheTensor::grow(int64_t capacity) {
  TESSERA_CHECK(allocated(), "kv cache", "grow before the first write");
  if (!quantized()) {
    data_ = regrown(data_, data_.shape(), capacity, data_.dtype());
  } else {
    data_ = regrown(data_, data_.shape(), capacity, Dtype::uint32);
    scales_ = regrown(scales_, scales_.shape(), capacity, scales_.dtype());
    biases_ = regrown(biases_, biases_.shape(), capacity, biases_.dtype());
  }
  capacity_ = capacity;
}

namespace {

// Writes x (quantized first when the cache is) at `slot` through `put(buffer, values)`.
template <typename Put>
void write_slots(const Array& x, const KVQuantization& quant, Array& data, Array& scales, Array& biases, Put put) {
  if (quant.bits == 0) {
    data = put(data, x);
    return;
  }
  QuantizedArrays q = quantize(x, quant.group_size, quant.bits);
  data = put(data, q.weight);
  scales = put(scales, q.scales);
  biases = put(biases, q.biases);
}

}  // namespace

void CacheTensor::write(const Array& x, int64_t slot) {
  std::vector<int64_t> at{0, 0, slot, 0};
  write_slots(x, quant_, data_, scales_, biases_, [&](const Array& dst, const Array& v) { return slice_update(dst, v, at); });
}

void CacheTensor::write(const Array& x, const Array& slot) {
  write_slots(x, quant_, data_, scales_, biases_, [&](const Array& dst, const Array& v) { return slice_update(dst, v, slot, 2); });
}

Array CacheTensor::read(int64_t begin, int64_t end) const {
  auto slots = [&](const Array& a) { return slice_axis(a, 2, begin, end); };
  if (!quantized()) return slots(data_);
  return dequantize(slots(data_), slots(scales_), slots(biases_), quant_.group_size, quant_.bits);
}

Array CacheTensor::gather(const Array& slots) const {
  auto pick = [&](const Array& a) { return take(a, slots, 2); };
  if (!quantized()) return pick(data_);
  return dequantize(pick(data_), pick(scales_), pick(biases_), quant_.group_size, quant_.bits);
}

size_t CacheTensor::nbytes() const {
  size_t n = data_.valid() ? data_.nbytes() : 0;
  if (scales_.valid()) n += scales_.nbytes() + biases_.nbytes();
  return n;
}

}  // namespace tessera
