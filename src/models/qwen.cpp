// Qwen2 (q/k/v biases), Qwen3 (RMSNorm of each q/k head), and their MoE variants: Qwen2-MoE
// (shared expert behind a sigmoid gate) and Qwen3-MoE. Sliding windows follow layer_types.
#include "models/decoder.h"

namespace tessera {

std::vector<ArchitectureEntry> qwen_architectures() {
  return {decoder_architecture({.architecture = "Qwen2ForCausalLM", .qkv_bias = true}),
          decoder_architecture({.architecture = "Qwen3ForCausalLM", .qk_norm = QKNorm::per_head}),
          decoder_architecture({.architecture = "Qwen2MoeForCausalLM", .qkv_bias = true, .moe = true}),
          decoder_architecture(
              {.architecture = "Qwen3MoeForCausalLM", .qk_norm = QKNorm::per_head, .moe = true})};
}

}  // namespace tessera
