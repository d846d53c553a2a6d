#pragma once
// SentencePiece's precompiled normalization rules (a Darts double-array trie of byte sequences
// and a blob of replacement strings), applied grapheme by grapheme as tokenizers does.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizers/normalized_string.h"

namespace tessera::tokenizers {

class PrecompiledCharsmap {
 public:
  // `charsmap` is the decoded binary (base64 already removed). Throws on malformed data.
  explicit PrecompiledCharsmap(std::string charsmap);
  void normalize(NormalizedString& text) const;

 private:
  // The replacement of the shortest rule that is a prefix of `chunk`, as spm_precompiled does.
  std::optional<std::string_view> transform(std::string_view chunk) const;

  std::vector<uint32_t> trie_;
  std::string replacements_;
};

std::string decode_base64(std::string_view text);

}  // namespace tessera::tokenizers
