#pragma once
// Integer GEMM for 8-bit MLX weights (w = scale * q + bias per group of K, q uint8) against
// activations quantized dynamically to 8 bits per token *and per group*, asymmetrically:
// x ~= a * xq + m with xq in [0, 255], m the group's minimum and a = (max - min) / 255. Then
//
//   y[t][n] = sum_g scale[n][g] * (a[t][g] * sum_{k in g} q[n][k] xq[t][k] + m[t][g] * Q[n][g])
//                 + bias[n][g] * X[t][g]
//
// with Q[n][g] the sum of the group's weight codes and X[t][g] = a * sum(xq) + m * group_size
// the sum of the *quantized* x over the group.
//
// Why these choices (all-MiniLM-L6-v2 embeddings, cosine to float32, min over 35 sentences;
// 8-bit weights computed exactly give 0.99932):
// - per group, not one scale per token: BERT-family hidden states carry a few outlier channels
//   10-20x larger than the rest; one scale per token spends the levels on them (0.987). A scale
//   per group of the weights' own grouping confines an outlier to its group and costs nothing
//   extra, because the kernels fold every group separately anyway (llama.cpp's q8 activation
//   blocks make the same choice).
// - asymmetric (min/max over 255 steps) rather than symmetric int8 (+-max|x|): the same step on
//   symmetric data, about half the step where a group is skewed, as GELU outputs (>= -0.17)
//   are (symmetric per group: 0.99689; asymmetric: 0.99824).
// Even so the value and attention-output projections need exact arithmetic to reach 0.999
// (models/bert.cpp: keep_exact).
// - the bias term uses the sum of the quantized x, not the exact float sum: then x's rounding
//   error meets the weight w = scale * q + bias itself, as it would for a float weight; with the
//   float sum it meets w - bias, and MLX anchors bias at the group's extreme, so that error is
//   ~3x larger (measured 1.7% vs 0.6% relative on random layers; llama.cpp's q8_1 blocks store
//   the sum of their quantized values for the same reason).
//
// The inner sums are exact int32 dot products of unsigned bytes: AMX TDPBUUD tile steps (K = 64
// bytes: one step per group of 64) on CPUs with AMX-INT8, portable loops elsewhere. Float32
// accumulates across groups.
#include <cstdint>
#include <memory>

#include "tessera/buffer.h"

namespace tessera::cpu {

// AMX tiles hold 16 tokens; token counts are padded to a multiple of this.
inline constexpr int64_t kInt8TokenBlock = 16;

// Activations of M tokens quantized per token and group, laid out for the kernels; the arrays
// live in host buffers (the block cache makes the per-call allocation free).
struct Int8Activations {
  int64_t m = 0, padded_m = 0, k = 0, groups = 0;
  const uint8_t* q = nullptr;  // [M, K] row-major (portable kernel)
  // The same values as AMX B tiles: per block of 16 tokens and 64 k, 16 rows (k / 4) of
  // 16 tokens x 4 consecutive k ([blocks][K / 64][16][16][4]); padding tokens are 0.
  const uint8_t* tiles = nullptr;
  // [groups][padded M] each: a, m and X above (0 for padding tokens).
  const float* scale = nullptr;
  const float* offset = nullptr;
  const float* group_sum = nullptr;
  std::shared_ptr<Buffer> storage;
};
Int8Activations quantize_activations(const float* x, int64_t m, int64_t k, int group_size);

// The uint8 weight codes q [N, K] (row stride K bytes: the bytes of MLX's packed 8-bit words),
// float32 scales and biases [N, K / group_size].
struct Int8Weights {
  const uint8_t* q;
  const float* scales;
  const float* biases;
  int64_t n, k;
  int group_size;
};

// Whether the AMX kernel runs here: AMX-INT8 on the CPU, tile data granted by the OS, and a
// group size that is a multiple of 64.
bool int8_amx_available(int group_size);

// y [M, N] (row stride ldy) = the formula above for output columns [n0, n1); AMX when
// int8_amx_available, else portable loops. Threads may call it at once on disjoint columns.
void int8_group_gemm(const Int8Activations& x, const Int8Weights& w, int64_t n0, int64_t n1,
                     float* y, int64_t ldy);

}  // namespace tessera::cpu
