// Rotary position embedding on [..., S, D]: position of row s is offset + s.
#include <cmath>

#include "backend/cpu/strided.h"
#include "core/primitives.h"

namespace tessera {

void Rope::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  const Array& in = inputs[0];
  out.allocate();
  int64_t d = in.shape(-1), s = in.shape(-2);
  int64_t rows = d ? in.size() / d : 0;
  int half = dims / 2;
  std::vector<float> inv_freq(static_cast<size_t>(half));
  if (has_freqs) {
    std::vector<float> f = inputs[1].to_vector<float>();
    std::copy(f.begin(), f.end(), inv_freq.begin());
  } else {
    for (int i = 0; i < half; ++i)
      inv_freq[size_t(i)] = float(std::pow(double(base), -2.0 * i / double(dims)));
  }
  int64_t first = offset;
  if (has_position) first = inputs[has_freqs ? 2 : 1].to_vector<int32_t>()[0];
  cpu::Float32View x = cpu::as_float32(in);
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<cpu::compute_t<T>, float>) {
      T* o = static_cast<T*>(out.buffer()->mutable_host());
#pragma omp parallel for schedule(static) if (rows * d >= cpu::kParallelThreshold)
      for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x.data + r * d;
        T* yr = o + r * d;
        float pos = float(first + r % s) * scale;
        for (int i = 0; i < half; ++i) {
          float theta = pos * inv_freq[size_t(i)];
          float c = std::cos(theta), sn = std::sin(theta);
          int64_t i1 = traditional ? 2 * i : i;
          int64_t i2 = traditional ? 2 * i + 1 : i + half;
          yr[i1] = cpu::store<T>(xr[i1] * c - xr[i2] * sn);
          yr[i2] = cpu::store<T>(xr[i1] * sn + xr[i2] * c);
        }
        for (int64_t i = dims; i < d; ++i) yr[i] = cpu::store<T>(xr[i]);
      }
    }
  });
}

}  // namespace tessera
