// Attention for one query row per (batch, head) against a long key cache: a decode step. The
// general kernels give each (batch, head) one block that walks every key, so a Llama-3-8B step
// (32 heads, ~600 cached keys) runs 32 blocks on 132 SMs and takes ~38 µs a layer. Here the keys
// are split across blocks (flash-decoding): each block scores one chunk of keys for all the query
// heads that share a key/value head (grouped-query attention reads each cached row once), keeps
// its chunk's softmax maximum, sum and unnormalised weighted values in float32 scratch, and a
// second kernel merges the chunks exactly (rescaling each by exp(max_chunk - max_all)).
#include <cfloat>

#include "backend/cuda/attention.h"
#include "backend/cuda/device_types.cuh"
#include "backend/cuda/runtime.h"
#include "tessera/buffer.h"

namespace tessera::cuda {

namespace {

constexpr int kDecodeWarps = 4, kMaxGroup = 8, kMaxKeysPerSplit = 1024, kValueBatch = 8;
// 16-byte pieces of a key row a thread has in flight at once (a bfloat16 row of 128 in one go).
constexpr int kKeyVectors = 16;

// One block: key/value head hk of batch b, keys [split * keys_per_split, +keys_per_split), for
// the G query heads that share it (G: the group size rounded up to a power of two; heads past
// the group are skipped). A decode layer's attention reads well under a megabyte, so this kernel
// is bound by latency, and by instruction fetch: every block runs its code once, and a first
// version that unrolled the scores over 8 keys x 8 heads x the head's features as warp-wide
// dot products was ~96 KB of machine code and took ~20 us a layer whatever the context
// (bench/decode_kernels.cpp, docs/benchmarks.md session 6). Here a thread scores one key for one
// query head (the key row read in 16-byte pieces, the query from shared memory), in short loops.
template <typename T, typename MaskT, int G>
__global__ void __launch_bounds__(kDecodeWarps * 32)
    decode_partial_kernel(AttentionParams p, int keys_per_split, float* part_out, float* part_max, float* part_sum) {
  extern __shared__ float shared[];  // queries [G][head_dim] (pre-scaled), then weights [G][keys_per_split]
  float* q_s = shared;
  float* weights = shared + G * p.head_dim;
  const int split = blockIdx.x, hk = blockIdx.y, b = blockIdx.z;
  const int group = p.heads / p.kv_heads, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int first = split * keys_per_split, count = min(p.sk, first + keys_per_split) - first;
  const T* k = static_cast<const T*>(p.k) + b * p.k_stride[0] + hk * p.k_stride[1];
  const T* v = static_cast<const T*>(p.v) + b * p.v_stride[0] + hk * p.v_stride[1];
  const MaskT* mask = p.mask ? static_cast<const MaskT*>(p.mask) + b * p.mask_stride[0] : nullptr;

  for (int e = threadIdx.x; e < G * p.head_dim; e += blockDim.x) {
    const int j = e / p.head_dim, d = e % p.head_dim;
    const T* qj = static_cast<const T*>(p.q) + b * p.q_stride[0] + (hk * group + j) * p.q_stride[1];
    q_s[e] = j < group ? load(qj[d * p.q_stride[3]]) * p.scale : 0.0f;
  }
  __syncthreads();

  // Scores: a thread per (key, query head), the G heads of a key in adjacent threads (their reads
  // of the key row coincide), the row in 16-byte pieces where it is contiguous and aligned.
  using V = Vector16<T>;
  constexpr int E = V::kCount;
  const bool vectors = p.k_stride[3] == 1 && p.head_dim % E == 0 && p.k_stride[2] % E == 0 &&
                       reinterpret_cast<uintptr_t>(k) % 16 == 0;
  for (int t = threadIdx.x; t < count * G; t += blockDim.x) {
    const int i = t / G, j = t % G;
    const T* kr = k + (first + i) * p.k_stride[2];
    const float* qj = q_s + j * p.head_dim;
    float score = 0.0f;
    if (vectors) {
      for (int d0 = 0; d0 < p.head_dim; d0 += kKeyVectors * E) {
        V piece[kKeyVectors];
#pragma unroll
        for (int c = 0; c < kKeyVectors; ++c)
          if (d0 + c * E < p.head_dim) piece[c] = reinterpret_cast<const V*>(kr + d0)[c];
#pragma unroll
        for (int c = 0; c < kKeyVectors; ++c) {
          if (d0 + c * E >= p.head_dim) break;
#pragma unroll
          for (int e = 0; e < E; ++e) score += qj[d0 + c * E + e] * load(piece[c].v[e]);
        }
      }
    } else {
      for (int d = 0; d < p.head_dim; ++d) score += qj[d] * load(kr[d * p.k_stride[3]]);
    }
    if (j >= group) continue;
    if (mask) {
      auto m = mask[(hk * group + j) * p.mask_stride[1] + (first + i) * p.mask_stride[3]];
      if constexpr (std::is_same_v<MaskT, bool>)
        score = m ? score : -INFINITY;
      else
        score += load(m);
    }
    weights[j * keys_per_split + i] = score;
  }
  __syncthreads();

  // Per query: the chunk's maximum and sum; scores become exp(score - max).
  for (int j = warp; j < group; j += kDecodeWarps) {
    float* w = weights + j * keys_per_split;
    float m = -INFINITY;
    for (int i = lane; i < count; i += 32) m = fmaxf(m, w[i]);
    m = warp_max(m);
    float l = 0.0f;
    for (int i = lane; i < count; i += 32) {
      float e = m == -INFINITY ? 0.0f : __expf(w[i] - m);
      w[i] = e;
      l += e;
    }
    l = warp_sum(l);
    if (lane == 0) {
      int64_t row = (int64_t(split) * p.batch + b) * p.heads + hk * group + j;
      part_max[row] = m;
      part_sum[row] = l;
    }
  }
  __syncthreads();

  // Weighted values: a thread per feature, all queries of the group at once (each value row read
  // once), kValueBatch rows' loads in flight at a time.
  for (int d = threadIdx.x; d < p.value_dim; d += blockDim.x) {
    float acc[G] = {};
    for (int i0 = 0; i0 < count; i0 += kValueBatch) {
      float value[kValueBatch];
#pragma unroll
      for (int u = 0; u < kValueBatch; ++u)
        value[u] = i0 + u < count ? load(v[(first + i0 + u) * p.v_stride[2] + d * p.v_stride[3]]) : 0.0f;
#pragma unroll
      for (int u = 0; u < kValueBatch; ++u)
#pragma unroll
        for (int j = 0; j < G; ++j)
          if (i0 + u < count) acc[j] += weights[j * keys_per_split + i0 + u] * value[u];
    }
#pragma unroll
    for (int j = 0; j < G; ++j) {
      if (j >= group) break;
      int64_t row = (int64_t(split) * p.batch + b) * p.heads + hk * group + j;
      part_out[row * p.value_dim + d] = acc[j];
    }
  }
}

// One block per (batch, head): the chunks merged, normalised and written in the output's layout.
// The first warp turns each chunk's maximum into its weight exp(max_chunk - max_all) in shared
// memory; then every feature's sum over chunks has independent loads.
template <typename T>
__global__ void decode_merge_kernel(AttentionParams p, int splits, const float* part_out, const float* part_max,
                                    const float* part_sum) {
  extern __shared__ float chunk_scale[];  // [splits], then the total
  const int h = blockIdx.x % p.heads, b = blockIdx.x / p.heads;
  const int64_t stride = int64_t(p.batch) * p.heads;  // between one split's rows and the next's
  const int64_t row0 = int64_t(b) * p.heads + h;
  if (threadIdx.x < 32) {
    float top = -INFINITY;
    for (int s = threadIdx.x; s < splits; s += 32) top = fmaxf(top, part_max[s * stride + row0]);
    top = warp_max(top);
    float total = 0.0f;
    for (int s = threadIdx.x; s < splits; s += 32) {
      float m = part_max[s * stride + row0];
      float scale = m == -INFINITY ? 0.0f : __expf(m - top);
      chunk_scale[s] = scale;
      total += scale * part_sum[s * stride + row0];
    }
    total = warp_sum(total);
    if (threadIdx.x == 0) chunk_scale[splits] = total;
  }
  __syncthreads();
  const float total = chunk_scale[splits];
  T* out = static_cast<T*>(p.out) + b * p.out_stride[0] + h * p.out_stride[1];
  for (int d = threadIdx.x; d < p.value_dim; d += blockDim.x) {
    float acc = 0.0f;
#pragma unroll 4
    for (int s = 0; s < splits; ++s) acc += chunk_scale[s] * part_out[(s * stride + row0) * p.value_dim + d];
    out[d * p.out_stride[3]] = store<T>(total > 0.0f ? acc / total : 0.0f);  // fully masked rows give zeros
  }
}

template <typename T, typename MaskT, int G>
void launch_decode(const AttentionParams& p) {
  // Enough blocks to cover the SMs four times, each with at least 32 keys. Llama-3-8B bf16 decode
  // on the H100 after 2048 tokens: 7.08 ms at twice, 6.67 at four and 6.66 at eight times; after
  // 512 tokens (32 keys a block either way) 6.52 for all.
  int blocks_wanted = 4 * multiprocessor_count();
  int per_head = max(1, blocks_wanted / max(1, p.kv_heads * p.batch));
  int keys_per_split = max(32, (p.sk + per_head - 1) / per_head);
  keys_per_split = min(kMaxKeysPerSplit, (keys_per_split + 31) / 32 * 32);
  int splits = (p.sk + keys_per_split - 1) / keys_per_split;
  int64_t rows = int64_t(splits) * p.batch * p.heads;
  auto scratch = Buffer::allocate_device(Device::cuda(0), size_t(rows * (p.value_dim + 2)) * sizeof(float));
  float* part_out = static_cast<float*>(scratch->mutable_device(Device::cuda(0)));
  float* part_max = part_out + rows * p.value_dim;
  float* part_sum = part_max + rows;
  size_t shared = size_t(G) * (p.head_dim + keys_per_split) * sizeof(float);
  dim3 grid(unsigned(splits), unsigned(p.kv_heads), unsigned(p.batch));
  auto partial = decode_partial_kernel<T, MaskT, G>;
  check(cudaFuncSetAttribute(partial, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared)),
        "cudaFuncSetAttribute(decode attention)");
  partial<<<grid, kDecodeWarps * 32, shared, stream()>>>(p, keys_per_split, part_out, part_max, part_sum);
  check_launch("decode attention");
  decode_merge_kernel<T><<<unsigned(p.batch * p.heads), 128, (splits + 1) * sizeof(float), stream()>>>(
      p, splits, part_out, part_max, part_sum);
  check_launch("decode attention merge");
}

}  // namespace

bool decode_attention_applies(const AttentionParams& p) {
  return p.sq == 1 && !p.cu_seqlens && p.sk >= 64 && p.heads % p.kv_heads == 0 && p.heads / p.kv_heads <= kMaxGroup &&
         p.head_dim <= 256;
}

template <typename T, typename MaskT>
void decode_attention(const AttentionParams& p) {
  const int group = p.heads / p.kv_heads;
  if (group == 1)
    launch_decode<T, MaskT, 1>(p);
  else if (group == 2)
    launch_decode<T, MaskT, 2>(p);
  else if (group <= 4)
    launch_decode<T, MaskT, 4>(p);
  else
    launch_decode<T, MaskT, 8>(p);
}

template void decode_attention<float, bool>(const AttentionParams&);
template void decode_attention<float, float>(const AttentionParams&);
template void decode_attention<__half, bool>(const AttentionParams&);
template void decode_attention<__half, __half>(const AttentionParams&);
template void decode_attention<__nv_bfloat16, bool>(const AttentionParams&);
template void decode_attention<__nv_bfloat16, __nv_bfloat16>(const AttentionParams&);

}  // namespace tessera::cuda
