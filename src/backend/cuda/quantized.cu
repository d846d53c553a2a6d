// The quantized primitives on CUDA, in MLX's affine format (see ops/quantized.cpp). Quantizing
// runs one thread per group with the CPU's float32 arithmetic (IEEE division, no contraction),
// so both backends write the same bits. quantized_matmul with few rows (decode) is one fused
// kernel: a warp per output feature streams that feature's packed words once, dequantizes them
// in registers and dots them with every row of x. With more rows the arithmetic dominates, and
// the weight is dequantized into a scratch matrix for a cuBLASLt GEMM.
#include "backend/cuda/copy.h"
#include "backend/cuda/device_types.cuh"
#include "backend/cuda/epilogue.cuh"
#include "backend/cuda/gemm.h"
#include "backend/cuda/input_norm.cuh"
#include "backend/cuda/overlap.cuh"
#include "core/primitives.h"

namespace tessera {

namespace cuda {

namespace {

// Rows of x up to which the fused matrix-vector kernel runs.
constexpr int kFusedMaxRows = 8;
constexpr int kWarpsPerBlock = 8;

// `a` on the device, row-major, in `dtype`: itself when it already is, else a copy kept in `keep`.
template <typename T>
const T* contiguous_data(const Array& a, Dtype dtype, std::shared_ptr<Buffer>& keep) {
  if (a.is_contiguous() && a.dtype() == dtype && a.device().type == DeviceType::cuda) return device_data<T>(a);
  keep = contiguous_copy(a, dtype);
  return static_cast<const T*>(keep->device(Device::cuda(0)));
}

// The packed words with float32 scales and biases, all row-major on the device.
struct PackedWeights {
  const uint32_t* words;
  const float *scales, *biases;
  std::shared_ptr<Buffer> keep[3];
};
PackedWeights packed_weights(const Array& w, const Array& scales, const Array& biases) {
  PackedWeights p;
  p.words = contiguous_data<uint32_t>(w, Dtype::uint32, p.keep[0]);
  p.scales = contiguous_data<float>(scales, Dtype::float32, p.keep[1]);
  p.biases = contiguous_data<float>(biases, Dtype::float32, p.keep[2]);
  return p;
}

__global__ void group_params_kernel(const float* w, int64_t groups, int group_size, int bits, float* params) {
  int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (g >= groups) return;
  const float steps = float((1 << bits) - 1);
  const float* x = w + g * group_size;
  float lo = INFINITY, hi = -INFINITY;
  for (int i = 0; i < group_size; ++i) {
    lo = fminf(lo, x[i]);
    hi = fmaxf(hi, x[i]);
  }
  const bool low_edge = fabsf(lo) > fabsf(hi);
  float scale = fmaxf(__fdiv_rn(__fsub_rn(hi, lo), steps), 1e-7f);
  scale = low_edge ? scale : -scale;
  const float edge = low_edge ? lo : hi;
  const float q_edge = rintf(__fdiv_rn(edge, scale));
  float bias = 0.0f;
  if (q_edge != 0.0f) {
    scale = __fdiv_rn(edge, q_edge);
    bias = edge;
  }
  params[2 * g] = scale;
  params[2 * g + 1] = bias;
}

// One thread per packed word.
__global__ void pack_kernel(const float* w, const float* params, int64_t words, int group_size, int bits,
                            uint32_t* packed) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= words) return;
  const int per_word = 32 / bits;
  const int64_t first = i * per_word, g = first / group_size;
  const float scale = params[2 * g], bias = params[2 * g + 1], top = float((1 << bits) - 1);
  uint32_t word = 0;
  for (int p = 0; p < per_word; ++p) {
    float q = rintf(__fdiv_rn(__fsub_rn(w[first + p], bias), scale));
    word |= uint32_t(fminf(fmaxf(q, 0.0f), top)) << (p * bits);
  }
  packed[i] = word;
}

// Element e of the unpacked matrix is code e of the packed stream; its group is e / group_size
// (rows hold whole groups), so scales and biases index by that alone.
// A thread per packed word writes the word's values as one vector (4-bit codes into bfloat16: 16
// bytes), not as 32 / bits separate stores: the quantized prefill dequantizes every weight per
// call, and element stores made it ~3x slower than its memory traffic.
template <typename T, int Bits>
__global__ void dequantize_kernel(const uint32_t* packed, const float* scales, const float* biases, int64_t words,
                                  int group_size, T* out) {
  constexpr int kPerWord = 32 / Bits;
  struct alignas(kPerWord * sizeof(T) >= 16 ? 16 : kPerWord * sizeof(T)) Values {
    T v[kPerWord];
  };
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= words) return;
  const uint32_t mask = (1u << Bits) - 1, word = packed[i];
  const int64_t first = i * kPerWord, g = first / group_size;
  const float scale = scales[g], bias = biases[g];
  Values values;
#pragma unroll
  for (int p = 0; p < kPerWord; ++p) values.v[p] = store<T>(__fmaf_rn(float((word >> (p * Bits)) & mask), scale, bias));
  reinterpret_cast<Values*>(out)[i] = values;
}

