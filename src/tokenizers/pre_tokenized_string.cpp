#include "tokenizers/pre_tokenized_string.h"

#include "tokenizers/unicode.h"

namespace tessera::tokenizers {
namespace {

// Byte offset -> code point index, as tokenizers' BytesToCharOffsetConverter: an offset that is
// not inside the text is left in bytes unless it is the end of the text.
class ByteToCharOffsets {
 public:
  explicit ByteToCharOffsets(const std::string& text) : char_of_byte_(text.size()) {
    std::size_t char_index = 0;
    for (std::size_t pos = 0; pos < text.size();) {
      const std::size_t length = utf8_length(static_cast<unsigned char>(text[pos]));
      for (std::size_t i = 0; i < length; ++i) char_of_byte_[pos + i] = char_index;
      pos += length;
      ++char_index;
    }
  }

  ByteRange convert(ByteRange offsets) const {
    const std::size_t n = char_of_byte_.size();
    if (offsets.first >= n) return offsets;
    if (offsets.second < n) return {char_of_byte_[offsets.first], char_of_byte_[offsets.second]};
    const std::size_t last = offsets.second >= 1 && offsets.second - 1 < n
                                 ? char_of_byte_[offsets.second - 1]
                                 : char_of_byte_[offsets.first] + 1;
    return {char_of_byte_[offsets.first], last + 1};
  }

 private:
  std::vector<std::size_t> char_of_byte_;
};

}  // namespace

Encoding PreTokenizedString::into_encoding(uint32_t type_id) const {
  Encoding encoding;
  const ByteToCharOffsets converter(original_);
  std::size_t total = 0;
  for (const auto& split : splits_) total += split.tokens ? split.tokens->size() : 0;
  encoding.ids.reserve(total);
  encoding.tokens.reserve(total);
  encoding.offsets.reserve(total);
  encoding.word_ids.reserve(total);
  for (std::size_t word = 0; word < splits_.size(); ++word) {
    const Split& split = splits_[word];
    if (!split.tokens) continue;
    const std::size_t base = split.normalized.offsets_original().first;
    for (const Token& token : *split.tokens) {
      ByteRange offsets = token.offsets;
      if (auto original = split.normalized.normalized_to_original(token.offsets)) {
        offsets = {base + original->first, base + original->second};
      }
      encoding.ids.push_back(token.id);
      encoding.tokens.push_back(token.value);
      encoding.offsets.push_back(converter.convert(offsets));
      encoding.word_ids.push_back(static_cast<uint32_t>(word));
    }
  }
  const std::size_t n = encoding.ids.size();
  encoding.type_ids.assign(n, type_id);
  encoding.special_tokens_mask.assign(n, 0);
  encoding.attention_mask.assign(n, 1);
  encoding.sequence_ids.assign(n, std::nullopt);
  return encoding;
}

}  // namespace tessera::tokenizers
