// The tensor-core path of scaled_dot_product_attention for float16/bfloat16 with head dim 64 or
// 128 (BERT-base, Llama), FlashAttention-2 style: a block takes 64 queries of one (sequence,
// head), four warps of 16 rows. Q stays in registers as mma.sync A fragments; key/value tiles of
// 64 rows stream through shared memory with cp.async, double-buffered so the next tile loads
// while this one is used. S = Q K^T, the online softmax (scale, mask, causal limit, running max
// and sum) and O += P V all happen in registers: the scores of a row never leave the thread quad
// that owns them, and P is repacked from S's accumulator layout straight into A fragments.
//
// Fragment layouts (PTX mma.m16n8k16, g = lane / 4, t = lane % 4): an accumulator holds rows g and
// g + 8, columns 2t and 2t + 1 of a 16x8 tile; A holds the same rows for columns 2t, 2t + 1,
// 2t + 8, 2t + 9 of a 16x16 tile. ldmatrix loads 8x8 sub-tiles of shared memory into exactly
// these layouts (.trans for V, whose rows are keys).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/attention.h"
#include "backend/cuda/attention_tensor_core.h"
#include "backend/cuda/device_types.cuh"

namespace tessera::cuda {

namespace {

constexpr int kTileQ = 64, kTileK = 64, kWarps = 4;
constexpr float kLog2e = 1.4426950408889634f;

// Shared rows are padded by 16 bytes so the eight rows one ldmatrix reads start in different banks.
template <int D>
struct SharedLayout {
  static constexpr int ld = D + 8;                  // elements per row
  static constexpr int tile = kTileK * ld;          // elements per K or V tile
  static constexpr int q = 0;                       // [kTileQ][ld]
  static constexpr int k = q + kTileQ * ld;         // 2 x [kTileK][ld]
  static constexpr int v = k + 2 * tile;            // 2 x [kTileK][ld]
  static constexpr int elements = v + 2 * tile;
};

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return uint32_t(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared without passing through registers; zero-filled when !valid.
__device__ __forceinline__ void copy16_async(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void commit_async() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void wait_async_all() { asm volatile("cp.async.wait_group 0;\n" ::); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(p)));
}

template <typename T>
__device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Two floats as one 32-bit register of two 16-bit values (low half = first).
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  if constexpr (std::is_same_v<T, __half>) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&h);
  } else {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&h);
  }
}

// Rows [first, first + 64) of a [rows, D] operand (row stride in elements) into shared memory;
// rows past `rows` read as zeros.
template <typename T, int D>
__device__ __forceinline__ void load_tile_async(T* dst, const T* src, int64_t row_stride, int first, int rows) {
  constexpr int kPerRow = D / 8, kLd = SharedLayout<D>::ld;
  for (int idx = threadIdx.x; idx < 64 * kPerRow; idx += kWarps * 32) {
    int r = idx / kPerRow, c = (idx % kPerRow) * 8;
    bool valid = first + r < rows;
    copy16_async(dst + r * kLd + c, src + (valid ? int64_t(first + r) * row_stride + c : 0), valid);
  }
}