template <typename T>
void launch_dequantize(const PackedWeights& w, int64_t words, int group_size, int bits, T* out) {
  auto kernel = bits == 2 ? dequantize_kernel<T, 2> : bits == 4 ? dequantize_kernel<T, 4> : dequantize_kernel<T, 8>;
  kernel<<<unsigned((words + 255) / 256), 256, 0, stream()>>>(w.words, w.scales, w.biases, words, group_size, out);
  check_launch("dequantize");
}

// out[r, n] = sum_k x[r, k] * W[n, k] (+ bias[n]) for r < rows <= kFusedMaxRows; W packed [N, K].
template <typename T, int Bits>
__global__ void fused_matvec_kernel(const T* x, int rows, int64_t k, const uint32_t* packed, const float* scales,
                                    const float* biases, int group_size, const float* bias, int64_t n, T* out) {
  constexpr int per_word = 32 / Bits;
  constexpr uint32_t mask = (1u << Bits) - 1;
  const int64_t feature = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (feature >= n) return;
  const int64_t words_per_row = k / per_word, groups_per_row = k / group_size;
  const uint32_t* w = packed + feature * words_per_row;
  float acc[kFusedMaxRows] = {};
  for (int64_t j = lane; j < words_per_row; j += 32) {
    const uint32_t word = w[j];
    const int64_t col = j * per_word, g = feature * groups_per_row + col / group_size;
    const float scale = scales[g], shift = biases[g];
#pragma unroll
    for (int p = 0; p < per_word; ++p) {
      const float value = float((word >> (p * Bits)) & mask) * scale + shift;
#pragma unroll
      for (int r = 0; r < kFusedMaxRows; ++r)
        if (r < rows) acc[r] += value * load(x[r * k + col + p]);
    }
  }
#pragma unroll
  for (int r = 0; r < kFusedMaxRows; ++r) {
    if (r >= rows) break;
    const float total = warp_sum(acc[r]);
    if (lane == 0) out[r * n + feature] = store<T>(total + (bias ? bias[feature] : 0.0f));
  }
}

