#pragma once
// The building blocks models are made of; each holds its weights and applies ops.
#include <optional>
#include <string>
#include <vector>

#include "models/weights.h"
#include "tessera/ops.h"

namespace tessera::nn {

// A Linear's input: x, or rms_norm(x, norm weight, eps) not applied yet. A pre-norm block hands its
// norm to the block's first product, which applies it as it reads x where the backend can (ops.h
// linear's input_norm: a decode step saves the norm's launch). Arrays convert implicitly.
struct LinearInput {
  LinearInput(const Array& x) : x(x) {}  // NOLINT(google-explicit-constructor)
  LinearInput(const Array& x, const Array& norm_weight, float eps) : x(x), norm(InputRmsNorm{norm_weight, eps}) {}
  Array x;
  std::optional<InputRmsNorm> norm;
  // The input as an array (the norm applied as its own op).
  Array applied() const { return norm ? rms_norm(x, norm->weight, norm->eps) : x; }
};

// y = x W^T + b with W stored [out, in] as in PyTorch; W^T is a view, never a copy. A quantized
// W (MLX's affine format) is dequantized on the fly by quantized_matmul.
struct Linear {
  std::variant<Array, QuantizedWeight> weight;
  std::optional<Array> bias;
  std::string name;  // the checkpoint prefix it was loaded from, for LinearInputObserver
  static Linear load(Weights& w, const std::string& prefix, int64_t in, int64_t out, bool has_bias = true);
  Array operator()(const LinearInput& x) const;
  // activation(x W^T + b) for a Hugging Face hidden_act name, fused into the GEMM where the
  // backend can (dense weights, activations `linear` knows).
  Array operator()(const Array& x, const std::string& activation) const;
  // residual + (x W^T + b): a pre-norm block's output projection, the add fused into the
  // product's epilogue where the backend can (dense weights; ops.h linear).
  Array plus_residual(const Array& x, const Array& residual) const;
  // activation(gate) * up for a Linear whose rows are a gate half then an up half (gate and up
  // fused by fuse_linears), in the product's epilogue where the backend can. Not for int8 compute.
  Array gated(const LinearInput& x, Activation activation) const;
};

// Linears applied to the same input, as one: their weights (dense, or quantized alike: packed
// words, scales and biases) and biases (all or none) concatenated along the outputs, so one GEMM
// (or one matrix-vector pass when decoding) replaces several. The parts keep views of the fused
// rows: weights are held once, and each part can still be applied alone by its name (a
// calibration observer must see q, k and v separately). nullopt for mixed parts, and for the
// CPU's int8-compute weights (packed per layer). Apply with `fused_outputs`.
std::optional<Linear> fuse_linears(const std::vector<Linear*>& parts);
// The fused Linear applied once and its output split back into the parts' outputs (views of the
// last axis), or each part applied alone when there is no fused Linear or an observer is active.
std::vector<Array> fused_outputs(const std::optional<Linear>& fused, const std::vector<const Linear*>& parts,
                                 const LinearInput& x);

struct Embedding {
  Array weight;  // [vocab, dim]
  static Embedding load(Weights& w, const std::string& name, int64_t vocab, int64_t dim);
  Array operator()(const Array& ids) const { return take(weight, ids, 0); }
};

struct LayerNorm {
  Array weight, bias;
  float eps;
  static LayerNorm load(Weights& w, const std::string& prefix, int64_t dim, float eps);
  Array operator()(const Array& x) const { return layer_norm(x, weight, bias, eps); }
  // Norm of x + residual in one pass (post-norm residual blocks).
  Array operator()(const Array& x, const Array& residual) const {
    return add_layer_norm(x, residual, weight, bias, eps);
  }
};

// Hugging Face hidden_act names; unknown names are refused by check_activation at load time.
void check_activation(const std::string& name);
Array activation(const std::string& name, const Array& x);
// The hidden_act names kernels can apply in an epilogue (linear, gather_matmul); quick_gelu is not one.
std::optional<Activation> fusable_activation(const std::string& name);

}  // namespace tessera::nn
