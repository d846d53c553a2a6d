// Mixtral: Mistral attention with a top-k MoE whose experts are named w1 (gate), w3 (up) and w2
// (down) under block_sparse_moe; the chosen router probabilities are always renormalised.
#include "models/decoder.h"

namespace tessera {

std::vector<ArchitectureEntry> mixtral_architectures() {
  return {decoder_architecture({.architecture = "MixtralForCausalLM",
                                .mlp = "block_sparse_moe",
                                .gate_proj = "w1",
                                .up_proj = "w3",
                                .down_proj = "w2",
                                .sliding_window_all_layers = true,
                                .moe = true,
                                .normalize_top_k = true})};
}

}  // namespace tessera
