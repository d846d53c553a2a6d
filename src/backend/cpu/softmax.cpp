// Softmax and log-softmax over the last axis, accumulated in float32 whatever the storage type.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/cpu/strided.h"
#include "backend/cpu/unary_kernels.h"
#include "core/primitives.h"

namespace tessera {

namespace cpu {

// In-place softmax of one float32 row; a row with no finite entry becomes all zeros (a fully
// masked attention row), never NaN.
void softmax_row(float* row, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) m = std::max(m, row[i]);
  if (m == -std::numeric_limits<float>::infinity()) {
    std::fill(row, row + n, 0.0f);
    return;
  }
  float inv = 1.0f / exp_shifted_sum(row, n, m);
  for (int64_t i = 0; i < n; ++i) row[i] *= inv;
}

}  // namespace cpu

void Softmax::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  const Array& in = inputs[0];
  out.allocate();
  int64_t n = in.shape(-1);
  if (out.size() == 0) return;
  int64_t rows = in.size() / n;
  cpu::Float32View x = cpu::as_float32(in);
  bool log_softmax = log;
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<cpu::compute_t<T>, float>) {
      T* o = static_cast<T*>(out.buffer()->mutable_host());
#pragma omp parallel if (rows * n >= cpu::kParallelThreshold)
      {
        std::vector<float> row(static_cast<size_t>(n));
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; ++r) {
          const float* src = x.data + r * n;
          if (log_softmax) {
            float m = *std::max_element(src, src + n);
            double sum = 0;
            for (int64_t i = 0; i < n; ++i) sum += std::exp(double(src[i] - m));
            float lse = m + float(std::log(sum));
            for (int64_t i = 0; i < n; ++i) o[r * n + i] = cpu::store<T>(src[i] - lse);
          } else {
            std::copy(src, src + n, row.begin());
            cpu::softmax_row(row.data(), n);
            for (int64_t i = 0; i < n; ++i) o[r * n + i] = cpu::store<T>(row[size_t(i)]);
          }
        }
      }
    }
  });
}

}  // namespace tessera
