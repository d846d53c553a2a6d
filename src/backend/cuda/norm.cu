// LayerNorm and RMSNorm over the last axis: one warp per row, statistics in float32 with a
// two-pass variance (E[x^2]-E[x]^2 loses digits on activations with a large mean).
#include "backend/cuda/rows.cuh"
#include "core/primitives.h"

namespace tessera {

namespace cuda {

namespace {

// An optional per-feature vector (weight or bias) read through its stride.
template <typename T>
struct FeatureVector {
  const T* data = nullptr;
  int64_t stride = 0;
  __device__ __forceinline__ float apply_scale(float v, int64_t i) const { return data ? v * load(data[i * stride]) : v; }
  __device__ __forceinline__ float apply_shift(float v, int64_t i) const { return data ? v + load(data[i * stride]) : v; }
};

template <typename T>
FeatureVector<T> feature_vector(const std::vector<Array>& inputs, bool present, size_t index) {
  if (!present) return {};
  return {device_data<T>(inputs[index]), inputs[index].strides()[0]};
}

template <typename T>
__global__ void layer_norm_kernel(const T* x, T* out, RowLayout layout, FeatureVector<T> weight,
                                  FeatureVector<T> bias, float eps, bool rms) {
  int64_t row = int64_t(blockIdx.x) * kRowWarpsPerBlock + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (row >= layout.row_count) return;
  const T* in = x + row_offset(layout, row);
  T* o = out + row * layout.row_length;
  int64_t n = layout.row_length, stride = layout.inner_stride;
  float mean = 0.0f;
  if (!rms) {
    for (int64_t i = lane; i < n; i += 32) mean += load(in[i * stride]);
    mean = warp_sum(mean) / float(n);
  }
  float squares = 0.0f;
  for (int64_t i = lane; i < n; i += 32) {
    float d = load(in[i * stride]) - mean;
    squares += d * d;
  }
  float inv = rsqrtf(warp_sum(squares) / float(n) + eps);
  for (int64_t i = lane; i < n; i += 32) {
    float v = (load(in[i * stride]) - mean) * inv;
    o[i] = store<T>(bias.apply_shift(weight.apply_scale(v, i), i));
  }
}

}  // namespace

}  // namespace cuda

namespace {

void run_norm(const std::vector<Array>& inputs, Array& out, float eps, bool has_weight, bool has_bias, bool rms) {
  const Array& in = inputs[0];
  cuda::dispatch_float_dtype(out.dtype(), rms ? "rms_norm" : "layer_norm", [&](auto t) {
    using T = decltype(t);
    T* o = cuda::allocate_output<T>(out);
    if (out.size() == 0) return;
    cuda::RowLayout layout = cuda::row_layout(in);
    auto weight = cuda::feature_vector<T>(inputs, has_weight, 1);
    auto bias = cuda::feature_vector<T>(inputs, has_bias, has_weight ? 2 : 1);
    cuda::layer_norm_kernel<T><<<cuda::row_blocks(layout.row_count), cuda::kRowWarpsPerBlock * 32, 0,
                                 cuda::stream()>>>(cuda::device_data<T>(in), o, layout, weight, bias, eps, rms);
    cuda::check_launch(rms ? "rms_norm" : "layer_norm");
  });
}

}  // namespace

void LayerNorm::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("layer_norm");
  run_norm(inputs, out, eps, has_weight, has_bias, false);
}

void RMSNorm::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("rms_norm");
  run_norm(inputs, out, eps, has_weight, false, true);
}

}  // namespace tessera
