// Scaled dot-product attention, fused: scores, mask, causal limit, an online softmax and the
// weighted sum of values never leave the chip (flash-attention style), so memory is O(S) not
// O(S^2). This is the general kernel for every dtype and head dim up to 256; float16/bfloat16
// with head dim 64 or 128 take the tensor-core path (attention_tensor_core.cu). Key/value tiles are staged in shared memory and shared by a block of 32 queries.
// Additive or boolean masks are read through their broadcast strides; a row whose keys are all
// masked yields zeros, as the CPU kernel.
//
// The output is laid out [B,S,H,D] in memory and viewed as [B,H,S,D]: the encoders transpose it
// straight back to [B,S,H*D], which is then a free reshape instead of a copy.
#include "backend/cuda/attention.h"
#include "backend/cuda/attention_tensor_core.h"
#include "backend/cuda/device_types.cuh"
#include "core/primitives.h"

namespace tessera {

namespace cuda {

namespace {

template <typename T>
constexpr Dtype dtype_of_device() {
  if constexpr (std::is_same_v<T, __half>)
    return Dtype::float16;
  else if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return Dtype::bfloat16;
  else
    return Dtype::float32;
}

// A block takes 32 queries of one (batch, head): 8 warps of 4 query rows. Keys come in tiles of
// 32 staged in shared memory in float32 with an odd row stride, so lane j reading key j's
// features hits 32 different banks. Lane j scores key j; for the weighted sum of values the lanes
// split the features (lane, lane + 32, ...).
constexpr int kWarps = 8, kRowsPerWarp = 4, kBlockQueries = kWarps * kRowsPerWarp, kTileKeys = 32;

template <typename T, typename MaskT, int Chunks>
__global__ void __launch_bounds__(kWarps * 32) attention_tiles_kernel(AttentionParams p) {
  extern __shared__ float tiles[];
  const int width = max(p.head_dim, p.value_dim), stride = width + 1;
  float* q_s = tiles;                                  // [kBlockQueries][stride], pre-scaled
  float* k_s = q_s + kBlockQueries * stride;           // [kTileKeys][stride]
  float* v_s = k_s + kTileKeys * stride;               // [kTileKeys][stride]
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int h = blockIdx.y, b = blockIdx.z, first_query = blockIdx.x * kBlockQueries;
  int hk = h / (p.heads / p.kv_heads);
  SequenceRows rows = sequence_rows(p, b);
  if (first_query >= rows.sq) return;
  const T* q = static_cast<const T*>(p.q) + b * p.q_stride[0] + h * p.q_stride[1] + rows.first * p.q_stride[2];
  const T* k = static_cast<const T*>(p.k) + b * p.k_stride[0] + hk * p.k_stride[1] + rows.first * p.k_stride[2];
  const T* v = static_cast<const T*>(p.v) + b * p.v_stride[0] + hk * p.v_stride[1] + rows.first * p.v_stride[2];
  const MaskT* mask = p.mask ? static_cast<const MaskT*>(p.mask) + b * p.mask_stride[0] + h * p.mask_stride[1]
                             : nullptr;
  for (int i = threadIdx.x; i < kBlockQueries * p.head_dim; i += blockDim.x) {
    int r = i / p.head_dim, d = i % p.head_dim, query = first_query + r;
    q_s[r * stride + d] = query < rows.sq ? load(q[int64_t(query) * p.q_stride[2] + d * p.q_stride[3]]) * p.scale : 0.0f;
  }
  float o[kRowsPerWarp][Chunks], running_max[kRowsPerWarp], running_sum[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    running_max[r] = -INFINITY;
    running_sum[r] = 0.0f;
#pragma unroll
    for (int c = 0; c < Chunks; ++c) o[r][c] = 0.0f;
  }
  // Query i sees keys up to i + sk - sq under the causal rule.
  int key_end = p.causal ? min(rows.sk, first_query + kBlockQueries + rows.sk - rows.sq) : rows.sk;
  for (int tile = 0; tile < key_end; tile += kTileKeys) {
    __syncthreads();  // the previous tile is no longer read
    for (int i = threadIdx.x; i < kTileKeys * width; i += blockDim.x) {
      int j = i / width, d = i % width, key = tile + j;
      bool in_range = key < rows.sk;
      k_s[j * stride + d] = in_range && d < p.head_dim ? load(k[int64_t(key) * p.k_stride[2] + d * p.k_stride[3]]) : 0.0f;
      v_s[j * stride + d] = in_range && d < p.value_dim ? load(v[int64_t(key) * p.v_stride[2] + d * p.v_stride[3]]) : 0.0f;
    }
    __syncthreads();
    int key = tile + lane;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      int row = warp * kRowsPerWarp + r, query = first_query + row;
      const float* qr = q_s + row * stride;
      const float* kr = k_s + lane * stride;
      float score = 0.0f;
      for (int d = 0; d < p.head_dim; ++d) score += qr[d] * kr[d];
      int row_key_end = p.causal ? min(rows.sk, query + rows.sk - rows.sq + 1) : rows.sk;
      if (key >= row_key_end || query >= rows.sq) {
        score = -INFINITY;
      } else if (mask) {
        auto m = mask[int64_t(query) * p.mask_stride[2] + int64_t(key) * p.mask_stride[3]];
        if constexpr (std::is_same_v<MaskT, bool>)
          score = m ? score : -INFINITY;
        else
          score += load(m);
      }
      float new_max = fmaxf(running_max[r], warp_max(score));
      if (new_max == -INFINITY) continue;  // every key so far is masked for this row
      float correction = expf(running_max[r] - new_max);
      float weight = expf(score - new_max);
      running_sum[r] = running_sum[r] * correction + warp_sum(weight);
      running_max[r] = new_max;
#pragma unroll
      for (int c = 0; c < Chunks; ++c) o[r][c] *= correction;
      for (int j = 0; j < kTileKeys; ++j) {
        float w = __shfl_sync(0xffffffffu, weight, j);
        const float* vr = v_s + j * stride;
#pragma unroll
        for (int c = 0; c < Chunks; ++c) {
          int d = lane + 32 * c;
          if (d < p.value_dim) o[r][c] += w * vr[d];
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    int query = first_query + warp * kRowsPerWarp + r;
    if (query >= rows.sq) continue;
    float inv = running_sum[r] > 0.0f ? 1.0f / running_sum[r] : 0.0f;  // fully masked rows give zeros
    T* out = static_cast<T*>(p.out) + b * p.out_stride[0] + h * p.out_stride[1] +
             (rows.first + query) * p.out_stride[2];
#pragma unroll
    for (int c = 0; c < Chunks; ++c) {
      int d = lane + 32 * c;
      if (d < p.value_dim) out[d * p.out_stride[3]] = store<T>(o[r][c] * inv);
    }
  }
}

template <typename T, typename MaskT, int Chunks>
void launch_tiles(const AttentionParams& p) {
  auto kernel = attention_tiles_kernel<T, MaskT, Chunks>;
  int width = std::max(p.head_dim, p.value_dim);
  int bytes = (kBlockQueries + 2 * kTileKeys) * (width + 1) * int(sizeof(float));
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
        "cudaFuncSetAttribute(attention shared memory)");
  dim3 grid(unsigned((p.sq + kBlockQueries - 1) / kBlockQueries), unsigned(p.heads), unsigned(p.batch));
  kernel<<<grid, kWarps * 32, bytes, stream()>>>(p);
}

template <typename T, typename MaskT>
void launch_rows(const AttentionParams& p) {
  if (decode_attention_applies(p)) {
    decode_attention<T, MaskT>(p);
    return;
  }
  if (tensor_core_attention_applies(p, dtype_of_device<T>())) {
    tensor_core_attention(p, dtype_of_device<T>());
    return;
  }
  int widest = max(p.head_dim, p.value_dim);
  if (widest <= 32)
    launch_tiles<T, MaskT, 1>(p);
  else if (widest <= 64)
    launch_tiles<T, MaskT, 2>(p);
  else if (widest <= 128)
    launch_tiles<T, MaskT, 4>(p);
  else if (widest <= 256)
    launch_tiles<T, MaskT, 8>(p);
  else
    fail("scaled_dot_product_attention", "head dims above 256 are not supported on cuda");
  check_launch("attention");
}

void copy_strides(const Array& a, int64_t (&dst)[4]) {
  for (int d = 0; d < 4; ++d) dst[d] = a.strides()[size_t(d)];
}

}  // namespace

}  // namespace cuda

void ScaledDotProductAttention::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("scaled_dot_product_attention");
  const Array &q = inputs[0], &k = inputs[1], &v = inputs[2];
  int64_t batch = q.shape(0), heads = q.shape(1), sq = q.shape(2), dv = v.shape(3);
  auto buffer = Buffer::allocate_device(out.device(), out.nbytes());
  out.set_view(buffer, {sq * heads * dv, dv, heads * dv, 1}, 0);
  if (out.size() == 0) return;
  cuda::AttentionParams p{};
  p.batch = int(batch);
  p.heads = int(heads);
  p.kv_heads = int(k.shape(1));
  p.sq = int(sq);
  p.sk = int(k.shape(2));
  p.head_dim = int(q.shape(3));
  p.value_dim = int(dv);
  p.scale = scale;
  p.causal = causal;
  cuda::copy_strides(q, p.q_stride);
  cuda::copy_strides(k, p.k_stride);
  cuda::copy_strides(v, p.v_stride);
  cuda::copy_strides(out, p.out_stride);
  p.out = buffer->mutable_device(out.device());
  cuda::dispatch_float_dtype(q.dtype(), "scaled_dot_product_attention", [&](auto t) {
    using T = decltype(t);
    p.q = cuda::device_data<T>(q);
    p.k = cuda::device_data<T>(k);
    p.v = cuda::device_data<T>(v);
    if (!has_mask) {
      cuda::launch_rows<T, bool>(p);
      return;
    }
    const Array& mask = inputs[3];
    cuda::copy_strides(mask, p.mask_stride);
    p.bool_mask = mask.dtype() == Dtype::bool_;
    if (p.bool_mask) {
      p.mask = cuda::device_data<bool>(mask);
      cuda::launch_rows<T, bool>(p);
    } else {
      p.mask = cuda::device_data<T>(mask);
      cuda::launch_rows<T, T>(p);
    }
  });
}

// The same kernels over packed sequences: [T,H,D] operands are read as [1,H,T,D] views with
// stride 0 along the batch, one grid z-slice per sequence (its rows from cu_seqlens on the
// device), so a padded batch costs only its real tokens in one launch.
void VarlenAttention::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("varlen_attention");
  const Array &q = inputs[0], &k = inputs[1], &v = inputs[2], &cu = inputs[3];
  out.allocate();
  if (out.size() == 0 || max_seqlen == 0) return;
  auto packed_strides = [](const Array& a, int64_t (&dst)[4]) {
    dst[0] = 0;
    dst[1] = a.strides()[1];
    dst[2] = a.strides()[0];
    dst[3] = a.strides()[2];
  };
  cuda::AttentionParams p{};
  p.batch = int(cu.shape(0) - 1);
  p.heads = int(q.shape(1));
  p.kv_heads = int(k.shape(1));
  p.sq = p.sk = int(max_seqlen);
  p.head_dim = int(q.shape(2));
  p.value_dim = int(v.shape(2));
  p.scale = scale;
  p.causal = causal;
  packed_strides(q, p.q_stride);
  packed_strides(k, p.k_stride);
  packed_strides(v, p.v_stride);
  packed_strides(out, p.out_stride);
  p.cu_seqlens = cuda::device_data<int32_t>(cu);
  p.out = out.buffer()->mutable_device(out.device());
  cuda::dispatch_float_dtype(q.dtype(), "varlen_attention", [&](auto t) {
    using T = decltype(t);
    p.q = cuda::device_data<T>(q);
    p.k = cuda::device_data<T>(k);
    p.v = cuda::device_data<T>(v);
    cuda::launch_rows<T, bool>(p);
  });
}

}  // namespace tessera
