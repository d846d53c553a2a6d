#include <random>

#include "ops/op_utils.h"

namespace tessera {

using detail::build;

Array full(const Shape& shape, double value, Dtype dtype) {
  for (int64_t d : shape) TESSERA_CHECK(d >= 0, "full", "negative dimension in " + to_string(shape));
  return build<Full>(shape, dtype, {}, value);
}
Array zeros(const Shape& shape, Dtype dtype) { return full(shape, 0.0, dtype); }
Array ones(const Shape& shape, Dtype dtype) { return full(shape, 1.0, dtype); }

Array arange(int64_t start, int64_t stop, Dtype dtype) {
  TESSERA_CHECK(stop >= start, "arange", "stop < start");
  return build<Arange>({stop - start}, dtype, {}, start);
}

namespace random {
namespace {
// Values are drawn on the host with a seeded engine so every device sees the same numbers.
template <typename Draw>
Array generate(const Shape& shape, Dtype dtype, uint64_t seed, Draw draw) {
  std::mt19937_64 engine(seed);
  Array host = dispatch_dtype(dtype, [&](auto t) {
    using T = decltype(t);
    std::vector<T> values(size_t(numel(shape)));
    for (size_t i = 0; i < values.size(); ++i) values[i] = from_double<T>(draw(engine));
    return Array(values, shape);
  });
  return default_device().type == DeviceType::cpu ? host : to_device(host, default_device());
}
}  // namespace

Array normal(const Shape& shape, Dtype dtype, uint64_t seed, double mean, double stddev) {
  std::normal_distribution<double> dist(mean, stddev);
  return generate(shape, dtype, seed, [&](auto& e) { return dist(e); });
}
Array uniform(const Shape& shape, Dtype dtype, uint64_t seed, double low, double high) {
  std::uniform_real_distribution<double> dist(low, high);
  return generate(shape, dtype, seed, [&](auto& e) { return dist(e); });
}
Array randint(const Shape& shape, int64_t low, int64_t high, Dtype dtype, uint64_t seed) {
  TESSERA_CHECK(high > low, "randint", "empty range");
  std::uniform_int_distribution<int64_t> dist(low, high - 1);
  return generate(shape, dtype, seed, [&](auto& e) { return double(dist(e)); });
}
}  // namespace random

Array astype(const Array& a, Dtype dtype) {
  if (a.dtype() == dtype) return a;
  return build<AsType>(a.shape(), dtype, {a});
}

Array contiguous(const Array& a) {
  if (a.evaluated() && a.is_contiguous()) return a;
  return build<AsType>(a.shape(), a.dtype(), {a});
}

Array to_device(const Array& a, Device device) {
  if (a.evaluated() && a.device() == device) return a;
  Stream stream = device == default_device() ? default_stream() : Stream{device, 0};
  return Array::make(a.shape(), a.dtype(), std::make_shared<ToDevice>(), {a}, stream);
}

}  // namespace tessera
