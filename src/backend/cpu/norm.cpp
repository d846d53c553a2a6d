// LayerNorm and RMSNorm over the last axis, statistics in float32 (two-pass variance: a
// one-pass E[x^2]-E[x]^2 loses digits on activations with a large mean). The row loops are the
// vectorised kernels of norm_kernels.h.
#include <cmath>

#include "backend/cpu/norm_kernels.h"
#include "backend/cpu/strided.h"
#include "core/primitives.h"

namespace tessera {

namespace {

// Runs row_fn(x_row, out_row, n) over rows of the last axis with float32 inputs; with a
// residual, x_row is x + residual summed in float32 into a per-thread row.
template <typename T, typename RowFn>
void for_each_norm_row(const Array& in, const Array* residual, Array& out, RowFn row_fn) {
  int64_t n = in.shape(-1);
  int64_t rows = n ? in.size() / n : 0;
  cpu::Float32View x = cpu::as_float32(in);
  cpu::Float32View r = residual ? cpu::as_float32(*residual) : cpu::Float32View{nullptr, nullptr};
  T* o = static_cast<T*>(out.buffer()->mutable_host());
#pragma omp parallel if (rows * n >= cpu::kParallelThreshold)
  {
    std::vector<float> sum(r.data ? size_t(n) : 0);
#pragma omp for schedule(static)
    for (int64_t row = 0; row < rows; ++row) {
      const float* xr = x.data + row * n;
      if (r.data) {
        const float* rr = r.data + row * n;
        for (int64_t i = 0; i < n; ++i) sum[size_t(i)] = xr[i] + rr[i];
        xr = sum.data();
      }
      row_fn(xr, o + row * n, n);
    }
  }
}

template <typename T>
std::vector<float> as_float_vector(const Array& a) {
  std::vector<float> v(size_t(a.size()));
  const T* p = cpu::host_data<T>(a);
  for (int64_t i = 0; i < a.size(); ++i) v[size_t(i)] = cpu::load(p[i * a.strides()[0]]);
  return v;
}

}  // namespace

void LayerNorm::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  out.allocate();
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<cpu::compute_t<T>, float>) {
      std::vector<float> w, b;
      if (has_weight) w = as_float_vector<T>(inputs[weight_index()]);
      if (has_bias) b = as_float_vector<T>(inputs[bias_index()]);
      float epsilon = eps;
      const float* wp = w.empty() ? nullptr : w.data();
      const float* bp = b.empty() ? nullptr : b.data();
      for_each_norm_row<T>(inputs[0], has_residual ? &inputs[1] : nullptr, out,
                           [&](const float* x, T* y, int64_t n) {
                             float mean = cpu::row_sum(x, n) / float(n);
                             float var = cpu::row_squared_deviation(x, n, mean) / float(n);
                             cpu::normalize_row(x, n, mean, 1.0f / std::sqrt(var + epsilon), wp, bp, y);
                           });
    }
  });
}

// Ids as int64, read from a contiguous int32 or int64 array and checked against the vocabulary.
static std::vector<int64_t> checked_ids(const Array& ids, int64_t vocab) {
  std::vector<int64_t> out(size_t(ids.size()));
  for (int64_t i = 0; i < ids.size(); ++i) {
    int64_t id = ids.dtype() == Dtype::int64 ? cpu::host_data<int64_t>(ids)[i] : cpu::host_data<int32_t>(ids)[i];
    TESSERA_CHECK(id >= 0 && id < vocab, "embedding_layer_norm",
                  "id " + std::to_string(id) + " out of range for a table of " + std::to_string(vocab) + " rows");
    out[size_t(i)] = id;
  }
  return out;
}

void EmbeddingLayerNorm::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  out.allocate();
  const int64_t width = inputs[0].shape(1), tokens = width ? out.size() / width : 0;
  std::vector<std::vector<int64_t>> ids;
  for (int i = 0; i < tables; ++i) ids.push_back(checked_ids(inputs[size_t(tables + i)], inputs[size_t(i)].shape(0)));
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<cpu::compute_t<T>, float>) {
      size_t next = size_t(2 * tables);
      std::vector<float> w, b;
      if (has_weight) w = as_float_vector<T>(inputs[next++]);
      if (has_bias) b = as_float_vector<T>(inputs[next]);
      const float* wp = w.empty() ? nullptr : w.data();
      const float* bp = b.empty() ? nullptr : b.data();
      T* o = static_cast<T*>(out.buffer()->mutable_host());
#pragma omp parallel if (tokens * width >= cpu::kParallelThreshold)
      {
        std::vector<float> row(static_cast<size_t>(width));
#pragma omp for schedule(static)
        for (int64_t token = 0; token < tokens; ++token) {
          std::fill(row.begin(), row.end(), 0.0f);
          for (int i = 0; i < tables; ++i) {
            const T* src = cpu::host_data<T>(inputs[size_t(i)]) + ids[size_t(i)][size_t(token)] * width;
            for (int64_t j = 0; j < width; ++j) row[size_t(j)] += cpu::load(src[j]);
          }
          float mean = cpu::row_sum(row.data(), width) / float(width);
          float var = cpu::row_squared_deviation(row.data(), width, mean) / float(width);
          cpu::normalize_row(row.data(), width, mean, 1.0f / std::sqrt(var + eps), wp, bp, o + token * width);
        }
      }
    }
  });
}

void RMSNorm::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  out.allocate();
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<cpu::compute_t<T>, float>) {
      std::vector<float> w;
      if (has_weight) w = as_float_vector<T>(inputs[1]);
      float epsilon = eps;
      const float* wp = w.empty() ? nullptr : w.data();
      for_each_norm_row<T>(inputs[0], nullptr, out, [&](const float* x, T* y, int64_t n) {
        float mean_square = cpu::row_squared_deviation(x, n, 0.0f) / float(n);
        cpu::normalize_row(x, n, 0.0f, 1.0f / std::sqrt(mean_square + epsilon), wp, nullptr, y);
      });
    }
  });
}

}  // namespace tessera