// Four blocks per SM at head dim 64 (at most 128 registers), two at 128: more warps to hide the
// latency of the mma chains and the softmax shuffles.
template <typename T, typename MaskT, int D>
__global__ void __launch_bounds__(kWarps * 32, D == 64 ? 4 : 2) flash_attention_kernel(AttentionParams p) {
  using L = SharedLayout<D>;
  constexpr int kKeyTiles = kTileK / 8;  // 8-key accumulator tiles per key tile
  constexpr int kDimTiles = D / 8;       // 8-wide output accumulator tiles
  constexpr int kDimSteps = D / 16;      // 16-deep steps of Q K^T
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  T* shared = reinterpret_cast<T*>(shared_bytes);
  T* q_s = shared + L::q;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int h = blockIdx.y, b = blockIdx.z, first_query = blockIdx.x * kTileQ;
  const SequenceRows rows = sequence_rows(p, b);
  const int sq = rows.sq, sk = rows.sk;
  const int64_t q_row0 = rows.first, k_row0 = rows.first;
  if (first_query >= sq) return;
  const int hk = h / (p.heads / p.kv_heads);
  const T* q = static_cast<const T*>(p.q) + b * p.q_stride[0] + h * p.q_stride[1] + q_row0 * p.q_stride[2];
  const T* k = static_cast<const T*>(p.k) + b * p.k_stride[0] + hk * p.k_stride[1] + k_row0 * p.k_stride[2];
  const T* v = static_cast<const T*>(p.v) + b * p.v_stride[0] + hk * p.v_stride[1] + k_row0 * p.v_stride[2];
  const MaskT* mask = p.mask ? static_cast<const MaskT*>(p.mask) + b * p.mask_stride[0] + h * p.mask_stride[1]
                             : nullptr;

  // The last key any row of this block sees (causal: query i sees keys up to i + sk - sq).
  const int key_end = p.causal ? min(sk, first_query + kTileQ + sk - sq) : sk;
  const int tiles = (key_end + kTileK - 1) / kTileK;

  load_tile_async<T, D>(q_s, q, p.q_stride[2], first_query, sq);
  if (tiles > 0) {
    load_tile_async<T, D>(shared + L::k, k, p.k_stride[2], 0, sk);
    load_tile_async<T, D>(shared + L::v, v, p.v_stride[2], 0, sk);
  }
  commit_async();

  // This thread's two query rows (g and g + 8 of the warp's 16).
  const int row0 = first_query + warp * 16 + g, row1 = row0 + 8;
  const float scale_log2 = p.scale * kLog2e;  // scores in base 2: exp2 is one instruction
  float o[kDimTiles][4] = {};
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};
  uint32_t qf[kDimSteps][4];

  for (int tile = 0; tile < tiles; ++tile) {
    wait_async_all();
    __syncthreads();  // tile `tile` is visible to all; everyone is done with tile - 1's buffer
    if (tile == 0) {
      // Q's A fragments: rows (lane % 16), columns 16 s + 8 (lane / 16).
#pragma unroll
      for (int s = 0; s < kDimSteps; ++s)
        ldmatrix_x4(qf[s], q_s + (warp * 16 + lane % 16) * L::ld + s * 16 + (lane / 16) * 8);
    }
    if (tile + 1 < tiles) {
      int next = (tile + 1) % 2;
      load_tile_async<T, D>(shared + L::k + next * L::tile, k, p.k_stride[2], (tile + 1) * kTileK, sk);
      load_tile_async<T, D>(shared + L::v + next * L::tile, v, p.v_stride[2], (tile + 1) * kTileK, sk);
    }
    commit_async();
    const T* k_s = shared + L::k + (tile % 2) * L::tile;
    const T* v_s = shared + L::v + (tile % 2) * L::tile;
    const int first_key = tile * kTileK;

    // S = Q K^T: 16 rows x 64 keys per warp, 8 accumulator tiles of 8 keys.
    float s[kKeyTiles][4] = {};
#pragma unroll
    for (int step = 0; step < kDimSteps; ++step) {
#pragma unroll
      for (int n = 0; n < kKeyTiles; n += 2) {
        // Keys 8n..8n+15, dims 16 step..+15: b0/b1 of key tile n in r[0..1], of n + 1 in r[2..3].
        uint32_t r[4];
        ldmatrix_x4(r, k_s + (n * 8 + (lane % 8) + (lane / 16) * 8) * L::ld + step * 16 + ((lane / 8) % 2) * 8);
        mma_16816<T>(s[n], qf[step], r[0], r[1]);
        mma_16816<T>(s[n + 1], qf[step], r[2], r[3]);
      }
    }

    // Scale to base 2; mask and causal limit only on tiles that need them (the block-uniform test
    // keeps interior tiles free of per-score index arithmetic); then the running max per row.
    // Rows past sq (a partial last query tile) are computed on zero queries and never written.
    const bool whole_tile = !mask && first_key + kTileK <= sk &&
                            (!p.causal || first_key + kTileK - 1 <= first_query + sk - sq);
    float tile_max[2] = {-INFINITY, -INFINITY};
    if (whole_tile) {
#pragma unroll
      for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          s[n][e] *= scale_log2;
          tile_max[e / 2] = fmaxf(tile_max[e / 2], s[n][e]);
        }
      }
    } else {
      const int causal_shift = sk - sq;  // query i sees keys up to i + sk - sq
#pragma unroll
      for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          int row = e < 2 ? row0 : row1, key = first_key + n * 8 + 2 * t + (e % 2);
          float score = s[n][e] * scale_log2;
          if (key >= sk || (p.causal && key > row + causal_shift)) {
            score = -INFINITY;
          } else if (mask) {
            auto m = mask[int64_t(row) * p.mask_stride[2] + int64_t(key) * p.mask_stride[3]];
            if constexpr (std::is_same_v<MaskT, bool>)
              score = m ? score : -INFINITY;
            else
              score += load(m) * kLog2e;
          }
          s[n][e] = score;
          tile_max[e / 2] = fmaxf(tile_max[e / 2], score);
        }
      }
    }
    float correction[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      tile_max[i] = fmaxf(tile_max[i], __shfl_xor_sync(0xffffffffu, tile_max[i], 1));
      tile_max[i] = fmaxf(tile_max[i], __shfl_xor_sync(0xffffffffu, tile_max[i], 2));
      float new_max = fmaxf(row_max[i], tile_max[i]);
      // A row with every key so far masked keeps max -inf: its weights are 0, not NaN.
      correction[i] = new_max == -INFINITY ? 1.0f : exp2f(row_max[i] - new_max);
      row_max[i] = new_max;
      row_sum[i] *= correction[i];
    }
    // exp2(-inf - m) is 0 for any finite m; a row still fully masked (max -inf) uses 0 instead.
    const float base[2] = {row_max[0] == -INFINITY ? 0.0f : row_max[0], row_max[1] == -INFINITY ? 0.0f : row_max[1]};
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float w = exp2f(s[n][e] - base[e / 2]);
        s[n][e] = w;
        row_sum[e / 2] += w;  // this thread's share; the quad's shares are summed at the end
      }
    }
