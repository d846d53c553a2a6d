// `tessera embed MODEL`: texts on stdin (one per line, or JSON lines {"text": ...}; with --ids,
// JSON lines {"input_ids": [...]}) to JSON lines {"embedding": [...]} on stdout.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "runtime/embedder.h"

namespace tessera::cli {

int cmd_embed(int argc, char** argv) {
  CLI::App app("Sentence embeddings as the model's sentence-transformers config says", "embed");
  std::string model;
  bool normalize = false, pretokenized = false;
  DeviceDtypeOptions dd;
  app.add_option("MODEL", model, "model directory or hub id in the local cache")->required();
  app.add_flag("--normalize", normalize, "L2-normalise even without a Normalize module");
  app.add_flag("--ids", pretokenized, "stdin holds {\"input_ids\": [...]} lines instead of text");
  dd.add_to(app);
  if (auto code = parse_args(app, argc, argv)) return *code;

  Embedder embedder(model, dd.load_options());
  if (normalize) embedder.force_normalize();
  std::vector<std::string> texts;
  std::vector<std::vector<int64_t>> ids;
  std::string line;
  for (size_t n = 1; std::getline(std::cin, line); ++n) {
    if (line.empty()) continue;
    bool json_line = line.front() == '{';
    if (!json_line && !pretokenized) {
      texts.push_back(line);
      continue;
    }
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      fail("embed", "stdin line " + std::to_string(n) + " is not valid JSON");
    }
    if (pretokenized) {
      TESSERA_CHECK(j.contains("input_ids") && j["input_ids"].is_array(), "embed",
                    "stdin line " + std::to_string(n) + " has no \"input_ids\" list");
      std::vector<int64_t> row;
      for (const auto& v : j["input_ids"]) {
        TESSERA_CHECK(v.is_number_integer(), "embed", "stdin line " + std::to_string(n) + ": ids must be integers");
        row.push_back(v.get<int64_t>());
      }
      ids.push_back(std::move(row));
    } else {
      TESSERA_CHECK(j.contains("text") && j["text"].is_string(), "embed",
                    "stdin line " + std::to_string(n) + " has no \"text\" string");
      texts.push_back(j["text"].get<std::string>());
    }
  }
  std::vector<std::vector<float>> vectors = pretokenized ? embedder.embed_ids(ids) : embedder.embed_texts(texts);
  for (const auto& v : vectors) std::cout << nlohmann::json{{"embedding", v}}.dump() << '\n';
  return 0;
}

}  // namespace tessera::cli
