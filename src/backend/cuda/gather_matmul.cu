// gather_matmul and gather_quantized_matmul on CUDA: the matrix-vector kernels of gemv.cu and
// quantized.cu with the weight matrix picked per row of x by an index that stays on the device
// (a MoE decode step routes without a host round trip, so it can be captured in a graph).
//
// One kernel, parameterised by how a row of weights is read (dense or packed, 16-byte vectors or
// element by element when rows are not 16-byte aligned): block (output row, feature block), a
// warp per output feature, streaming the row of that feature of the row's expert (float32
// accumulation). The epilogues run in the same warp: act(gate) * up reads the gate and up rows of
// the same expert; the weighted sum over a token's experts loops over its index rows, so the
// output row is written once, deterministically. The grid's x axis walks the output rows, so rows
// routed to the same expert run side by side and share its weights through L2. An index out of
// range reads as zeros and raises the device error flag (reported at the next synchronisation);
// nothing is read out of bounds.
#include <algorithm>
#include <climits>

#include "backend/cuda/copy.h"
#include "backend/cuda/device_types.cuh"
#include "backend/cuda/epilogue.cuh"
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

// The dot product policies: a lane's share of x[row] . (row w_row of the stacked experts), summed
// over the warp by the kernel.
// Dense rows in 16-byte vectors (k * sizeof(T), the rows and both bases 16-byte aligned).
template <typename T>
struct DenseVectorDot {
  const T* w;
  int64_t k;
  __device__ float operator()(const T* xr, int64_t w_row, int lane) const {
    using V = Vector16<T>;
    const V* wv = reinterpret_cast<const V*>(w + w_row * k);
    const V* xv = reinterpret_cast<const V*>(xr);
    const int64_t chunks = k / V::kCount;
    float acc = 0.0f;
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
    return acc;
  }
};

// Dense rows of any length and alignment, element by element.
template <typename T>
struct DenseScalarDot {
  const T* w;
  int64_t k;
  __device__ float operator()(const T* xr, int64_t w_row, int lane) const {
    const T* wr = w + w_row * k;
    float acc = 0.0f;
    for (int64_t c = lane; c < k; c += 32) acc += load(wr[c]) * load(xr[c]);
    return acc;
  }
};

// Packed 4- or 8-bit rows: a lane takes 16 bytes of words (32 or 16 codes of one group, groups
// holding at least 32), dequantizes them in registers with the group's scale and bias as stored
// (S), and dots them with x read as 16-byte vectors.
template <typename T, typename S, int Bits>
struct PackedChunkDot {
  const uint32_t* packed;
  const S *scales, *biases;
  int group_size;
  int64_t k;
  __device__ float operator()(const T* xr, int64_t w_row, int lane) const {
    constexpr int kPerWord = 32 / Bits, kCodes = 4 * kPerWord;
    constexpr uint32_t kMask = (1u << Bits) - 1;
    using V = Vector16<T>;
    constexpr int kVectors = kCodes / V::kCount;
    const int64_t chunks = k / kCodes, groups_per_row = k / group_size;
    const uint4* wr = reinterpret_cast<const uint4*>(packed) + w_row * chunks;
    const S* row_scales = scales + w_row * groups_per_row;
    const S* row_biases = biases + w_row * groups_per_row;
    float acc = 0.0f;
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
    return acc;
  }
};

// Packed rows of any bit width and alignment: a lane per word, x read element by element.
template <typename T, typename S, int Bits>
struct PackedWordDot {
  const uint32_t* packed;
  const S *scales, *biases;
  int group_size;
  int64_t k;
  __device__ float operator()(const T* xr, int64_t w_row, int lane) const {
    constexpr int kPerWord = 32 / Bits;
    constexpr uint32_t kMask = (1u << Bits) - 1;
    const int64_t words_per_row = k / kPerWord, groups_per_row = k / group_size;
    const uint32_t* wr = packed + w_row * words_per_row;
    float acc = 0.0f;
    for (int64_t j = lane; j < words_per_row; j += 32) {
      const uint32_t word = wr[j];
      const int64_t col = j * kPerWord, g = w_row * groups_per_row + col / group_size;
      const float scale = load(scales[g]), shift = load(biases[g]);
#pragma unroll
      for (int p = 0; p < kPerWord; ++p) acc += (float((word >> (p * Bits)) & kMask) * scale + shift) * load(xr[col + p]);
    }
    return acc;
  }
};

