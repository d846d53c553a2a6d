#pragma once
// A text cut into splits, each normalized independently and eventually tokenized. Mirrors
// tokenizers' PreTokenizedString: offsets of every token are traced back to the original text.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tessera/tokenizer.h"
#include "tokenizers/normalized_string.h"

namespace tessera::tokenizers {

struct Token {
  uint32_t id;
  std::string value;
  ByteRange offsets;  // bytes of the split's normalized string
};

struct Split {
  NormalizedString normalized;
  std::optional<std::vector<Token>> tokens;
};

class PreTokenizedString {
 public:
  explicit PreTokenizedString(std::string original)
      : original_(original), splits_{Split{NormalizedString(std::move(original)), std::nullopt}} {}

  // Replaces every split that has no tokens yet by what `split_fn(index, normalized)` returns
  // (a vector of Split), dropping empty results.
  template <typename SplitFn>
  void split(SplitFn split_fn) {
    std::vector<Split> result;
    result.reserve(splits_.size());
    for (std::size_t i = 0; i < splits_.size(); ++i) {
      if (splits_[i].tokens) {
        result.push_back(std::move(splits_[i]));
        continue;
      }
      for (auto& piece : split_fn(i, std::move(splits_[i].normalized))) {
        if (!piece.normalized.empty()) result.push_back(std::move(piece));
      }
    }
    splits_ = std::move(result);
  }

  // Same as split() for functions that only return NormalizedStrings.
  template <typename SplitFn>
  void split_normalized(SplitFn split_fn) {
    split([&](std::size_t i, NormalizedString&& normalized) {
      std::vector<Split> pieces;
      for (auto& piece : split_fn(i, std::move(normalized))) {
        pieces.push_back(Split{std::move(piece), std::nullopt});
      }
      return pieces;
    });
  }

  template <typename NormalizeFn>
  void normalize(NormalizeFn normalize_fn) {
    for (auto& split : splits_) {
      if (!split.tokens) normalize_fn(split.normalized);
    }
  }

  template <typename TokenizeFn>
  void tokenize(TokenizeFn tokenize_fn) {
    for (auto& split : splits_) {
      if (!split.tokens) split.tokens = tokenize_fn(split.normalized.get());
    }
  }

  // Builds the encoding of the splits; offsets are converted to code points of the original.
  Encoding into_encoding(uint32_t type_id) const;

  std::vector<Split>& splits() { return splits_; }

 private:
  std::string original_;
  std::vector<Split> splits_;
};

}  // namespace tessera::tokenizers
