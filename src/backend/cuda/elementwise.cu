// Unary, binary and select kernels. Inputs arrive broadcast to the output shape (stride-0 views);
// one strided layout over the output serves every broadcasting pattern, and when every operand
// is contiguous the layout collapses to one unit-stride dimension.
#include "backend/cuda/device_types.cuh"
#include "core/primitives.h"

namespace tessera {

namespace cuda {

namespace {

template <typename C>
__device__ __forceinline__ C apply_unary(UnaryOp op, C x) {
  if constexpr (std::is_floating_point_v<C>) {
    switch (op) {
      case UnaryOp::negative: return -x;
      case UnaryOp::abs: return fabsf(x);
      case UnaryOp::exp: return expf(x);
      case UnaryOp::log: return logf(x);
      case UnaryOp::sqrt: return sqrtf(x);
      case UnaryOp::rsqrt: return 1.0f / sqrtf(x);
      case UnaryOp::square: return x * x;
      case UnaryOp::tanh: return tanhf(x);
      case UnaryOp::erf: return erff(x);
      case UnaryOp::sigmoid: return 1.0f / (1.0f + expf(-x));
      case UnaryOp::relu: return x > 0.0f ? x : 0.0f;
      case UnaryOp::silu: return x / (1.0f + expf(-x));
      case UnaryOp::gelu: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
      case UnaryOp::gelu_tanh: {
        const float k = 0.79788456080286535588f;  // sqrt(2/pi)
        return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
      }
    }
    return x;
  } else {  // integers: only the ops the builder admits
    switch (op) {
      case UnaryOp::negative: return C(-x);
      case UnaryOp::abs:
        if constexpr (std::is_signed_v<C>) return x < C(0) ? C(-x) : x;
        return x;
      case UnaryOp::square: return C(x * x);
      case UnaryOp::relu: return x > C(0) ? x : C(0);
      default: return x;
    }
  }
}

template <typename C>
__device__ __forceinline__ C apply_binary(BinaryOp op, C a, C b, int* error) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::subtract: return a - b;
    case BinaryOp::multiply: return a * b;
    case BinaryOp::divide:
      if constexpr (std::is_integral_v<C>) {
        if (b == 0) {
          *error = int(DeviceError::integer_division_by_zero);
          return C(0);
        }
      }
      return a / b;
    case BinaryOp::maximum: return a > b ? a : b;
    case BinaryOp::minimum: return a < b ? a : b;
    case BinaryOp::equal: return a == b;
    case BinaryOp::less: return a < b;
    case BinaryOp::greater: return a > b;
  }
  return a;
}

template <typename T>
__global__ void unary_kernel(const T* x, T* out, int64_t n, StridedLayout<1> layout, UnaryOp op) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t off[1];
    layout.offsets(i, off);
    out[i] = store<T>(apply_unary<compute_t<T>>(op, load(x[off[0]])));
  }
}

template <typename T, typename Out>
__global__ void binary_kernel(const T* a, const T* b, Out* out, int64_t n, StridedLayout<2> layout, BinaryOp op,
                              int* error) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t off[2];
    layout.offsets(i, off);
    out[i] = store<Out>(apply_binary<compute_t<T>>(op, load(a[off[0]]), load(b[off[1]]), error));
  }
}

// Contiguous operands of the same shape (the common case: activations, residual adds): 16 bytes
// per operand per step, so the kernels run at memory bandwidth; the tail past the last full vector
// goes element by element.
// kOp >= 0 fixes the op at compile time (the activations: no per-element switch in the loop);
// -1 reads it at run time.
template <typename T, int kOp>
__global__ void unary_contiguous_kernel(const T* x, T* out, int64_t n, UnaryOp runtime_op) {
  const UnaryOp op = kOp >= 0 ? UnaryOp(kOp) : runtime_op;
  using V = Vector16<T>;
  int64_t vectors = n / V::kCount;
  for (int64_t i = global_thread(); i < vectors; i += grid_threads()) {
    V a = reinterpret_cast<const V*>(x)[i], r;
#pragma unroll
    for (int e = 0; e < V::kCount; ++e) r.v[e] = store<T>(apply_unary<compute_t<T>>(op, load(a.v[e])));
    reinterpret_cast<V*>(out)[i] = r;
  }
  for (int64_t i = vectors * V::kCount + global_thread(); i < n; i += grid_threads())
    out[i] = store<T>(apply_unary<compute_t<T>>(op, load(x[i])));
}

template <typename T>
__global__ void binary_contiguous_kernel(const T* a, const T* b, T* out, int64_t n, BinaryOp op, int* error) {
  using V = Vector16<T>;
  int64_t vectors = n / V::kCount;
  for (int64_t i = global_thread(); i < vectors; i += grid_threads()) {
    V x = reinterpret_cast<const V*>(a)[i], y = reinterpret_cast<const V*>(b)[i], r;
#pragma unroll
    for (int e = 0; e < V::kCount; ++e)
      r.v[e] = store<T>(apply_binary<compute_t<T>>(op, load(x.v[e]), load(y.v[e]), error));
    reinterpret_cast<V*>(out)[i] = r;
  }
  for (int64_t i = vectors * V::kCount + global_thread(); i < n; i += grid_threads())
    out[i] = store<T>(apply_binary<compute_t<T>>(op, load(a[i]), load(b[i]), error));
}

