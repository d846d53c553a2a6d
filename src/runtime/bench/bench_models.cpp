#include "runtime/bench/bench_models.h"

#include <algorithm>

#include "tessera/checkpoint.h"
#include "tessera/error.h"
#include "tessera/model.h"

namespace tessera::bench {

namespace fs = std::filesystem;

std::vector<std::string> known_model_names(const fs::path& configs_dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(configs_dir))
    if (fs::exists(entry.path() / "config.json")) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

namespace {

// "bert-base" names configs/bert-base-uncased: a name matches exactly or as a dash-prefix.
fs::path config_dir_for(const std::string& name, const fs::path& configs_dir) {
  std::vector<std::string> known = known_model_names(configs_dir);
  for (const std::string& k : known)
    if (k == name) return configs_dir / k;
  for (const std::string& k : known)
    if (k.rfind(name + "-", 0) == 0) return configs_dir / k;
  std::string list;
  for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
  fail("bench", "unknown model '" + name + "': not a directory with a config.json, nor one of " + list);
}

}  // namespace

BenchModel prepare_model(const std::string& spec, const fs::path& configs_dir, const fs::path& cache_dir,
                         uint64_t seed) {
  if (fs::exists(fs::path(spec) / "config.json")) {
    std::string name = fs::path(spec).lexically_normal().filename().string();
    if (name.empty()) name = fs::path(spec).lexically_normal().parent_path().filename().string();
    return {name, spec};
  }
  if (spec.find('/') != std::string::npos) return {spec, resolve_model_dir(spec)};  // a hub id in the local cache
  fs::path source = config_dir_for(spec, configs_dir);
  fs::path dir = cache_dir / "models" / (source.filename().string() + "-seed" + std::to_string(seed));
  std::string config = read_text_file((source / "config.json").string());
  bool cached = fs::exists(dir / "model.safetensors") && fs::exists(dir / "config.json") &&
                read_text_file((dir / "config.json").string()) == config;
  if (!cached) {
    fs::create_directories(dir);
    fs::remove(dir / "model.safetensors");  // never paired with a config it was not made from
    fs::copy_file(source / "config.json", dir / "config.json", fs::copy_options::overwrite_existing);
    write_random_checkpoint(dir.string(), seed);
  }
  return {spec, dir.string()};
}

}  // namespace tessera::bench
