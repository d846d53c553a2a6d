#pragma once
// Controls specific to the CUDA backend, for callers that want more than the op API: waiting
// for queued GPU work (timing), the caching allocator's memory counters, and replaying a model's
// forward pass as a CUDA graph. Only built when tessera has CUDA (TESSERA_HAS_CUDA).
#include <cstddef>
#include <memory>
#include <vector>

#include "tessera/model.h"

namespace tessera::cuda {

// Blocks until every queued kernel and copy has finished; reports asynchronous GPU errors.
void synchronize();

struct MemoryStats {
  size_t allocated = 0;       // bytes held by live buffers (bucket-rounded)
  size_t peak_allocated = 0;  // high-water mark of `allocated` since the last reset
  size_t reserved = 0;        // bytes obtained from cudaMalloc, cached blocks included
};
MemoryStats memory_stats();
void reset_peak_memory();

// Brackets the region a profiler started with "profile from start off" records (Nsight Compute,
// Nsight Systems): benchmarks call these around their timed runs, skipping warm-up and tuning.
void profiler_start();
void profiler_stop();

// Runs a model's forward pass as a CUDA graph per input signature (shapes, dtypes, which
// optional inputs are present): the first call with a signature runs eagerly (warm-up), the
// second captures the kernels into a graph, later calls replay it. A replay still calls the
// model's forward to build (not run) the lazy graph, copies this call's host inputs (ids,
// positions, masks: every host array the graph reads) into the captured input buffers, launches
// the graph and returns fresh copies of the outputs. Arrays already on the GPU (weights) are
// constants of the graph; a signature whose graph reads a different set of host arrays falls
// back to eager evaluation.
// One evaluation captured as a CUDA graph and replayed with new values of its inputs: `outputs`
// are pending arrays whose work reads the materialised arrays `inputs` (ids, positions: whole
// buffers) and otherwise only device buffers (weights, KV caches written in place) or host arrays
// that stay constant (uploaded once, before capturing). Capturing runs nothing; replay(values)
// copies each value (host or device, converted to the input's dtype) into the captured inputs,
// launches the graph and returns fresh copies of the outputs.
class CapturedEvaluation {
 public:
  CapturedEvaluation(const std::vector<Array>& inputs, const std::vector<Array>& outputs);
  ~CapturedEvaluation();
  CapturedEvaluation(const CapturedEvaluation&) = delete;
  CapturedEvaluation& operator=(const CapturedEvaluation&) = delete;

  std::vector<Array> replay(const std::vector<Array>& values);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class GraphedModel {
 public:
  explicit GraphedModel(Model& model);
  ~GraphedModel();
  GraphedModel(const GraphedModel&) = delete;
  GraphedModel& operator=(const GraphedModel&) = delete;

  ModelOutputs forward(const ModelInputs& inputs);
  size_t graph_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::cuda
