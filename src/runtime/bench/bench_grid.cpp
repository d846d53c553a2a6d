#include "runtime/bench/bench_grid.h"

#include <algorithm>

#include "tessera/device.h"
#include "tessera/dtype.h"
#include "tessera/error.h"

namespace tessera::bench {

BenchGrid paper_grid(std::vector<std::string> models, std::vector<std::string> devices) {
  return {std::move(models), std::move(devices), {"float32"}, {1, 8, 32, 128}, {16, 128, 512}};
}

BenchGrid quick_grid(std::vector<std::string> models, std::vector<std::string> devices) {
  return {std::move(models), std::move(devices), {"float32"}, {1, 8}, {16, 128}};
}

namespace {

template <typename T>
void require_values(const std::vector<T>& values, const char* option) {
  TESSERA_CHECK(!values.empty(), "bench", std::string(option) + " needs at least one value");
}

}  // namespace

void validate(const BenchGrid& grid, const BenchSettings& settings) {
  require_values(grid.models, "--models");
  require_values(grid.devices, "--device");
  require_values(grid.dtypes, "--dtype");
  require_values(grid.batches, "--batch");
  require_values(grid.seqs, "--seq");
  for (const std::string& device : grid.devices) {
    TESSERA_CHECK(device == "cpu" || device == "cuda", "bench",
                  "unknown --device '" + device + "' (expected cpu or cuda)");
    TESSERA_CHECK(device != "cuda" || cuda_available(), "bench",
                  "--device cuda asked for, but this build has no CUDA backend or no GPU is visible");
  }
  for (const std::string& dtype : grid.dtypes) {
    auto d = dtype_from_name(dtype);
    TESSERA_CHECK(d && is_floating(*d), "bench",
                  "unknown --dtype '" + dtype + "' (expected float32, float16 or bfloat16)");
  }
  for (int64_t b : grid.batches)
    TESSERA_CHECK(b > 0, "bench", "--batch values must be positive, got " + std::to_string(b));
  for (int64_t s : grid.seqs)
    TESSERA_CHECK(s >= 2, "bench", "--seq values must be at least 2 (the special tokens), got " + std::to_string(s));
  TESSERA_CHECK(settings.runs >= kMinTimedRuns, "bench",
                "--runs must be at least " + std::to_string(kMinTimedRuns) + ", got " + std::to_string(settings.runs));
  TESSERA_CHECK(settings.warmup >= 1, "bench", "--warmup must be at least 1");
  TESSERA_CHECK(settings.peer_max_run_s > 0, "bench", "--peer-max-run-s must be positive");
  TESSERA_CHECK(settings.threads >= 0, "bench", "--threads must not be negative");
  TESSERA_CHECK(settings.padding >= 0 && settings.padding < 1, "bench",
                "--padding must be in [0, 1), got " + std::to_string(settings.padding));
}

std::vector<BenchCase> expand(const BenchGrid& grid) {
  std::vector<BenchCase> cases;
  for (const std::string& model : grid.models)
    for (const std::string& device : grid.devices)
      for (const std::string& dtype : grid.dtypes)
        for (int64_t batch : grid.batches)
          for (int64_t seq : grid.seqs) cases.push_back({model, device, dtype, batch, seq});
  return cases;
}

}  // namespace tessera::bench