struct GatherShape {
  const int32_t* indices;
  int64_t experts;
  int64_t n;       // rows of each expert
  int64_t width;   // output features: n, or n / 2 with a gated activation
  int64_t ranks;   // index rows summed into one output row (1 without row weights)
  int64_t repeat;  // consecutive index rows that share one row of x
  int64_t x_ld;
  Activation glu;
  int* error;
};

// Output row t, feature f (a warp each): for each of its `ranks` index rows, x's row against the
// row's expert (two expert rows, gate and up, with a gated activation), rounded as the separate
// ops would round; with row weights their weighted sum.
template <typename T, typename Dot>
__global__ void __launch_bounds__(kGatherWarps * 32)
    gather_kernel(const T* x, const T* row_weights, T* out, GatherShape s, Dot dot) {
  const int64_t token = blockIdx.x;
  const int lane = threadIdx.x % 32;
  for (int64_t block = blockIdx.y; block * kGatherWarps < s.width; block += gridDim.y) {
    const int64_t feature = block * kGatherWarps + threadIdx.x / 32;
    if (feature >= s.width) continue;  // the whole warp: one feature per warp
    float total = 0.0f;
    for (int64_t r = 0; r < s.ranks; ++r) {
      const int64_t row = token * s.ranks + r;
      const int64_t e = expert_of(s.indices, row, s.experts, s.error);  // the same for the whole warp
      const T* xr = x + (row / s.repeat) * s.x_ld;
      float value = 0.0f;
      if (e >= 0) {
        value = warp_sum(dot(xr, e * s.n + feature, lane));
        if (s.glu != Activation::none) {
          const float up = warp_sum(dot(xr, e * s.n + s.width + feature, lane));
          value = rounded<T>(rounded<T>(activate(s.glu, rounded<T>(value))) * rounded<T>(up));
        }
      }
      total = row_weights ? total + rounded<T>(rounded<T>(value) * load(row_weights[row])) : value;
    }
    if (lane == 0) out[token * s.width + feature] = store<T>(total);
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

template <typename T, typename Dot>
void launch_gather(const T* x, const T* row_weights, T* out, const GatherShape& s, int64_t tokens, Dot dot) {
  const int64_t feature_blocks = (s.width + kGatherWarps - 1) / kGatherWarps;
  const dim3 grid(unsigned(tokens), unsigned(std::min<int64_t>(feature_blocks, kMaxGridY)));
  gather_kernel<T, Dot><<<grid, kGatherWarps * 32, 0, stream()>>>(x, row_weights, out, s, dot);
  check_launch("gather matrix-vector");
}

int64_t repeat_of(const Array& x, const Array& indices) {
  const int64_t x_rows = x.size() / std::max<int64_t>(x.shape(-1), 1);
  return x_rows == 0 ? 1 : std::max<int64_t>(1, indices.size() / x_rows);
}

// Everything but the weights' policy, on the device: indices, x's rows, row weights, the shape.
template <typename T>
struct GatherOperands {
  std::shared_ptr<Buffer> keep_x, keep_i, keep_weights;
  const T* x = nullptr;
  const T* row_weights = nullptr;
  GatherShape shape{};
  int64_t tokens = 0;
};
template <typename T>
void gather_operands(GatherOperands<T>& g, const std::vector<Array>& inputs, size_t indices_input, int64_t experts,
                     int64_t n, Activation glu, bool weighted, const Array& out, const char* op) {
  const Array &x = inputs[0], &indices = inputs[indices_input];
  g.shape.indices = device_indices(indices, experts, op, g.keep_i);
  if (weighted) g.row_weights = device_rows<T>(inputs[indices_input + 1], g.keep_weights);
  int64_t ld = x.shape(-1);
  g.x = x_rows<T>(x, ld, g.keep_x);
  g.shape.experts = experts;
  g.shape.n = n;
  g.shape.width = glu == Activation::none ? n : n / 2;
  g.shape.ranks = weighted ? indices.shape(-1) : 1;
  g.shape.repeat = repeat_of(x, indices);
  g.shape.x_ld = ld;
  g.shape.glu = glu;
  g.shape.error = error_flag();
  g.tokens = out.size() / std::max<int64_t>(g.shape.width, 1);
}

}  // namespace

}  // namespace cuda

