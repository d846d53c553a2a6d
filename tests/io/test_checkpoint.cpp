// Resolving MODEL arguments (local directories, hub ids in the HF cache) and picking the weights.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>

#include "io_test_util.h"
#include "tessera/checkpoint.h"
#include "tessera/safetensors.h"

namespace tessera::io_test {
namespace {

namespace fs = std::filesystem;

// Sets an environment variable for the scope, restoring the previous value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value->c_str(), 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// HF_HOME=<dir>, with no HF_HUB_CACHE overriding it.
struct HubCache {
  TempDir home;
  ScopedEnv hub_cache{"HF_HUB_CACHE", std::nullopt};
  ScopedEnv hf_home{"HF_HOME", home.path().string()};
  fs::path repo(const std::string& folder) const { return home.path() / "hub" / folder; }
};

TEST(ResolveModelDir, ReturnsALocalDirectoryAsIs) {
  TempDir dir;
  EXPECT_EQ(resolve_model_dir(dir.path().string()), dir.path().string());
}

TEST(ResolveModelDir, FollowsRefsMainInTheHubCache) {
  HubCache cache;
  fs::path repo = cache.repo("models--org--tiny-bert");
  fs::create_directories(repo / "snapshots" / "abc123");
  fs::create_directories(repo / "snapshots" / "def456");
  write_file((repo / "refs" / "main").string(), "abc123\n");
  EXPECT_EQ(resolve_model_dir("org/tiny-bert"), (repo / "snapshots" / "abc123").string());
}

TEST(ResolveModelDir, TakesTheOnlySnapshotWithoutRefs) {
  HubCache cache;
  fs::path repo = cache.repo("models--gpt2");
  fs::create_directories(repo / "snapshots" / "0001");
  EXPECT_EQ(resolve_model_dir("gpt2"), (repo / "snapshots" / "0001").string());
}

TEST(ResolveModelDir, HfHubCacheWinsOverHfHome) {
  HubCache cache;
  TempDir hub;
  ScopedEnv hub_cache("HF_HUB_CACHE", hub.path().string());
  fs::create_directories(hub.path() / "models--org--m" / "snapshots" / "r1");
  EXPECT_EQ(resolve_model_dir("org/m"),
            (hub.path() / "models--org--m" / "snapshots" / "r1").string());
}

TEST(ResolveModelDir, ListsWhereItLooked) {
  HubCache cache;
  expect_error([] { resolve_model_dir("org/absent"); },
               {"[checkpoint]", "'org/absent'", "local directory org/absent",
                (cache.home.path() / "hub" / "models--org--absent").string()});
}

TEST(LoadCheckpoint, PrefersSafetensorsOverPytorchBin) {
  TempDir dir;
  save_safetensors(dir / "model.safetensors", {{"from_safetensors", ones({1})}});
  fs::copy_file(fixture("state_dict.bin"), dir / "pytorch_model.bin");
  EXPECT_TRUE(load_checkpoint(dir.path().string()).count("from_safetensors"));
  fs::remove(dir / "model.safetensors");
  EXPECT_TRUE(load_checkpoint(dir.path().string()).count("linear.weight"));
}

TEST(LoadCheckpoint, LoadsAShardedSafetensorsDirectory) {
  TempDir dir;
  save_safetensors(dir / "a.safetensors", {{"x", ones({1})}});
  write_file(dir / "model.safetensors.index.json", R"({"weight_map": {"x": "a.safetensors"}})");
  EXPECT_TRUE(load_checkpoint(dir.path().string()).count("x"));
}

TEST(LoadCheckpoint, ListsTheFilesItTried) {
  TempDir dir;
  expect_error([&] { load_checkpoint(dir.path().string()); },
               {"no weights found", "model.safetensors", "model.safetensors.index.json",
                "pytorch_model.bin", "pytorch_model.bin.index.json"});
}

}  // namespace
}  // namespace tessera::io_test
