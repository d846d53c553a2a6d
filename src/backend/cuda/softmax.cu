// Softmax and log-softmax over the last axis: one warp per row, float32 accumulation whatever
// the storage type. A row with no finite entry (fully masked) becomes zeros, never NaN.
#include "backend/cuda/rows.cuh"
#include "core/primitives.h"

namespace tessera {

namespace cuda {

namespace {

template <typename T>
__global__ void softmax_kernel(const T* x, T* out, RowLayout layout, bool log_softmax) {
  int64_t row = int64_t(blockIdx.x) * kRowWarpsPerBlock + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (row >= layout.row_count) return;
  const T* in = x + row_offset(layout, row);
  T* o = out + row * layout.row_length;
  int64_t n = layout.row_length, stride = layout.inner_stride;
  float m = -INFINITY;
  for (int64_t i = lane; i < n; i += 32) m = fmaxf(m, load(in[i * stride]));
  m = warp_max(m);
  if (m == -INFINITY && !log_softmax) {
    for (int64_t i = lane; i < n; i += 32) o[i] = store<T>(0.0f);
    return;
  }
  float sum = 0.0f;
  for (int64_t i = lane; i < n; i += 32) sum += expf(load(in[i * stride]) - m);
  sum = warp_sum(sum);
  if (log_softmax) {
    float lse = m + logf(sum);
    for (int64_t i = lane; i < n; i += 32) o[i] = store<T>(load(in[i * stride]) - lse);
  } else {
    float inv = 1.0f / sum;
    for (int64_t i = lane; i < n; i += 32) o[i] = store<T>(expf(load(in[i * stride]) - m) * inv);
  }
}

}  // namespace

}  // namespace cuda

void Softmax::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope(log ? "log_softmax" : "softmax");
  const Array& in = inputs[0];
  cuda::dispatch_float_dtype(out.dtype(), "softmax", [&](auto t) {
    using T = decltype(t);
    T* o = cuda::allocate_output<T>(out);
    if (out.size() == 0) return;
    cuda::RowLayout layout = cuda::row_layout(in);
    cuda::softmax_kernel<T><<<cuda::row_blocks(layout.row_count), cuda::kRowWarpsPerBlock * 32, 0, cuda::stream()>>>(
        cuda::device_data<T>(in), o, layout, log);
    cuda::check_launch("softmax");
  });
}

}  // namespace tessera
