#pragma once
// The SwiGLU-style feed-forward of Llama-family decoders: down(act(gate(x)) * up(x)).
#include <optional>
#include <string>

#include "nn/layers.h"

namespace tessera::nn {

struct GatedMLP {
  Linear gate, up, down;
  std::string act;
  std::optional<Linear> gate_up;  // gate and up as one Linear (fuse_linears), when they fuse
  // Names of the three projections under `prefix` (gate_proj/up_proj/down_proj, or Mixtral's w1/w3/w2).
  struct Names {
    const char* gate;
    const char* up;
    const char* down;
  };
  static GatedMLP load(Weights& w, const std::string& prefix, const Names& names, int64_t hidden,
                       int64_t intermediate, const std::string& act);
  Array operator()(const LinearInput& x) const;
  // residual + (*this)(x), the add in down's epilogue where it can be (Linear::plus_residual).
  Array operator()(const LinearInput& x, const Array& residual) const;

 private:
  // act(gate(x)) * up(x): one product with the gating in its epilogue (and x's norm in its
  // prologue) where gate and up are fused and the activation is one kernels apply (ops.h linear /
  // quantized_linear, glu).
  Array gated(const LinearInput& x) const;
};

}  // namespace tessera::nn