// The decode kernel for 4- and 8-bit weights: each lane takes 16 bytes of packed words at a time
// (32 or 16 codes, inside one group since groups hold at least 32), reads that group's scale and
// bias in their stored dtype S (no converted copy of them per call), dequantizes the chunk once
// into registers and dots it with every row of x, read as 16-byte vectors.
template <typename T, typename S, int Bits>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    fused_matvec_chunks_kernel(const T* x, int rows, int64_t k, const uint32_t* packed, const S* scales,
                               const S* biases, int group_size, const T* bias, int64_t n, T* out) {
  constexpr int kPerWord = 32 / Bits, kCodes = 4 * kPerWord;  // codes per 16-byte chunk
  constexpr uint32_t kMask = (1u << Bits) - 1;
  using V = Vector16<T>;
  constexpr int kVectors = kCodes / V::kCount;  // x vectors per chunk and row
  const int64_t feature = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (feature >= n) return;
  const int64_t chunks = k / kCodes, groups_per_row = k / group_size;
  const uint4* w = reinterpret_cast<const uint4*>(packed) + feature * chunks;
  const S* row_scales = scales + feature * groups_per_row;
  const S* row_biases = biases + feature * groups_per_row;
  float acc[kFusedMaxRows] = {};
  for (int64_t c = lane; c < chunks; c += 32) {
    const uint4 q = w[c];
    const int64_t col = c * kCodes, g = col / group_size;
    const float scale = load(row_scales[g]), shift = load(row_biases[g]);
    const uint32_t words[4] = {q.x, q.y, q.z, q.w};
    float value[kCodes];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int p = 0; p < kPerWord; ++p) value[i * kPerWord + p] = float((words[i] >> (p * Bits)) & kMask) * scale + shift;
#pragma unroll
    for (int r = 0; r < kFusedMaxRows; ++r) {
      if (r >= rows) break;
      const V* xr = reinterpret_cast<const V*>(x + r * k + col);
#pragma unroll
      for (int v = 0; v < kVectors; ++v) {
        const V xv = xr[v];
#pragma unroll
        for (int e = 0; e < V::kCount; ++e) acc[r] += value[v * V::kCount + e] * load(xv.v[e]);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kFusedMaxRows; ++r) {
    if (r >= rows) break;
    const float total = warp_sum(acc[r]);
    if (lane == 0) out[r * n + feature] = store<T>(total + (bias ? load(bias[feature]) : 0.0f));
  }
}

// The same product with x staged in shared memory, for a decode step's few rows: the chunked
// kernel reads 64 bytes of x from L1 for every 16 bytes of weights (4-bit), at 32 different
// lines per warp, which held a Llama-3-8B 4-bit step at ~28% of the memory bandwidth. Here x
// lives in shared memory as float32, each chunk's 32 (4-bit) or 16 (8-bit) values followed by 4
// floats of padding so a quarter-warp's 16-byte reads of consecutive chunks hit distinct banks,
// with every chunk's sum of x beside it: sum_i (scale * q_i + bias) * x_i = scale * (q . x) + bias
// * sum(x). A warp takes kStagedFeatures features and keeps kStagedBatch 16-byte chunks of each in
// flight per lane; codes become floats by the exponent trick (0x4B000000 | q is 2^23 + q).
constexpr int kStagedFeatures = 4, kStagedBatch = 4;
constexpr size_t kMaxStagedShared = 160 * 1024;  // of the H100's 227 KB a block may have

size_t staged_shared_bytes(int bits, int rows, int64_t k) {
  const int64_t codes = 4 * (32 / bits), chunks = k / codes;
  return size_t(rows) * size_t(chunks) * size_t(codes + 4 + 1) * sizeof(float);
}

// The staged kernels' weight reads: chunks c0, c0 + 32, ... (kStagedBatch of them) of features
// first..first + kStagedFeatures - 1, all issued before any is used (zeros past the ends).
template <int F>
__device__ __forceinline__ void load_chunk_batch(const uint32_t* packed, int64_t first, int64_t n, int chunks, int c0,
                                                 uint4 (&q)[F][kStagedBatch], int64_t step = 1) {
#pragma unroll
  for (int f = 0; f < F; ++f)
#pragma unroll
    for (int b = 0; b < kStagedBatch; ++b) {
      const int c = c0 + 32 * b;
      const int64_t feature = first + f * step;
      q[f][b] = c < chunks && feature < n ? reinterpret_cast<const uint4*>(packed)[feature * chunks + c]
                                          : make_uint4(0, 0, 0, 0);
    }
}

template <typename T, typename S, int Bits, int Rows>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    fused_matvec_staged_kernel(const T* x, int, int64_t k, const uint32_t* packed, const S* scales,
                               const S* biases, int group_size, const T* bias, int64_t n, T* out) {
  constexpr int kPerWord = 32 / Bits, kCodes = 4 * kPerWord, kStride = kCodes + 4;
  constexpr uint32_t kMask = (1u << Bits) - 1;
  extern __shared__ float4 staged[];
  // 32-bit index arithmetic and shifts only: 64-bit divisions here cost more than the loads.
  const int chunks = int(k / kCodes), groups_per_row = int(k / group_size);
  const int chunk_shift = __ffs(group_size / kCodes) - 1;  // chunks per group: a power of two
  float* xs = reinterpret_cast<float*>(staged);  // [rows][chunks][kStride]
  float* sums = xs + Rows * chunks * kStride;    // [rows][chunks]
  for (int r = 0; r < Rows; ++r)
    for (int col = threadIdx.x; col < int(k); col += blockDim.x)
      xs[(r * chunks + col / kCodes) * kStride + col % kCodes] = load(x[int64_t(r) * k + col]);
  __syncthreads();
  for (int e = threadIdx.x; e < Rows * chunks; e += blockDim.x) {
    float total = 0.0f;
#pragma unroll
    for (int i = 0; i < kCodes; ++i) total += xs[e * kStride + i];
    sums[e] = total;
  }
  __syncthreads();

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t first = (int64_t(blockIdx.x) * kWarpsPerBlock + warp) * kStagedFeatures;
  if (first >= n) return;
  float acc[kStagedFeatures][Rows] = {};  // Rows a template argument: no unused accumulators
  for (int c0 = lane; c0 < chunks; c0 += 32 * kStagedBatch) {
    uint4 q[kStagedFeatures][kStagedBatch];
    load_chunk_batch(packed, first, n, chunks, c0, q);
#pragma unroll
    for (int f = 0; f < kStagedFeatures; ++f) {
      const int64_t feature = first + f;
      if (feature >= n) break;
#pragma unroll
      for (int b = 0; b < kStagedBatch; ++b) {
        const int c = c0 + 32 * b;
        if (c >= chunks) break;
        const int64_t g = feature * groups_per_row + (c >> chunk_shift);
        const float scale = load(scales[g]), shift = load(biases[g]);
        const uint32_t words[4] = {q[f][b].x, q[f][b].y, q[f][b].z, q[f][b].w};
        float value[kCodes];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int p = 0; p < kPerWord; ++p)
            value[i * kPerWord + p] = __int_as_float(0x4B000000 | ((words[i] >> (p * Bits)) & kMask)) - 8388608.0f;
#pragma unroll
        for (int r = 0; r < Rows; ++r) {
          const float4* xr = reinterpret_cast<const float4*>(xs + (r * chunks + c) * kStride);
          float dot = 0.0f;
#pragma unroll
          for (int v = 0; v < kCodes / 4; ++v) {
            const float4 xv = xr[v];
            dot += value[4 * v] * xv.x + value[4 * v + 1] * xv.y + value[4 * v + 2] * xv.z + value[4 * v + 3] * xv.w;
          }
          acc[f][r] += scale * dot + shift * sums[r * chunks + c];
        }
      }
    }
  }
#pragma unroll
  for (int f = 0; f < kStagedFeatures; ++f) {
    const int64_t feature = first + f;
    if (feature >= n) break;
#pragma unroll
    for (int r = 0; r < Rows; ++r) {
      const float total = warp_sum(acc[f][r]);
      if (lane == 0) out[r * n + feature] = store<T>(total + (bias ? load(bias[feature]) : 0.0f));
    }
  }
}

