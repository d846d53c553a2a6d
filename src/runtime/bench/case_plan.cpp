#include "runtime/bench/case_plan.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "models/config.h"
#include "runtime/bench/bench_inputs.h"

namespace tessera::bench {

namespace fs = std::filesystem;

namespace {

bool generates_text(const std::string& model_dir) {
  ModelConfig config = ModelConfig::load(model_dir);
  std::vector<std::string> names = config.has("architectures") ? config.get_strings("architectures") : std::vector<std::string>{};
  return !names.empty() && names.front().ends_with("ForCausalLM");
}

}  // namespace

std::vector<PreparedCase> prepare_cases(const std::vector<BenchCase>& cases,
                                        const std::map<std::string, BenchModel>& models,
                                        const BenchSettings& settings, const fs::path& cache_dir) {
  fs::create_directories(cache_dir / "inputs");
  std::map<std::string, std::unique_ptr<InputGenerator>> generators;
  std::map<std::string, bool> causal;  // per model directory: config.json read once
  std::vector<PreparedCase> prepared;
  for (const BenchCase& c : cases) {
    const BenchModel& model = models.at(c.model);
    auto& generator = generators[c.model];
    if (!generator) generator = std::make_unique<InputGenerator>(model.dir, settings.seed);
    char name[160];
    std::snprintf(name, sizeof name, "b%lld-s%lld-pad%.3f-seed%llu.safetensors", (long long)c.batch,
                  (long long)c.seq, settings.padding, (unsigned long long)settings.seed);
    std::string file_stem = model.name;
    std::replace(file_stem.begin(), file_stem.end(), '/', '-');  // hub ids
    fs::path path = cache_dir / "inputs" / (file_stem + "-" + name);
    generator->make(c.batch, c.seq, settings.padding).save(path.string());  // cheap; never stale
    auto [known, inserted] = causal.try_emplace(model.dir, false);
    if (inserted) known->second = generates_text(model.dir);
    if (!known->second) {
      prepared.push_back({c, model.dir, path.string(), generator->source()});
      continue;
    }
    for (const std::string& task : settings.lm_tasks) {
      BenchCase timed = c;
      timed.task = task;
      prepared.push_back({timed, model.dir, path.string(), generator->source()});
    }
  }
  return prepared;
}

nlohmann::json peer_plan(const std::vector<PreparedCase>& cases, const BenchSettings& settings,
                         const fs::path& cache_dir) {
  nlohmann::json plan_cases = nlohmann::json::array();
  for (const PreparedCase& c : cases)
    plan_cases.push_back({{"model", c.config.model},
                          {"model_dir", c.model_dir},
                          {"device", c.config.device},
                          {"dtype", c.config.dtype},
                          {"batch", c.config.batch},
                          {"seq", c.config.seq},
                          {"task", c.config.task},
                          {"inputs", c.inputs_path}});
  return {{"runs", settings.runs},
          {"warmup", settings.warmup},
          {"threads", settings.threads},
          {"padding", settings.padding},
          {"peer_max_run_s", settings.peer_max_run_s},
          {"cache_dir", cache_dir.string()},
          {"cases", plan_cases}};
}

}  // namespace tessera::bench
