#pragma once
// Integer GEMM for 8-bit MLX weights (w = scale * q + bias per group of K, q uint8) against
// activations quantized dynamically to int8 per token *and per group* (x ~= a * xq with a =
// max|x| / 127 over the token's group, xq in [-127, 127]):
//
//   y[t][n] = sum_g a[t][g] * (scale[n][g] * sum_{k in g} q[n][k] xq[t][k]
//                              + bias[n][g] * sum_{k in g} xq[t][k])
//
// Why per group and not one scale per token: BERT-family hidden states carry a few outlier
// channels 10-20x larger than the rest; one scale per token spends the 127 levels on them and
// all-MiniLM-L6-v2's embeddings fell to cosine 0.987 vs float32 (every projection type
// contributes). A scale per group of the weights' own grouping confines an outlier to its 64
// channels and costs one multiply per group, because the kernels fold every group separately
// anyway (llama.cpp's q8 activation blocks make the same choice).
//
// Why the bias term uses the sum of the *quantized* x, not the float sum: the rounding error of
// x then meets the weight w = scale * q + bias itself (sum of delta * w, as for a symmetric
// weight); with the float sum it meets w - bias, and MLX anchors bias at the group's extreme, so
// that error is ~3x larger (measured 1.7% vs 0.6% relative on random layers; llama.cpp's q8_1
// blocks store the sum of their quantized values for the same reason).
//
// The inner sums are exact int32 dot products of unsigned weights with signed activations: AMX
// TDPBUSD tile steps (K = 64 bytes: one step per group of 64) on CPUs with AMX-INT8, portable
// loops elsewhere. Float32 accumulates across groups.
#include <cstdint>
#include <vector>

namespace tessera::cpu {

// AMX tiles hold 16 tokens; token counts are padded to a multiple of this.
inline constexpr int64_t kInt8TokenBlock = 16;

// Activations of M tokens quantized per token and group, laid out for the kernels.
struct Int8Activations {
  int64_t m = 0, padded_m = 0, k = 0, groups = 0;
  std::vector<int8_t> q;  // [M, K] row-major
  // The same values as AMX B tiles: per block of 16 tokens and 64 k, 16 rows (k / 4) of
  // 16 tokens x 4 consecutive k ([blocks][K / 64][16][16][4]); padding tokens are 0.
  std::vector<int8_t> tiles;
  std::vector<float> scale;          // [groups][padded M]: a[t][g] (0 for an all-zero group)
  std::vector<float> quantized_sum;  // [groups][padded M]: sum of xq[t] over group g
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
