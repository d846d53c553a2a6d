#pragma once
// A mixture-of-experts feed-forward (Mixtral, Qwen-MoE, OLMoE): a router picks top_k experts per
// token; their outputs are summed, weighted by the router probabilities, plus an optional shared
// expert gated per token (Qwen2-MoE).
//
// The experts' weights are stacked once (gate and up fused [E, 2 * inter, hidden], down
// [E, hidden, inter], dense or packed; each expert's Linears become views of the stacks, so the
// weights are held once). Two paths, with transformers' arithmetic (router in float32, then
// softmax, top-k, optional renormalisation):
// - gathered, for few tokens (decode steps, short prompts): everything stays on the device.
//   gather_matmul runs every (token, rank) row against its expert's gate/up with act(gate) * up
//   in its epilogue, then against down with the router-weighted sum over the ranks in its
//   epilogue: two kernels after the router, no host round trip, so a decode step can be captured
//   in a CUDA graph.
// - grouped, for many tokens: the router's choices come back to the host, tokens are grouped by
//   expert, and every active expert runs one matmul chain over its rows (take + GatedMLP); one
//   gather puts the weighted results back in token order. Experts no token picked cost nothing.
// Both read each active expert's weights once per call.
#include <optional>
#include <variant>
#include <vector>

#include "nn/gated_mlp.h"

namespace tessera::nn {

enum class MoEPath { automatic, gathered, grouped };
// Automatic: gathered up to kGatheredMaxAssignments (token, expert) assignments per call, grouped
// above. The path is read from TESSERA_MOE_PATH (auto, gathered, grouped) on first use;
// set_moe_path overrides it (tests check both paths against the same fixtures).
inline constexpr int64_t kGatheredMaxAssignments = 64;
MoEPath moe_path();
void set_moe_path(MoEPath path);

struct SparseMoE {
  Linear router;  // [experts, hidden], no bias
  std::vector<GatedMLP> experts;
  int top_k = 1;
  bool normalize_top_k = false;  // renormalise the chosen probabilities to sum to 1
  std::optional<GatedMLP> shared_expert;
  std::optional<Linear> shared_expert_gate;  // [1, hidden]: sigmoid gate of the shared expert

  // The experts' stacked weights: [E, rows, in] dense, or packed with [E, rows, groups] scales
  // and biases. Absent when the experts cannot be stacked (biases, mixed dtypes or formats):
  // then every call takes the grouped path.
  using Stack = std::variant<Array, QuantizedWeight>;
  struct Stacked {
    Stack gate_up, down;
    int64_t intermediate;
  };
  std::optional<Stacked> stacked;

  // Stacks the experts' weights (once; later calls do nothing). The loader should call it after
  // filling `experts`; otherwise the first call of operator() does (a host sync then).
  void stack_experts();

  Array operator()(const Array& x) const;  // x [..., hidden]
  // Whether a call over `tokens` tokens takes the gathered path (no host round trip).
  bool stays_on_device(int64_t tokens) const;

 private:
  bool stack_tried_ = false;
};

}  // namespace tessera::nn