#pragma unroll
    for (int d = 0; d < kDimTiles; ++d) {
      o[d][0] *= correction[0];
      o[d][1] *= correction[0];
      o[d][2] *= correction[1];
      o[d][3] *= correction[1];
    }

    // O += P V: P's A fragment for keys 16j..16j+15 is accumulator tiles 2j and 2j + 1.
#pragma unroll
    for (int j = 0; j < kTileK / 16; ++j) {
      uint32_t a[4] = {pack2<T>(s[2 * j][0], s[2 * j][1]), pack2<T>(s[2 * j][2], s[2 * j][3]),
                       pack2<T>(s[2 * j + 1][0], s[2 * j + 1][1]), pack2<T>(s[2 * j + 1][2], s[2 * j + 1][3])};
#pragma unroll
      for (int d = 0; d < kDimTiles; d += 2) {
        // Keys 16j..+15 (rows), dims 8d..8d+15: b0/b1 of dim tile d in r[0..1], of d + 1 in r[2..3].
        uint32_t r[4];
        ldmatrix_x4_trans(r, v_s + (j * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * L::ld + d * 8 + (lane / 16) * 8);
        mma_16816<T>(o[d], a, r[0], r[1]);
        mma_16816<T>(o[d + 1], a, r[2], r[3]);
      }
    }
  }

  // Normalise and write; rows whose keys were all masked (sum 0) give zeros.
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    row_sum[i] += __shfl_xor_sync(0xffffffffu, row_sum[i], 1);
    row_sum[i] += __shfl_xor_sync(0xffffffffu, row_sum[i], 2);
  }
  T* out = static_cast<T*>(p.out) + b * p.out_stride[0] + h * p.out_stride[1] + q_row0 * p.out_stride[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    int row = i == 0 ? row0 : row1;
    if (row >= sq) continue;
    float inv = row_sum[i] > 0.0f ? 1.0f / row_sum[i] : 0.0f;
    T* out_row = out + int64_t(row) * p.out_stride[2];
#pragma unroll
    for (int d = 0; d < kDimTiles; ++d)
      *reinterpret_cast<uint32_t*>(out_row + d * 8 + 2 * t) = pack2<T>(o[d][2 * i] * inv, o[d][2 * i + 1] * inv);
  }
}

template <typename T, typename MaskT, int D>
void launch(const AttentionParams& p) {
  auto kernel = flash_attention_kernel<T, MaskT, D>;
  constexpr int bytes = SharedLayout<D>::elements * int(sizeof(T));
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
         aligned16(p.v, p.v_stride) && aligned16(p.out, p.out_stride);
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
