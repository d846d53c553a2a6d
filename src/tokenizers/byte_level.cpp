#include "tokenizers/byte_level.h"

#include <algorithm>

#include "tokenizers/unicode.h"

namespace tessera::tokenizers {
namespace {

struct ByteAlphabet {
  std::array<char32_t, 256> to_char{};
  std::array<int16_t, 512> to_byte{};  // every mapped character is below 512

  ByteAlphabet() {
    to_byte.fill(-1);
    auto is_printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    char32_t next_unprintable = 256;
    for (int b = 0; b < 256; ++b) {
      to_char[b] = is_printable(b) ? static_cast<char32_t>(b) : next_unprintable++;
      to_byte[to_char[b]] = static_cast<int16_t>(b);
    }
  }
};

const ByteAlphabet& alphabet() {
  static const ByteAlphabet instance;
  return instance;
}

}  // namespace

char32_t byte_to_char(unsigned char byte) { return alphabet().to_char[byte]; }

std::optional<unsigned char> char_to_byte(char32_t c) {
  if (c >= 512 || alphabet().to_byte[c] < 0) return std::nullopt;
  return static_cast<unsigned char>(alphabet().to_byte[c]);
}

void apply_byte_level_alphabet(NormalizedString& text) {
  if (text.try_map_bytes(alphabet().to_char)) return;
  const std::string& s = text.get();
  std::vector<CharChange> changes;
  changes.reserve(s.size());
  for (std::size_t pos = 0; pos < s.size();) {
    const std::size_t length = utf8_length(static_cast<unsigned char>(s[pos]));
    for (std::size_t i = 0; i < length; ++i) {
      changes.push_back({byte_to_char(static_cast<unsigned char>(s[pos + i])), i > 0 ? 1 : 0});
    }
    pos += length;
  }
  text.transform(changes, 0);
}

void trim_byte_level_offsets(Encoding& encoding, bool add_prefix_space) {
  const char32_t space = byte_to_char(' ');
  auto is_space = [space](char32_t c) { return c == space || is_whitespace(c); };
  for (std::size_t i = 0; i < encoding.size(); ++i) {
    const std::vector<char32_t> chars = decode_all(encoding.tokens[i]);
    auto& offsets = encoding.offsets[i];
    std::size_t leading = 0;
    while (leading < chars.size() && is_space(chars[leading])) ++leading;
    std::size_t trailing = 0;
    while (trailing < chars.size() && is_space(chars[chars.size() - 1 - trailing])) ++trailing;
    if (leading > 0) {
      const bool is_first = i == 0 || offsets.first == 0;
      if (is_first && add_prefix_space && leading == 1) leading = 0;
      offsets.first = std::min(offsets.first + leading, offsets.second);
    }
    if (trailing > 0 && offsets.second >= trailing) {
      offsets.second = std::max(offsets.second - trailing, offsets.first);
    }
  }
}

}  // namespace tessera::tokenizers