// True when every operand is one unit-stride run starting 16-byte aligned.
template <int N>
bool vectorizable(const StridedLayout<N>& layout, std::initializer_list<const void*> pointers) {
  if (layout.ndim != 1) return false;
  for (int k = 0; k < N; ++k)
    if (layout.strides[k][0] != 1) return false;
  for (const void* p : pointers)
    if (!aligned16(p)) return false;
  return true;
}

// A grid for the vector loops: enough blocks to fill the GPU, no more than the vectors need.
LaunchShape vector_launch_shape(int64_t n, size_t item) { return launch_shape((n + int64_t(16 / item) - 1) / int64_t(16 / item)); }

template <typename T>
__global__ void where_kernel(const bool* c, const T* a, const T* b, T* out, int64_t n, StridedLayout<3> layout) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t off[3];
    layout.offsets(i, off);
    out[i] = c[off[0]] ? a[off[1]] : b[off[2]];
  }
}

}  // namespace

}  // namespace cuda

void Unary::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("unary");
  cuda::dispatch_device_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, bool>) {
      fail("unary", "not defined for bool");
    } else {
      T* o = cuda::allocate_output<T>(out);
      if (out.size() == 0) return;
      const Array& x = inputs[0];
      auto layout = cuda::make_layout<1>(out.shape(), {&x.strides()});
      const T* in = cuda::device_data<T>(x);
      if (cuda::vectorizable(layout, {in, o})) {
        cuda::LaunchShape s = cuda::vector_launch_shape(out.size(), sizeof(T));
        auto launch = [&](auto fixed_op) {
          cuda::unary_contiguous_kernel<T, decltype(fixed_op)::value>
              <<<s.blocks, s.threads, 0, cuda::stream()>>>(in, o, out.size(), op);
        };
        using Op = UnaryOp;
        if constexpr (std::is_floating_point_v<cuda::compute_t<T>>) {
          switch (op) {
            case Op::gelu: launch(std::integral_constant<int, int(Op::gelu)>{}); break;
            case Op::gelu_tanh: launch(std::integral_constant<int, int(Op::gelu_tanh)>{}); break;
            case Op::silu: launch(std::integral_constant<int, int(Op::silu)>{}); break;
            case Op::relu: launch(std::integral_constant<int, int(Op::relu)>{}); break;
            default: launch(std::integral_constant<int, -1>{});
          }
        } else {
          launch(std::integral_constant<int, -1>{});
        }
      } else {
        cuda::LaunchShape s = cuda::launch_shape(out.size());
        cuda::unary_kernel<T><<<s.blocks, s.threads, 0, cuda::stream()>>>(in, o, out.size(), layout, op);
      }
      cuda::check_launch("unary");
    }
  });
}

void Binary::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("binary");
  const Array &a = inputs[0], &b = inputs[1];
  cuda::dispatch_device_dtype(a.dtype(), [&](auto t) {
    using T = decltype(t);
    auto run = [&](auto out_type) {
      using Out = decltype(out_type);
      Out* o = cuda::allocate_output<Out>(out);
      if (out.size() == 0) return;
      auto layout = cuda::make_layout<2>(out.shape(), {&a.strides(), &b.strides()});
      const T *pa = cuda::device_data<T>(a), *pb = cuda::device_data<T>(b);
      if constexpr (std::is_same_v<Out, T>) {
        if (cuda::vectorizable(layout, {pa, pb, o})) {
          cuda::LaunchShape s = cuda::vector_launch_shape(out.size(), sizeof(T));
          cuda::binary_contiguous_kernel<T><<<s.blocks, s.threads, 0, cuda::stream()>>>(pa, pb, o, out.size(), op,
                                                                                        cuda::error_flag());
          cuda::check_launch("binary");
          return;
        }
      }
      cuda::LaunchShape s = cuda::launch_shape(out.size());
      cuda::binary_kernel<T, Out><<<s.blocks, s.threads, 0, cuda::stream()>>>(pa, pb, o, out.size(), layout, op,
                                                                              cuda::error_flag());
      cuda::check_launch("binary");
    };
    if (out.dtype() == Dtype::bool_)
      run(bool{});
    else
      run(T{});
  });
}

void Where::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("where");
  const Array &c = inputs[0], &a = inputs[1], &b = inputs[2];
  cuda::dispatch_device_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    T* o = cuda::allocate_output<T>(out);
    if (out.size() == 0) return;
    auto layout = cuda::make_layout<3>(out.shape(), {&c.strides(), &a.strides(), &b.strides()});
    cuda::LaunchShape s = cuda::launch_shape(out.size());
    cuda::where_kernel<T><<<s.blocks, s.threads, 0, cuda::stream()>>>(
        cuda::device_data<bool>(c), cuda::device_data<T>(a), cuda::device_data<T>(b), o, out.size(), layout);
    cuda::check_launch("where");
  });
}

}  // namespace tessera
