#pragma once
// What every CUDA kernel file shares: the device storage type of each Dtype, conversions to and
// from the type arithmetic is done in (float for 16-bit floats), strided n-d layouts walked from
// a linear index, and warp reductions.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <array>
#include <cstdint>
#include <type_traits>

#include "backend/cuda/runtime.h"
#include "tessera/array.h"

namespace tessera::cuda {

// The device storage type of a host storage type: CUDA's own 16-bit floats, the rest unchanged.
template <typename T>
struct device_storage {
  using type = T;
};
template <>
struct device_storage<float16> {
  using type = __half;
};
template <>
struct device_storage<bfloat16> {
  using type = __nv_bfloat16;
};

// Calls f(T{}) with T the device storage type of `dtype` (dispatch_dtype's CUDA twin).
template <typename F>
decltype(auto) dispatch_device_dtype(Dtype dtype, F&& f) {
  return dispatch_dtype(dtype, [&](auto host) -> decltype(auto) {
    return f(typename device_storage<decltype(host)>::type{});
  });
}

// Only the floating dtypes (norms, softmax, attention, matmul).
template <typename F>
decltype(auto) dispatch_float_dtype(Dtype dtype, const char* op, F&& f) {
  switch (dtype) {
    case Dtype::float32: return f(float{});
    case Dtype::float16: return f(__half{});
    case Dtype::bfloat16: return f(__nv_bfloat16{});
    default: fail(op, "expects a floating-point array, got " + std::string(name(dtype)));
  }
}

// Calls f(W{}) with W an unsigned word of `bytes` bytes: kernels that only move elements (copies,
// gathers) are instantiated per item size, not per dtype.
template <typename F>
decltype(auto) dispatch_word(size_t bytes, F&& f) {
  switch (bytes) {
    case 1: return f(uint8_t{});
    case 2: return f(uint16_t{});
    case 4: return f(uint32_t{});
    default: return f(uint64_t{});
  }
}

template <typename T>
inline constexpr bool is_half_v = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

// Arithmetic type: 16-bit floats compute in float, bool in int, the rest in themselves.
template <typename T>
using compute_t = std::conditional_t<is_half_v<T>, float, std::conditional_t<std::is_same_v<T, bool>, int, T>>;

template <typename T>
__device__ __forceinline__ compute_t<T> load(T v) {
  if constexpr (std::is_same_v<T, __half>)
    return __half2float(v);
  else if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return __bfloat162float(v);
  else
    return compute_t<T>(v);
}

template <typename T, typename V>
__device__ __forceinline__ T store(V v) {
  if constexpr (std::is_same_v<T, __half>)
    return __float2half_rn(float(v));
  else if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return __float2bfloat16_rn(float(v));
  else if constexpr (std::is_same_v<T, bool>)
    return v != V(0);
  else
    return T(v);
}

// A host-side constant in a device storage type (fills, scalars).
template <typename T>
T from_host_double(double v) {
  if constexpr (std::is_same_v<T, __half>)
    return __float2half_rn(float(v));
  else if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return __float2bfloat16_rn(float(v));
  else if constexpr (std::is_same_v<T, bool>)
    return v != 0.0;
  else
    return T(v);
}

// An n-d walk over `shape` for N operands, each with its own strides (0 = broadcast). Built on
// the host with adjacent dims merged wherever every operand allows, so the common cases are 1-d.
inline constexpr int kMaxDims = 8;

template <int N>
struct StridedLayout {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[N][kMaxDims] = {};

  // Offsets (in elements) of the element with row-major linear index `i`.
  __device__ __forceinline__ void offsets(int64_t i, int64_t (&out)[N]) const {
    if (ndim == 1) {  // the common (contiguous or uniformly strided) case: no 64-bit division
#pragma unroll
      for (int k = 0; k < N; ++k) out[k] = i * strides[k][0];
      return;
    }
#pragma unroll
    for (int k = 0; k < N; ++k) out[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      int64_t coord = i % shape[d];
      i /= shape[d];
#pragma unroll
      for (int k = 0; k < N; ++k) out[k] += coord * strides[k][d];
    }
  }
};

template <int N>
StridedLayout<N> make_layout(const Shape& shape, const std::array<const Strides*, N>& strides) {
  StridedLayout<N> layout;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    int last = layout.ndim - 1;
    bool merge = layout.ndim > 0;
    for (int k = 0; k < N && merge; ++k) merge = layout.strides[k][last] == (*strides[size_t(k)])[d] * shape[d];
    if (merge) {
      layout.shape[last] *= shape[d];
      for (int k = 0; k < N; ++k) layout.strides[k][last] = (*strides[size_t(k)])[d];
      continue;
    }
    if (layout.ndim == kMaxDims) fail(current_op(), "more than 8 non-mergeable dimensions on cuda");
    layout.shape[layout.ndim] = shape[d];
    for (int k = 0; k < N; ++k) layout.strides[k][layout.ndim] = (*strides[size_t(k)])[d];
    ++layout.ndim;
  }
  return layout;
}

// Device pointer to an array's first element; a host array is uploaded once and its copy kept.
template <typename T>
const T* device_data(const Array& a) {
  return static_cast<const T*>(a.buffer()->device(a.device().type == DeviceType::cuda ? a.device() : Device::cuda(0))) +
         a.offset();
}

// Allocates `out` (contiguous, on its device) and returns where to write it.
template <typename T>
T* allocate_output(Array& out) {
  out.allocate();
  return static_cast<T*>(out.buffer()->mutable_device(out.device()));
}

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// 16 bytes of T: the unit vectorised kernels load and store (one 128-bit memory instruction).
template <typename T>
struct alignas(16) Vector16 {
  static constexpr int kCount = 16 / sizeof(T);
  T v[kCount];
};

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Grid-stride loop index helpers.
__device__ __forceinline__ int64_t global_thread() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t grid_threads() { return int64_t(gridDim.x) * blockDim.x; }

}  // namespace tessera::cuda
