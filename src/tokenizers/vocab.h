#pragma once
// Small token -> id maps (added tokens, word caches) with allocation-free lookups by
// string_view. Model vocabularies use the flat Vocabulary instead.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace tessera::tokenizers {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const {
    return std::hash<std::string_view>{}(text);
  }
};

using TokenIds = std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>>;

inline std::optional<uint32_t> find_id(const TokenIds& ids, std::string_view token) {
  const auto it = ids.find(token);
  if (it == ids.end()) return std::nullopt;
  return it->second;
}

}  // namespace tessera::tokenizers
