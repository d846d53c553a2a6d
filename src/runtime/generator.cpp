#include "runtime/generator.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/text_stream.h"
#include "tessera/ops.h"

namespace tessera {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<float> last_logits(const Array& logits) {
  return contiguous(to_device(astype(reshape(logits, {-1}), Dtype::float32), Device::cpu())).to_vector<float>();
}

}  // namespace

GenerationResult generate(CausalLM& model, const std::vector<int64_t>& prompt, const GenerationOptions& options,
                          const Tokenizer* tokenizer, const std::function<void(const std::string&)>& on_text) {
  TESSERA_CHECK(!prompt.empty(), "generate", "the prompt is empty");
  TESSERA_CHECK(options.prefill_chunk > 0, "generate", "prefill chunk must be positive");
  TESSERA_CHECK(!on_text || tokenizer, "generate", "streaming text needs a tokenizer");
  GenerationResult result;
  result.prompt_tokens = int64_t(prompt.size());
  Sampler sampler(options.sampling);
  KVCache cache = model.make_cache({options.max_kv_size, options.kv_quantization});
  std::optional<TextStream> stream;
  if (tokenizer) stream.emplace(*tokenizer, options.stop_strings);

  // Prefill: every chunk but the last only fills the cache; the last yields the first logits.
  auto start = Clock::now();
  Array logits;
  for (size_t begin = 0; begin < prompt.size(); begin += size_t(options.prefill_chunk)) {
    size_t end = std::min(prompt.size(), begin + size_t(options.prefill_chunk));
    std::vector<int64_t> chunk(prompt.begin() + long(begin), prompt.begin() + long(end));
    logits = model.forward(Array(chunk, {1, int64_t(chunk.size())}), cache, true);
    eval(logits);
  }
  result.prompt_seconds = seconds_since(start);

  start = Clock::now();
  std::vector<int64_t> context = prompt;
  result.finish_reason = "length";
  for (int64_t step = 0; step < options.max_tokens; ++step) {
    int64_t token = sampler.next(last_logits(logits), context);
    if (std::find(options.stop_ids.begin(), options.stop_ids.end(), token) != options.stop_ids.end()) {
      result.finish_reason = "stop";
      break;
    }
    result.ids.push_back(token);
    context.push_back(token);
    if (stream) {
      std::string piece = stream->push(token);
      if (on_text && !piece.empty()) on_text(piece);
      if (stream->stopped()) {
        result.finish_reason = "stop";
        break;
      }
    }
    if (step + 1 == options.max_tokens) break;
    logits = model.forward(Array(std::vector<int64_t>{token}, {1, 1}), cache, true);
    eval(logits);
  }
  if (stream) {
    std::string rest = stream->finish();
    if (on_text && !rest.empty()) on_text(rest);
    result.text = stream->text();
  }
  result.decode_seconds = seconds_since(start);
  return result;
}

std::vector<int64_t> eos_token_ids(const std::string& model_dir) {
  for (const char* file : {"generation_config.json", "config.json"}) {
    std::ifstream in(std::filesystem::path(model_dir) / file);
    if (!in) continue;
    nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("eos_token_id")) continue;
    const nlohmann::json& eos = j["eos_token_id"];
    if (eos.is_number_integer()) return {eos.get<int64_t>()};
    if (eos.is_array()) {
      std::vector<int64_t> ids;
      for (const auto& e : eos)
        if (e.is_number_integer()) ids.push_back(e.get<int64_t>());
      return ids;
    }
  }
  return {};
}

}  // namespace tessera
