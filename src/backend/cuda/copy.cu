// Creation, conversion and data movement on the GPU.
#include "backend/cuda/copy.h"
#include "backend/cuda/device_types.cuh"
#include "core/primitives.h"

namespace tessera {

namespace cuda {

namespace {

template <typename In, typename Out>
__global__ void convert_kernel(const In* src, Out* dst, int64_t n, StridedLayout<2> layout, DestinationShift shift) {
  if (shift.index) dst += int64_t(min(max(*shift.index, 0), shift.max)) * shift.stride;
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t off[2];
    layout.offsets(i, off);
    if constexpr (std::is_same_v<In, Out>)
      dst[off[1]] = src[off[0]];
    else if constexpr (std::is_same_v<Out, bool>)
      dst[off[1]] = load(src[off[0]]) != 0;
    else
      dst[off[1]] = store<Out>(load(src[off[0]]));
  }
}


template <typename T>
__global__ void fill_kernel(T* out, int64_t n, T value) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) out[i] = value;
}

template <typename T>
__global__ void arange_kernel(T* out, int64_t n, int64_t start) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) out[i] = store<T>(double(start + i));
}

}  // namespace

void copy_strided(const Array& src, void* dst, Dtype dst_dtype, const Strides& dst_strides, DestinationShift shift) {
  int64_t n = src.size();
  if (n == 0) return;
  Strides out_strides = dst_strides.empty() ? row_major_strides(src.shape()) : dst_strides;
  StridedLayout<2> layout = make_layout<2>(src.shape(), {&src.strides(), &out_strides});
  if (src.dtype() == dst_dtype) {
    const void* in = static_cast<const uint8_t*>(src.buffer()->device(Device::cuda(0))) +
                     src.offset() * int64_t(itemsize(src.dtype()));
    dispatch_word(itemsize(dst_dtype), [&](auto word) {  // same dtype: move raw words
      using W = decltype(word);
      LaunchShape s = launch_shape(n);
      convert_kernel<W, W><<<s.blocks, s.threads, 0, stream()>>>(static_cast<const W*>(in), static_cast<W*>(dst), n,
                                                                 layout, shift);
    });
  } else {
    dispatch_device_dtype(src.dtype(), [&](auto in_type) {
      dispatch_device_dtype(dst_dtype, [&](auto out_type) {
        using In = decltype(in_type);
        using Out = decltype(out_type);
        LaunchShape s = launch_shape(n);
        convert_kernel<In, Out><<<s.blocks, s.threads, 0, stream()>>>(device_data<In>(src), static_cast<Out*>(dst), n,
                                                                       layout, shift);
      });
    });
  }
  check_launch("copy");
}

std::shared_ptr<Buffer> contiguous_copy(const Array& a, Dtype dtype) {
  auto buffer = Buffer::allocate_device(Device::cuda(0), size_t(a.size()) * itemsize(dtype));
  copy_strided(a, buffer->mutable_device(Device::cuda(0)), dtype);
  return buffer;
}

}  // namespace cuda

void Full::eval_cuda(const std::vector<Array>&, Array& out) {
  cuda::OpScope scope("full");
  cuda::dispatch_device_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    T* o = cuda::allocate_output<T>(out);
    if (out.size() == 0) return;
    T v = cuda::from_host_double<T>(value);
    cuda::LaunchShape s = cuda::launch_shape(out.size());
    cuda::fill_kernel<T><<<s.blocks, s.threads, 0, cuda::stream()>>>(o, out.size(), v);
    cuda::check_launch("fill");
  });
}

void Arange::eval_cuda(const std::vector<Array>&, Array& out) {
  cuda::OpScope scope("arange");
  cuda::dispatch_device_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    T* o = cuda::allocate_output<T>(out);
    if (out.size() == 0) return;
    cuda::LaunchShape s = cuda::launch_shape(out.size());
    cuda::arange_kernel<T><<<s.blocks, s.threads, 0, cuda::stream()>>>(o, out.size(), start);
    cuda::check_launch("arange");
  });
}

void AsType::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("astype");
  out.allocate();
  cuda::copy_strided(inputs[0], out.buffer()->mutable_device(out.device()), out.dtype());
}

void ToDevice::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("to_device");
  // The buffer uploads itself once and keeps the copy; the output shares it.
  const Array& in = inputs[0];
  in.buffer()->device(out.device());
  out.set_view(in.buffer(), in.strides(), in.offset());
}

void Reshape::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("reshape");
  const Array& in = inputs[0];
  if (in.is_contiguous()) {
    out.set_view(in.buffer(), row_major_strides(out.shape()), in.offset());
    return;
  }
  if (auto strides = reshaped_strides(in.shape(), in.strides(), out.shape())) {  // a view after all
    out.set_view(in.buffer(), *strides, in.offset());
    return;
  }
  out.allocate();
  cuda::copy_strided(in, out.buffer()->mutable_device(out.device()), out.dtype());
}

void Concatenate::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("concatenate");
  out.allocate();
  auto* base = static_cast<uint8_t*>(out.buffer()->mutable_device(out.device()));
  Strides out_strides = row_major_strides(out.shape());
  int64_t done = 0;  // position along `axis` where the next input starts
  for (const Array& in : inputs) {
    cuda::copy_strided(in, base + done * out_strides[size_t(axis)] * int64_t(itemsize(out.dtype())), out.dtype(),
                       out_strides);
    done += in.shape()[size_t(axis)];
  }
}

}  // namespace tessera

namespace tessera {

void SliceUpdate::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("slice_update");
  const Array &dst = inputs[0], &update = inputs[1];
  // Only a dst that is its whole buffer, row-major, can become out (no broadcast or partial view):
  // then appending to a preallocated KV cache writes just the new rows.
  bool whole_buffer = dst.is_contiguous() && dst.offset() == 0 && dst.buffer()->size() == dst.nbytes();
  if (dst.is_donatable() && whole_buffer) {
    out.set_data(dst.buffer());
  } else {
    out.allocate();
    cuda::copy_strided(dst, out.buffer()->mutable_device(out.device()), out.dtype());
  }
  int64_t box_offset = out.offset();
  for (size_t d = 0; d < start.size(); ++d) box_offset += start[d] * out.strides()[d];
  cuda::DestinationShift shift;
  if (shift_axis >= 0) {  // the start along shift_axis is read on the device
    shift.index = cuda::device_data<int32_t>(inputs[2]);
    shift.stride = out.strides()[size_t(shift_axis)];
    shift.max = int(out.shape(shift_axis) - update.shape(shift_axis));
  }
  auto* base = static_cast<uint8_t*>(out.buffer()->mutable_device(out.device()));
  cuda::copy_strided(update, base + box_offset * int64_t(itemsize(out.dtype())), out.dtype(), out.strides(), shift);
}

}  // namespace tessera
