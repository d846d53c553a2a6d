#pragma once
// The prepared cases of one run: each with its checkpoint directory and the inputs file that
// tessera and every peer read, and the plan file (JSON) that tells a peer driver what to run.
#include <filesystem>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "runtime/bench/bench_grid.h"
#include "runtime/bench/bench_models.h"

namespace tessera::bench {

struct PreparedCase {
  BenchCase config;
  std::string model_dir;
  std::string inputs_path;   // safetensors: input_ids, attention_mask [batch, seq] int64
  std::string input_source;  // "text" or "random ids"
};

// Writes one inputs file per model x batch x sequence under cache_dir/inputs (shared by the
// devices and dtypes of that shape). `models` maps a --models entry to its checkpoint.
std::vector<PreparedCase> prepare_cases(const std::vector<BenchCase>& cases,
                                        const std::map<std::string, BenchModel>& models,
                                        const BenchSettings& settings, const std::filesystem::path& cache_dir);

// {"runs", "warmup", "threads", "padding", "peer_max_run_s", "cache_dir", "cases": [{"model", "model_dir", "device",
// "dtype", "batch", "seq", "task", "inputs"}]}: what bench/peers/common.py reads.
nlohmann::json peer_plan(const std::vector<PreparedCase>& cases, const BenchSettings& settings,
                         const std::filesystem::path& cache_dir);

}  // namespace tessera::bench
