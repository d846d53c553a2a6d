// `tessera generate MODEL (--prompt TEXT | --prompt-ids 1,2,3)`: streams the generated text to
// stdout; with --json prints one line {"ids": [...], "text": ...} instead. `--prompts FILE` (one
// prompt per line) generates for all of them together and prints one JSON line per prompt.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "runtime/chat_template.h"
#include "runtime/generator.h"
#include "tessera/checkpoint.h"

namespace tessera::cli {

namespace {

std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t used = 0;
    int64_t id = -1;
    try {
      id = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    TESSERA_CHECK(used > 0 && used == item.size() && id >= 0, "generate",
                  "--prompt-ids must be comma-separated non-negative integers, got \"" + item + "\"");
    ids.push_back(id);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return ids;
}

// Throughput on stderr: every prompt's tokens and every generated token over the batch's shared
// prefill and decode times.
void report_speed(const std::vector<GenerationResult>& results) {
  int64_t prompt_tokens = 0, generated = 0;
  for (const GenerationResult& r : results) {
    prompt_tokens += r.prompt_tokens;
    generated += int64_t(r.ids.size());
  }
  const GenerationResult& r = results.front();
  if (results.size() > 1) std::cerr << results.size() << " prompts, ";
  std::cerr << "prompt: " << prompt_tokens << " tokens, "
            << (r.prompt_seconds > 0 ? double(prompt_tokens) / r.prompt_seconds : 0.0)
            << " tokens/s; generation: " << generated << " tokens, "
            << (r.decode_seconds > 0 ? double(generated) / r.decode_seconds : 0.0) << " tokens/s\n";
}

}  // namespace

int cmd_generate(int argc, char** argv) {
  CLI::App app("Generate text with a causal language model", "generate");
  std::string model, prompt, prompt_ids, prompts_file;
  GenerationOptions options;
  bool chat = false, json = false;
  DeviceDtypeOptions dd;
  app.add_option("MODEL", model, "model directory or hub id in the local cache")->required();
  auto* text_option = app.add_option("--prompt", prompt, "prompt text");
  auto* ids_option = app.add_option("--prompt-ids", prompt_ids, "prompt token ids, comma-separated");
  auto* file_option = app.add_option("--prompts", prompts_file, "file of prompts, one per line, generated as one batch");
  text_option->excludes(ids_option);
  file_option->excludes(text_option)->excludes(ids_option);
  app.add_option("--max-tokens", options.max_tokens, "most tokens to generate")->default_val(256);
  app.add_option("--temp", options.sampling.temperature, "sampling temperature; 0 is greedy")->default_val(0.0);
  app.add_option("--top-k", options.sampling.top_k, "sample among the k most likely tokens (0: all)")->default_val(0);
  app.add_option("--top-p", options.sampling.top_p, "nucleus sampling probability mass")->default_val(1.0);
  app.add_option("--min-p", options.sampling.min_p, "drop tokens below min-p times the top probability")->default_val(0.0);
  app.add_option("--repetition-penalty", options.sampling.repetition_penalty, "penalty for tokens already seen")->default_val(1.0);
  app.add_option("--seed", options.sampling.seed, "random seed")->default_val(0);
  app.add_option("--stop", options.stop_strings, "stop before this text (repeatable)");
  app.add_option("--max-kv-size", options.max_kv_size, "keep at most this many tokens in the KV cache (rotating)");
  app.add_option("--kv-bits", options.kv_quantization.bits,
                 "store the KV cache quantized to 4 or 8 bits (MLX's affine format; 0: the compute dtype)")
      ->check(CLI::IsMember({0, 4, 8}))
      ->default_val(0);
  app.add_option("--kv-group-size", options.kv_quantization.group_size, "KV cache quantization group size")
      ->check(CLI::IsMember({32, 64, 128}))
      ->default_val(64);
  app.add_option("--prefill-chunk", options.prefill_chunk, "prompt tokens per forward pass")->default_val(512);
  app.add_flag("--chat", chat, "wrap the prompt in the model's chat template as a user message");
  app.add_flag("--json", json, "print one JSON line {\"ids\": [...], \"text\": ...} at the end");
  dd.add_to(app);
  if (auto code = parse_args(app, argc, argv)) return *code;
  TESSERA_CHECK(text_option->count() || ids_option->count() || file_option->count(), "generate",
                "give --prompt TEXT, --prompt-ids 1,2,3 or --prompts FILE");
  TESSERA_CHECK(!chat || !ids_option->count(), "generate", "--chat needs --prompt TEXT or --prompts FILE");
  TESSERA_CHECK(options.max_tokens >= 0, "generate", "--max-tokens must be >= 0");

  std::string dir = resolve_model_dir(model);
  std::optional<Tokenizer> tokenizer;
  bool has_tokenizer = std::filesystem::exists(std::filesystem::path(dir) / "tokenizer.json");
  TESSERA_CHECK(has_tokenizer || !(text_option->count() || file_option->count()), "generate",
                dir + ": no tokenizer.json to encode the prompt text with");
  if (has_tokenizer) tokenizer = Tokenizer::from_file(dir);
  // Validate everything cheap before the model loads.
  Sampler check_sampling(options.sampling);

  std::vector<std::vector<int64_t>> prompts;
  auto encode = [&](const std::string& user_text) {
    std::string text =
        chat ? ChatTemplate::from_model_dir(dir).render(std::vector<ChatMessage>{{"user", user_text}}, true) : user_text;
    // A rendered template already holds its special tokens (as transformers' apply_chat_template).
    std::vector<int64_t> ids;
    for (uint32_t id : tokenizer->encode(text, std::nullopt, !chat).ids) ids.push_back(id);
    return ids;
  };
  if (ids_option->count()) {
    prompts.push_back(parse_ids(prompt_ids));
  } else if (text_option->count()) {
    prompts.push_back(encode(prompt));
  } else {
    std::istringstream lines(read_text_file(prompts_file));
    for (std::string line; std::getline(lines, line);)
      if (!line.empty()) prompts.push_back(encode(line));
    TESSERA_CHECK(!prompts.empty(), "generate", prompts_file + ": no prompts (one per line)");
  }
  for (size_t i = 0; i < prompts.size(); ++i)
    TESSERA_CHECK(!prompts[i].empty(), "generate",
                  prompts.size() == 1 ? "the prompt encodes to no tokens"
                                      : "prompt " + std::to_string(i + 1) + " encodes to no tokens");

  std::unique_ptr<Model> loaded = load_model(dir, dd.load_options());
  auto* lm = dynamic_cast<CausalLM*>(loaded.get());
  TESSERA_CHECK(lm, "generate", loaded->architecture() + " is not a causal language model");
  for (const std::vector<int64_t>& ids : prompts)
    for (int64_t id : ids)
      TESSERA_CHECK(id < lm->vocab_size(), "generate",
                    "prompt id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(lm->vocab_size()));
  options.stop_ids = eos_token_ids(dir);

  auto json_line = [](const GenerationResult& r) {
    nlohmann::json line = {{"ids", r.ids}, {"text", r.text}, {"finish_reason", r.finish_reason}};
    return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  if (file_option->count()) {
    std::vector<GenerationResult> results = generate(*lm, prompts, options, tokenizer ? &*tokenizer : nullptr);
    for (const GenerationResult& r : results) std::cout << json_line(r) << "\n";
    report_speed(results);
    return 0;
  }
  const std::vector<int64_t>& ids = prompts.front();

  auto stream = [](const std::string& piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  };
  GenerationResult result = generate(*lm, ids, options, tokenizer ? &*tokenizer : nullptr,
                                     json || !tokenizer ? std::function<void(const std::string&)>() : stream);
  if (json) {
    std::cout << json_line(result) << "\n";
  } else if (tokenizer) {
    std::cout << "\n";
  } else {
    for (size_t i = 0; i < result.ids.size(); ++i) std::cout << (i ? "," : "") << result.ids[i];
    std::cout << "\n";
  }
  report_speed({result});
  return 0;
}

}  // namespace tessera::cli
