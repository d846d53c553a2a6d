#pragma once
// A mixture-of-experts feed-forward (Mixtral, Qwen-MoE, OLMoE): a router picks top_k experts per
// token; their outputs are summed, weighted by the router probabilities, plus an optional shared
// expert gated per token (Qwen2-MoE).
//
// Tokens are grouped by expert so each active expert's weights are read once per call: the
// router's choices come back to the host, every expert runs one matmul chain over the rows routed
// to it (take + GatedMLP), and one gather puts the weighted results back in token order. Experts
// no token picked cost nothing, which is what makes decoding with 8 of 64 experts cheap.
#include <optional>
#include <vector>

#include "nn/gated_mlp.h"

namespace tessera::nn {

struct SparseMoE {
  Linear router;  // [experts, hidden], no bias
  std::vector<GatedMLP> experts;
  int top_k = 1;
  bool normalize_top_k = false;  // renormalise the chosen probabilities to sum to 1
  std::optional<GatedMLP> shared_expert;
  std::optional<Linear> shared_expert_gate;  // [1, hidden]: sigmoid gate of the shared expert

  Array operator()(const Array& x) const;  // x [..., hidden]
};

}  // namespace tessera::nn
