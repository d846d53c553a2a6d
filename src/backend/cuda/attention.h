#pragma once
// What the attention kernels share: the operands of one scaled_dot_product_attention call as
// device pointers with element strides, so any layout ([B,H,S,D] or the [B,S,H,D] views that
// projections produce) is read in place.
#include <cstdint>

namespace tessera::cuda {

struct AttentionParams {
  const void *q, *k, *v, *mask;
  // Packed variable-length sequences (varlen_attention): sequence b is rows [cu[b], cu[b+1]) of
  // q, k, v and out along dim 2 (dim 0 has stride 0, batch = sequences, sq = sk = the longest).
  const int32_t* cu_seqlens;
  void* out;
  int64_t q_stride[4], k_stride[4], v_stride[4], mask_stride[4], out_stride[4];
  int batch, heads, kv_heads, sq, sk, head_dim, value_dim;
  float scale;
  bool causal, bool_mask;
};

// One query row per (batch, head) over at least 64 keys with at most 8 query heads per key/value
// head (a decode step): the keys split across blocks and merged (attention_decode.cu).
bool decode_attention_applies(const AttentionParams& p);
template <typename T, typename MaskT>
void decode_attention(const AttentionParams& p);

#ifdef __CUDACC__
// The rows of q/k/v/out that batch entry b attends over: all of them, or one packed sequence.
struct SequenceRows {
  int64_t first;
  int sq, sk;
};
__device__ __forceinline__ SequenceRows sequence_rows(const AttentionParams& p, int b) {
  if (!p.cu_seqlens) return {0, p.sq, p.sk};
  int first = p.cu_seqlens[b], length = p.cu_seqlens[b + 1] - first;
  return {first, length, length};
}
#endif

}  // namespace tessera::cuda
