// Matrix-vector products for a few rows (decoding: one token per sequence), where a GEMM library
// tiles for large M and leaves memory bandwidth unused: out[m, n] = x[m, :] · W[n, :] (+ bias[n])
// with W stored [N, K] as a Linear weight. A warp owns an output column n and streams W's row n
// once in 16-byte loads for all (up to kGemvMaxRows) rows of x, which stay in L1/L2; float32
// accumulation, one rounding at the end.
#include "backend/cuda/device_types.cuh"
#include "backend/cuda/epilogue.cuh"
#include "backend/cuda/gemv.h"
#include "backend/cuda/input_norm.cuh"
#include "backend/cuda/overlap.cuh"

namespace tessera::cuda {

namespace {

constexpr int kWarpsPerBlock = 8;
// 16-byte weight loads in flight per lane. Measured in a replayed graph (bench/decode_kernels.cpp,
// H100, Llama-3-8B shapes): 8 loads a lane, 4 or 16 warps a block, or 2 warps a block with 8 loads
// were each slower or level on every shape (variants of session 6, docs/benchmarks.md).
constexpr int kLoads = 4;

// The first kLoads 16-byte chunks a lane reads of a weight row (lane, lane + 32, ...), requested
// before anything that does not need them (waiting on the previous kernel, staging x).
template <typename T, int U = kLoads>
struct FirstChunks {
  Vector16<T> v[U];
};
template <typename T, int U = kLoads>
__device__ __forceinline__ FirstChunks<T, U> first_chunks(const T* w_row_ptr, int64_t k, int lane) {
  using V = Vector16<T>;
  FirstChunks<T, U> f{};
  if (lane + 32 * (U - 1) < k / V::kCount) {
    const V* w_row = reinterpret_cast<const V*>(w_row_ptr);
#pragma unroll
    for (int u = 0; u < U; ++u) f.v[u] = w_row[lane + 32 * u];
  }
  return f;
}

// acc[r] += x[r, :] . w_row over this lane's share of the 16-byte chunks, starting from `first`:
// U independent 16-byte weight loads in flight per lane before they are used.
template <typename T, int kRows, int U = kLoads>
__device__ __forceinline__ void dot_rows(const T* x, int64_t x_ld, const T* w_row_ptr, int64_t k, int lane,
                                         const FirstChunks<T, U>& first, float (&acc)[kRows]) {
  using V = Vector16<T>;
  constexpr int E = V::kCount;
  const V* w_row = reinterpret_cast<const V*>(w_row_ptr);
  int64_t chunks = k / E;
  auto accumulate = [&](const V (&wv)[U], int64_t c) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        V xv = reinterpret_cast<const V*>(x + r * x_ld)[c + 32 * u];
#pragma unroll
        for (int e = 0; e < E; ++e) acc[r] += load(wv[u].v[e]) * load(xv.v[e]);
      }
    }
  };
  constexpr int kSpan = 32 * (U - 1);
  int64_t c = lane;
  if (c + kSpan < chunks) {
    accumulate(first.v, c);
    c += 32 * U;
  }
  for (; c + kSpan < chunks; c += 32 * U) {
    V wv[U];
#pragma unroll
    for (int u = 0; u < U; ++u) wv[u] = w_row[c + 32 * u];
    accumulate(wv, c);
  }
  for (; c < chunks; c += 32) {
    V wv = w_row[c];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      V xv = reinterpret_cast<const V*>(x + r * x_ld)[c];
#pragma unroll
      for (int e = 0; e < E; ++e) acc[r] += load(wv.v[e]) * load(xv.v[e]);
    }
  }
}

