// Scaled dot-product attention, fused (16-bit head dims 64/128 take the tensor-core path in
// attention_tensor_core.cu; this is the general one for every dtype and head dim): scores, mask, causal limit, an online softmax and the
// weighted sum of values never leave the chip (flash-attention style), so memory is O(S) not
// O(S^2). One warp per query row; lanes split the head dimension, so every K and V row is read
// coalesced. Additive or boolean masks are read through their broadcast strides; a row whose
// keys are all masked yields zeros, as the CPU kernel.
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

constexpr int kQueryWarps = 4;

template <typename T>
constexpr Dtype dtype_of_device() {
  if constexpr (std::is_same_v<T, __half>)
    return Dtype::float16;
  else if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return Dtype::bfloat16;
  else
    return Dtype::float32;
}  // query rows per block; they share K/V rows through L1

// Head dims up to 32 * Chunks; each lane holds features lane, lane + 32, ...
template <typename T, typename MaskT, int Chunks>
__global__ void __launch_bounds__(kQueryWarps * 32) attention_rows_kernel(AttentionParams p) {
  int lane = threadIdx.x % 32;
  int i = blockIdx.x * kQueryWarps + threadIdx.x / 32;
  int h = blockIdx.y, b = blockIdx.z;
  if (i >= p.sq) return;
  int hk = h / (p.heads / p.kv_heads);
  const T* q = static_cast<const T*>(p.q) + b * p.q_stride[0] + h * p.q_stride[1] + i * p.q_stride[2];
  const T* k = static_cast<const T*>(p.k) + b * p.k_stride[0] + hk * p.k_stride[1];
  const T* v = static_cast<const T*>(p.v) + b * p.v_stride[0] + hk * p.v_stride[1];
  const MaskT* mask = p.mask ? static_cast<const MaskT*>(p.mask) + b * p.mask_stride[0] + h * p.mask_stride[1] +
                                   i * p.mask_stride[2]
                             : nullptr;
  float q_reg[Chunks], o[Chunks];
#pragma unroll
  for (int c = 0; c < Chunks; ++c) {
    int d = lane + 32 * c;
    q_reg[c] = d < p.head_dim ? load(q[d * p.q_stride[3]]) * p.scale : 0.0f;
    o[c] = 0.0f;
  }
  // Keys past this limit are hidden by the causal rule (query i sees keys up to i + sk - sq).
  int key_end = p.causal ? min(p.sk, i + p.sk - p.sq + 1) : p.sk;
  float running_max = -INFINITY, running_sum = 0.0f;
  for (int tile = 0; tile < key_end; tile += 32) {
    // Scores of this tile's 32 keys; lane j keeps key tile + j's.
    float score = -INFINITY;
    int tile_keys = min(32, key_end - tile);
    for (int j = 0; j < tile_keys; ++j) {
      const T* kr = k + int64_t(tile + j) * p.k_stride[2];
      float partial = 0.0f;
#pragma unroll
      for (int c = 0; c < Chunks; ++c) {
        int d = lane + 32 * c;
        if (d < p.head_dim) partial += q_reg[c] * load(kr[d * p.k_stride[3]]);
      }
      partial = warp_sum(partial);
      if (lane == j) score = partial;
    }
    if (lane < tile_keys && mask) {
      auto m = mask[int64_t(tile + lane) * p.mask_stride[3]];
      if constexpr (std::is_same_v<MaskT, bool>)
        score = m ? score : -INFINITY;
      else
        score += load(m);
    }
    float tile_max = warp_max(score);
    float new_max = fmaxf(running_max, tile_max);
    if (new_max == -INFINITY) continue;  // everything so far is masked
    float correction = expf(running_max - new_max);
    float weight = lane < tile_keys ? expf(score - new_max) : 0.0f;
    running_sum = running_sum * correction + warp_sum(weight);
    running_max = new_max;
#pragma unroll
    for (int c = 0; c < Chunks; ++c) o[c] *= correction;
    for (int j = 0; j < tile_keys; ++j) {
      float w = __shfl_sync(0xffffffffu, weight, j);
      const T* vr = v + int64_t(tile + j) * p.v_stride[2];
#pragma unroll
      for (int c = 0; c < Chunks; ++c) {
        int d = lane + 32 * c;
        if (d < p.value_dim) o[c] += w * load(vr[d * p.v_stride[3]]);
      }
    }
  }
  float inv = running_sum > 0.0f ? 1.0f / running_sum : 0.0f;  // fully masked rows give zeros
  T* out = static_cast<T*>(p.out) + b * p.out_stride[0] + h * p.out_stride[1] + i * p.out_stride[2];
#pragma unroll
  for (int c = 0; c < Chunks; ++c) {
    int d = lane + 32 * c;
    if (d < p.value_dim) out[d] = store<T>(o[c] * inv);
  }
}

template <typename T, typename MaskT>
void launch_rows(const AttentionParams& p) {
  if (tensor_core_attention_applies(p, dtype_of_device<T>())) {
    tensor_core_attention(p, dtype_of_device<T>());
    return;
  }
  dim3 grid(unsigned((p.sq + kQueryWarps - 1) / kQueryWarps), unsigned(p.heads), unsigned(p.batch));
  int widest = max(p.head_dim, p.value_dim);
  if (widest <= 32)
    attention_rows_kernel<T, MaskT, 1><<<grid, kQueryWarps * 32, 0, stream()>>>(p);
  else if (widest <= 64)
    attention_rows_kernel<T, MaskT, 2><<<grid, kQueryWarps * 32, 0, stream()>>>(p);
  else if (widest <= 128)
    attention_rows_kernel<T, MaskT, 4><<<grid, kQueryWarps * 32, 0, stream()>>>(p);
  else if (widest <= 256)
    attention_rows_kernel<T, MaskT, 8><<<grid, kQueryWarps * 32, 0, stream()>>>(p);
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

}  // namespace tessera
