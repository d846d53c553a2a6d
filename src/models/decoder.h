#pragma once
// The Llama-shaped decoder every supported causal LM is a variant of: pre-norm blocks of
// grouped-query attention with RoPE and a gated MLP or a mixture of experts. An architecture is a
// DecoderSpec: its checkpoint tensor names (the llama.cpp-style name table) and which variant
// features it has. llama.cpp, qwen.cpp, mixtral.cpp and olmoe.cpp hold the specs.
#include <memory>
#include <vector>

#include "models/registry.h"

namespace tessera {

enum class QKNorm {
  none,
  per_head,  // RMSNorm over head_dim on each head of q and k (Qwen3)
  full,      // RMSNorm over the whole q / k projection (OLMoE)
};

struct DecoderSpec {
  const char* architecture;
  // Tensor names under model.layers.N.: self_attn.{q,k,v,o}_proj, {q,k}_norm, input_layernorm,
  // post_attention_layernorm are shared by every family; the feed-forward differs.
  const char* mlp = "mlp";  // the feed-forward module ("block_sparse_moe" for Mixtral)
  const char* gate_proj = "gate_proj";
  const char* up_proj = "up_proj";
  const char* down_proj = "down_proj";
  const char* router = "gate";
  bool qkv_bias = false;           // default when config.json does not say (qkv_bias / attention_bias)
  QKNorm qk_norm = QKNorm::none;
  bool sliding_window_all_layers = false;  // Mistral: sliding_window applies to every layer
  bool moe = false;
  bool normalize_top_k = false;             // default when config.json has no norm_topk_prob
  bool tie_word_embeddings = false;         // default when config.json does not say
};

ArchitectureEntry decoder_architecture(const DecoderSpec& spec);

std::vector<ArchitectureEntry> llama_architectures();
std::vector<ArchitectureEntry> qwen_architectures();
std::vector<ArchitectureEntry> mixtral_architectures();
std::vector<ArchitectureEntry> olmoe_architectures();

}  // namespace tessera
