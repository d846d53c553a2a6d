#pragma once
// The benchmark grid: models x devices x dtypes x batch sizes x sequence lengths, expanded into
// the cases that run, in the order they run (one model loaded per model/device/dtype group).
#include <cstdint>
#include <string>
#include <vector>

namespace tessera::bench {

struct BenchGrid {
  std::vector<std::string> models;  // short names (bert-base, ...) or checkpoint directories
  std::vector<std::string> devices;
  std::vector<std::string> dtypes;
  std::vector<int64_t> batches;
  std::vector<int64_t> seqs;
};

// The measurement settings every case of one run shares; peers get the same.
struct BenchSettings {
  int runs = 10;
  int warmup = 2;  // the first warm-up run is the one a peer's budget is checked on
  int threads = 0;       // 0: every core
  double padding = 0.0;  // fraction of each row's tokens that are padding (attention_mask 0)
  uint64_t seed = 0;     // random weights and random ids
  double peer_max_run_s = 10;  // a peer case whose first run is slower is reported, not timed
  // tessera only (peers run the checkpoint as stored, so the ratio compares with their float):
  // quantize Linear weights at load to this many bits (0: no), computing 8-bit layers in int8.
  int quantize_bits = 0;
  bool int8_compute = false;
  // Which of a causal LM's timed tasks run (llama-bench's -p / -n); encoders always time forward.
  std::vector<std::string> lm_tasks = {"prefill", "decode"};
};

struct BenchCase {
  std::string model, device, dtype;
  int64_t batch = 0, seq = 0;
  // What is timed. forward: one forward pass of batch x seq (encoders). For causal LMs, as
  // llama-bench's pp/tg: prefill: the seq-token prompts into an empty KV cache; decode: one
  // token per row appended after a seq-token prompt.
  std::string task = "forward";
  bool operator==(const BenchCase&) const = default;
};

// The paper's grid: batch {1, 8, 32, 128} x sequence {16, 128, 512}.
BenchGrid paper_grid(std::vector<std::string> models, std::vector<std::string> devices);
// What finishes in a few minutes on 2 CPU cores: batch {1, 8} x sequence {16, 128}, float32.
BenchGrid quick_grid(std::vector<std::string> models, std::vector<std::string> devices);

// Checks every axis (non-empty, known device and dtype names, positive sizes, at least
// `min_runs` timed runs) and throws a one-line tessera::Error naming the bad value.
void validate(const BenchGrid& grid, const BenchSettings& settings);

// Model-major, then device, dtype, batch, sequence: a model is loaded once per device/dtype.
std::vector<BenchCase> expand(const BenchGrid& grid);

constexpr int kMinTimedRuns = 10;

}  // namespace tessera::bench
