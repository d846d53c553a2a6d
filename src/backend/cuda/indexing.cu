// Gathers (take, take_along_axis) and top-k selection. Indices are validated on the host when
// they live there (the embedding lookup's ids always do); on the device an index out of range
// reads as zero and raises the device error flag, reported at the next synchronisation.
#include "backend/cuda/device_types.cuh"
#include "core/primitives.h"

namespace tessera {

namespace cuda {

namespace {

void check_host_indices(const Array& indices, int64_t axis_size, const char* op) {
  if (!indices.buffer()->on_host()) return;
  dispatch_dtype(indices.dtype(), [&](auto t) {
    using I = decltype(t);
    if constexpr (std::is_integral_v<I> && !std::is_same_v<I, bool>) {
      for (I raw : indices.to_vector<I>()) {
        int64_t v = int64_t(raw) < 0 ? int64_t(raw) + axis_size : int64_t(raw);
        if (v < 0 || v >= axis_size)
          fail(op, "index " + std::to_string(int64_t(raw)) + " out of range for axis of size " +
                       std::to_string(axis_size));
      }
    } else {
      fail(op, "indices must be integers, got " + std::string(name(indices.dtype())));
    }
  });
}

template <typename I>
__device__ __forceinline__ int64_t resolve_index(I raw, int64_t axis_size, int* error) {
  int64_t v = int64_t(raw) < 0 ? int64_t(raw) + axis_size : int64_t(raw);
  if (v < 0 || v >= axis_size) {
    *error = int(DeviceError::index_out_of_range);
    return -1;
  }
  return v;
}

struct TakeLayout {
  StridedLayout<1> outer, inner, indices;
  int64_t index_count, inner_count, axis_size, axis_stride;
};

template <typename T, typename I>
__global__ void take_kernel(const T* a, const I* indices, T* out, int64_t n, TakeLayout l, int* error) {
  for (int64_t e = global_thread(); e < n; e += grid_threads()) {
    int64_t k = e % l.inner_count, j = (e / l.inner_count) % l.index_count, o = e / (l.inner_count * l.index_count);
    int64_t outer_off[1], inner_off[1], index_off[1];
    l.outer.offsets(o, outer_off);
    l.inner.offsets(k, inner_off);
    l.indices.offsets(j, index_off);
    int64_t row = resolve_index(indices[index_off[0]], l.axis_size, error);
    out[e] = row < 0 ? T{} : a[outer_off[0] + row * l.axis_stride + inner_off[0]];
  }
}

// Whole rows (an embedding lookup): y walks the indices, x the 16-byte words of a row, so no
// per-element index arithmetic; rows are read and written as 16-byte vectors.
template <typename I>
__global__ void take_rows_kernel(const uint4* a, const I* indices, int64_t index_stride, uint4* out,
                                 int64_t index_count, int row_words, int64_t axis_size, int64_t axis_stride_words,
                                 int* error) {
  for (int64_t j = blockIdx.y; j < index_count; j += gridDim.y) {
    int64_t row = resolve_index(indices[j * index_stride], axis_size, error);
    uint4* o = out + j * row_words;
    for (int w = threadIdx.x; w < row_words; w += blockDim.x)
      o[w] = row < 0 ? make_uint4(0, 0, 0, 0) : a[row * axis_stride_words + w];
  }
}

template <typename T, typename I>
__global__ void take_along_axis_kernel(const T* a, const I* indices, T* out, int64_t n, StridedLayout<2> layout,
                                       int64_t axis_size, int64_t axis_stride, int* error) {
  for (int64_t e = global_thread(); e < n; e += grid_threads()) {
    int64_t off[2];
    layout.offsets(e, off);
    int64_t i = resolve_index(indices[off[1]], axis_size, error);
    out[e] = i < 0 ? T{} : a[off[0] + i * axis_stride];
  }
}

// Calls f(I{}) for the integer index dtypes.
template <typename F>
void dispatch_index_dtype(Dtype dtype, const char* op, F&& f) {
  switch (dtype) {
    case Dtype::int32: return f(int32_t{});
    case Dtype::int64: return f(int64_t{});
    case Dtype::uint32: return f(uint32_t{});
    case Dtype::int8: return f(int8_t{});
    case Dtype::uint8: return f(uint8_t{});
    default: fail(op, "indices must be integers, got " + std::string(name(dtype)));
  }
}

constexpr int kTopKThreads = 256;

// Orders (value, index) as top-k wants them: larger value first, then lower index.
struct Candidate {
  double value;
  int64_t index;  // -1: none
  __device__ bool before(const Candidate& o) const {
    return o.index < 0 || (index >= 0 && (value > o.value || (value == o.value && index < o.index)));
  }
};

// One block per lane; round j finds the best element ordered after round j-1's pick.
template <typename T>
__global__ void topk_kernel(const T* a, int32_t* out, StridedLayout<2> lanes, int64_t n, int64_t stride,
                            int64_t out_stride, int k) {
  __shared__ Candidate warp_best[kTopKThreads / 32];
  __shared__ Candidate previous;
  int64_t off[2];
  lanes.offsets(blockIdx.x, off);
  if (threadIdx.x == 0) previous = {INFINITY, -1};
  __syncthreads();
  for (int round = 0; round < k; ++round) {
    Candidate prev = previous, best{0, -1};
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      Candidate c{double(load(a[off[0] + i * stride])), i};
      bool after_previous = prev.index < 0 || prev.before(c);
      if (after_previous && c.before(best)) best = c;
    }
    for (int o = 16; o > 0; o >>= 1) {
      Candidate other{__shfl_xor_sync(0xffffffffu, best.value, o), __shfl_xor_sync(0xffffffffu, best.index, o)};
      if (other.before(best)) best = other;
    }
    if (threadIdx.x % 32 == 0) warp_best[threadIdx.x / 32] = best;
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int w = 1; w < kTopKThreads / 32; ++w)
        if (warp_best[w].before(best)) best = warp_best[w];
      previous = best;
      out[off[1] + round * out_stride] = int32_t(best.index);
    }
    __syncthreads();
  }
}

}  // namespace

}  // namespace cuda

