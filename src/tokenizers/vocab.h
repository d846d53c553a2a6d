#pragma once
// Token <-> id tables with allocation-free lookups by string_view.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

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

// Reverse table of a TokenIds map; ids need not be dense.
class IdTokens {
 public:
  void assign(const TokenIds& ids) {
    for (const auto& [token, id] : ids) {
      if (id >= tokens_.size()) {
        tokens_.resize(id + 1);
        present_.resize(id + 1, false);
      }
      tokens_[id] = token;
      present_[id] = true;
    }
  }
  std::optional<std::string> find(uint32_t id) const {
    if (id >= tokens_.size() || !present_[id]) return std::nullopt;
    return tokens_[id];
  }

 private:
  std::vector<std::string> tokens_;
  std::vector<bool> present_;
};

}  // namespace tessera::tokenizers
