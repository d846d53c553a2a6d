#include "tessera/checkpoint.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <utility>
#include <vector>

#include "tessera/error.h"
#include "tessera/pytorch_bin.h"
#include "tessera/safetensors.h"

namespace tessera {

namespace fs = std::filesystem;

namespace {

constexpr const char* kWhere = "checkpoint";

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// Where huggingface_hub keeps downloaded repositories, by the same precedence it uses.
fs::path hub_cache_dir() {
  if (auto cache = environment("HF_HUB_CACHE"); !cache.empty()) return cache;
  if (auto home = environment("HF_HOME"); !home.empty()) return fs::path(home) / "hub";
  if (auto xdg = environment("XDG_CACHE_HOME"); !xdg.empty())
    return fs::path(xdg) / "huggingface" / "hub";
  return fs::path(environment("HOME")) / ".cache" / "huggingface" / "hub";
}

// "org/name" -> "models--org--name", as the hub cache names repositories.
std::string cache_folder_name(const std::string& repo_id) {
  std::string folder = "models--";
  for (char c : repo_id) {
    if (c == '/')
      folder += "--";
    else
      folder += c;
  }
  return folder;
}

bool looks_like_repo_id(const std::string& model) {
  if (model.empty() || model.front() == '/' || model.front() == '.' || model.back() == '/')
    return false;
  return std::count(model.begin(), model.end(), '/') <= 1;
}

// The snapshot refs/main points at; else the only snapshot, or the most recently written one.
std::optional<fs::path> pick_snapshot(const fs::path& repo, std::string& looked) {
  const fs::path snapshots = repo / "snapshots";
  std::error_code ec;
  if (fs::exists(repo / "refs" / "main", ec)) {
    std::string revision = read_text_file((repo / "refs" / "main").string());
    while (!revision.empty() && std::isspace(static_cast<unsigned char>(revision.back())))
      revision.pop_back();
    if (fs::is_directory(snapshots / revision, ec)) return snapshots / revision;
    looked += ", " + (snapshots / revision).string() + " (from refs/main)";
  }
  std::optional<fs::path> newest;
  fs::file_time_type newest_time{};
  for (const auto& entry : fs::directory_iterator(snapshots, ec)) {
    if (!entry.is_directory(ec)) continue;
    auto time = entry.last_write_time(ec);
    if (!newest || time > newest_time) newest = entry.path(), newest_time = time;
  }
  if (!newest) looked += ", " + snapshots.string() + " (no snapshots)";
  return newest;
}

}  // namespace

std::string resolve_model_dir(const std::string& model) {
  std::error_code ec;
  if (fs::is_directory(model, ec)) return model;
  std::string looked = "local directory " + model;
  if (looks_like_repo_id(model)) {
    const fs::path repo = hub_cache_dir() / cache_folder_name(model);
    looked += ", " + repo.string();
    if (fs::is_directory(repo, ec))
      if (auto snapshot = pick_snapshot(repo, looked)) return snapshot->string();
  }
  fail(kWhere, "model '" + model + "' not found (looked in: " + looked +
                   "); pass a model directory or a hub id already in the Hugging Face cache "
                   "(set HF_HUB_CACHE or HF_HOME to point at it)");
}

TensorMap load_checkpoint(const std::string& model_dir) {
  using Loader = TensorMap (*)(const std::string&);
  const std::vector<std::pair<const char*, Loader>> formats = {
      {"model.safetensors", load_safetensors},
      {"model.safetensors.index.json", load_safetensors_index},
      {"pytorch_model.bin", load_pytorch_bin},
      {"pytorch_model.bin.index.json", load_pytorch_bin_index}};
  std::string tried;
  for (const auto& [file_name, load] : formats) {
    const fs::path path = fs::path(model_dir) / file_name;
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) return load(path.string());
    tried += tried.empty() ? file_name : std::string(", ") + file_name;
  }
  fail(kWhere, model_dir + ": no weights found (tried " + tried + ")");
}

}  // namespace tessera
