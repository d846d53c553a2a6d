// gather_matmul and gather_quantized_matmul on CUDA: the matrix-vector kernels of gemv.cu and
// quantized.cu with the weight matrix picked per row of x by an index that stays on the device
// (a MoE decode step routes without a host round trip, so it can be captured in a graph).
//
// Block (row, feature block): a warp owns one output feature of one row and streams that row of
// the row's expert in 16-byte loads (float32 accumulation, one rounding). The grid's x axis walks
// the rows, so rows routed to the same expert run side by side and share its weights through L2.
// An index out of range writes zeros and raises the device error flag (read at the next sync);
// nothing is read out of bounds. Rows or operands not 16-byte aligned take the scalar kernels.
#include <algorithm>
#include <climits>

#include "backend/cuda/copy.h"
#include "backend/cuda/device_types.cuh"
#include "core/primitives.h"

namespace tessera {

namespace cuda {

namespace {

constexpr int kGatherWarps = 8;
constexpr unsigned kMaxGridY = 65535;

// The expert of `row`, or -1 with the device error flag raised when the index is out of range.
__device__ __forceinline__ int64_t expert_of(const int32_t* indices, int64_t row, int64_t experts, int* error) {
  const int32_t e = indices[row];
  if (e < 0 || e >= experts) {
    *error = int(DeviceError::expert_out_of_range);
    return -1;
  }
  return e;
}

// out[row, f] = x[row / repeat] . w[expert(row), f] for the rows of the grid's x axis.
template <typename T, bool kVector>
__global__ void __launch_bounds__(kGatherWarps * 32)
    gather_gemv_kernel(const T* x, int64_t x_ld, int64_t repeat, const T* w, const int32_t* indices, int64_t experts,
                       int64_t n, int64_t k, T* out, int* error) {
  const int64_t row = blockIdx.x;
  const int lane = threadIdx.x % 32;
  const int64_t e = expert_of(indices, row, experts, error);
  const T* xr = x + (row / repeat) * x_ld;
  for (int64_t block = blockIdx.y; block * kGatherWarps < n; block += gridDim.y) {
    const int64_t feature = block * kGatherWarps + threadIdx.x / 32;
    if (feature >= n) continue;  // the whole warp: one feature per warp
    float acc = 0.0f;
    if (e >= 0) {
      const T* wr = w + (e * n + feature) * k;
      if constexpr (kVector) {
        using V = Vector16<T>;
        const V* wv = reinterpret_cast<const V*>(wr);
        const V* xv = reinterpret_cast<const V*>(xr);
        const int64_t chunks = k / V::kCount;
        int64_t c = lane;
        // Four independent 16-byte weight loads in flight per lane.
        for (; c + 96 < chunks; c += 128) {
          V a[4], b[4];
#pragma unroll
          for (int u = 0; u < 4; ++u) a[u] = wv[c + 32 * u];
#pragma unroll
          for (int u = 0; u < 4; ++u) b[u] = xv[c + 32 * u];
#pragma unroll
          for (int u = 0; u < 4; ++u)
#pragma unroll
            for (int i = 0; i < V::kCount; ++i) acc += load(a[u].v[i]) * load(b[u].v[i]);
        }
        for (; c < chunks; c += 32) {
          const V a = wv[c], b = xv[c];
#pragma unroll
          for (int i = 0; i < V::kCount; ++i) acc += load(a.v[i]) * load(b.v[i]);
        }
      } else {
        for (int64_t c = lane; c < k; c += 32) acc += load(wr[c]) * load(xr[c]);
      }
    }
    acc = warp_sum(acc);
    if (lane == 0) out[row * n + feature] = store<T>(acc);
  }
}

// The packed twin for 4 and 8 bits: a lane takes 16 bytes of packed words (32 or 16 codes of one
// group, groups holding at least 32), dequantizes them in registers with the group's scale and
// bias read as stored (S), and dots them with x read as 16-byte vectors.
template <typename T, typename S, int Bits>
__global__ void __launch_bounds__(kGatherWarps * 32)
    gather_qgemv_chunks_kernel(const T* x, int64_t x_ld, int64_t repeat, const uint32_t* packed, const S* scales,
                               const S* biases, int group_size, const int32_t* indices, int64_t experts, int64_t n,
                               int64_t k, T* out, int* error) {
  constexpr int kPerWord = 32 / Bits, kCodes = 4 * kPerWord;
  constexpr uint32_t kMask = (1u << Bits) - 1;
  using V = Vector16<T>;
  constexpr int kVectors = kCodes / V::kCount;
  const int64_t row = blockIdx.x;
  const int lane = threadIdx.x % 32;
  const int64_t e = expert_of(indices, row, experts, error);
  const T* xr = x + (row / repeat) * x_ld;
  const int64_t chunks = k / kCodes, groups_per_row = k / group_size;
  for (int64_t block = blockIdx.y; block * kGatherWarps < n; block += gridDim.y) {
    const int64_t feature = block * kGatherWarps + threadIdx.x / 32;
    if (feature >= n) continue;
    float acc = 0.0f;
    if (e >= 0) {
      const int64_t w_row = e * n + feature;
      const uint4* wr = reinterpret_cast<const uint4*>(packed) + w_row * chunks;
      const S* row_scales = scales + w_row * groups_per_row;
      const S* row_biases = biases + w_row * groups_per_row;
      for (int64_t c = lane; c < chunks; c += 32) {
        const uint4 q = wr[c];
        const int64_t col = c * kCodes, g = col / group_size;
        const float scale = load(row_scales[g]), shift = load(row_biases[g]);
        const uint32_t words[4] = {q.x, q.y, q.z, q.w};
        const V* xv = reinterpret_cast<const V*>(xr + col);
#pragma unroll
        for (int v = 0; v < kVectors; ++v) {
          const V xs = xv[v];
#pragma unroll
          for (int i = 0; i < V::kCount; ++i) {
            const int code = v * V::kCount + i;
            const float value = float((words[code / kPerWord] >> ((code % kPerWord) * Bits)) & kMask) * scale + shift;
            acc += value * load(xs.v[i]);
          }
        }
      }
    }
    acc = warp_sum(acc);
    if (lane == 0) out[row * n + feature] = store<T>(acc);
  }
}

// Any bit width and alignment: a lane per packed word, x read element by element.
template <typename T, typename S, int Bits>
__global__ void __launch_bounds__(kGatherWarps * 32)
    gather_qgemv_words_kernel(const T* x, int64_t x_ld, int64_t repeat, const uint32_t* packed, const S* scales,
                              const S* biases, int group_size, const int32_t* indices, int64_t experts, int64_t n,
                              int64_t k, T* out, int* error) {
  constexpr int kPerWord = 32 / Bits;
  constexpr uint32_t kMask = (1u << Bits) - 1;
  const int64_t row = blockIdx.x;
  const int lane = threadIdx.x % 32;
  const int64_t e = expert_of(indices, row, experts, error);
  const T* xr = x + (row / repeat) * x_ld;
  const int64_t words_per_row = k / kPerWord, groups_per_row = k / group_size;
  for (int64_t block = blockIdx.y; block * kGatherWarps < n; block += gridDim.y) {
    const int64_t feature = block * kGatherWarps + threadIdx.x / 32;
    if (feature >= n) continue;
    float acc = 0.0f;
    if (e >= 0) {
      const int64_t w_row = e * n + feature;
      const uint32_t* wr = packed + w_row * words_per_row;
      for (int64_t j = lane; j < words_per_row; j += 32) {
        const uint32_t word = wr[j];
        const int64_t col = j * kPerWord, g = w_row * groups_per_row + col / group_size;
        const float scale = load(scales[g]), shift = load(biases[g]);
#pragma unroll
        for (int p = 0; p < kPerWord; ++p)
          acc += (float((word >> (p * Bits)) & kMask) * scale + shift) * load(xr[col + p]);
      }
    }
    acc = warp_sum(acc);
    if (lane == 0) out[row * n + feature] = store<T>(acc);
  }
}

// `a` row-major on the device in its own dtype: itself when it already is, else a copy in `keep`.
template <typename T>
const T* device_rows(const Array& a, std::shared_ptr<Buffer>& keep) {
  if (a.is_contiguous() && a.device().type == DeviceType::cuda) return device_data<T>(a);
  keep = contiguous_copy(a, a.dtype());
  return static_cast<const T*>(keep->device(Device::cuda(0)));
}

// x as rows of k elements `ld` apart (unit stride inside a row): a strided view is read in
// place when its leading axes collapse into one row stride, else copied row-major.
template <typename T>
const T* x_rows(const Array& x, int64_t& ld, std::shared_ptr<Buffer>& keep) {
  const int64_t k = x.shape(-1);
  ld = k;
  if (x.device().type != DeviceType::cuda) return device_rows<T>(x, keep);
  bool strided_rows = k <= 1 || x.strides().back() == 1;
  int64_t inner_stride = -1, inner_size = 1;
  for (int d = x.ndim() - 2; d >= 0 && strided_rows; --d) {
    if (x.shape(d) == 1) continue;
    const int64_t stride = x.strides()[size_t(d)];
    if (inner_stride < 0) {
      ld = stride;
      strided_rows = stride >= k;
    } else {
      strided_rows = stride == inner_stride * inner_size;
    }
    inner_stride = stride;
    inner_size = x.shape(d);
  }
  if (strided_rows) return device_data<T>(x);
  ld = k;
  return device_rows<T>(x, keep);
}

// Indices on the device, checked first when they live on the host (as take does).
const int32_t* device_indices(const Array& indices, int64_t experts, const char* op, std::shared_ptr<Buffer>& keep) {
  if (indices.buffer()->on_host())
    for (int32_t e : indices.to_vector<int32_t>())
      if (e < 0 || e >= experts)
        fail(op, "index " + std::to_string(e) + " out of range for " + std::to_string(experts) + " experts");
  return device_rows<int32_t>(indices, keep);
}

struct GatherGrid {
  dim3 blocks;
  bool empty;
};
GatherGrid gather_grid(int64_t rows, int64_t n) {
  const int64_t feature_blocks = (n + kGatherWarps - 1) / kGatherWarps;
  return {dim3(unsigned(rows), unsigned(std::min<int64_t>(feature_blocks, kMaxGridY))), rows == 0 || n == 0};
}

int64_t repeat_of(const Array& x, const Array& indices) {
  const int64_t x_rows = x.size() / std::max<int64_t>(x.shape(-1), 1);
  return x_rows == 0 ? 1 : std::max<int64_t>(1, indices.size() / x_rows);
}

}  // namespace

}  // namespace cuda

void GatherMatmul::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("gather_matmul");
  const Array &x = inputs[0], &w = inputs[1], &indices = inputs[2];
  const int64_t experts = w.shape(0), n = w.shape(1), k = w.shape(2), rows = indices.size();
  TESSERA_CHECK(rows <= int64_t(INT32_MAX), "gather_matmul", "more than 2^31 - 1 rows");
  cuda::dispatch_float_dtype(out.dtype(), "gather_matmul", [&](auto t) {
    using T = decltype(t);
    T* o = cuda::allocate_output<T>(out);
    std::shared_ptr<Buffer> keep_x, keep_w, keep_i;
    const int32_t* idx = cuda::device_indices(indices, experts, "gather_matmul", keep_i);
    if (out.size() == 0) return;
    if (k == 0) return TESSERA_CUDA_CHECK(cudaMemsetAsync(o, 0, out.nbytes(), cuda::stream()));
    int64_t ld = k;
    const T* xs = cuda::x_rows<T>(x, ld, keep_x);
    const T* ws = cuda::device_rows<T>(w, keep_w);
    const int64_t item = int64_t(sizeof(T));
    const bool vector = (k * item) % 16 == 0 && (ld * item) % 16 == 0 && cuda::aligned16(xs) && cuda::aligned16(ws);
    const cuda::GatherGrid grid = cuda::gather_grid(rows, n);
    const int64_t repeat = cuda::repeat_of(x, indices);
    auto kernel = vector ? cuda::gather_gemv_kernel<T, true> : cuda::gather_gemv_kernel<T, false>;
    kernel<<<grid.blocks, cuda::kGatherWarps * 32, 0, cuda::stream()>>>(xs, ld, repeat, ws, idx, experts, n, k, o,
                                                                      cuda::error_flag());
    cuda::check_launch("gather matrix-vector");
  });
}

