#pragma once
// The tensor-core attention path (float16/bfloat16, head dim 64 or 128, 16-byte aligned rows).
#include "backend/cuda/attention.h"
#include "tessera/dtype.h"

namespace tessera::cuda {

bool tensor_core_attention_applies(const AttentionParams& p, Dtype dtype);
void tensor_core_attention(const AttentionParams& p, Dtype dtype);

}  // namespace tessera::cuda
