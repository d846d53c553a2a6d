// CUDA graphs for fixed-shape forward passes (include/tessera/cuda.h). Capture runs the lazy
// graph once under stream capture with a private memory pool; replay refreshes the host inputs
// the graph reads (found by walking the lazy graph, which is deterministic for a signature) and
// launches it.
#include <cuda_profiler_api.h>

#include <map>
#include <unordered_set>

#include "backend/cuda/caching_allocator.h"
#include "backend/cuda/runtime.h"
#include "tessera/cuda.h"

namespace tessera::cuda {

void synchronize() {
  OpScope scope("synchronize");
  if (initialize()) cuda::synchronize_stream();
}

MemoryStats memory_stats() {
  if (!initialize()) return {};
  return {allocator().allocated_bytes(), allocator().peak_allocated_bytes(), allocator().reserved_bytes()};
}

void reset_peak_memory() {
  if (initialize()) allocator().reset_peak();
}

void profiler_start() {
  if (initialize()) check(cudaProfilerStart(), "cudaProfilerStart");
}

void profiler_stop() {
  if (initialize()) check(cudaProfilerStop(), "cudaProfilerStop");
}

namespace {

// The signature a graph is valid for.
std::string signature(const ModelInputs& in) {
  std::string key;
  auto add = [&](const std::optional<Array>& a) {
    if (!a) {
      key += "-;";
      return;
    }
    key += std::string(name(a->dtype())) + to_string(a->shape()) + ";";
  };
  add(in.input_ids);
  add(in.attention_mask);
  add(in.token_type_ids);
  return key + (in.skip_padding ? "packed" : "padded");
}

// Materialised host arrays that pending GPU work reads: this call's data. Buffers already on
// the device (weights) are left out: they are constants of the graph.
std::vector<std::shared_ptr<Buffer>> host_inputs(const ModelOutputs& outputs) {
  std::vector<std::shared_ptr<Buffer>> found;
  std::unordered_set<const ArrayNode*> visited;
  std::unordered_set<const Buffer*> seen_buffers;
  std::vector<Array> stack;
  for (const auto& [field, array] : outputs) stack.push_back(array);
  while (!stack.empty()) {
    Array a = stack.back();
    stack.pop_back();
    if (!visited.insert(a.node()).second) continue;
    if (a.evaluated()) {
      const auto& buffer = a.buffer();
      if (!buffer->on_device() && seen_buffers.insert(buffer.get()).second) found.push_back(buffer);
      continue;
    }
    // Reverse order on the stack keeps the visiting order that of the inputs.
    for (auto it = a.inputs().rbegin(); it != a.inputs().rend(); ++it) stack.push_back(*it);
  }
  return found;
}

struct CapturedGraph {
  cudaGraphExec_t exec = nullptr;
  int pool = 0;
  std::vector<std::shared_ptr<Buffer>> inputs;  // device copies the graph reads
  ModelOutputs outputs;                         // what the graph writes
};

}  // namespace

struct GraphedModel::Impl {
  Model& model;
  std::map<std::string, CapturedGraph> graphs;
  std::unordered_set<std::string> warmed_up;
  explicit Impl(Model& m) : model(m) {}

  ~Impl() {
    for (auto& [key, graph] : graphs) {
      cudaGraphExecDestroy(graph.exec);
      graph.outputs.clear();
      graph.inputs.clear();
      allocator().retire_pool(graph.pool);
    }
  }

  ModelOutputs eager(const ModelOutputs& outputs) {
    std::vector<Array> arrays;
    for (const auto& [field, array] : outputs) arrays.push_back(array);
    eval(arrays);
    return outputs;
  }

  CapturedGraph capture(const ModelOutputs& outputs) {
    CapturedGraph graph;
    graph.inputs = host_inputs(outputs);
    for (const auto& buffer : graph.inputs) buffer->device(Device::cuda(0));  // uploads stay outside the graph
    graph.pool = allocator().create_pool();
    allocator().set_current_pool(graph.pool);
    cudaGraph_t captured = nullptr;
    // Relaxed: the allocator may still call cudaMalloc for the pool while capturing.
    check(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
    try {
      eager(outputs);
    } catch (...) {
      cudaStreamEndCapture(stream(), &captured);
      if (captured) cudaGraphDestroy(captured);
      allocator().set_current_pool(0);
      allocator().retire_pool(graph.pool);
      throw;
    }
    allocator().set_current_pool(0);
    check(cudaStreamEndCapture(stream(), &captured), "cudaStreamEndCapture");
    cudaError_t instantiated = cudaGraphInstantiate(&graph.exec, captured, 0);
    cudaGraphDestroy(captured);
    check(instantiated, "cudaGraphInstantiate");
    graph.outputs = outputs;
    return graph;
  }

  // Fresh arrays with the graph's outputs: the captured ones are overwritten by the next replay.
  ModelOutputs copy_outputs(const CapturedGraph& graph) {
    ModelOutputs result;
    for (const auto& [field, array] : graph.outputs) {
      size_t bytes = array.buffer()->size();
      auto copy = Buffer::allocate_device(Device::cuda(0), bytes);
      check(cudaMemcpyAsync(copy->mutable_device(Device::cuda(0)), array.buffer()->device(Device::cuda(0)), bytes,
                            cudaMemcpyDeviceToDevice, stream()),
            "cudaMemcpyAsync(graph output)");
      result[field] = Array::from_buffer(copy, array.shape(), array.dtype(), array.strides(), array.offset());
    }
    return result;
  }

  bool replay(CapturedGraph& graph, const ModelOutputs& pending) {
    std::vector<std::shared_ptr<Buffer>> fresh = host_inputs(pending);
    if (fresh.size() != graph.inputs.size()) return false;
    for (size_t i = 0; i < fresh.size(); ++i)
      if (fresh[i]->size() != graph.inputs[i]->size()) return false;
    for (size_t i = 0; i < fresh.size(); ++i)
      check(cudaMemcpyAsync(graph.inputs[i]->mutable_device(Device::cuda(0)), fresh[i]->host(), fresh[i]->size(),
                            cudaMemcpyHostToDevice, stream()),
            "cudaMemcpyAsync(graph input)");
    check(cudaGraphLaunch(graph.exec, stream()), "cudaGraphLaunch");
    return true;
  }
};

GraphedModel::GraphedModel(Model& model) : impl_(std::make_unique<Impl>(model)) {}
GraphedModel::~GraphedModel() = default;

size_t GraphedModel::graph_count() const { return impl_->graphs.size(); }

ModelOutputs GraphedModel::forward(const ModelInputs& inputs) {
  OpScope scope("cuda_graph");
  std::string key = signature(inputs);
  ModelOutputs pending = impl_->model.forward(inputs);
  auto it = impl_->graphs.find(key);
  if (it != impl_->graphs.end()) {
    if (impl_->replay(it->second, pending)) return impl_->copy_outputs(it->second);
    return impl_->eager(pending);
  }
  if (impl_->warmed_up.insert(key).second) return impl_->eager(pending);
  CapturedGraph graph = impl_->capture(pending);
  check(cudaGraphLaunch(graph.exec, stream()), "cudaGraphLaunch");  // capturing ran nothing
  auto& stored = impl_->graphs.emplace(key, std::move(graph)).first->second;
  return impl_->copy_outputs(stored);
}

}  // namespace tessera::cuda
