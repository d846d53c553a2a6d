#include "tokenizers/normalized_string.h"

#include <algorithm>

#include "tokenizers/unicode.h"

namespace tessera::tokenizers {
namespace {

bool is_ascii(const std::string& text) {
  return std::all_of(text.begin(), text.end(),
                     [](char byte) { return static_cast<unsigned char>(byte) < 0x80; });
}

// Canonical ordering as unicode-normalization-alignments does it: every run that starts at a
// starter (combining class 0) is stably sorted by combining class, each character keeping the
// change it was emitted with.
std::vector<CharChange> decompose(const std::string& text, bool compatibility) {
  std::vector<CharChange> out;
  out.reserve(text.size());
  std::u32string parts;
  std::size_t pending_start = 0;
  auto sort_pending = [&] {
    if (out.size() - pending_start < 2) {  // nothing to order; stable_sort would allocate
      pending_start = out.size();
      return;
    }
    std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(pending_start), out.end(),
                     [](const CharChange& a, const CharChange& b) {
                       return combining_class(a.c) < combining_class(b.c);
                     });
    pending_start = out.size();
  };
  for (char32_t c : decode_all(text)) {
    parts.clear();
    append_decomposition(c, compatibility, parts);
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (combining_class(parts[i]) == 0) sort_pending();
      out.push_back({parts[i], i == 0 ? 0 : 1});
    }
  }
  sort_pending();
  return out;
}

// Canonical composition with the change bookkeeping of unicode-normalization-alignments'
// Recompositions iterator: composing two characters folds their changes into one (a + b - 1).
std::vector<CharChange> recompose(const std::vector<CharChange>& decomposed) {
  std::vector<CharChange> out;
  out.reserve(decomposed.size());
  std::optional<CharChange> composee;
  std::optional<int> last_class;
  std::vector<CharChange> blocked;
  for (const CharChange& item : decomposed) {
    const int item_class = combining_class(item.c);
    if (!composee) {
      if (item_class != 0) {
        out.push_back(item);
      } else {
        composee = item;
      }
      continue;
    }
    const bool is_blocked = last_class.value_or(-1) >= item_class;
    if (!is_blocked) {
      if (char32_t composed = compose_pair(composee->c, item.c)) {
        composee = CharChange{composed, composee->change + item.change - 1};
        continue;
      }
    }
    if (item_class == 0) {
      out.push_back(*composee);
      out.insert(out.end(), blocked.begin(), blocked.end());
      blocked.clear();
      composee = item;
      last_class.reset();
      continue;
    }
    blocked.push_back(item);
    last_class = item_class;
  }
  if (composee) out.push_back(*composee);
  out.insert(out.end(), blocked.begin(), blocked.end());
  return out;
}

}  // namespace

std::vector<char32_t> decode_all(const std::string& text) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) out.push_back(decode_utf8(text, pos));
  return out;
}

NormalizedString::NormalizedString(std::string text)
    : original_(text), normalized_(std::move(text)) {
  alignments_.reserve(normalized_.size());
  for (std::size_t pos = 0; pos < normalized_.size();) {
    const std::size_t length = utf8_length(static_cast<unsigned char>(normalized_[pos]));
    for (std::size_t i = 0; i < length; ++i) alignments_.emplace_back(pos, pos + length);
    pos += length;
  }
}

std::optional<ByteRange> NormalizedString::normalized_to_original(ByteRange range) const {
  if (range.first == range.second) return range;
  if (range.first > range.second || range.second > alignments_.size()) return std::nullopt;
  return ByteRange{alignments_[range.first].first, alignments_[range.second - 1].second};
}

