// LayerNorm and RMSNorm over the last axis: one warp per row, statistics in float32 with a
// two-pass variance (E[x^2]-E[x]^2 loses digits on activations with a large mean).
#include <optional>

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

// Up to kCached elements per lane (rows of 32 * kCached = 1024 features: every encoder here) stay
// in registers between the passes, so x (and the residual) are read from memory once; longer
// rows are re-read per pass.
constexpr int kCached = 32;

template <typename T>
__global__ void layer_norm_kernel(const T* x, const T* residual, T* out, RowLayout layout, RowLayout residual_layout,
                                  FeatureVector<T> weight, FeatureVector<T> bias, float eps, bool rms) {
  int64_t row = int64_t(blockIdx.x) * kRowWarpsPerBlock + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (row >= layout.row_count) return;
  const T* in = x + row_offset(layout, row);
  const T* res = residual ? residual + row_offset(residual_layout, row) : nullptr;
  T* o = out + row * layout.row_length;
  const int64_t n = layout.row_length, stride = layout.inner_stride, res_stride = residual_layout.inner_stride;
  const bool cached = n <= 32 * kCached;
  auto value = [&](int64_t i) { return load(in[i * stride]) + (res ? load(res[i * res_stride]) : 0.0f); };
  float v[kCached];
  float mean = 0.0f;
  if (cached) {
#pragma unroll
    for (int j = 0; j < kCached; ++j) {
      int64_t i = lane + 32 * j;
      v[j] = i < n ? value(i) : 0.0f;
      mean += v[j];
    }
  } else {
    for (int64_t i = lane; i < n; i += 32) mean += value(i);
  }
  mean = rms ? 0.0f : warp_sum(mean) / float(n);
  float squares = 0.0f;
  if (cached) {
#pragma unroll
    for (int j = 0; j < kCached; ++j) {
      float d = lane + 32 * j < n ? v[j] - mean : 0.0f;
      squares += d * d;
    }
  } else {
    for (int64_t i = lane; i < n; i += 32) {
      float d = value(i) - mean;
      squares += d * d;
    }
  }
  float inv = rsqrtf(warp_sum(squares) / float(n) + eps);
  auto write = [&](int64_t i, float xi) { o[i] = store<T>(bias.apply_shift(weight.apply_scale((xi - mean) * inv, i), i)); };
  if (cached) {
#pragma unroll
    for (int j = 0; j < kCached; ++j)
      if (lane + 32 * j < n) write(lane + 32 * j, v[j]);
  } else {
    for (int64_t i = lane; i < n; i += 32) write(i, value(i));
  }
}

// Contiguous rows of 16-byte chunks: every load and store is 16 bytes, and x, the residual,
// weight and bias are each read once (the row stays in registers between the passes). Rows of up
// to 32 * kChunks chunks (1024 16-bit or 512 float32 features) take one warp each (kThreads 32);
// longer ones (a decoder's 4096-wide hidden state) one 256-thread block each, up to 8192 features.
constexpr int kChunks = 4, kLongRowThreads = 256;

// Sum over the kThreads threads of a row: a warp reduction, plus shared memory for a block.
template <int kThreads>
__device__ __forceinline__ float row_sum(float v) {
  v = warp_sum(v);
  if constexpr (kThreads > 32) {
    __shared__ float partial[kThreads / 32];
    __syncthreads();  // the previous reduction's reads are done
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
    __syncthreads();
    v = 0.0f;
#pragma unroll
    for (int i = 0; i < kThreads / 32; ++i) v += partial[i];
  }
  return v;
}

// Normalises one row held in registers as kChunks 16-byte chunks per thread (chunk c = lane +
// kThreads * j; chunks past the row hold zeros) and writes it: mean (none for RMS), variance,
// then weight and bias, all as 16-byte vectors.
template <typename T, int kThreads>
__device__ __forceinline__ void normalize_cached_row(const float (&v)[kChunks][Vector16<T>::kCount], int lane,
                                                     int n, bool rms, float eps, const T* weight, const T* bias,
                                                     Vector16<T>* o) {
  using V = Vector16<T>;
  constexpr int E = V::kCount;
  const int chunks = n / E;
  float mean = 0.0f;
  if (!rms) {
#pragma unroll
    for (int j = 0; j < kChunks; ++j)
#pragma unroll
      for (int e = 0; e < E; ++e) mean += v[j][e];
    mean = row_sum<kThreads>(mean) / float(n);
  }
  float squares = 0.0f;
#pragma unroll
  for (int j = 0; j < kChunks; ++j) {
#pragma unroll
    for (int e = 0; e < E; ++e) {
      float d = lane + kThreads * j < chunks ? v[j][e] - mean : 0.0f;
      squares += d * d;
    }
  }
  float inv = rsqrtf(row_sum<kThreads>(squares) / float(n) + eps);
#pragma unroll
  for (int j = 0; j < kChunks; ++j) {
    int c = lane + kThreads * j;
    if (c >= chunks) break;
    V w = weight ? reinterpret_cast<const V*>(weight)[c] : V{}, b = bias ? reinterpret_cast<const V*>(bias)[c] : V{}, y;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      float value = (v[j][e] - mean) * inv;
      if (weight) value *= load(w.v[e]);
      if (bias) value += load(b.v[e]);
      y.v[e] = store<T>(value);
    }
    o[c] = y;
  }
}

