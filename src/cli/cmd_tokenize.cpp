// `tessera tokenize TOKENIZER [--no-special-tokens] [--decode]`: JSON lines in, JSON lines out.
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "tessera/error.h"
#include "tessera/tokenizer.h"
#include "tokenizers/unicode.h"

namespace tessera::cli {
namespace {

using Json = nlohmann::json;

constexpr const char* kUsage = "usage: tessera tokenize TOKENIZER [--no-special-tokens] [--decode]";

Json parse_line(const std::string& line, std::size_t line_number) {
  const std::string where = "line " + std::to_string(line_number);
  std::size_t error_at = 0;
  if (!tokenizers::is_valid_utf8(line, &error_at)) {
    fail("tokenize", where + " is not valid UTF-8 (byte " + std::to_string(error_at) + ")");
  }
  Json json = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) fail("tokenize", where + " is not valid JSON");
  if (!json.is_object()) fail("tokenize", where + " is not a JSON object");
  return json;
}

std::string string_field(const Json& json, const char* key, std::size_t line_number) {
  const auto it = json.find(key);
  if (it == json.end() || !it->is_string()) {
    fail("tokenize", "line " + std::to_string(line_number) + ": \"" + key + "\" must be a string");
  }
  return it->get<std::string>();
}

Json encoding_to_json(const Encoding& encoding) {
  Json offsets = Json::array();
  for (const auto& [start, end] : encoding.offsets) offsets.push_back({start, end});
  return Json{{"input_ids", encoding.ids},
              {"token_type_ids", encoding.type_ids},
              {"attention_mask", encoding.attention_mask},
              {"offsets", std::move(offsets)}};
}

std::vector<uint32_t> ids_field(const Json& json, std::size_t line_number) {
  const auto it = json.find("ids");
  std::vector<uint32_t> ids;
  bool valid = it != json.end() && it->is_array();
  if (valid) {
    for (const Json& id : *it) {
      if (!id.is_number_unsigned() || id.get<uint64_t>() > UINT32_MAX) {
        valid = false;
        break;
      }
      ids.push_back(id.get<uint32_t>());
    }
  }
  if (!valid) {
    fail("tokenize",
         "line " + std::to_string(line_number) + ": \"ids\" must be a list of token ids");
  }
  return ids;
}

}  // namespace

int cmd_tokenize(int argc, char** argv) {
  std::string path;
  bool add_special_tokens = true;
  bool decode = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--no-special-tokens") {
      add_special_tokens = false;
    } else if (arg == "--decode") {
      decode = true;
    } else if (arg == "-h" || arg == "--help") {
      std::cout << kUsage << "\n";
      return 0;
    } else if (!arg.empty() && arg[0] == '-') {
      fail("tokenize", "unknown option " + arg + "; " + kUsage);
    } else if (path.empty()) {
      path = arg;
    } else {
      fail("tokenize", "unexpected argument " + arg + "; " + kUsage);
    }
  }
  if (path.empty()) fail("tokenize", kUsage);

  const Tokenizer tokenizer = Tokenizer::from_file(path);
  std::ios::sync_with_stdio(false);
  std::string line;
  std::size_t line_number = 0;
  while (std::getline(std::cin, line)) {
    ++line_number;
    if (line.empty()) continue;
    const Json input = parse_line(line, line_number);
    Json output;
    if (decode) {
      // Invalid UTF-8 in decoded bytes is already replaced, so dump() cannot throw.
      output = Json{{"text", tokenizer.decode(ids_field(input, line_number), true)}};
    } else {
      const std::string text = string_field(input, "text", line_number);
      std::optional<std::string> pair;
      if (input.contains("text_pair") && !input["text_pair"].is_null()) {
        pair = string_field(input, "text_pair", line_number);
      }
      std::optional<std::string_view> pair_view;
      if (pair) pair_view = *pair;
      output = encoding_to_json(tokenizer.encode(text, pair_view, add_special_tokens));
    }
    std::cout << output.dump() << '\n';
  }
  std::cout.flush();
  return 0;
}

}  // namespace tessera::cli