std::optional<ByteRange> NormalizedString::original_to_normalized(ByteRange range) const {
  if (range.first == range.second) return range;
  if (range.first > range.second) return std::nullopt;
  std::optional<std::size_t> start, end;
  for (std::size_t i = 0; i < alignments_.size(); ++i) {
    const ByteRange& alignment = alignments_[i];
    if (range.second < alignment.second) break;
    if (!start && range.first <= alignment.first && alignment.first != alignment.second) start = i;
    end = i + 1;
  }
  if (start && end) return ByteRange{*start, *end};
  if (start) return ByteRange{*start, *start};
  if (end) return ByteRange{*end, *end};
  return std::nullopt;
}

void NormalizedString::transform(const std::vector<CharChange>& dest, std::size_t initial_offset) {
  const auto range = original_to_normalized({0, original_.size()});
  if (!range) return;
  // Most normalizers leave most texts as they are (ASCII through NFD, text without control
  // characters through a filter): rebuilding the string and its alignments would change nothing,
  // since every byte of a character shares that character's alignment.
  if (initial_offset == 0 && *range == ByteRange{0, normalized_.size()} && is_identity(dest)) {
    return;
  }
  transform_range(*range, dest, initial_offset);
}

bool NormalizedString::is_identity(const std::vector<CharChange>& dest) const {
  std::size_t pos = 0;
  for (const CharChange& item : dest) {
    if (item.change != 0 || pos >= normalized_.size()) return false;
    if (decode_utf8(normalized_, pos) != item.c) return false;
  }
  return pos == normalized_.size();
}

void NormalizedString::transform_range(ByteRange range, const std::vector<CharChange>& dest,
                                       std::size_t initial_offset) {
  // The characters being replaced are consumed from range.first on, as the changes say.
  std::size_t replaced_pos = range.first;
  auto take_replaced = [&](std::size_t count) {
    const std::size_t from = replaced_pos;
    for (; count > 0 && replaced_pos < range.second; --count) {
      replaced_pos += utf8_length(static_cast<unsigned char>(normalized_[replaced_pos]));
    }
    return replaced_pos - from;
  };

  std::size_t new_bytes = 0;
  for (const CharChange& item : dest) new_bytes += utf8_length(item.c);
  const std::size_t total = normalized_.size() - (range.second - range.first) + new_bytes;
  // Built whole and moved in: one allocation per buffer, no per-byte appends.
  std::string new_text(total, '\0');
  std::vector<ByteRange> new_alignments(total);
  std::copy_n(normalized_.begin(), range.first, new_text.begin());
  std::copy_n(alignments_.begin(), range.first, new_alignments.begin());

  std::size_t offset = range.first + take_replaced(initial_offset);
  const ByteRange past_end = alignments_.empty()
                                 ? ByteRange{0, 0}
                                 : ByteRange{alignments_.back().second, alignments_.back().second};
  std::size_t out = range.first;
  for (const CharChange& item : dest) {
    ByteRange alignment;
    if (item.change > 0) {
      alignment =
          offset < 1 ? ByteRange{0, 0} : alignments_[std::min(offset, alignments_.size()) - 1];
    } else {
      alignment = offset < alignments_.size() ? alignments_[offset] : past_end;
      offset += take_replaced(1);
      if (item.change < 0) offset += take_replaced(static_cast<std::size_t>(-item.change));
    }
    const std::size_t length = write_utf8(item.c, new_text.data() + out);
    std::fill_n(new_alignments.begin() + static_cast<std::ptrdiff_t>(out), length, alignment);
    out += length;
  }
  std::copy(normalized_.begin() + static_cast<std::ptrdiff_t>(range.second), normalized_.end(),
            new_text.begin() + static_cast<std::ptrdiff_t>(out));
  std::copy(alignments_.begin() + static_cast<std::ptrdiff_t>(range.second), alignments_.end(),
            new_alignments.begin() + static_cast<std::ptrdiff_t>(out));
  normalized_ = std::move(new_text);
  alignments_ = std::move(new_alignments);
}