void GatherMatmul::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("gather_matmul");
  const Array& w = inputs[1];
  const int64_t experts = w.shape(0), n = w.shape(1), k = w.shape(2);
  TESSERA_CHECK(inputs[2].size() <= int64_t(INT32_MAX), "gather_matmul", "more than 2^31 - 1 rows");
  cuda::dispatch_float_dtype(out.dtype(), "gather_matmul", [&](auto t) {
    using T = decltype(t);
    T* o = cuda::allocate_output<T>(out);
    cuda::GatherOperands<T> g;
    cuda::gather_operands(g, inputs, 2, experts, n, glu, weighted, out, "gather_matmul");
    if (out.size() == 0 || g.tokens == 0) return;
    std::shared_ptr<Buffer> keep_w;
    const T* ws = cuda::device_rows<T>(w, keep_w);
    const int64_t item = int64_t(sizeof(T));
    if ((k * item) % 16 == 0 && (g.shape.x_ld * item) % 16 == 0 && cuda::aligned16(g.x) && cuda::aligned16(ws))
      cuda::launch_gather(g.x, g.row_weights, o, g.shape, g.tokens, cuda::DenseVectorDot<T>{ws, k});
    else
      cuda::launch_gather(g.x, g.row_weights, o, g.shape, g.tokens, cuda::DenseScalarDot<T>{ws, k});
  });
}

void GatherQuantizedMatmul::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("gather_quantized_matmul");
  const Array &w = inputs[1], &scales = inputs[2], &biases = inputs[3];
  const int64_t experts = w.shape(0), n = w.shape(1), k = w.shape(2) * 32 / bits;
  TESSERA_CHECK(inputs[4].size() <= int64_t(INT32_MAX), "gather_quantized_matmul", "more than 2^31 - 1 rows");
  cuda::dispatch_float_dtype(out.dtype(), "gather_quantized_matmul", [&](auto t) {
    using T = decltype(t);
    T* o = cuda::allocate_output<T>(out);
    cuda::GatherOperands<T> g;
    cuda::gather_operands(g, inputs, 4, experts, n, glu, weighted, out, "gather_quantized_matmul");
    if (out.size() == 0 || g.tokens == 0) return;
    std::shared_ptr<Buffer> keep_w, keep_s, keep_b;
    const uint32_t* words = cuda::device_rows<uint32_t>(w, keep_w);
    const int codes_per_chunk = 4 * (32 / bits);
    const int64_t item = int64_t(sizeof(T));
    const bool chunked = (bits == 4 || bits == 8) && k % codes_per_chunk == 0 && group_size % codes_per_chunk == 0 &&
                         (g.shape.x_ld * item) % 16 == 0 && cuda::aligned16(g.x) && cuda::aligned16(words);
    // Scales and biases in their stored dtype (one dtype for both, checked by the op).
    cuda::dispatch_float_dtype(scales.dtype(), "gather_quantized_matmul", [&](auto scale_type) {
      using S = decltype(scale_type);
      const S* sp = cuda::device_rows<S>(scales, keep_s);
      const S* bp = cuda::device_rows<S>(biases, keep_b);
      auto launch = [&](auto dot) { cuda::launch_gather(g.x, g.row_weights, o, g.shape, g.tokens, dot); };
      if (chunked && bits == 4) launch(cuda::PackedChunkDot<T, S, 4>{words, sp, bp, group_size, k});
      else if (chunked) launch(cuda::PackedChunkDot<T, S, 8>{words, sp, bp, group_size, k});
      else if (bits == 2) launch(cuda::PackedWordDot<T, S, 2>{words, sp, bp, group_size, k});
      else if (bits == 4) launch(cuda::PackedWordDot<T, S, 4>{words, sp, bp, group_size, k});
      else launch(cuda::PackedWordDot<T, S, 8>{words, sp, bp, group_size, k});
    });
  });
}

}  // namespace tessera
