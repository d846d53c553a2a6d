#pragma once
// The device-agnostic op API. Each op checks shapes and dtypes eagerly (errors name the op) and
// returns a pending Array; nothing runs until eval(). `device` defaults to default_device().
#include <optional>
#include <utility>
#include <vector>

#include "tessera/activation.h"
#include "tessera/array.h"

namespace tessera {

// ---- creation ----
Array zeros(const Shape& shape, Dtype dtype = Dtype::float32);
Array ones(const Shape& shape, Dtype dtype = Dtype::float32);
Array full(const Shape& shape, double value, Dtype dtype = Dtype::float32);
Array arange(int64_t start, int64_t stop, Dtype dtype = Dtype::int64);

namespace random {
// Deterministic for a given seed, on every device.
Array normal(const Shape& shape, Dtype dtype, uint64_t seed, double mean = 0.0, double stddev = 1.0);
Array uniform(const Shape& shape, Dtype dtype, uint64_t seed, double low = 0.0, double high = 1.0);
Array randint(const Shape& shape, int64_t low, int64_t high, Dtype dtype, uint64_t seed);
}  // namespace random

// ---- device and dtype ----
Array astype(const Array& a, Dtype dtype);
Array to_device(const Array& a, Device device);
Array contiguous(const Array& a);  // a row-major copy unless already contiguous

// ---- views (no copy where the layout allows) ----
Array reshape(const Array& a, Shape shape);  // one -1 allowed
Array transpose(const Array& a, std::vector<int> axes);
Array transpose(const Array& a);  // reverses axes
Array swapaxes(const Array& a, int axis1, int axis2);
Array expand_dims(const Array& a, int axis);
Array squeeze(const Array& a, int axis);
Array broadcast_to(const Array& a, const Shape& shape);
// Python-style a[start:stop:step] per axis; missing trailing axes are taken whole.
Array slice(const Array& a, std::vector<int64_t> start, std::vector<int64_t> stop,
            std::vector<int64_t> step = {});
Array slice_axis(const Array& a, int axis, int64_t start, int64_t stop);
std::vector<Array> split(const Array& a, int sections, int axis);
std::vector<Array> split(const Array& a, const std::vector<int64_t>& indices, int axis);
Array concatenate(const std::vector<Array>& arrays, int axis);
// dst with update written at `start` (one entry per axis); update has dst's dtype and rank.
// Writes in place when nothing else refers to dst (the KV-cache append).
Array slice_update(const Array& dst, const Array& update, std::vector<int64_t> start);
// The same with the start along `axis` as data (int32 [1]; 0 along the other axes): the KV-cache
// write of a captured decode step. A start that would not fit is checked where it is on the host
// and clamped into dst where it is not.
Array slice_update(const Array& dst, const Array& update, const Array& start, int axis);

// ---- elementwise (numpy broadcasting, dtype promotion) ----
Array add(const Array& a, const Array& b);
Array subtract(const Array& a, const Array& b);
Array multiply(const Array& a, const Array& b);
Array divide(const Array& a, const Array& b);
Array maximum(const Array& a, const Array& b);
Array minimum(const Array& a, const Array& b);
Array equal(const Array& a, const Array& b);
Array less(const Array& a, const Array& b);
Array greater(const Array& a, const Array& b);
Array where(const Array& condition, const Array& a, const Array& b);
// Scalars take the array's dtype (weak typing, as MLX).
Array add(const Array& a, double b);
Array multiply(const Array& a, double b);
Array operator+(const Array& a, const Array& b);
Array operator-(const Array& a, const Array& b);
Array operator*(const Array& a, const Array& b);
Array operator/(const Array& a, const Array& b);

Array negative(const Array& a);
Array abs(const Array& a);
Array exp(const Array& a);
Array log(const Array& a);
Array sqrt(const Array& a);
Array rsqrt(const Array& a);
Array square(const Array& a);
Array tanh(const Array& a);
Array erf(const Array& a);
Array sigmoid(const Array& a);
Array relu(const Array& a);
Array silu(const Array& a);
Array gelu(const Array& a);       // exact: x/2 (1 + erf(x/sqrt 2))
Array gelu_tanh(const Array& a);  // tanh approximation ("gelu_new", "gelu_pytorch_tanh")

// ---- reductions (axes may be negative; empty axes = all) ----
Array sum(const Array& a, std::vector<int> axes = {}, bool keepdims = false);
Array mean(const Array& a, std::vector<int> axes = {}, bool keepdims = false);
Array max(const Array& a, std::vector<int> axes = {}, bool keepdims = false);
Array min(const Array& a, std::vector<int> axes = {}, bool keepdims = false);
Array argmax(const Array& a, int axis, bool keepdims = false);  // int32 indices, first wins

// ---- neural-network ops ----
// Batched a @ b with numpy broadcasting of batch dims; 1-d operands as numpy. Transposed views
// are read in place (no copy).
Array matmul(const Array& a, const Array& b);
// a @ b + bias with bias of shape [N], added in float32 before the result is rounded to a
// 16-bit dtype (one rounding, as a GEMM epilogue): the Linear layer's op.
Array addmm(const Array& bias, const Array& a, const Array& b);
// activation(x @ weight^T + bias): the dense Linear layer as one op, weight [N, K] stored as
// PyTorch stores it, x [..., K], bias [N] optional; bias and activation are applied in float32
// before the one rounding to a 16-bit dtype. The weight is taken to be a parameter that outlives
// many calls: the CPU reorders it once into the GEMM library's blocked layout and keeps that
// with the weight's buffer (docs/architecture.md, "Linear layers").
//
// Two more epilogues, for a decoder's small-batch steps where every launch counts (one decode
// token: the product, the activation, the gating and the residual add are one kernel on CUDA):
// - glu: the weight's rows are a gate half then an up half (gate and up projections fused, as
//   nn::fuse_linears does) and the result is activation(gate) * up, [..., N / 2];
// - residual [..., N] (or [..., N / 2] with glu), x's dtype: added last, the pre-norm block's
//   x + o_proj(attention) or x + down(mlp).
// Each step is rounded to x's dtype where the separate ops (activation, multiply, add) would
// round, so fusing changes no result.
// And one prologue, input_norm: the product takes rms_norm(x, input_norm->weight, eps) instead of
// x (a pre-norm block's norm and its first product as one op; a decode step's matrix-vector
// kernel normalises x as it reads it, each value rounded as rms_norm's output would be).
struct InputRmsNorm {
  Array weight;  // [K]
  float eps;
};
Array linear(const Array& x, const Array& weight, const std::optional<Array>& bias = std::nullopt,
             Activation activation = Activation::none, bool glu = false,
             const std::optional<Array>& residual = std::nullopt,
             const std::optional<InputRmsNorm>& input_norm = std::nullopt);
Array softmax(const Array& a, int axis = -1);  // accumulates in float32
Array log_softmax(const Array& a, int axis = -1);
// Normalise over the last axis; weight/bias of shape [last] are optional.
Array layer_norm(const Array& x, const std::optional<Array>& weight,
                 const std::optional<Array>& bias, float eps);
// layer_norm(tables[0][ids[0]] + tables[1][ids[1]] + ...) per token (1-3 tables [V_i, H] of one
// dtype, integer ids of one shape): BERT's word + position + token-type embeddings and their
// LayerNorm in one pass where rows are 16-byte multiples of at most 2 KB, else as separate ops.
Array embedding_layer_norm(const std::vector<Array>& tables, const std::vector<Array>& ids,
                           const std::optional<Array>& weight, const std::optional<Array>& bias, float eps);

// layer_norm(x + residual) in one pass: the post-norm residual block of BERT-style encoders.
Array add_layer_norm(const Array& x, const Array& residual, const std::optional<Array>& weight,
                     const std::optional<Array>& bias, float eps);
Array rms_norm(const Array& x, const std::optional<Array>& weight, float eps);
// Rotary embedding on the first `dims` features of x [..., S, D], positions offset..offset+S-1.
// traditional=false rotates halves (Llama/HF), true rotates interleaved pairs (GPT-J).
// `freqs` (shape [dims/2]) overrides base-derived inverse frequencies (Llama 3.1 scaling).
Array rope(const Array& x, int dims, bool traditional, float base, float scale, int64_t offset,
           const std::optional<Array>& freqs = std::nullopt);
// The same with the first position as data: `position` int32 [1] (a captured decode step's
// position changes between replays without rebuilding anything).
Array rope(const Array& x, int dims, bool traditional, float base, float scale, const Array& position,
           const std::optional<Array>& freqs = std::nullopt);
// q [B,Hq,Sq,D], k/v [B,Hkv,Sk,D] with Hq % Hkv == 0 (grouped-query). mask: additive float or
// bool (true = attend), broadcastable to [B,Hq,Sq,Sk]. causal aligns query i with key
// i + Sk - Sq (the KV-cache convention).
Array scaled_dot_product_attention(const Array& q, const Array& k, const Array& v, float scale,
                                   const std::optional<Array>& mask = std::nullopt,
                                   bool causal = false);

// Attention over packed variable-length sequences (no padding): q [T,Hq,D], k/v [T,Hkv,D] hold
// the tokens of every sequence back to back, sequence i occupying rows
// [cu_seqlens[i], cu_seqlens[i+1]); each attends only within itself. Returns [T,Hq,Dv].
Array varlen_attention(const Array& q, const Array& k, const Array& v,
                       const std::vector<int64_t>& cu_seqlens, float scale, bool causal = false);

// ---- quantization (MLX's affine format) ----
// Per group of `group_size` consecutive elements along the last axis, w ~= scale * q + bias with
// q in [0, 2^bits): bits 2, 4 or 8; group_size 32, 64 or 128. q is packed low bits first into
// uint32 words ([..., K * bits / 32]); scales and biases ([..., K / group_size]) take w's dtype.
// Bit-identical to mlx.core.quantize on the same weights, so files move both ways.
struct QuantizedArrays {
  Array weight, scales, biases;
};
QuantizedArrays quantize(const Array& w, int group_size = 64, int bits = 4);
Array dequantize(const Array& w, const Array& scales, const Array& biases, int group_size = 64,
                 int bits = 4);
// x @ dequantize(w)^T (transpose = true, w packed [N, K * bits / 32]) or x @ dequantize(w)
// (transpose = false, w packed [K, N * bits / 32]) without materialising the float weights.
// x [..., K]; the result [..., N] takes x's dtype.
Array quantized_matmul(const Array& x, const Array& w, const Array& scales, const Array& biases,
                       bool transpose = true, int group_size = 64, int bits = 4);
// activation(quantized_matmul(x, w, scales, biases) + bias [N]), the bias added and the
// activation applied in float32 before rounding (addmm's contract): the quantized Linear
// layer's op.
Array quantized_addmm(const Array& bias, const Array& x, const Array& w, const Array& scales,
                      const Array& biases, int group_size = 64, int bits = 4,
                      Activation activation = Activation::none);
// quantized_addmm (or quantized_matmul without a bias) with linear's prologue (input_norm) and
// epilogues: activation, glu (w's rows a gate half then an up half; the result [..., N / 2]) and
// + residual, rounded where the separate ops would round. The quantized Linear layer's op in a
// decoder block, where a decode step's norm, product and epilogue are one launch on CUDA.
Array quantized_linear(const Array& x, const Array& w, const Array& scales, const Array& biases,
                       const std::optional<Array>& bias, int group_size, int bits,
                       Activation activation = Activation::none, bool glu = false,
                       const std::optional<Array>& residual = std::nullopt,
                       const std::optional<InputRmsNorm>& input_norm = std::nullopt);
// x @ dequantize(w)^T [+ bias] for 8-bit weights computed in integers: x is quantized on the fly
// to int8 per token and per group of the weights (symmetric, scale max|x| / 127), the dot
// products with the uint8 weight codes run in int32 (AMX on CPUs that have it) and are scaled
// per group in float32. Faster than quantized_matmul and approximate where that one is exact
// (~0.5% relative error per product from rounding x; backend/cpu/int8_gemm.h says why per group).
Array quantized_matmul_int8(const Array& x, const Array& w, const Array& scales, const Array& biases,
                            const std::optional<Array>& bias = std::nullopt, int group_size = 64);

// ---- indexing ----
// Rows of `a` along `axis` picked by integer `indices` (any shape): embedding lookup is take(w, ids, 0).
Array take(const Array& a, const Array& indices, int axis);
Array take_along_axis(const Array& a, const Array& indices, int axis);
// The k largest along `axis`, sorted descending (ties: lower index first): {values, int32 indices}.
std::pair<Array, Array> topk(const Array& a, int k, int axis = -1);

// ---- mixture of experts ----
// Row-wise products against one of several stacked weights: w [E, out, in] holds E experts'
// weights as Linear stores them, indices (int32) picks an expert per row, and row r of the
// result is x[r] . w[indices[r]]^T (float32 accumulation, x's dtype out). x [..., in] has
// indices' shape as its leading shape, or indices' shape without the last axis: each row of x
// then meets every expert of its index row (a token and its top-k experts), [..., k, out].
// Indices outside [0, E) are an error (on a device they read as zeros and raise the device
// error flag). MLX's gather_mm / gather_qmm with only right-hand indices, plus two epilogues a
// MoE layer needs, rounded to x's dtype at the same points as the separate ops would:
// - glu: w's rows are a gate half then an up half, and the result is glu(gate) * up, [..., out / 2];
// - row_weights (indices' shape): the rows of each index row summed, weighted (a token's top-k
//   expert outputs times the router's weights, cast to x's dtype), [..., out] without the k axis.
Array gather_matmul(const Array& x, const Array& w, const Array& indices, Activation glu = Activation::none,
                    const std::optional<Array>& row_weights = std::nullopt);
// The same with quantized experts in MLX's affine format: w packed [E, out, in * bits / 32],
// scales and biases [E, out, in / group_size].
Array gather_quantized_matmul(const Array& x, const Array& w, const Array& scales, const Array& biases,
                              const Array& indices, int group_size = 64, int bits = 4,
                              Activation glu = Activation::none, const std::optional<Array>& row_weights = std::nullopt);

}  // namespace tessera
