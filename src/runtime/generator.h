#pragma once
// Text generation with a causal LM: the prompt is prefilled into a KV cache in chunks, then one
// token per step is sampled and fed back, with the text streamed as it becomes final.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "models/causal_lm.h"
#include "runtime/sampler.h"
#include "tessera/tokenizer.h"

namespace tessera {

struct GenerationOptions {
  int64_t max_tokens = 256;
  SamplingOptions sampling;
  std::vector<int64_t> stop_ids;         // end of generation (not part of the output)
  std::vector<std::string> stop_strings;  // text ends before the first occurrence
  int64_t prefill_chunk = 512;            // prompt tokens per forward call
  std::optional<int64_t> max_kv_size;     // rotating cache of at most this many tokens
  KVQuantization kv_quantization;         // keys and values stored quantized (bits 0: not)
};

struct GenerationResult {
  std::vector<int64_t> ids;  // generated tokens (without the stop token)
  std::string text;          // their text (empty without a tokenizer), cut at a stop string
  std::string finish_reason;  // "stop" or "length"
  int64_t prompt_tokens = 0;
  double prompt_seconds = 0, decode_seconds = 0;
};

// Several prompts at once, each with its own KV cache: the prompts are prefilled together and
// every decode step runs the unfinished sequences as one packed pass (CausalLM::forward_packed),
// so prompts of different lengths cost no padding and a finished sequence no further compute.
// Sequence i samples with seed options.sampling.seed + i. `on_text(i, piece)` streams sequence i.
std::vector<GenerationResult> generate(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                                       const GenerationOptions& options, const Tokenizer* tokenizer = nullptr,
                                       const std::function<void(size_t, const std::string&)>& on_text = {});

// One prompt; `on_text` receives each final piece of text as it is produced (needs a tokenizer).
GenerationResult generate(CausalLM& model, const std::vector<int64_t>& prompt, const GenerationOptions& options,
                          const Tokenizer* tokenizer = nullptr,
                          const std::function<void(const std::string&)>& on_text = {});

// The end-of-sequence ids a model directory declares (generation_config.json, else config.json).
std::vector<int64_t> eos_token_ids(const std::string& model_dir);

}  // namespace tessera
