#pragma once
// Fused bfloat16 attention on AMX-BF16 CPUs (attention_bf16.cpp): the interface between the
// attention ops (attention.cpp) and the kernel.
#include <cstdint>
#include <vector>

namespace tessera::cpu {

// A [n, cols] matrix of bfloat16 bits: element (i, c) at data[i * row + c * col].
struct Bf16Matrix {
  const uint16_t* data;
  int64_t row, col;
};

// Additive (float32) or keep (bool) mask of one (sequence, head): (i, j) at i * row + j * col.
struct FlashMask {
  const float* additive = nullptr;
  const bool* keep = nullptr;
  int64_t row = 0, col = 0;
};

// The keys and values of one (sequence, kv head).
struct FlashKeys {
  Bf16Matrix k, v;
  int64_t n;
};

// The queries of one (sequence, head), attending to keys[keys]; output row i (float32, dv
// values) at out + i * out_row.
struct FlashQuery {
  Bf16Matrix q;
  int64_t n;
  int64_t keys;
  FlashMask mask;
  float* out;
  int64_t out_row;
};

bool flash_bf16_available();

// Threads over (query, block of rows) with OpenMP; causal: query i sees keys up to i + n_k - n_q.
void flash_attention_bf16(const std::vector<FlashKeys>& keys,
                          const std::vector<FlashQuery>& queries, int64_t d, int64_t dv,
                          float scale, bool causal);

}  // namespace tessera::cpu