// quantized_linear's epilogue after bias and activation (or glu): + residual, then the store.
template <typename T>
struct LinearEpilogue {
  Activation activation = Activation::none;
  bool glu = false;
  const T* residual = nullptr;  // [outputs], one row
  __device__ T finish(int64_t feature, float v) const {
    return store<T>(residual ? load(residual[feature]) + rounded<T>(v) : v);
  }
};

// A decode step's one row against 4-bit weights with 16-bit activations, in integer dot
// products (llama.cpp's approach): x is quantized per chunk of 32 values to int8 (scale
// max|x|/127) while it is staged, and each 32-bit word of 8 codes meets it in two dp4a
// instructions (low nibbles are codes 0, 2, 4, 6; high nibbles 1, 3, 5, 7), ~1 instruction per
// code instead of ~5 dequantizing to float. Per chunk: scale_w * scale_x * (q . xq) + bias_w *
// sum(x), sum(x) exact in float32, codes centred (q - 8). The int8 rounding of x adds ~0.5%
// relative error on normal inputs (as llama.cpp's q8_1 activations); float32 activations keep
// the exact kernels. Shared record per chunk: 4 ints of low-nibble partners, 4 of high, scale_x,
// sum_x, sum of the int8 x, 1 pad (48 bytes: a quarter-warp's 16-byte reads of consecutive chunks
// hit distinct banks).
constexpr int kDp4aRecord = 12;
// Output features per warp. Measured on Llama-3-8B 4-bit decode steps (H100): 1 -> 3.55 ms, 2 ->
// 3.32, 4 -> 3.69. Four share each staged chunk of x but need 167 registers (one block an SM)
// and leave small layers too few blocks (the o projection: 128 blocks for 132 SMs); two take
// 105 (two blocks an SM).
constexpr int kDp4aFeatures = 2;

