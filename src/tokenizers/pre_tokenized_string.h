#pragma once
// A text cut into splits, each normalized independently and eventually tokenized. Mirrors
// tokenizers' PreTokenizedString: offsets of every token are traced back to the original text.
#include <algorithm>
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
    replace_untokenized(split_fn, [](Split&& piece) { return std::move(piece); });
  }

  // Same as split() for functions that return NormalizedStrings: they become untokenized splits
  // without an intermediate vector of Split.
  template <typename SplitFn>
  void split_normalized(SplitFn split_fn) {
    replace_untokenized(split_fn,
                        [](NormalizedString&& piece) { return Split{std::move(piece), {}}; });
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
  template <typename SplitFn, typename ToSplit>
  void replace_untokenized(SplitFn& split_fn, ToSplit to_split) {
    std::vector<Split> result;
    result.reserve(splits_.size());
    for (std::size_t i = 0; i < splits_.size(); ++i) {
      if (splits_[i].tokens) {
        result.push_back(std::move(splits_[i]));
        continue;
      }
      auto pieces = split_fn(i, std::move(splits_[i].normalized));
      // Grow once per split, geometrically: Split is large and costly to move.
      const std::size_t needed = result.size() + pieces.size() + (splits_.size() - i - 1);
      if (needed > result.capacity()) result.reserve(std::max(needed, 2 * result.capacity()));
      for (auto& piece : pieces) {
        if (!piece_is_empty(piece)) result.push_back(to_split(std::move(piece)));
      }
    }
    splits_ = std::move(result);
  }
  static bool piece_is_empty(const Split& piece) { return piece.normalized.empty(); }
  static bool piece_is_empty(const NormalizedString& piece) { return piece.empty(); }

  std::string original_;
  std::vector<Split> splits_;
};

}  // namespace tessera::tokenizers
