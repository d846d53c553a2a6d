// Rotary position embedding on [..., S, D]: row r is at position offset + r % S. One thread per
// output feature; rotated pairs read both partners, the features past `dims` are copied.
#include "backend/cuda/rows.cuh"
#include "core/primitives.h"

namespace tessera {

namespace cuda {

namespace {

struct RopeParams {
  int dims;
  bool traditional;
  float base, scale;
  int64_t offset, seq;
  const float* freqs;  // optional inverse frequencies [dims/2]
  int64_t freqs_stride;
  const int32_t* position;  // optional: the first row's position, read here instead of offset
};

template <typename T>
__global__ void rope_kernel(const T* x, T* out, RowLayout layout, RopeParams p) {
  int64_t n = layout.row_count * layout.row_length, d = layout.row_length;
  int half = p.dims / 2;
  int64_t first_position = p.position ? int64_t(*p.position) : p.offset;
  for (int64_t e = global_thread(); e < n; e += grid_threads()) {
    int64_t row = e / d, i = e % d;
    const T* in = x + row_offset(layout, row);
    if (i >= p.dims) {
      out[e] = in[i * layout.inner_stride];
      continue;
    }
    // Feature i is member `pair` of a rotated pair (first, second).
    int pair = p.traditional ? int(i / 2) : int(i % half);
    int64_t first = p.traditional ? 2 * pair : pair, second = p.traditional ? 2 * pair + 1 : pair + half;
    float inv_freq = p.freqs ? p.freqs[pair * p.freqs_stride] : float(pow(double(p.base), -2.0 * pair / double(p.dims)));
    float theta = float(first_position + row % p.seq) * p.scale * inv_freq;
    float c = cosf(theta), s = sinf(theta);
    float a = load(in[first * layout.inner_stride]), b = load(in[second * layout.inner_stride]);
    out[e] = store<T>(i == first ? a * c - b * s : a * s + b * c);
  }
}

}  // namespace

}  // namespace cuda

void Rope::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("rope");
  const Array& in = inputs[0];
  cuda::dispatch_float_dtype(out.dtype(), "rope", [&](auto t) {
    using T = decltype(t);
    T* o = cuda::allocate_output<T>(out);
    if (out.size() == 0) return;
    cuda::RopeParams p{dims, traditional, base, scale, offset, in.shape(-2), nullptr, 0, nullptr};
    if (has_freqs) {
      p.freqs = cuda::device_data<float>(inputs[1]);
      p.freqs_stride = inputs[1].strides()[0];
    }
    if (has_position) p.position = cuda::device_data<int32_t>(inputs[has_freqs ? 2 : 1]);
    cuda::LaunchShape s = cuda::launch_shape(out.size());
    cuda::rope_kernel<T><<<s.blocks, s.threads, 0, cuda::stream()>>>(cuda::device_data<T>(in), o, cuda::row_layout(in), p);
    cuda::check_launch("rope");
  });
}

}  // namespace tessera
