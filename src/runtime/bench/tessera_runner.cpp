#include "runtime/bench/tessera_runner.h"

#include <chrono>
#include <functional>
#include <memory>

#include "models/causal_lm.h"
#include "runtime/decode_graph.h"
#include "runtime/bench/peak_memory.h"
#include "tessera/model.h"
#include "tessera/ops.h"
#include "tessera/safetensors.h"
#ifdef TESSERA_HAS_CUDA
#include "tessera/cuda.h"
#endif

namespace tessera::bench {

namespace {

using Clock = std::chrono::steady_clock;

double elapsed_ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

// eval queues device work; a run ends when the device is done with it. (Reading one value back
// would do, but moving a view to the host copies its whole buffer: 25 MB at 32x512.)
void wait_for(const Array& result) {
  eval(result);
#ifdef TESSERA_HAS_CUDA
  if (result.device().type == DeviceType::cuda) cuda::synchronize();
#endif
}

void forward_and_wait(Model& model, const ModelInputs& inputs) {
  ModelOutputs outputs = model.forward(inputs);
  std::vector<Array> all;
  for (auto& [field, value] : outputs) all.push_back(value);
  eval(all);
  wait_for(all.front());
}

// What one timed run does for the case's task: a forward pass, or for a causal LM a prefill into
// a fresh cache, or one decode step (the cache filled with the prompt beforehand, untimed; room
// planned for `steps` of them).
std::function<void()> timed_run(Model& model, const ModelInputs& inputs, const std::string& task, int64_t steps) {
#ifdef TESSERA_HAS_CUDA
  // On a GPU the forward pass replays as a CUDA graph (captured during the warm-up runs), as a
  // serving engine would for a fixed shape: launches, not arithmetic, bound the small cases.
  if (task == "forward" && default_device().type == DeviceType::cuda) {
    auto graphed = std::make_shared<cuda::GraphedModel>(model);
    return [graphed, inputs] {
      ModelOutputs outputs = graphed->forward(inputs);
      wait_for(outputs.begin()->second);
    };
  }
#endif
  if (task == "forward") return [&model, inputs] { forward_and_wait(model, inputs); };
  auto* lm = dynamic_cast<CausalLM*>(&model);
  TESSERA_CHECK(lm, "bench", "task " + task + " needs a causal LM, not " + model.architecture());
  if (task == "prefill") {
    return [lm, ids = inputs.input_ids] {
      KVCache cache = lm->make_cache();
      wait_for(lm->forward(ids, cache, true));
    };
  }
  TESSERA_CHECK(task == "decode", "bench", "unknown task " + task);
  auto cache = std::make_shared<KVCache>(lm->make_cache());
  Array logits = lm->forward(inputs.input_ids, *cache, true);
  wait_for(logits);
  auto next = std::make_shared<Array>(argmax(logits, -1));  // [B,1]: greedy, as the peers
  // On a GPU the steps replay as a CUDA graph, as llama.cpp's do (runtime/decode_graph.h).
  auto graph = std::make_shared<DecodeGraph>(*lm, *cache, steps);
  return [cache, graph, next] {
    Array step = graph->step(*next);
    *next = argmax(step, -1);
    wait_for(*next);
  };
}

// The ids stay on the host, where every model reads them first (validation, positions, packing):
// device copies would cost a device-to-host read per run, which also stops CUDA graph capture.
ModelInputs read_inputs(const std::string& path) {
  TensorMap tensors = load_safetensors(path);
  ModelInputs inputs{tensors.at("input_ids"), tensors.at("attention_mask"), std::nullopt};
  // Padded rows run packed (varlen_attention, one launch for all sequences on CUDA): padding
  // tokens cost nothing on any device.
  inputs.skip_padding = true;
  return inputs;
}

}  // namespace

std::vector<BenchResult> run_tessera(const std::vector<PreparedCase>& cases, const BenchSettings& settings,
                                     ProgressBar& progress) {
  std::vector<BenchResult> results;
  std::unique_ptr<Model> model;
  const PreparedCase* loaded_for = nullptr;
  double load_ms = 0;
  for (const PreparedCase& c : cases) {
    const BenchCase& k = c.config;
    progress.start("tessera " + k.model + " " + k.device + " " + k.dtype + " " + std::to_string(k.batch) + "x" +
                   std::to_string(k.seq) + (k.task == "forward" ? "" : " " + k.task));
    BenchResult r;
    r.engine = "tessera";
    r.version = "tessera (this build)";
    if (settings.quantize_bits)
      r.version += ", weights q" + std::to_string(settings.quantize_bits) + (settings.int8_compute ? " int8 compute" : "");
    if (k.device == "cuda" && k.task == "forward") r.version += ", CUDA graph replay";
    r.config = k;
    r.padding = settings.padding;
    r.threads = settings.threads;
    r.runs = settings.runs;
    try {
      Device device = parse_device(k.device);
      if (!loaded_for || loaded_for->model_dir != c.model_dir || loaded_for->config.device != k.device ||
          loaded_for->config.dtype != k.dtype) {
        model.reset();  // the previous model's memory is gone before the next load is timed
        loaded_for = nullptr;
        set_default_device(device);
        Clock::time_point start = Clock::now();
        LoadOptions options{device, *dtype_from_name(k.dtype)};
        if (settings.quantize_bits) options.quantize = QuantizationSpec{64, settings.quantize_bits};
        options.int8_compute = settings.int8_compute;
        model = load_model(c.model_dir, options);
        load_ms = elapsed_ms(start);
        loaded_for = &c;
      }
      ModelInputs inputs = read_inputs(c.inputs_path);
      reset_peak_rss();
      reset_peak_memory();
      std::function<void()> run = timed_run(*model, inputs, k.task, settings.warmup + settings.runs);
      for (int i = 0; i < settings.warmup; ++i) run();
      std::vector<double> samples;
#ifdef TESSERA_HAS_CUDA
      if (device.type == DeviceType::cuda) cuda::profiler_start();  // profilers record the timed runs only
#endif
      for (int i = 0; i < settings.runs; ++i) {
        Clock::time_point start = Clock::now();
        run();
        samples.push_back(elapsed_ms(start));
      }
#ifdef TESSERA_HAS_CUDA
      if (device.type == DeviceType::cuda) cuda::profiler_stop();
#endif
      r.latency = summarize_latencies(samples);
      r.load_ms = load_ms;
      r.peak_rss_mb = peak_rss_mb();
      if (device.type != DeviceType::cpu) r.device_peak_mb = double(memory_stats().peak_device_bytes) / 1e6;
    } catch (const Error& e) {
      r.error = e.what();
    }
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace tessera::bench