template <typename T, int kThreads>
__global__ void layer_norm_vector_kernel(const T* x, const T* residual, T* out, RowLayout layout,
                                         RowLayout residual_layout, const T* weight, const T* bias, float eps,
                                         bool rms) {
  using V = Vector16<T>;
  constexpr int E = V::kCount;
  constexpr int kRowsPerBlock = kThreads == 32 ? kRowWarpsPerBlock : 1;
  int64_t row = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / kThreads;
  int lane = threadIdx.x % kThreads;
  if (row >= layout.row_count) return;  // uniform per block when a block owns one row
  const int n = int(layout.row_length), chunks = n / E;
  const V* in = reinterpret_cast<const V*>(x + row_offset(layout, row));
  const V* res = residual ? reinterpret_cast<const V*>(residual + row_offset(residual_layout, row)) : nullptr;
  V* o = reinterpret_cast<V*>(out + row * n);
  float v[kChunks][E];
#pragma unroll
  for (int j = 0; j < kChunks; ++j) {
    int c = lane + kThreads * j;
    V a = c < chunks ? in[c] : V{}, r = res && c < chunks ? res[c] : V{};
#pragma unroll
    for (int e = 0; e < E; ++e) v[j][e] = c < chunks ? load(a.v[e]) + (res ? load(r.v[e]) : 0.0f) : 0.0f;
  }
  normalize_cached_row<T, kThreads>(v, lane, n, rms, eps, weight, bias, o);
}

// embedding_layer_norm: a warp per token sums its rows of up to three tables (16-byte chunks, at
// most 2 KB a row: the op builder guarantees it) and normalises them, as the vector kernel above.
struct EmbeddingTables {
  const void* table[3];
  const void* ids[3];
  int64_t rows[3];
  int count;
};

template <typename T, typename I>
__global__ void embedding_layer_norm_kernel(EmbeddingTables e, const T* weight, const T* bias, T* out, int64_t tokens,
                                            int width, float eps, int* error) {
  using V = Vector16<T>;
  constexpr int E = V::kCount;
  int64_t token = int64_t(blockIdx.x) * kRowWarpsPerBlock + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (token >= tokens) return;
  const int chunks = width / E;
  float v[kChunks][E] = {};
  for (int i = 0; i < e.count; ++i) {
    int64_t id = int64_t(static_cast<const I*>(e.ids[i])[token]);
    if (id < 0 || id >= e.rows[i]) {
      *error = int(DeviceError::index_out_of_range);
      id = 0;
    }
    const V* src = reinterpret_cast<const V*>(static_cast<const T*>(e.table[i]) + id * width);
#pragma unroll
    for (int j = 0; j < kChunks; ++j) {
      int c = lane + 32 * j;
      if (c >= chunks) break;
      V a = src[c];
#pragma unroll
      for (int k = 0; k < E; ++k) v[j][k] += load(a.v[k]);
    }
  }
  normalize_cached_row<T, 32>(v, lane, width, false, eps, weight, bias, reinterpret_cast<V*>(out + token * width));
}

}  // namespace

}  // namespace cuda

