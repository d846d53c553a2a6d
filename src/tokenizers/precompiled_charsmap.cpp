#include "tokenizers/precompiled_charsmap.h"

#include <array>

#include "tokenizers/components.h"
#include "tokenizers/unicode.h"

namespace tessera::tokenizers {
namespace {

// Darts-clone unit layout.
bool has_leaf(uint32_t unit) { return ((unit >> 8) & 1) == 1; }
uint32_t value(uint32_t unit) { return unit & ((1u << 31) - 1); }
uint32_t label(uint32_t unit) { return unit & ((1u << 31) | 0xFF); }
uint32_t offset(uint32_t unit) { return (unit >> 10) << ((unit & (1u << 9)) >> 6); }

// Appends to `changes` the replacement of `old_part` by `new_part`, with the change accounting
// of tokenizers' precompiled normalizer (inserted characters last, removals on the last one).
void replace(std::vector<CharChange>& changes, std::string_view old_part,
             std::string_view new_part) {
  const auto old_count = static_cast<int>(count_code_points(old_part));
  const auto new_count = static_cast<int>(count_code_points(new_part));
  for (std::size_t pos = 0; pos < new_part.size();)
    changes.push_back({decode_utf8(new_part, pos), 0});
  const int diff = new_count - old_count;
  if (diff > 0) {
    for (int i = 0; i < diff; ++i) changes[changes.size() - 1 - i].change = 1;
  } else if (diff < 0 && !changes.empty()) {
    changes.back().change += diff;
  }
}

}  // namespace

std::string decode_base64(std::string_view text) {
  static const std::array<int8_t, 256> table = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i)
      t[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
    return t;
  }();
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t buffer = 0;
  int bits = 0;
  for (char ch : text) {
    if (ch == '=') break;
    const int v = table[static_cast<unsigned char>(ch)];
    if (v < 0) fail_config("precompiled_charsmap is not valid base64");
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

PrecompiledCharsmap::PrecompiledCharsmap(std::string charsmap) {
  auto read_u32 = [&](std::size_t at) {
    return static_cast<uint32_t>(static_cast<unsigned char>(charsmap[at])) |
           static_cast<uint32_t>(static_cast<unsigned char>(charsmap[at + 1])) << 8 |
           static_cast<uint32_t>(static_cast<unsigned char>(charsmap[at + 2])) << 16 |
           static_cast<uint32_t>(static_cast<unsigned char>(charsmap[at + 3])) << 24;
  };
  if (charsmap.size() < 4) fail_config("precompiled_charsmap is truncated");
  const uint32_t trie_bytes = read_u32(0);
  if (trie_bytes / 4 * 4 + 4 > charsmap.size() || trie_bytes < 4) {
    fail_config("precompiled_charsmap is truncated");
  }
  trie_.resize(trie_bytes / 4);
  for (std::size_t i = 0; i < trie_.size(); ++i) trie_[i] = read_u32(4 + 4 * i);
  replacements_ = charsmap.substr(4 + trie_.size() * 4);
  if (!is_valid_utf8(replacements_)) fail_config("precompiled_charsmap has invalid UTF-8");
}

std::optional<std::string_view> PrecompiledCharsmap::transform(std::string_view chunk) const {
  std::size_t node = offset(trie_[0]);
  for (char ch : chunk) {
    const auto byte = static_cast<unsigned char>(ch);
    if (byte == 0) break;
    node ^= byte;
    if (node >= trie_.size()) return std::nullopt;
    const uint32_t unit = trie_[node];
    if (label(unit) != byte) return std::nullopt;
    node ^= offset(unit);
    if (has_leaf(unit)) {
      if (node >= trie_.size()) return std::nullopt;
      const std::size_t start = value(trie_[node]);
      if (start > replacements_.size()) return std::nullopt;
      std::size_t end = start;
      while (end < replacements_.size() && replacements_[end] != '\0') ++end;
      return std::string_view(replacements_).substr(start, end - start);
    }
  }
  return std::nullopt;
}

void PrecompiledCharsmap::normalize(NormalizedString& text) const {
  const std::string& s = text.get();
  std::vector<CharChange> changes;
  changes.reserve(s.size());
  bool modified = false;
  std::basic_string<std::size_t> ends;
  grapheme_boundaries(s, ends);
  std::size_t start = 0;
  for (std::size_t end : ends) {
    const std::string_view grapheme = std::string_view(s).substr(start, end - start);
    start = end;
    if (grapheme.size() < 6) {
      if (auto replacement = transform(grapheme)) {
        modified = true;
        replace(changes, grapheme, *replacement);
        continue;
      }
    }
    for (std::size_t pos = 0; pos < grapheme.size();) {
      const std::size_t char_start = pos;
      const char32_t c = decode_utf8(grapheme, pos);
      const std::string_view part = grapheme.substr(char_start, pos - char_start);
      if (auto replacement = transform(part)) {
        modified = true;
        replace(changes, part, *replacement);
      } else {
        changes.push_back({c, 0});
      }
    }
  }
  if (modified) text.transform(changes, 0);
}

}  // namespace tessera::tokenizers
