// Helpers shared by the component factories.
#include "tokenizers/components.h"
#include "tokenizers/pattern.h"

namespace tessera::tokenizers {

void fail_config(const std::string& message) {
  fail("tokenizer", "invalid tokenizer.json: " + message);
}

const Json& require(const Json& json, const char* key) {
  if (!json.is_object()) fail_config(std::string("expected an object holding '") + key + "'");
  const auto it = json.find(key);
  if (it == json.end()) fail_config(std::string("missing field '") + key + "'");
  return *it;
}

std::string require_string(const Json& json, const char* key) {
  const Json& value = require(json, key);
  if (!value.is_string()) fail_config(std::string("field '") + key + "' must be a string");
  return value.get<std::string>();
}

bool optional_bool(const Json& json, const char* key, bool fallback) {
  const auto it = json.find(key);
  if (it == json.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail_config(std::string("field '") + key + "' must be a boolean");
  return it->get<bool>();
}

std::unique_ptr<Regex> parse_pattern(const Json& pattern, const char* component) {
  if (pattern.contains("String")) return std::make_unique<Regex>(pattern["String"].get<std::string>(), true);
  if (pattern.contains("Regex")) return std::make_unique<Regex>(pattern["Regex"].get<std::string>(), false);
  fail_config(std::string(component) + " pattern must be {\"String\": ...} or {\"Regex\": ...}");
}

SplitBehavior parse_split_behavior(const Json& json) {
  const std::string name = json.is_string() ? json.get<std::string>() : "";
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  fail_config("unknown split behavior '" + name + "'");
}

Encoding merge_encodings(std::vector<Encoding> encodings) {
  if (encodings.size() == 1) return std::move(encodings[0]);
  std::size_t total = 0;
  for (const Encoding& part : encodings) total += part.size();
  Encoding merged;
  auto reserve = [total](auto&... fields) { (fields.reserve(total), ...); };
  reserve(merged.ids, merged.type_ids, merged.tokens, merged.offsets, merged.special_tokens_mask,
          merged.attention_mask, merged.word_ids, merged.sequence_ids);
  for (Encoding& part : encodings) {
    auto append = [](auto& into, auto& from) {
      into.insert(into.end(), std::make_move_iterator(from.begin()),
                  std::make_move_iterator(from.end()));
    };
    append(merged.ids, part.ids);
    append(merged.type_ids, part.type_ids);
    append(merged.tokens, part.tokens);
    append(merged.offsets, part.offsets);
    append(merged.special_tokens_mask, part.special_tokens_mask);
    append(merged.attention_mask, part.attention_mask);
    append(merged.word_ids, part.word_ids);
    append(merged.sequence_ids, part.sequence_ids);
  }
  return merged;
}

}  // namespace tessera::tokenizers