void GatherQuantizedMatmul::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("gather_quantized_matmul");
  const Array &x = inputs[0], &w = inputs[1], &scales = inputs[2], &biases = inputs[3], &indices = inputs[4];
  const int64_t experts = w.shape(0), n = w.shape(1), k = w.shape(2) * 32 / bits, rows = indices.size();
  TESSERA_CHECK(rows <= int64_t(INT32_MAX), "gather_quantized_matmul", "more than 2^31 - 1 rows");
  cuda::dispatch_float_dtype(out.dtype(), "gather_quantized_matmul", [&](auto t) {
    using T = decltype(t);
    T* o = cuda::allocate_output<T>(out);
    std::shared_ptr<Buffer> keep_x, keep_w, keep_s, keep_b, keep_i;
    const int32_t* idx = cuda::device_indices(indices, experts, "gather_quantized_matmul", keep_i);
    if (out.size() == 0) return;
    if (k == 0) return TESSERA_CUDA_CHECK(cudaMemsetAsync(o, 0, out.nbytes(), cuda::stream()));
    int64_t ld = k;
    const T* xs = cuda::x_rows<T>(x, ld, keep_x);
    const uint32_t* words = cuda::device_rows<uint32_t>(w, keep_w);
    const cuda::GatherGrid grid = cuda::gather_grid(rows, n);
    const int64_t repeat = cuda::repeat_of(x, indices);
    const int codes_per_chunk = 4 * (32 / bits);
    const int64_t item = int64_t(sizeof(T));
    const bool chunked = (bits == 4 || bits == 8) && k % codes_per_chunk == 0 && group_size % codes_per_chunk == 0 &&
                         (ld * item) % 16 == 0 && cuda::aligned16(xs) && cuda::aligned16(words);
    // Scales and biases in their stored dtype (one dtype for both, checked by the op).
    cuda::dispatch_float_dtype(scales.dtype(), "gather_quantized_matmul", [&](auto scale_type) {
      using S = decltype(scale_type);
      const S* sp = cuda::device_rows<S>(scales, keep_s);
      const S* bp = cuda::device_rows<S>(biases, keep_b);
      auto launch = [&](auto kernel) {
        kernel<<<grid.blocks, cuda::kGatherWarps * 32, 0, cuda::stream()>>>(xs, ld, repeat, words, sp, bp, group_size, idx,
                                                                          experts, n, k, o, cuda::error_flag());
      };
      if (chunked && bits == 4) launch(cuda::gather_qgemv_chunks_kernel<T, S, 4>);
      else if (chunked) launch(cuda::gather_qgemv_chunks_kernel<T, S, 8>);
      else if (bits == 2) launch(cuda::gather_qgemv_words_kernel<T, S, 2>);
      else if (bits == 4) launch(cuda::gather_qgemv_words_kernel<T, S, 4>);
      else launch(cuda::gather_qgemv_words_kernel<T, S, 8>);
      cuda::check_launch("gather quantized matrix-vector");
    });
  });
}

}  // namespace tessera
