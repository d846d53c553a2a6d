#pragma once
// Picks the next token from a row of logits, with transformers' logits processors and warpers in
// transformers' order: repetition penalty, temperature, top-k, top-p, min-p. Temperature 0 is
// greedy (argmax after the repetition penalty). Draws come from a seeded generator, so a seed
// reproduces a generation exactly.
#include <cstdint>
#include <random>
#include <vector>

namespace tessera {

struct SamplingOptions {
  float temperature = 1.0f;  // 0: greedy
  int top_k = 0;             // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
  float repetition_penalty = 1.0f;  // 1: off; > 1 discourages tokens already in the context
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options);
  // `context`: the prompt and the tokens generated so far (for the repetition penalty).
  int64_t next(std::vector<float> logits, const std::vector<int64_t>& context);

 private:
  SamplingOptions options_;
  std::mt19937_64 rng_;
};

}  // namespace tessera
