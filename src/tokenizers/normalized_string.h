#pragma once
// A string under normalization that remembers, for every byte of its normalized form, which
// bytes of the original text it came from. This mirrors tokenizers' NormalizedString exactly,
// quirks included, because offsets reported to users are derived from these alignments.
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tessera::tokenizers {

using ByteRange = std::pair<std::size_t, std::size_t>;

// One character of a transformation's output. `change` is 0 when it replaces one character of
// the input, 1 when it is inserted, and -N when it replaces one character and removes the N
// characters that follow it.
struct CharChange {
  char32_t c;
  int change;
};

// How a split treats the delimiters it found.
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// A pattern's verdict over a string: contiguous ranges covering it, each flagged as a match.
struct PatternMatch {
  ByteRange range;
  bool is_match;
};

class NormalizedString {
 public:
  NormalizedString() = default;
  explicit NormalizedString(std::string text);

  const std::string& get() const { return normalized_; }
  const std::string& original() const { return original_; }
  bool empty() const { return normalized_.empty(); }
  // Byte range of this piece in the text the user gave.
  ByteRange offsets_original() const {
    return {original_shift_, original_shift_ + original_.size()};
  }
  // Original byte range (relative to this piece) of a normalized byte range.
  std::optional<ByteRange> normalized_to_original(ByteRange range) const;

  void transform(const std::vector<CharChange>& dest, std::size_t initial_offset);
  void transform_range(ByteRange normalized_range, const std::vector<CharChange>& dest,
                       std::size_t initial_offset);

  // Replaces every byte b by the character alphabet[b], aligned exactly as transform() aligns
  // the same change list ({alphabet[b], 0} for a character's first byte, {alphabet[b], 1} for
  // the others) but without building it. Returns false, changing nothing, when transform() would
  // not cover the whole string (alignments that are empty or past the original at the edges).
  bool try_map_bytes(const std::array<char32_t, 256>& alphabet);

  void nfd();
  void nfkd();
  void nfc();
  void nfkc();
  void lowercase();
  template <typename Keep>
  void filter(Keep keep);
  template <typename Map>
  void map(Map map);
  void prepend(const std::string& prefix);
  void append(const std::string& suffix);
  void strip(bool left, bool right);
  // Replaces every matched range by `content`.
  void replace(const std::vector<PatternMatch>& matches, const std::string& content);
  std::vector<NormalizedString> split(const std::vector<PatternMatch>& matches,
                                      SplitBehavior behavior) const;
  NormalizedString slice(ByteRange normalized_range) const;

 private:
  std::optional<ByteRange> original_to_normalized(ByteRange range) const;
  // True when `dest` is the current text, character for character, with no change.
  bool is_identity(const std::vector<CharChange>& dest) const;
  void apply_unicode_normalization(bool compatibility, bool compose);

  std::string original_;
  std::string normalized_;
  std::vector<ByteRange> alignments_;  // one per byte of normalized_
  std::size_t original_shift_ = 0;
};

std::vector<char32_t> decode_all(const std::string& text);

template <typename Keep>
void NormalizedString::filter(Keep keep) {
  int removed = 0;
  std::size_t removed_start = 0;
  std::vector<CharChange> changes;
  changes.reserve(normalized_.size());
  std::optional<char32_t> last;
  for (char32_t c : decode_all(normalized_)) {
    if (keep(c)) {
      if (last) {
        changes.push_back({*last, -removed});
      } else {
        removed_start = static_cast<std::size_t>(removed);
      }
      last = c;
      removed = 0;
    } else {
      ++removed;
    }
  }
  if (last) changes.push_back({*last, -removed});
  transform(changes, removed_start);
}

template <typename Map>
void NormalizedString::map(Map map) {
  std::vector<CharChange> changes;
  changes.reserve(normalized_.size());
  for (char32_t c : decode_all(normalized_)) changes.push_back({map(c), 0});
  transform(changes, 0);
}

}  // namespace tessera::tokenizers
