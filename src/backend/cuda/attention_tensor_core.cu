// The tensor-core path of scaled_dot_product_attention for float16/bfloat16 with head dim 64 or
// 128 (BERT-base, Llama): flash-attention over 64-query x 64-key tiles. Q K^T and P V run on
// WMMA 16x16x16 fragments with float32 accumulation; the online softmax (scale, mask, causal
// limit, running max and sum) runs on the scores in shared memory, a warp per row at a time.
// The output accumulator lives in shared memory in float32 so it can be rescaled per row.
#include <mma.h>

#include "backend/cuda/attention.h"
#include "backend/cuda/attention_tensor_core.h"
#include "backend/cuda/device_types.cuh"

namespace tessera::cuda {

namespace {

constexpr int kTileQ = 64, kTileK = 64, kWarps = 4, kWarpRows = kTileQ / kWarps;

// Shared-memory rows are padded (by 16 bytes for 16-bit tiles, 16 for float ones) so that the
// WMMA loads of consecutive rows start in different banks.
template <int D>
struct SharedLayout {
  static constexpr int ld = D + 8;          // Q, K, V rows (elements of T)
  static constexpr int ld_s = kTileK + 4;   // scores (float)
  static constexpr int ld_p = kTileK + 8;   // probabilities (T)
  static constexpr int ld_o = D + 4;        // output accumulator (float)
  static constexpr int q = 0;
  static constexpr int k = q + kTileQ * ld * 2;
  static constexpr int v = k + kTileK * ld * 2;
  static constexpr int p = v + kTileK * ld * 2;
  static constexpr int s = p + kTileQ * ld_p * 2;
  static constexpr int o = s + kTileQ * ld_s * 4;
  static constexpr int scale = o + kTileQ * ld_o * 4;  // [kTileQ] float: this tile's rescale
  static constexpr int bytes = scale + kTileQ * 4;
};

// Copies rows [first, first + 64) of a [rows, D] operand into shared memory, 16 bytes at a
// time; rows past `rows` read as zeros.
template <typename T, int D>
__device__ void load_tile(T* dst, const T* src, int64_t row_stride, int first, int rows) {
  constexpr int kVector = 8, kPerRow = D / kVector, kLd = SharedLayout<D>::ld;
  for (int idx = threadIdx.x; idx < kTileK * kPerRow; idx += kWarps * 32) {
    int r = idx / kPerRow, c = (idx % kPerRow) * kVector;
    uint4 value = make_uint4(0, 0, 0, 0);
    if (first + r < rows) value = *reinterpret_cast<const uint4*>(src + int64_t(first + r) * row_stride + c);
    *reinterpret_cast<uint4*>(dst + r * kLd + c) = value;
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
  int warp_query = first_query + warp * kWarpRows;  // this warp's first query row
  int hk = h / (p.heads / p.kv_heads);
  const T* q = static_cast<const T*>(p.q) + b * p.q_stride[0] + h * p.q_stride[1];
  const T* k = static_cast<const T*>(p.k) + b * p.k_stride[0] + hk * p.k_stride[1];
  const T* v = static_cast<const T*>(p.v) + b * p.v_stride[0] + hk * p.v_stride[1];
  const MaskT* mask = p.mask ? static_cast<const MaskT*>(p.mask) + b * p.mask_stride[0] + h * p.mask_stride[1]
                             : nullptr;

  load_tile<T, D>(q_s, q, p.q_stride[2], first_query, p.sq);
  for (int i = threadIdx.x; i < kTileQ * L::ld_o; i += kWarps * 32) o_s[i] = 0.0f;

  // The last key any row of this block sees (causal: query i sees keys up to i + sk - sq).
  int key_end = p.causal ? min(p.sk, first_query + kTileQ + p.sk - p.sq) : p.sk;
  // Every lane keeps every row's running max and sum (the warp walks its rows together).
  float running_max[kWarpRows], running_sum[kWarpRows];
#pragma unroll
  for (int r = 0; r < kWarpRows; ++r) {
    running_max[r] = -INFINITY;
    running_sum[r] = 0.0f;
  }
  float* s_warp = s_s + warp * kWarpRows * L::ld_s;
  T* p_warp = p_s + warp * kWarpRows * L::ld_p;
  float* o_warp = o_s + warp * kWarpRows * L::ld_o;

  for (int tile = 0; tile < key_end; tile += kTileK) {
    __syncthreads();  // the previous tile's K/V are no longer read
    load_tile<T, D>(k_s, k, p.k_stride[2], tile, p.sk);
    load_tile<T, D>(v_s, v, p.v_stride[2], tile, p.sk);
    __syncthreads();

    // S = Q K^T for this warp's 16 rows.
#pragma unroll
    for (int n = 0; n < kTileK / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
#pragma unroll
      for (int d = 0; d < D / 16; ++d) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> bt;
        wmma::load_matrix_sync(a, q_s + warp * kWarpRows * L::ld + d * 16, L::ld);
        wmma::load_matrix_sync(bt, k_s + n * 16 * L::ld + d * 16, L::ld);
        wmma::mma_sync(acc, a, bt, acc);
      }
      wmma::store_matrix_sync(s_warp + n * 16, acc, L::ld_s, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax, one row at a time across the warp: lane holds keys lane and lane + 32.
#pragma unroll
    for (int r = 0; r < kWarpRows; ++r) {
      int query = warp_query + r;
      int row_key_end = p.causal ? min(p.sk, query + p.sk - p.sq + 1) : p.sk;
      float s[2];
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        int j = lane + 32 * half, key = tile + j;
        float score = s_warp[r * L::ld_s + j] * p.scale;
        if (key >= row_key_end || query >= p.sq) {
          score = -INFINITY;
        } else if (mask) {
          auto m = mask[int64_t(query) * p.mask_stride[2] + int64_t(key) * p.mask_stride[3]];
          if constexpr (std::is_same_v<MaskT, bool>)
            score = m ? score : -INFINITY;
          else
            score += load(m);
        }
        s[half] = score;
      }
      float new_max = fmaxf(running_max[r], warp_max(fmaxf(s[0], s[1])));
      float correction = new_max == -INFINITY ? 1.0f : expf(running_max[r] - new_max);
      float w0 = new_max == -INFINITY ? 0.0f : expf(s[0] - new_max);
      float w1 = new_max == -INFINITY ? 0.0f : expf(s[1] - new_max);
      p_warp[r * L::ld_p + lane] = store<T>(w0);
      p_warp[r * L::ld_p + lane + 32] = store<T>(w1);
      running_sum[r] = running_sum[r] * correction + warp_sum(w0 + w1);
      running_max[r] = new_max;
      if (lane == 0) rescale[warp * kWarpRows + r] = correction;
    }
    __syncwarp();

    // O = O * correction + P V for this warp's rows.
    for (int i = lane; i < kWarpRows * D; i += 32) o_warp[(i / D) * L::ld_o + i % D] *= rescale[warp * kWarpRows + i / D];
    __syncwarp();
#pragma unroll
    for (int n = 0; n < D / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, o_warp + n * 16, L::ld_o, wmma::mem_row_major);
#pragma unroll
      for (int kk = 0; kk < kTileK / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> bv;
        wmma::load_matrix_sync(a, p_warp + kk * 16, L::ld_p);
        wmma::load_matrix_sync(bv, v_s + kk * 16 * L::ld + n * 16, L::ld);
        wmma::mma_sync(acc, a, bv, acc);
      }
      wmma::store_matrix_sync(o_warp + n * 16, acc, L::ld_o, wmma::mem_row_major);
    }
    __syncwarp();
  }

  // Fully masked rows (sum 0) give zeros.
#pragma unroll
  for (int r = 0; r < kWarpRows; ++r) {
    int query = warp_query + r;
    if (query >= p.sq) break;
    float inv = running_sum[r] > 0.0f ? 1.0f / running_sum[r] : 0.0f;
    T* out = static_cast<T*>(p.out) + b * p.out_stride[0] + h * p.out_stride[1] + query * p.out_stride[2];
    for (int d = lane; d < D; d += 32) out[d] = store<T>(o_warp[r * L::ld_o + d] * inv);
  }
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
