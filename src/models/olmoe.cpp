// OLMoE: RMSNorm over the whole q and k projections (not per head), optional clip_qkv, and a
// top-k MoE without renormalisation unless norm_topk_prob.
#include "models/decoder.h"

namespace tessera {

std::vector<ArchitectureEntry> olmoe_architectures() {
  return {decoder_architecture({.architecture = "OlmoeForCausalLM", .qk_norm = QKNorm::full, .moe = true})};
}

}  // namespace tessera