bool NormalizedString::try_map_bytes(const std::array<char32_t, 256>& alphabet) {
  if (original_to_normalized({0, original_.size()}) != ByteRange{0, normalized_.size()}) {
    return false;
  }
  std::size_t new_bytes = 0;
  for (char byte : normalized_) new_bytes += utf8_length(alphabet[static_cast<unsigned char>(byte)]);
  std::string new_text(new_bytes, '\0');
  std::vector<ByteRange> new_alignments(new_bytes);
  std::size_t out = 0;
  for (std::size_t pos = 0; pos < normalized_.size();) {
    const std::size_t length = utf8_length(static_cast<unsigned char>(normalized_[pos]));
    for (std::size_t i = 0; i < length; ++i) {
      // The first byte replaces the character; the others are inserted after it and take the
      // alignment of its last byte, as transform_range does.
      const ByteRange alignment = alignments_[i == 0 ? pos : pos + length - 1];
      const char32_t c = alphabet[static_cast<unsigned char>(normalized_[pos + i])];
      const std::size_t written = write_utf8(c, new_text.data() + out);
      std::fill_n(new_alignments.begin() + static_cast<std::ptrdiff_t>(out), written, alignment);
      out += written;
    }
    pos += length;
  }
  normalized_ = std::move(new_text);
  alignments_ = std::move(new_alignments);
  return true;
}

void NormalizedString::apply_unicode_normalization(bool compatibility, bool compose) {
  if (is_ascii(normalized_)) return;  // every normalization form leaves ASCII unchanged
  auto changes = decompose(normalized_, compatibility);
  if (compose) changes = recompose(changes);
  transform(changes, 0);
}

void NormalizedString::nfd() { apply_unicode_normalization(false, false); }
void NormalizedString::nfkd() { apply_unicode_normalization(true, false); }
void NormalizedString::nfc() { apply_unicode_normalization(false, true); }
void NormalizedString::nfkc() { apply_unicode_normalization(true, true); }

void NormalizedString::lowercase() {
  if (is_ascii(normalized_)) {
    // Same byte lengths, so the alignments stay as they are.
    for (char& byte : normalized_) {
      if (byte >= 'A' && byte <= 'Z') byte = static_cast<char>(byte + 32);
    }
    return;
  }
  std::vector<CharChange> changes;
  changes.reserve(normalized_.size());
  std::u32string lowered;
  for (char32_t c : decode_all(normalized_)) {
    lowered.clear();
    append_lowercase(c, lowered);
    for (std::size_t i = 0; i < lowered.size(); ++i) changes.push_back({lowered[i], i > 0 ? 1 : 0});
  }
  transform(changes, 0);
}

void NormalizedString::prepend(const std::string& prefix) {
  if (normalized_.empty()) return;
  std::size_t pos = 0;
  const char32_t first = decode_utf8(normalized_, pos);
  std::vector<CharChange> changes;
  bool is_first = true;
  for (char32_t c : decode_all(prefix)) {
    changes.push_back({c, is_first ? 0 : 1});
    is_first = false;
  }
  changes.push_back({first, 1});
  transform_range({0, pos}, changes, 0);
}

void NormalizedString::append(const std::string& suffix) {
  std::vector<CharChange> changes;
  std::size_t start = 0;
  if (!normalized_.empty()) {
    start = normalized_.size() - 1;
    while ((static_cast<unsigned char>(normalized_[start]) & 0xC0) == 0x80) --start;
    std::size_t pos = start;
    changes.push_back({decode_utf8(normalized_, pos), 0});
  }
  for (char32_t c : decode_all(suffix)) changes.push_back({c, 1});
  transform_range({start, normalized_.size()}, changes, 0);
}

