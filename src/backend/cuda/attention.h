#pragma once
// What the attention kernels share: the operands of one scaled_dot_product_attention call as
// device pointers with element strides, so any layout ([B,H,S,D] or the [B,S,H,D] views that
// projections produce) is read in place.
#include <cstdint>

namespace tessera::cuda {

struct AttentionParams {
  const void *q, *k, *v, *mask;
  void* out;
  int64_t q_stride[4], k_stride[4], v_stride[4], mask_stride[4], out_stride[4];
  int batch, heads, kv_heads, sq, sk, head_dim, value_dim;
  float scale;
  bool causal, bool_mask;
};

}  // namespace tessera::cuda
