#pragma once
// Turning a --models entry into a checkpoint directory every engine loads: a directory with a
// config.json is used as it is; a short name (bert-base, roberta-base, xlm-roberta-base, or the
// full name under configs/) gets the published config and a random-initialised checkpoint,
// written once into the cache and reused while the config is unchanged.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tessera::bench {

struct BenchModel {
  std::string name;  // as the tables show it
  std::string dir;   // config.json + weights
};

BenchModel prepare_model(const std::string& spec, const std::filesystem::path& configs_dir,
                         const std::filesystem::path& cache_dir, uint64_t seed);

// The names under `configs_dir` a short name may use.
std::vector<std::string> known_model_names(const std::filesystem::path& configs_dir);

}  // namespace tessera::bench