void NormalizedString::strip(bool left, bool right) {
  const std::vector<char32_t> chars = decode_all(normalized_);
  std::size_t leading = 0, trailing = 0;
  if (left) {
    while (leading < chars.size() && is_whitespace(chars[leading])) ++leading;
  }
  if (right) {
    while (trailing < chars.size() && is_whitespace(chars[chars.size() - 1 - trailing])) ++trailing;
  }
  if (leading == 0 && trailing == 0) return;
  std::vector<CharChange> changes;
  const std::size_t count = chars.size();
  for (std::size_t i = 0; i < count; ++i) {
    if (i < leading || i + trailing >= count) continue;
    // tokenizers compares this char index with the *byte* length here; the removed trailing
    // characters are thus only attached for ASCII text, which we reproduce.
    if (i + trailing + 1 == normalized_.size()) {
      changes.push_back({chars[i], -static_cast<int>(trailing)});
    } else {
      changes.push_back({chars[i], 0});
    }
  }
  transform(changes, leading);
}

void NormalizedString::replace(const std::vector<PatternMatch>& matches,
                               const std::string& content) {
  std::string new_text;
  std::vector<ByteRange> new_alignments;
  new_text.reserve(normalized_.size());
  new_alignments.reserve(alignments_.size());
  const std::size_t content_bytes = content.size();
  std::size_t last_end = 0;
  for (const PatternMatch& match : matches) {
    if (!match.is_match) continue;
    const auto [start, end] = match.range;
    new_text.append(normalized_, last_end, start - last_end);
    new_alignments.insert(new_alignments.end(), alignments_.begin() + last_end,
                          alignments_.begin() + start);
    // Every inserted character takes the alignment of the last byte of what it replaces.
    const ByteRange alignment = end < 1 ? ByteRange{0, 0} : alignments_[end - 1];
    new_text.append(content);
    new_alignments.insert(new_alignments.end(), content_bytes, alignment);
    last_end = end;
  }
  new_text.append(normalized_, last_end);
  new_alignments.insert(new_alignments.end(), alignments_.begin() + last_end, alignments_.end());
  normalized_ = std::move(new_text);
  alignments_ = std::move(new_alignments);
}

std::vector<NormalizedString> NormalizedString::split(const std::vector<PatternMatch>& matches,
                                                      SplitBehavior behavior) const {
  // (range, keep) pairs, folded according to the behavior.
  std::vector<std::pair<ByteRange, bool>> pieces;
  pieces.reserve(matches.size());
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const auto& m : matches) pieces.push_back({m.range, true});
      break;
    case SplitBehavior::kRemoved:
      for (const auto& m : matches) pieces.push_back({m.range, !m.is_match});
      break;
    case SplitBehavior::kContiguous: {
      bool previous_match = false;
      for (const auto& m : matches) {
        if (m.is_match == previous_match && !pieces.empty()) {
          pieces.back().first.second = m.range.second;
        } else {
          pieces.push_back({m.range, true});
        }
        previous_match = m.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const auto& m : matches) {
        if (m.is_match && !previous_match && !pieces.empty()) {
          pieces.back().first.second = m.range.second;
        } else {
          pieces.push_back({m.range, true});
        }
        previous_match = m.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous_match = false;
      for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
        if (it->is_match && !previous_match && !pieces.empty()) {
          pieces.back().first.first = it->range.first;
        } else {
          pieces.push_back({it->range, true});
        }
        previous_match = it->is_match;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
    }
  }
  std::vector<NormalizedString> out;
  out.reserve(pieces.size());
  for (const auto& [range, keep] : pieces) {
    if (keep) out.push_back(slice(range));
  }
  return out;
}

NormalizedString NormalizedString::slice(ByteRange range) const {
  NormalizedString piece;
  const ByteRange original_range = normalized_to_original(range).value_or(ByteRange{0, 0});
  const std::size_t shift = original_range.first;
  if (range.first != range.second) {
    piece.original_ =
        original_.substr(original_range.first, original_range.second - original_range.first);
  }
  piece.normalized_ = normalized_.substr(range.first, range.second - range.first);
  piece.alignments_.reserve(range.second - range.first);
  for (std::size_t i = range.first; i < range.second; ++i) {
    piece.alignments_.emplace_back(alignments_[i].first - shift, alignments_[i].second - shift);
  }
  piece.original_shift_ = original_shift_ + shift;
  return piece;
}

}  // namespace tessera::tokenizers
