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
#include "tessera/ops.h"

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

// Runs `outputs`' pending work under stream capture into a private memory pool: nothing
// executes; the instantiated graph does the work when launched. Host buffers the work reads are
// uploaded first (uploads stay outside the graph).
struct Capture {
  cudaGraphExec_t exec = nullptr;
  int pool = 0;
};

Capture capture(const std::vector<Array>& outputs) {
  std::vector<Array> roots = outputs;
  ModelOutputs as_fields;
  for (size_t i = 0; i < roots.size(); ++i) as_fields[std::to_string(i)] = roots[i];
  for (const auto& buffer : host_inputs(as_fields)) buffer->device(Device::cuda(0));
  Capture c;
  c.pool = allocator().create_pool();
  allocator().set_current_pool(c.pool);
  cudaGraph_t captured = nullptr;
  // Relaxed: the allocator may still call cudaMalloc for the pool while capturing.
  check(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
  try {
    eval(roots);
  } catch (...) {
    cudaStreamEndCapture(stream(), &captured);
    if (captured) cudaGraphDestroy(captured);
    allocator().set_current_pool(0);
    allocator().retire_pool(c.pool);
    throw;
  }
  allocator().set_current_pool(0);
  check(cudaStreamEndCapture(stream(), &captured), "cudaStreamEndCapture");
  cudaError_t instantiated = cudaGraphInstantiate(&c.exec, captured, 0);
  cudaGraphDestroy(captured);
  if (instantiated != cudaSuccess) allocator().retire_pool(c.pool);
  check(instantiated, "cudaGraphInstantiate");
  return c;
}

// Frees a capture's graph and pool; `held` (arrays in the pool) must be dropped first.
void release(Capture& c) {
  if (!c.exec) return;
  cudaGraphExecDestroy(c.exec);
  allocator().retire_pool(c.pool);
  c.exec = nullptr;
}

// Copies `value` (host or device, any producer) into `input`'s device bytes on the stream.
void copy_into(const std::shared_ptr<Buffer>& input, Array value, Dtype dtype, const char* what) {
  if (value.dtype() != dtype) value = astype(value, dtype);
  value = contiguous(value);
  eval(value);
  size_t bytes = value.nbytes();
  TESSERA_CHECK(bytes == input->size(), "cuda graph",
                std::string(what) + " has " + std::to_string(bytes) + " bytes, the captured input " +
                    std::to_string(input->size()));
  size_t skip = size_t(value.offset()) * itemsize(value.dtype());
  void* dst = input->mutable_device(Device::cuda(0));
  if (value.buffer()->on_device())
    check(cudaMemcpyAsync(dst, static_cast<const uint8_t*>(value.buffer()->device(Device::cuda(0))) + skip, bytes,
                          cudaMemcpyDeviceToDevice, stream()),
          "cudaMemcpyAsync(graph input)");
  else
    check(cudaMemcpyAsync(dst, static_cast<const uint8_t*>(value.buffer()->host()) + skip, bytes,
                          cudaMemcpyHostToDevice, stream()),
          "cudaMemcpyAsync(graph input)");
}

// A new device buffer with `array`'s bytes (queued on the stream), viewed the same way.
Array fresh_copy(const Array& array) {
  size_t bytes = array.buffer()->size();
  auto copy = Buffer::allocate_device(Device::cuda(0), bytes);
  check(cudaMemcpyAsync(copy->mutable_device(Device::cuda(0)), array.buffer()->device(Device::cuda(0)), bytes,
                        cudaMemcpyDeviceToDevice, stream()),
        "cudaMemcpyAsync(graph output)");
  return Array::from_buffer(copy, array.shape(), array.dtype(), array.strides(), array.offset());
}

struct CapturedGraph {
  Capture capture;
  std::vector<std::shared_ptr<Buffer>> inputs;  // device copies the graph reads
  ModelOutputs outputs;                         // what the graph writes
};

}  // namespace

struct CapturedEvaluation::Impl {
  Capture graph;
  std::vector<Array> inputs, outputs;
  ~Impl() {
    outputs.clear();
    release(graph);
  }
};

CapturedEvaluation::CapturedEvaluation(const std::vector<Array>& inputs, const std::vector<Array>& outputs)
    : impl_(std::make_unique<Impl>()) {
  OpScope scope("cuda_graph");
  for (const Array& in : inputs)
    TESSERA_CHECK(in.evaluated() && in.is_contiguous() && in.offset() == 0 && in.buffer()->size() == in.nbytes(),
                  "cuda graph", "a captured input must be a whole materialised buffer");
  impl_->inputs = inputs;
  impl_->graph = capture(outputs);
  impl_->outputs = outputs;
}

CapturedEvaluation::~CapturedEvaluation() = default;

std::vector<Array> CapturedEvaluation::replay(const std::vector<Array>& values) {
  OpScope scope("cuda_graph");
  TESSERA_CHECK(values.size() == impl_->inputs.size(), "cuda graph",
                "replay got " + std::to_string(values.size()) + " values for " + std::to_string(impl_->inputs.size()) +
                    " inputs");
  for (size_t i = 0; i < values.size(); ++i)
    copy_into(impl_->inputs[i].buffer(), values[i], impl_->inputs[i].dtype(), "a replayed input");
  check(cudaGraphLaunch(impl_->graph.exec, stream()), "cudaGraphLaunch");
  std::vector<Array> fresh;
  for (const Array& out : impl_->outputs) fresh.push_back(fresh_copy(out));
  return fresh;
}

struct GraphedModel::Impl {
  Model& model;
  std::map<std::string, CapturedGraph> graphs;
  std::unordered_set<std::string> warmed_up;
  explicit Impl(Model& m) : model(m) {}

  ~Impl() {
    for (auto& [key, graph] : graphs) {
      graph.outputs.clear();
      graph.inputs.clear();
      release(graph.capture);
    }
  }

  ModelOutputs eager(const ModelOutputs& outputs) {
    std::vector<Array> arrays;
    for (const auto& [field, array] : outputs) arrays.push_back(array);
    eval(arrays);
    return outputs;
  }

  CapturedGraph capture_forward(const ModelOutputs& outputs) {
    CapturedGraph graph;
    graph.inputs = host_inputs(outputs);
    std::vector<Array> arrays;
    for (const auto& [field, array] : outputs) arrays.push_back(array);
    graph.capture = capture(arrays);
    graph.outputs = outputs;
    return graph;
  }

  // Fresh arrays with the graph's outputs: the captured ones are overwritten by the next replay.
  ModelOutputs copy_outputs(const CapturedGraph& graph) {
    ModelOutputs result;
    for (const auto& [field, array] : graph.outputs) result[field] = fresh_copy(array);
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
    check(cudaGraphLaunch(graph.capture.exec, stream()), "cudaGraphLaunch");
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
  CapturedGraph graph = impl_->capture_forward(pending);
  check(cudaGraphLaunch(graph.capture.exec, stream()), "cudaGraphLaunch");  // capturing ran nothing
  auto& stored = impl_->graphs.emplace(key, std::move(graph)).first->second;
  return impl_->copy_outputs(stored);
}

}  // namespace tessera::cuda