void Take::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("take");
  const Array &a = inputs[0], &indices = inputs[1];
  int64_t axis_size = a.shape()[size_t(axis)];
  cuda::check_host_indices(indices, axis_size, "take");
  Shape outer(a.shape().begin(), a.shape().begin() + axis), inner(a.shape().begin() + axis + 1, a.shape().end());
  Strides outer_st(a.strides().begin(), a.strides().begin() + axis), inner_st(a.strides().begin() + axis + 1, a.strides().end());
  cuda::TakeLayout l{cuda::make_layout<1>(outer, {&outer_st}), cuda::make_layout<1>(inner, {&inner_st}),
                     cuda::make_layout<1>(indices.shape(), {&indices.strides()}), indices.size(), numel(inner),
                     axis_size, a.strides()[size_t(axis)]};
  // Rows of a along axis 0, each contiguous and 16-byte aligned: the row-copy kernel.
  size_t item = itemsize(a.dtype());
  int64_t row_bytes = numel(inner) * int64_t(item);
  const uint8_t* a_bytes = static_cast<const uint8_t*>(a.buffer()->device(Device::cuda(0))) + a.offset() * int64_t(item);
  bool whole_rows = axis == 0 && row_bytes % 16 == 0 && row_bytes > 0 && (l.inner.ndim == 0 ||
                    (l.inner.ndim == 1 && l.inner.strides[0][0] == 1)) && l.indices.ndim <= 1 &&
                    (a.strides()[0] * int64_t(item)) % 16 == 0 && reinterpret_cast<uintptr_t>(a_bytes) % 16 == 0;
  if (whole_rows) {
    auto* o = static_cast<uint4*>(static_cast<void*>(cuda::allocate_output<uint8_t>(out)));
    if (out.size() == 0) return;
    cuda::dispatch_index_dtype(indices.dtype(), "take", [&](auto index_type) {
      using I = decltype(index_type);
      int row_words = int(row_bytes / 16);
      dim3 grid(1, unsigned(std::min<int64_t>(indices.size(), 65535)));
      cuda::take_rows_kernel<I><<<grid, 128, 0, cuda::stream()>>>(
          reinterpret_cast<const uint4*>(a_bytes), cuda::device_data<I>(indices),
          l.indices.ndim == 0 ? 0 : l.indices.strides[0][0], o, indices.size(), row_words, axis_size,
          a.strides()[0] * int64_t(item) / 16, cuda::error_flag());
      cuda::check_launch("take");
    });
    return;
  }
  cuda::dispatch_word(itemsize(a.dtype()), [&](auto t) {
    using T = decltype(t);
    T* o = cuda::allocate_output<T>(out);
    if (out.size() == 0) return;
    cuda::dispatch_index_dtype(indices.dtype(), "take", [&](auto index_type) {
      using I = decltype(index_type);
      cuda::LaunchShape s = cuda::launch_shape(out.size());
      cuda::take_kernel<T, I><<<s.blocks, s.threads, 0, cuda::stream()>>>(
          cuda::device_data<T>(a), cuda::device_data<I>(indices), o, out.size(), l, cuda::error_flag());
      cuda::check_launch("take");
    });
  });
}

void TakeAlongAxis::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("take_along_axis");
  const Array &a = inputs[0], &indices = inputs[1];
  int64_t axis_size = a.shape()[size_t(axis)];
  cuda::check_host_indices(indices, axis_size, "take_along_axis");
  Strides a_strides = a.strides();
  a_strides[size_t(axis)] = 0;  // the gathered index supplies this coordinate
  auto layout = cuda::make_layout<2>(out.shape(), {&a_strides, &indices.strides()});
  cuda::dispatch_word(itemsize(a.dtype()), [&](auto t) {
    using T = decltype(t);
    T* o = cuda::allocate_output<T>(out);
    if (out.size() == 0) return;
    cuda::dispatch_index_dtype(indices.dtype(), "take_along_axis", [&](auto index_type) {
      using I = decltype(index_type);
      cuda::LaunchShape s = cuda::launch_shape(out.size());
      cuda::take_along_axis_kernel<T, I><<<s.blocks, s.threads, 0, cuda::stream()>>>(
          cuda::device_data<T>(a), cuda::device_data<I>(indices), o, out.size(), layout, axis_size,
          a.strides()[size_t(axis)], cuda::error_flag());
      cuda::check_launch("take_along_axis");
    });
  });
}

void ArgTopK::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("topk");
  const Array& a = inputs[0];
  int32_t* o = cuda::allocate_output<int32_t>(out);
  Shape lanes = a.shape();
  lanes[size_t(axis)] = 1;
  Strides out_strides = row_major_strides(out.shape());
  auto layout = cuda::make_layout<2>(lanes, {&a.strides(), &out_strides});
  int64_t lane_count = numel(lanes);
  if (lane_count == 0 || k == 0) return;
  cuda::dispatch_device_dtype(a.dtype(), [&](auto t) {
    using T = decltype(t);
    cuda::topk_kernel<T><<<unsigned(lane_count), cuda::kTopKThreads, 0, cuda::stream()>>>(
        cuda::device_data<T>(a), o, layout, a.shape()[size_t(axis)], a.strides()[size_t(axis)],
        out_strides[size_t(axis)], k);
    cuda::check_launch("topk");
  });
}

}  // namespace tessera