// A warp per output feature `col`: its weight row (with glu also the up row col + n), then the
// epilogue in the order and with the roundings of the separate ops: + bias, activation, * up,
// + residual. The first weight chunks are requested before waiting on the previous kernel when
// no kernel in flight writes the weights (early_weights; overlap.cuh); with kNorm the block then
// stages rms_norm(x) in shared memory (input_norm.cuh).
template <typename T, int kRows, bool kGlu, bool kNorm>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    gemv_kernel(const T* x, int64_t x_ld, const T* w, int64_t w_ld, const T* bias, T* out, int64_t n, int64_t k,
                Activation activation, const T* residual, InputNorm<T> norm, bool early_weights) {
  int64_t col = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  const bool active = col < n;
  if (!early_weights) wait_for_previous_kernel();
  FirstChunks<T> gate_first{}, up_first{};
  if (active) gate_first = first_chunks<T>(w + col * w_ld, k, lane);
  if (kGlu && active) up_first = first_chunks<T>(w + (col + n) * w_ld, k, lane);
  if (early_weights) wait_for_previous_kernel();
  allow_next_kernel();
  if constexpr (kNorm) {
    extern __shared__ int4 staged[];
    T* xs = reinterpret_cast<T*>(staged);  // [kRows][k]
#pragma unroll
    for (int r = 0; r < kRows; ++r) norm.stage(x + r * x_ld, k, xs + r * k);
    __syncthreads();
    x = xs;
    x_ld = k;
  }
  if (!active) return;
  float acc[kRows] = {}, up[kRows] = {};
  dot_rows<T, kRows>(x, x_ld, w + col * w_ld, k, lane, gate_first, acc);
  if constexpr (kGlu) dot_rows<T, kRows>(x, x_ld, w + (col + n) * w_ld, k, lane, up_first, up);
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    float v = warp_sum(acc[r]) + (bias ? load(bias[col]) : 0.0f);
    if constexpr (kGlu) {
      float u = warp_sum(up[r]) + (bias ? load(bias[col + n]) : 0.0f);
      v = rounded<T>(activate(activation, rounded<T>(v))) * rounded<T>(u);
    } else if (activation != Activation::none) {
      v = activate(activation, rounded<T>(v));
    }
    if (residual) v = load(residual[r * n + col]) + rounded<T>(v);
    if (lane == 0) out[r * n + col] = store<T>(v);
  }
}

template <typename T, int kRows>
void launch(const GemvOperands& g) {
  unsigned blocks = unsigned((g.n + kWarpsPerBlock - 1) / kWarpsPerBlock);
  const InputNorm<T> norm{static_cast<const T*>(g.norm_weight), g.norm_eps};
  const bool normed = g.norm_weight != nullptr;
  auto kernel = g.glu ? (normed ? gemv_kernel<T, kRows, true, true> : gemv_kernel<T, kRows, true, false>)
                      : (normed ? gemv_kernel<T, kRows, false, true> : gemv_kernel<T, kRows, false, false>);
  const size_t shared = normed ? size_t(kRows) * size_t(g.k) * sizeof(T) : 0;
  launch_overlapping(kernel, blocks, kWarpsPerBlock * 32, shared, static_cast<const T*>(g.x), g.x_ld,
                     static_cast<const T*>(g.w), g.w_ld, static_cast<const T*>(g.bias), static_cast<T*>(g.out), g.n,
                     g.k, g.activation, static_cast<const T*>(g.residual), norm, g.early_weights);
  check_launch("gemv");
}

template <typename T>
void launch_rows(const GemvOperands& g) {
  switch (g.rows) {
    case 1: return launch<T, 1>(g);
    case 2: return launch<T, 2>(g);
    case 3: return launch<T, 3>(g);
    case 4: return launch<T, 4>(g);
    case 5: return launch<T, 5>(g);
    case 6: return launch<T, 6>(g);
    case 7: return launch<T, 7>(g);
    default: return launch<T, 8>(g);
  }
}

}  // namespace

bool gemv(Dtype dtype, const GemvOperands& g) {
  int64_t item = int64_t(itemsize(dtype));
  bool fits = g.rows >= 1 && g.rows <= kGemvMaxRows && g.n > 0 && g.k > 0 && (g.k * item) % 16 == 0 &&
              (g.x_ld * item) % 16 == 0 && (g.w_ld * item) % 16 == 0 && aligned16(g.x) && aligned16(g.w) &&
              (!g.glu || g.activation != Activation::none) &&
              (!g.norm_weight || (g.rows * g.k * item <= kGemvMaxNormBytes && aligned16(g.norm_weight)));
  if (!fits) return false;
  switch (dtype) {
    case Dtype::float32: launch_rows<float>(g); return true;
    case Dtype::float16: launch_rows<__half>(g); return true;
    case Dtype::bfloat16: launch_rows<__nv_bfloat16>(g); return true;
    default: return false;
  }
}

}  // namespace tessera::cuda