template <typename T, typename S, int F>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    fused_matvec_dp4a_kernel(const T* x, int64_t k, const uint32_t* packed, const S* scales, const S* biases,
                             int group_size, const T* bias, int64_t n, T* out, LinearEpilogue<T> epilogue,
                             InputNorm<T> norm, bool early_weights) {
  extern __shared__ int4 records[];
  const int chunks = int(k / 32), groups_per_row = int(k / group_size);
  const int chunk_shift = __ffs(group_size / 32) - 1;  // chunks per group: a power of two
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  // The warp's weight rows first, first + step, ...: F consecutive output features, or with glu
  // one output feature's gate row and up row (step = outputs, n = 2 * outputs).
  const int64_t warp_index = int64_t(blockIdx.x) * kWarpsPerBlock + warp;
  const int64_t first = epilogue.glu ? warp_index : warp_index * F, step = epilogue.glu ? n / 2 : 1;

  // A batch of this warp's packed words with their groups' scales and biases (kept as stored, so
  // nothing waits on the loads until the arithmetic uses them). The first batch is requested
  // before x is staged: it does not depend on x, and its memory latency then hides the staging;
  // and before waiting on the previous kernel when no kernel in flight writes the weights
  // (early_weights, overlap.cuh).
  uint4 q[F][kStagedBatch];
  S scale[F][kStagedBatch], shift[F][kStagedBatch];
  auto fetch = [&](int c0) {
    load_chunk_batch(packed, first, n, chunks, c0, q, step);
#pragma unroll
    for (int f = 0; f < F; ++f)
#pragma unroll
      for (int b = 0; b < kStagedBatch; ++b) {
        const int c = c0 + 32 * b;
        const int64_t g = (first + f * step) * groups_per_row + (c >> chunk_shift);
        const bool inside = c < chunks && first + f * step < n;
        scale[f][b] = inside ? scales[g] : S(0.0f);
        shift[f][b] = inside ? biases[g] : S(0.0f);
      }
  };
  if (!early_weights) wait_for_previous_kernel();
  fetch(lane);
  if (early_weights) wait_for_previous_kernel();
  allow_next_kernel();

  int* rec = reinterpret_cast<int*>(records);
  // With an input norm, rms_norm(x) is staged after the records (input_norm.cuh) and read from there.
  if (norm.weight) {
    T* normalized = reinterpret_cast<T*>(rec + chunks * kDp4aRecord);
    norm.stage(x, k, normalized);
    __syncthreads();
    x = normalized;
  }
  using V = Vector16<T>;
  // Two passes over each chunk of x (the second from L1), so few values are live at once next to
  // the weights already in flight.
  const V* xv = reinterpret_cast<const V*>(x);
  constexpr int kVectors = 32 / V::kCount;
  for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
    float amax = 0.0f, total = 0.0f;
#pragma unroll
    for (int j = 0; j < kVectors; ++j) {
      const V part = xv[c * kVectors + j];
#pragma unroll
      for (int e = 0; e < V::kCount; ++e) {
        const float v = load(part.v[e]);
        amax = fmaxf(amax, fabsf(v));
        total += v;
      }
    }
    const float sx = amax / 127.0f, inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    int* r = rec + c * kDp4aRecord;
    int quantized_sum = 0;
#pragma unroll
    for (int w = 0; w < 4; ++w) {
      float v[8];
#pragma unroll
      for (int j = 0; j < 8 / V::kCount; ++j) {
        const V part = xv[c * kVectors + w * (8 / V::kCount) + j];
#pragma unroll
        for (int e = 0; e < V::kCount; ++e) v[j * V::kCount + e] = load(part.v[e]);
      }
      uint32_t lo = 0, hi = 0;
#pragma unroll
      for (int b = 0; b < 4; ++b) {
        const int even = __float2int_rn(v[2 * b] * inv), odd = __float2int_rn(v[2 * b + 1] * inv);
        quantized_sum += even + odd;
        lo |= (uint32_t(even) & 0xFFu) << (8 * b);
        hi |= (uint32_t(odd) & 0xFFu) << (8 * b);
      }
      r[w] = int(lo);
      r[4 + w] = int(hi);
    }
    r[8] = __float_as_int(sx);
    r[9] = __float_as_int(total);
    r[10] = quantized_sum;
  }
  __syncthreads();

  if (first >= (epilogue.glu ? step : n)) return;
  float acc[F] = {};
  for (int c0 = lane; c0 < chunks; c0 += 32 * kStagedBatch) {
    if (c0 != lane) fetch(c0);
#pragma unroll
    for (int b = 0; b < kStagedBatch; ++b) {
      const int c = c0 + 32 * b;
      if (c >= chunks) break;
      const int4 xlo = records[c * (kDp4aRecord / 4)], xhi = records[c * (kDp4aRecord / 4) + 1];
      const float sx = __int_as_float(rec[c * kDp4aRecord + 8]), sum = __int_as_float(rec[c * kDp4aRecord + 9]);
      const int quantized_sum = rec[c * kDp4aRecord + 10];
#pragma unroll
      for (int f = 0; f < F; ++f) {
        const uint32_t words[4] = {q[f][b].x, q[f][b].y, q[f][b].z, q[f][b].w};
        const int lo_x[4] = {xlo.x, xlo.y, xlo.z, xlo.w}, hi_x[4] = {xhi.x, xhi.y, xhi.z, xhi.w};
        int dot = 0;
#pragma unroll
        for (int w = 0; w < 4; ++w) {
          dot = __dp4a(int(words[w] & 0x0F0F0F0Fu), lo_x[w], dot);
          dot = __dp4a(int((words[w] >> 4) & 0x0F0F0F0Fu), hi_x[w], dot);
        }
        // Centred codes (q - 8) carry x's rounding error with half the weight of q itself:
        // s q + b = s (q - 8) + (b + 8 s). Features past n read zeros and are never stored.
        const float s_w = load(scale[f][b]);
        acc[f] += s_w * sx * float(dot - 8 * quantized_sum) + (load(shift[f][b]) + 8.0f * s_w) * sum;
      }
    }
  }
  float total[F];
