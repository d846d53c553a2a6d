#include "runtime/generator.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/decode_graph.h"
#include "runtime/text_stream.h"
#include "tessera/ops.h"

namespace tessera {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One prompt's generation in progress.
struct Sequence {
  std::vector<int64_t> prompt, context;  // context: the prompt and the tokens generated so far
  size_t prefilled = 0;
  KVCache cache;
  Sampler sampler;
  std::optional<TextStream> stream;
  std::vector<float> logits;  // of the next token, once the prompt is in
  GenerationResult result;
  bool done = false;
};

}  // namespace

std::vector<GenerationResult> generate(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                                       const GenerationOptions& options, const Tokenizer* tokenizer,
                                       const std::function<void(size_t, const std::string&)>& on_text) {
  TESSERA_CHECK(!prompts.empty(), "generate", "no prompts");
  TESSERA_CHECK(options.prefill_chunk > 0, "generate", "prefill chunk must be positive");
  TESSERA_CHECK(!on_text || tokenizer, "generate", "streaming text needs a tokenizer");
  std::vector<Sequence> seqs;
  seqs.reserve(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    TESSERA_CHECK(!prompts[i].empty(), "generate", "prompt " + std::to_string(i) + " is empty");
    SamplingOptions sampling = options.sampling;
    sampling.seed += i;  // each sequence its own draws; the first as a single prompt would get
    seqs.push_back({prompts[i], prompts[i], 0, model.make_cache({options.max_kv_size, options.kv_quantization}),
                    Sampler(sampling), std::nullopt, {}, {}, false});
    if (tokenizer) seqs.back().stream.emplace(*tokenizer, options.stop_strings);
    seqs.back().result.prompt_tokens = int64_t(prompts[i].size());
  }

  // Hands each sequence its row of last-token logits [N,1,vocab], as float32 on the host.
  auto take_logits = [](const std::vector<Sequence*>& batch, const Array& logits_out) {
    Array logits = contiguous(astype(to_device(logits_out, Device::cpu()), Dtype::float32));
    eval(logits);
    std::vector<float> all = logits.to_vector<float>();
    size_t vocab = all.size() / batch.size();
    for (size_t i = 0; i < batch.size(); ++i)
      batch[i]->logits.assign(all.begin() + long(i * vocab), all.begin() + long((i + 1) * vocab));
  };

  // Runs the given sequences' next tokens as one packed pass; each gets its last-token logits.
  auto step = [&](const std::vector<Sequence*>& batch, const std::vector<std::vector<int64_t>>& tokens) {
    std::vector<Array> ids;
    std::vector<KVCache*> caches;
    for (size_t i = 0; i < batch.size(); ++i) {
      ids.emplace_back(tokens[i], Shape{1, int64_t(tokens[i].size())});
      caches.push_back(&batch[i]->cache);
    }
    take_logits(batch, model.forward_packed(ids, caches));
  };

  // Prefill: each round takes the next chunk of every prompt not yet in its cache.
  auto start = Clock::now();
  while (true) {
    std::vector<Sequence*> batch;
    std::vector<std::vector<int64_t>> chunks;
    for (Sequence& s : seqs) {
      if (s.prefilled == s.prompt.size()) continue;
      size_t end = std::min(s.prompt.size(), s.prefilled + size_t(options.prefill_chunk));
      chunks.emplace_back(s.prompt.begin() + long(s.prefilled), s.prompt.begin() + long(end));
      s.prefilled = end;
      batch.push_back(&s);
    }
    if (batch.empty()) break;
    step(batch, chunks);
  }
  double prompt_seconds = seconds_since(start);

  // Decode: every unfinished sequence samples its next token; those still going run one packed
  // step, so a finished sequence costs nothing from then on. A single sequence's steps replay as
  // a CUDA graph where the model and device allow it (runtime/decode_graph.h).
  start = Clock::now();
  std::optional<DecodeGraph> graph;
  if (seqs.size() == 1) graph.emplace(model, seqs[0].cache, options.max_tokens);
  for (int64_t produced = 0; produced < options.max_tokens; ++produced) {
    std::vector<Sequence*> batch;
    std::vector<std::vector<int64_t>> tokens;
    for (size_t i = 0; i < seqs.size(); ++i) {
      Sequence& s = seqs[i];
      if (s.done) continue;
      int64_t token = s.sampler.next(s.logits, s.context);
      if (std::find(options.stop_ids.begin(), options.stop_ids.end(), token) != options.stop_ids.end()) {
        s.result.finish_reason = "stop";
        s.done = true;
        continue;
      }
      s.result.ids.push_back(token);
      s.context.push_back(token);
      if (s.stream) {
        std::string piece = s.stream->push(token);
        if (on_text && !piece.empty()) on_text(i, piece);
        if (s.stream->stopped()) {
          s.result.finish_reason = "stop";
          s.done = true;
          continue;
        }
      }
      if (produced + 1 == options.max_tokens) continue;
      batch.push_back(&s);
      tokens.push_back({token});
    }
    if (batch.empty()) break;
    if (graph)
      take_logits(batch, graph->step(Array(tokens[0], {1, 1})));
    else
      step(batch, tokens);
  }
  double decode_seconds = seconds_since(start);

  std::vector<GenerationResult> results;
  for (size_t i = 0; i < seqs.size(); ++i) {
    Sequence& s = seqs[i];
    if (s.result.finish_reason.empty()) s.result.finish_reason = "length";
    if (s.stream) {
      std::string rest = s.stream->finish();
      if (on_text && !rest.empty()) on_text(i, rest);
      s.result.text = s.stream->text();
    }
    s.result.prompt_seconds = prompt_seconds;
    s.result.decode_seconds = decode_seconds;
    results.push_back(std::move(s.result));
  }
  return results;
}

GenerationResult generate(CausalLM& model, const std::vector<int64_t>& prompt, const GenerationOptions& options,
                          const Tokenizer* tokenizer, const std::function<void(const std::string&)>& on_text) {
  std::function<void(size_t, const std::string&)> each;
  if (on_text) each = [&](size_t, const std::string& piece) { on_text(piece); };
  return generate(model, std::vector<std::vector<int64_t>>{prompt}, options, tokenizer, each).front();
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
