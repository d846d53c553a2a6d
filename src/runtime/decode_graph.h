#pragma once
// Decode steps of one KV cache replayed as a CUDA graph.
//
// A decode step is ~20 kernels a layer; building its lazy graph and launching them costs the host
// more than the GPU needs to run them (Llama-3-8B bf16 on an H100: ~8 ms a step against 5 ms of
// weight reads). A step with its position as data (CausalLM::forward_step) is the same kernels at
// every position, so it is captured once and replayed: the host then copies the token and the
// position into the graph's inputs and launches it.
//
// The first step runs eagerly (warm-up: handles and workspaces are created lazily), the second is
// captured, later ones replay; the cache is grown once for the planned steps so its buffers — and
// the graph — stay put. Wherever a graph cannot serve (no CUDA, a model or cache that takes no
// data positions: MoE host routing, "dynamic" rope, a rotating cache about to wrap) every step is
// CausalLM::forward.
#include <memory>

#include "models/causal_lm.h"

namespace tessera {

namespace cuda {
class CapturedEvaluation;
}

class DecodeGraph {
 public:
  // `steps`: the decode steps to plan room for (more still work: the cache grows and the step is
  // captured again).
  DecodeGraph(CausalLM& model, KVCache& cache, int64_t steps);
  ~DecodeGraph();
  DecodeGraph(const DecodeGraph&) = delete;
  DecodeGraph& operator=(const DecodeGraph&) = delete;

  // Logits [B,1,vocab] of ids [B,1] (host or device) at cache.offset(); the cache takes their
  // keys and values.
  Array step(const Array& ids);
  bool replaying() const { return graph_ != nullptr; }

 private:
  bool graphable() const;
  CausalLM& model_;
  KVCache& cache_;
  int64_t steps_left_;
  bool warmed_up_ = false;
  int64_t captured_capacity_ = 0;
  Shape captured_ids_shape_;
  std::shared_ptr<cuda::CapturedEvaluation> graph_;  // shared_ptr: destroyed where the type is incomplete (no CUDA)
};

}  // namespace tessera