#pragma unroll
  for (int f = 0; f < F; ++f) total[f] = warp_sum(acc[f]) + (bias && first + f * step < n ? load(bias[first + f * step]) : 0.0f);
  if (lane != 0) return;
  if (epilogue.glu) {
    static_assert(F == 2, "glu pairs a gate row with an up row");
    out[first] = epilogue.finish(first, rounded<T>(activate(epilogue.activation, rounded<T>(total[0]))) * rounded<T>(total[1]));
    return;
  }
#pragma unroll
  for (int f = 0; f < F; ++f) {
    const int64_t feature = first + f;
    if (feature >= n) break;
    const float v = epilogue.activation == Activation::none ? total[f] : activate(epilogue.activation, rounded<T>(total[f]));
    out[feature] = epilogue.finish(feature, v);
  }
}

unsigned blocks_for(int64_t n, unsigned threads = 256) { return unsigned((n + threads - 1) / threads); }

}  // namespace

}  // namespace cuda

void QuantizeGroupParams::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("quantize");
  float* params = cuda::allocate_output<float>(out);
  const int64_t groups = inputs[0].size() / group_size;
  if (groups == 0) return;
  std::shared_ptr<Buffer> keep;
  const float* w = cuda::contiguous_data<float>(inputs[0], Dtype::float32, keep);
  cuda::group_params_kernel<<<cuda::blocks_for(groups), 256, 0, cuda::stream()>>>(w, groups, group_size, bits, params);
  cuda::check_launch("quantize group parameters");
}

void QuantizePack::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("quantize");
  uint32_t* packed = cuda::allocate_output<uint32_t>(out);
  const int64_t words = out.size();
  if (words == 0) return;
  std::shared_ptr<Buffer> keep_w, keep_params;
  const float* w = cuda::contiguous_data<float>(inputs[0], Dtype::float32, keep_w);
  const float* params = cuda::contiguous_data<float>(inputs[1], Dtype::float32, keep_params);
  cuda::pack_kernel<<<cuda::blocks_for(words), 256, 0, cuda::stream()>>>(w, params, words, group_size, bits, packed);
  cuda::check_launch("quantize pack");
}

void Dequantize::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("dequantize");
  cuda::PackedWeights w = cuda::packed_weights(inputs[0], inputs[1], inputs[2]);
  const int64_t words = inputs[0].size();
  cuda::dispatch_float_dtype(out.dtype(), "dequantize", [&](auto t) {
    using T = decltype(t);
    T* o = cuda::allocate_output<T>(out);
    if (words == 0) return;
    cuda::launch_dequantize<T>(w, words, group_size, bits, o);
  });
}

namespace {

// Whether the dp4a kernel takes this product: one row of 16-bit activations against 4-bit weights
// in whole 32-code chunks, packed words and group parameters contiguous on the device.
bool dp4a_takes(const QuantizedMatmul& p, const std::vector<Array>& inputs, Dtype dtype) {
  const Array &x = inputs[0], &words = inputs[1], &scales = inputs[2], &biases = inputs[3];
  const int64_t k = x.shape(-1);
  auto on_device = [](const Array& a) { return a.is_contiguous() && a.device().type == DeviceType::cuda; };
  auto aligned = [](const Array& a) { return cuda::aligned16(cuda::device_address(a)); };
  const Dtype s = scales.dtype();
  // The input norm's weight is read in 16-byte vectors where it is used in place.
  const bool norm_weight_ok = !p.norm_eps || [&] {
    const Array& w = inputs[p.norm_index()];
    return !(on_device(w) && w.dtype() == dtype) || aligned(w);
  }();
  return norm_weight_ok && p.transpose && p.bits == 4 && k > 0 && x.size() == k && dtype != Dtype::float32 && k % 32 == 0 &&
         p.group_size % 32 == 0 && on_device(words) && on_device(scales) && on_device(biases) &&
         scales.dtype() == biases.dtype() && (s == Dtype::float32 || s == Dtype::float16 || s == Dtype::bfloat16) &&
         aligned(words) && (!on_device(x) || x.dtype() != dtype || aligned(x)) &&
         size_t(k / 32) * cuda::kDp4aRecord * sizeof(int) <= cuda::kMaxStagedShared;
}

}  // namespace

