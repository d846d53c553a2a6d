// The tensor-core path of scaled_dot_product_attention for float16/bfloat16 with head dim 64 or
// 128 (BERT-base, Llama): flash-attention over 64-query x 64-key tiles. Q K^T and P V run on
// WMMA 16x16x16 fragments with float32 accumulation; the online softmax (scale, mask, causal
// limit, running max and sum) runs on the scores in shared memory, two lanes per query row.
// The output accumulator lives in shared memory in float32 so it can be rescaled per row.
#include <mma.h>

#include "backend/cuda/attention.h"
#include "backend/cuda/attention_tensor_core.h"
#include "backend/cuda/device_types.cuh"

namespace tessera::cuda {

namespace {

constexpr int kTileQ = 64, kTileK = 64, kWarps = 4, kWarpRows = kTileQ / kWarps;

template <int D>
struct SharedLayout {
  static constexpr int q = 0;                                  // [kTileQ][D] T
  static constexpr int k = q + kTileQ * D * 2;                 // [kTileK][D] T
  static constexpr int v = k + kTileK * D * 2;                 // [kTileK][D] T
  static constexpr int p = v + kTileK * D * 2;                 // [kTileQ][kTileK] T
  static constexpr int s = p + kTileQ * kTileK * 2;            // [kTileQ][kTileK] float
  static constexpr int o = s + kTileQ * kTileK * 4;            // [kTileQ][D] float
  static constexpr int scale = o + kTileQ * D * 4;             // [kTileQ] float: this tile's rescale
  static constexpr int bytes = scale + kTileQ * 4;
};

// Copies rows [first, first + 64) of a [rows, D] operand into shared memory, 16 bytes at a
// time; rows past `rows` read as zeros.
template <typename T, int D>
__device__ void load_tile(T* dst, const T* src, int64_t row_stride, int first, int rows) {
  constexpr int kVector = 8, kPerRow = D / kVector;
  for (int idx = threadIdx.x; idx < kTileK * kPerRow; idx += kWarps * 32) {
    int r = idx / kPerRow, c = (idx % kPerRow) * kVector;
    uint4 value = make_uint4(0, 0, 0, 0);
    if (first + r < rows) value = *reinterpret_cast<const uint4*>(src + int64_t(first + r) * row_stride + c);
    *reinterpret_cast<uint4*>(dst + r * D + c) = value;
  }
}

template <typename T, typename MaskT, int D>
__global__ void __launch_bounds__(kWarps * 32) flash_attention_kernel(AttentionParams p) {
  using namespace nvcuda;
  using L = SharedLayout<D>;
  extern __shared__ __align__(16) unsigned char shared[];
  T* q_s = reinterpret_cast<T*>(shared + L::q);
  T* k_s = reinterpret_cast<T*>(shared + L::k);
  T* v_s = reinterpret_cast<T*>(shared + L::v);
  T* p_s = reinterpret_cast<T*>(shared + L::p);
  float* s_s = reinterpret_cast<float*>(shared + L::s);
  float* o_s = reinterpret_cast<float*>(shared + L::o);
  float* rescale = reinterpret_cast<float*>(shared + L::scale);

  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int h = blockIdx.y, b = blockIdx.z, first_query = blockIdx.x * kTileQ;
  int hk = h / (p.heads / p.kv_heads);
  const T* q = static_cast<const T*>(p.q) + b * p.q_stride[0] + h * p.q_stride[1];
  const T* k = static_cast<const T*>(p.k) + b * p.k_stride[0] + hk * p.k_stride[1];
  const T* v = static_cast<const T*>(p.v) + b * p.v_stride[0] + hk * p.v_stride[1];

  load_tile<T, D>(q_s, q, p.q_stride[2], first_query, p.sq);
  for (int i = threadIdx.x; i < kTileQ * D; i += kWarps * 32) o_s[i] = 0.0f;

  // Two lanes per query row: lane/2 is the row within the warp's 16, lane%2 the half of the keys.
  int row = warp * kWarpRows + lane / 2, half = lane % 2;
  int query = first_query + row;
  const MaskT* mask = p.mask && query < p.sq ? static_cast<const MaskT*>(p.mask) + b * p.mask_stride[0] +
                                                   h * p.mask_stride[1] + query * p.mask_stride[2]
                                             : nullptr;
  int key_end = p.causal ? min(p.sk, first_query + kTileQ + p.sk - p.sq) : p.sk;  // for the whole tile
  int row_key_end = p.causal ? min(p.sk, query + p.sk - p.sq + 1) : p.sk;
  float running_max = -INFINITY, running_sum = 0.0f;

  for (int tile = 0; tile < key_end; tile += kTileK) {
    __syncthreads();  // the previous tile's K/V are no longer read
    load_tile<T, D>(k_s, k, p.k_stride[2], tile, p.sk);
    load_tile<T, D>(v_s, v, p.v_stride[2], tile, p.sk);
    __syncthreads();

    // S = Q K^T for this warp's 16 rows.
    for (int n = 0; n < kTileK / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
#pragma unroll
      for (int d = 0; d < D / 16; ++d) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> bt;
        wmma::load_matrix_sync(a, q_s + warp * kWarpRows * D + d * 16, D);
        wmma::load_matrix_sync(bt, k_s + n * 16 * D + d * 16, D);
        wmma::mma_sync(acc, a, bt, acc);
      }
      wmma::store_matrix_sync(s_s + warp * kWarpRows * kTileK + n * 16, acc, kTileK, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax over this row's 64 scores (32 per lane).
    float* s_row = s_s + row * kTileK;
    float tile_max = -INFINITY;
    for (int j = half * 32; j < half * 32 + 32; ++j) {
      int key = tile + j;
      float s = s_row[j] * p.scale;
      if (key >= row_key_end) {
        s = -INFINITY;
      } else if (mask) {
        auto m = mask[int64_t(key) * p.mask_stride[3]];
        if constexpr (std::is_same_v<MaskT, bool>)
          s = m ? s : -INFINITY;
        else
          s += load(m);
      }
      s_row[j] = s;
      tile_max = fmaxf(tile_max, s);
    }
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    float new_max = fmaxf(running_max, tile_max);
    float correction = new_max == -INFINITY ? 1.0f : expf(running_max - new_max);
    float sum = 0.0f;
    for (int j = half * 32; j < half * 32 + 32; ++j) {
      float weight = new_max == -INFINITY ? 0.0f : expf(s_row[j] - new_max);
      sum += weight;
      p_s[row * kTileK + j] = store<T>(weight);
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    running_sum = running_sum * correction + sum;
    running_max = new_max;
    if (half == 0) rescale[row] = correction;
    __syncwarp();

    // O = O * correction + P V for this warp's rows.
    float* o_warp = o_s + warp * kWarpRows * D;
    for (int i = lane; i < kWarpRows * D; i += 32) o_warp[i] *= rescale[warp * kWarpRows + i / D];
    __syncwarp();
#pragma unroll
    for (int n = 0; n < D / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, o_warp + n * 16, D, wmma::mem_row_major);
#pragma unroll
      for (int kk = 0; kk < kTileK / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> bv;
        wmma::load_matrix_sync(a, p_s + warp * kWarpRows * kTileK + kk * 16, kTileK);
        wmma::load_matrix_sync(bv, v_s + kk * 16 * D + n * 16, D);
        wmma::mma_sync(acc, a, bv, acc);
      }
      wmma::store_matrix_sync(o_warp + n * 16, acc, D, wmma::mem_row_major);
    }
    __syncwarp();
  }

  // Each row's two lanes write half of its features; fully masked rows (sum 0) give zeros.
  if (query >= p.sq) return;
  float inv = running_sum > 0.0f ? 1.0f / running_sum : 0.0f;
  T* out = static_cast<T*>(p.out) + b * p.out_stride[0] + h * p.out_stride[1] + query * p.out_stride[2];
  for (int d = half * (D / 2); d < (half + 1) * (D / 2); ++d) out[d] = store<T>(o_s[row * D + d] * inv);
}

template <typename T, typename MaskT, int D>
void launch(const AttentionParams& p) {
  auto kernel = flash_attention_kernel<T, MaskT, D>;
  constexpr int bytes = SharedLayout<D>::bytes;
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
        "cudaFuncSetAttribute(flash attention shared memory)");
  dim3 grid(unsigned((p.sq + kTileQ - 1) / kTileQ), unsigned(p.heads), unsigned(p.batch));
  kernel<<<grid, kWarps * 32, bytes, stream()>>>(p);
  check_launch("flash_attention");
}

bool aligned16(const void* ptr, const int64_t (&strides)[4]) {
  return reinterpret_cast<uintptr_t>(ptr) % 16 == 0 && strides[3] == 1 && strides[0] % 8 == 0 &&
         strides[1] % 8 == 0 && strides[2] % 8 == 0;
}

}  // namespace

bool tensor_core_attention_applies(const AttentionParams& p, Dtype dtype) {
  return (dtype == Dtype::float16 || dtype == Dtype::bfloat16) && p.head_dim == p.value_dim &&
         (p.head_dim == 64 || p.head_dim == 128) && aligned16(p.q, p.q_stride) && aligned16(p.k, p.k_stride) &&
         aligned16(p.v, p.v_stride) && p.out_stride[3] == 1;
}

void tensor_core_attention(const AttentionParams& p, Dtype dtype) {
  auto with_types = [&](auto t, auto mask_type) {
    using T = decltype(t);
    using MaskT = decltype(mask_type);
    if (p.head_dim == 64)
      launch<T, MaskT, 64>(p);
    else
      launch<T, MaskT, 128>(p);
  };
  auto with_dtype = [&](auto t) {
    if (p.mask && !p.bool_mask)
      with_types(t, decltype(t){});
    else
      with_types(t, bool{});
  };
  if (dtype == Dtype::float16)
    with_dtype(__half{});
  else
    with_dtype(__nv_bfloat16{});
}

}  // namespace tessera::cuda
