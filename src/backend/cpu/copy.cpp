// Creation, conversion and data movement on the CPU.
#include <cstring>

#include "backend/cpu/convert_kernels.h"
#include "backend/cpu/strided.h"
#include "core/primitives.h"

namespace tessera {

namespace cpu {

namespace {
template <typename In, typename Out>
void convert_copy(const Array& src, Out* dst) {
  const In* base = host_data<In>(src);
  for_each_row<2>(src.shape(), {src.strides(), row_major_strides(src.shape())},
                  [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
                    const In* s = base + off[0];
                    Out* d = dst + off[1];
                    if (st[0] == 1) {  // unit stride: memcpy or a vectorised conversion
                      if constexpr (std::is_same_v<In, Out>) {
                        std::memcpy(d, s, size_t(n) * sizeof(In));
                        return;
                      } else if constexpr (std::is_same_v<In, float> && std::is_same_v<Out, bfloat16>) {
                        float_to_bfloat16(s, d, n);
                        return;
                      } else if constexpr (std::is_same_v<In, bfloat16> && std::is_same_v<Out, float>) {
                        bfloat16_to_float(s, d, n);
                        return;
                      }
                    }
                    for (int64_t i = 0; i < n; ++i) {
                      if constexpr (std::is_same_v<In, Out>)
                        d[i] = s[i * st[0]];
                      else if constexpr (std::is_same_v<Out, bool>)
                        d[i] = load(s[i * st[0]]) != 0;
                      else
                        d[i] = store<Out>(load(s[i * st[0]]));
                    }
                  });
}
}  // namespace

void copy_to_contiguous(const Array& src, void* dst, Dtype dst_dtype) {
  dispatch_dtype(src.dtype(), [&](auto in) {
    dispatch_dtype(dst_dtype, [&](auto out) {
      using In = decltype(in);
      using Out = decltype(out);
      convert_copy<In, Out>(src, static_cast<Out*>(dst));
    });
  });
}

Float32View as_float32(const Array& a) {
  if (a.dtype() == Dtype::float32 && a.is_contiguous()) return {host_data<float>(a), nullptr};
  auto buffer = Buffer::allocate_host(size_t(a.size()) * sizeof(float));
  copy_to_contiguous(a, buffer->mutable_host(), Dtype::float32);
  return {static_cast<const float*>(buffer->host()), buffer};
}

}  // namespace cpu

void Full::eval_cpu(const std::vector<Array>&, Array& out) {
  out.allocate();
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    T v = from_double<T>(value);
    T* p = static_cast<T*>(out.buffer()->mutable_host());
    std::fill(p, p + out.size(), v);
  });
}

void Arange::eval_cpu(const std::vector<Array>&, Array& out) {
  out.allocate();
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    T* p = static_cast<T*>(out.buffer()->mutable_host());
    for (int64_t i = 0; i < out.size(); ++i) p[i] = from_double<T>(double(start + i));
  });
}

void AsType::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  out.allocate();
  cpu::copy_to_contiguous(inputs[0], out.buffer()->mutable_host(), out.dtype());
}

void ToDevice::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  // The buffer copies itself to the host on first use; the output just shares it.
  const Array& in = inputs[0];
  in.buffer()->host();
  out.set_view(in.buffer(), in.strides(), in.offset());
}

void Reshape::eval_cpu(const std::vector<Array>& inputs, Array& out) {
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
  cpu::copy_to_contiguous(in, out.buffer()->mutable_host(), out.dtype());
}

void Concatenate::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  out.allocate();
  auto* base = static_cast<uint8_t*>(out.buffer()->mutable_host());
  size_t item = itemsize(out.dtype());
  int64_t outer = 1;
  for (int d = 0; d < axis; ++d) outer *= out.shape()[size_t(d)];
  int64_t out_row = out.size() / std::max<int64_t>(outer, 1);  // elements per outer index
  int64_t done = 0;
  for (const Array& in : inputs) {
    std::shared_ptr<Buffer> tmp;
    const uint8_t* src;
    if (in.is_contiguous()) {
      src = static_cast<const uint8_t*>(in.buffer()->host()) + in.offset() * int64_t(item);
    } else {
      tmp = Buffer::allocate_host(in.nbytes());
      cpu::copy_to_contiguous(in, tmp->mutable_host(), in.dtype());
      src = static_cast<const uint8_t*>(tmp->host());
    }
    int64_t in_row = in.size() / std::max<int64_t>(outer, 1);
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(base + (o * out_row + done) * int64_t(item), src + o * in_row * int64_t(item),
                  size_t(in_row) * item);
    done += in_row;
  }
}

}  // namespace tessera