namespace {

// The vector kernel applies when rows are contiguous, 16-byte aligned and at most 32 * kChunks
// chunks long, and weight/bias are contiguous.
template <typename T>
bool vector_rows(const cuda::RowLayout& layout, const T* data) {
  int64_t row_bytes = layout.row_length * int64_t(sizeof(T));
  bool rows_aligned = layout.row_count <= 1 || (layout.rows.ndim == 1 && (layout.rows.strides[0][0] * int64_t(sizeof(T))) % 16 == 0);
  return layout.inner_stride == 1 && row_bytes % 16 == 0 &&
         row_bytes <= cuda::kLongRowThreads * 16 * cuda::kChunks && rows_aligned && cuda::aligned16(data);
}

template <typename T>
bool vector_feature(const cuda::FeatureVector<T>& f) {
  return !f.data || (f.stride == 1 && cuda::aligned16(f.data));
}

void run_norm(const std::vector<Array>& inputs, Array& out, float eps, const Array* residual,
              std::optional<size_t> weight_index, std::optional<size_t> bias_index, bool rms) {
  const Array& in = inputs[0];
  cuda::dispatch_float_dtype(out.dtype(), rms ? "rms_norm" : "layer_norm", [&](auto t) {
    using T = decltype(t);
    T* o = cuda::allocate_output<T>(out);
    if (out.size() == 0) return;
    cuda::RowLayout layout = cuda::row_layout(in);
    cuda::RowLayout residual_layout = residual ? cuda::row_layout(*residual) : layout;
    auto weight = cuda::feature_vector<T>(inputs, weight_index.has_value(), weight_index.value_or(0));
    auto bias = cuda::feature_vector<T>(inputs, bias_index.has_value(), bias_index.value_or(0));
    const T* x = cuda::device_data<T>(in);
    const T* r = residual ? cuda::device_data<T>(*residual) : nullptr;
    unsigned blocks = cuda::row_blocks(layout.row_count), threads = cuda::kRowWarpsPerBlock * 32;
    if (vector_rows(layout, x) && (!r || vector_rows(residual_layout, r)) && vector_feature(weight) &&
        vector_feature(bias)) {
      if (layout.row_length * int64_t(sizeof(T)) <= 32 * 16 * cuda::kChunks)
        cuda::layer_norm_vector_kernel<T, 32><<<blocks, threads, 0, cuda::stream()>>>(
            x, r, o, layout, residual_layout, weight.data, bias.data, eps, rms);
      else
        cuda::layer_norm_vector_kernel<T, cuda::kLongRowThreads>
            <<<unsigned(layout.row_count), cuda::kLongRowThreads, 0, cuda::stream()>>>(
                x, r, o, layout, residual_layout, weight.data, bias.data, eps, rms);
    } else {
      cuda::layer_norm_kernel<T><<<blocks, threads, 0, cuda::stream()>>>(x, r, o, layout, residual_layout, weight,
                                                                        bias, eps, rms);
    }
    cuda::check_launch(rms ? "rms_norm" : "layer_norm");
  });
}

}  // namespace

void LayerNorm::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("layer_norm");
  run_norm(inputs, out, eps, has_residual ? &inputs[1] : nullptr,
           has_weight ? std::optional(weight_index()) : std::nullopt,
           has_bias ? std::optional(bias_index()) : std::nullopt, false);
}

void EmbeddingLayerNorm::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("embedding_layer_norm");
  const int width = int(inputs[0].shape(1));
  cuda::dispatch_float_dtype(out.dtype(), "embedding_layer_norm", [&](auto t) {
    using T = decltype(t);
    T* o = cuda::allocate_output<T>(out);
    if (out.size() == 0) return;
    const int64_t tokens = out.size() / width;
    size_t next = size_t(2 * tables);
    const T* weight = has_weight ? cuda::device_data<T>(inputs[next++]) : nullptr;
    const T* bias = has_bias ? cuda::device_data<T>(inputs[next]) : nullptr;
    auto launch = [&](auto index_type) {
      using I = decltype(index_type);
      cuda::EmbeddingTables e{};
      e.count = tables;
      for (int i = 0; i < tables; ++i) {
        const Array& table = inputs[size_t(i)];
        if (!cuda::aligned16(cuda::device_data<T>(table)))
          fail("embedding_layer_norm", "table rows must start 16-byte aligned on cuda");
        e.table[i] = cuda::device_data<T>(table);
        e.ids[i] = cuda::device_data<I>(inputs[size_t(tables + i)]);
        e.rows[i] = table.shape(0);
      }
      cuda::embedding_layer_norm_kernel<T, I><<<cuda::row_blocks(tokens), cuda::kRowWarpsPerBlock * 32, 0,
                                                cuda::stream()>>>(e, weight, bias, o, tokens, width, eps,
                                                                  cuda::error_flag());
      cuda::check_launch("embedding_layer_norm");
    };
    if (inputs[size_t(tables)].dtype() == Dtype::int64)
      launch(int64_t{});
    else
      launch(int32_t{});
  });
}

void RMSNorm::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("rms_norm");
  run_norm(inputs, out, eps, nullptr, has_weight ? std::optional<size_t>(1) : std::nullopt, std::nullopt, true);
}

}  // namespace tessera