void QuantizedMatmul::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("quantized_matmul");
  const Array& x = inputs[0];
  const Dtype dtype = out.dtype();
  // The prologue (input norm) and epilogue (activation, glu, residual) ride in the dp4a kernel,
  // a decode step's 4-bit product; other shapes run them as the separate ops.
  const bool dp4a = dp4a_takes(*this, inputs, dtype);
  if (has_epilogue() && !dp4a) return eval_unfused(inputs, out, true);
  const int64_t k = x.shape(-1), n = glu ? 2 * out.shape(-1) : out.shape(-1), rows = x.size() / std::max<int64_t>(k, 1);
  cuda::dispatch_float_dtype(dtype, "quantized_matmul", [&](auto t) {
    using T = decltype(t);
    T* o = cuda::allocate_output<T>(out);
    if (out.size() == 0) return;
    if (transpose && rows <= cuda::kFusedMaxRows) {
      std::shared_ptr<Buffer> keep_x;
      const T* xs = cuda::contiguous_data<T>(x, dtype, keep_x);
      const unsigned blocks = unsigned((n + cuda::kWarpsPerBlock - 1) / cuda::kWarpsPerBlock);
      // 4/8 bits with scales and biases as stored: the chunked kernel, reading nothing converted.
      const Array &words = inputs[1], &scales = inputs[2], &biases = inputs[3];
      const int codes_per_chunk = 4 * (32 / bits);
      bool chunked = (bits == 4 || bits == 8) && k % codes_per_chunk == 0 && group_size % codes_per_chunk == 0 &&
                     words.is_contiguous() && scales.is_contiguous() && biases.is_contiguous() &&
                     scales.dtype() == biases.dtype() && words.device().type == DeviceType::cuda &&
                     scales.device().type == DeviceType::cuda && biases.device().type == DeviceType::cuda &&
                     cuda::aligned16(cuda::device_data<uint32_t>(words)) && cuda::aligned16(xs);
      // The layer's bias as stored (the model's dtype): no float32 copy per call.
      std::shared_ptr<Buffer> keep_typed_bias;
      const T* typed_bias = has_bias ? cuda::contiguous_data<T>(inputs[4], dtype, keep_typed_bias) : nullptr;
      if (chunked) {
        bool dispatched = true;
        auto with_scales = [&](auto scale_type) {
          using S = decltype(scale_type);
          const uint32_t* wp = cuda::device_data<uint32_t>(words);
          const S *sp = cuda::device_data<S>(scales), *bp = cuda::device_data<S>(biases);
          // x staged in shared memory where it fits (a decode step's rows), else read through L1.
          const size_t shared = cuda::staged_shared_bytes(bits, int(rows), k);
          const size_t dp4a_shared = size_t(k / 32) * cuda::kDp4aRecord * sizeof(int);
          if constexpr (!std::is_same_v<T, float>) {
            if (dp4a) {
              auto kernel = cuda::fused_matvec_dp4a_kernel<T, S, cuda::kDp4aFeatures>;
              // With an input norm, rms_norm(x) is staged after the records.
              const size_t shared_bytes = dp4a_shared + (norm_eps ? size_t(k) * sizeof(T) : 0);
              cuda::check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared_bytes)),
                          "cudaFuncSetAttribute(quantized matrix-vector)");
              cuda::LinearEpilogue<T> epilogue{activation, glu, nullptr};
              std::shared_ptr<Buffer> keep_residual, keep_norm;
              if (has_residual) epilogue.residual = cuda::contiguous_data<T>(inputs.back(), dtype, keep_residual);
              cuda::InputNorm<T> norm;
              if (norm_eps) norm = {cuda::contiguous_data<T>(inputs[norm_index()], dtype, keep_norm), *norm_eps};
              const int64_t per_block = int64_t(cuda::kWarpsPerBlock) * (glu ? 1 : cuda::kDp4aFeatures);
              const int64_t warps_of = glu ? n / 2 : n;
              const bool early = cuda::settled(words) && cuda::settled(scales) && cuda::settled(biases);
              cuda::launch_overlapping(kernel, unsigned((warps_of + per_block - 1) / per_block),
                                       cuda::kWarpsPerBlock * 32, shared_bytes, xs, k, wp, sp, bp, group_size,
                                       typed_bias, n, o, epilogue, norm, early);
              return;
            }
          }
          if (shared <= cuda::kMaxStagedShared && rows <= 2) {
            auto pick = [&](auto rows_const) {
              constexpr int R = decltype(rows_const)::value;
              return bits == 4 ? cuda::fused_matvec_staged_kernel<T, S, 4, R> : cuda::fused_matvec_staged_kernel<T, S, 8, R>;
            };
            auto kernel = rows == 1 ? pick(std::integral_constant<int, 1>{}) : pick(std::integral_constant<int, 2>{});
            cuda::check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared)),
                        "cudaFuncSetAttribute(quantized matrix-vector)");
            const int64_t per_block = int64_t(cuda::kWarpsPerBlock) * cuda::kStagedFeatures;
            kernel<<<unsigned((n + per_block - 1) / per_block), cuda::kWarpsPerBlock * 32, shared, cuda::stream()>>>(
                xs, int(rows), k, wp, sp, bp, group_size, typed_bias, n, o);
            return;
          }
          auto kernel = bits == 4 ? cuda::fused_matvec_chunks_kernel<T, S, 4> : cuda::fused_matvec_chunks_kernel<T, S, 8>;
          kernel<<<blocks, cuda::kWarpsPerBlock * 32, 0, cuda::stream()>>>(xs, int(rows), k, wp, sp, bp, group_size,
                                                                         typed_bias, n, o);
        };
        switch (scales.dtype()) {
          case Dtype::float32: with_scales(float{}); break;
          case Dtype::float16: with_scales(__half{}); break;
          case Dtype::bfloat16: with_scales(__nv_bfloat16{}); break;
          default: dispatched = false;
        }
        if (dispatched) {
          cuda::check_launch("quantized matrix-vector");
          return;
        }
      }
      // Other bit widths and layouts: float32 copies of the scales, biases and bias.
      cuda::PackedWeights w = cuda::packed_weights(inputs[1], inputs[2], inputs[3]);
      std::shared_ptr<Buffer> keep_bias;
      const float* bias = has_bias ? cuda::contiguous_data<float>(inputs[4], Dtype::float32, keep_bias) : nullptr;
      auto launch = [&](auto kernel) {
        kernel<<<blocks, cuda::kWarpsPerBlock * 32, 0, cuda::stream()>>>(xs, int(rows), k, w.words, w.scales, w.biases,
                                                                         group_size, bias, n, o);
      };
      switch (bits) {
        case 2: launch(cuda::fused_matvec_kernel<T, 2>); break;
        case 4: launch(cuda::fused_matvec_kernel<T, 4>); break;
        default: launch(cuda::fused_matvec_kernel<T, 8>); break;
      }
      cuda::check_launch("quantized matrix-vector");
      return;
    }
    // Dequantize into scratch [N, K] (transposed) or [K, N], then one GEMM over all rows of x.
    cuda::PackedWeights w = cuda::packed_weights(inputs[1], inputs[2], inputs[3]);
    const int64_t words = inputs[1].size();
    auto scratch = Buffer::allocate_device(Device::cuda(0), size_t(words) * (32 / bits) * sizeof(T));
    T* dense = static_cast<T*>(scratch->mutable_device(Device::cuda(0)));
    cuda::launch_dequantize<T>(w, words, group_size, bits, dense);
    // Views of device storage, on the output's stream.
    auto view = [&](std::shared_ptr<Buffer> buffer, Shape shape, Strides strides = {}, int64_t offset = 0) {
      return Array::from_buffer(std::move(buffer), out.stream(), std::move(shape), dtype, std::move(strides), offset);
    };
    Array weight = transpose ? view(scratch, {k, n}, {1, k}) : view(scratch, {k, n});
    Array x2d = x.is_contiguous() && x.dtype() == dtype && x.device().type == DeviceType::cuda
                    ? view(x.buffer(), {rows, k}, {k, 1}, x.offset())
                    : view(cuda::contiguous_copy(x, dtype), {rows, k});
    Array out2d = view(out.buffer(), {rows, n});
    std::optional<Array> bias;
    if (has_bias)
      bias = inputs[4].dtype() == dtype && inputs[4].device().type == DeviceType::cuda
                 ? inputs[4]
                 : view(cuda::contiguous_copy(inputs[4], dtype), {n});
    cuda::gemm(x2d, weight, bias ? &*bias : nullptr, out2d);
  });
}

// int8 compute (per-token int8 activations against 8-bit weights) is the CPU's AMX/VNNI path; on
// the GPU the exact quantized_matmul above is the 8-bit path.
void QuantizedMatmulInt8::eval_cuda(const std::vector<Array>&, Array&) {
  fail("quantized_matmul_int8", "not supported on cuda (use 8-bit weights without --int8-compute)");
}

}  // namespace tessera
