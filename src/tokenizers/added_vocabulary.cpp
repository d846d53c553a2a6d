#include "tokenizers/added_vocabulary.h"

#include <algorithm>

#include "tokenizers/unicode.h"

namespace tessera::tokenizers {
namespace {

// The first/last code point of a string, if any.
std::optional<char32_t> first_char(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::size_t pos = 0;
  return decode_utf8(text, pos);
}

std::optional<char32_t> last_char(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::size_t start = text.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return decode_utf8(text, start);
}

// Byte position where the trailing whitespace of `text` begins (regex `\s*$`).
std::size_t trailing_space_start(std::string_view text) {
  std::size_t start = text.size();
  while (start > 0) {
    std::size_t char_start = start - 1;
    while (char_start > 0 && (static_cast<unsigned char>(text[char_start]) & 0xC0) == 0x80)
      --char_start;
    std::size_t pos = char_start;
    if (!is_whitespace(decode_utf8(text, pos))) break;
    start = char_start;
  }
  return start;
}

// Byte length of the leading whitespace of `text` (regex `^\s*`).
std::size_t leading_space_length(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t next = pos;
    if (!is_whitespace(decode_utf8(text, next))) break;
    pos = next;
  }
  return pos;
}

}  // namespace

void AddedVocabulary::Matcher::add(const std::string& pattern, uint32_t id) {
  if (!pattern.empty()) first_bytes_.set(static_cast<unsigned char>(pattern[0]));
  std::size_t node = 0;
  for (unsigned char byte : pattern) {
    auto it = nodes_[node].children.find(byte);
    if (it == nodes_[node].children.end()) {
      nodes_.emplace_back();
      it = nodes_[node].children.emplace(byte, static_cast<uint32_t>(nodes_.size() - 1)).first;
    }
    node = it->second;
  }
  nodes_[node].id = id;
}

std::vector<std::pair<uint32_t, ByteRange>> AddedVocabulary::Matcher::find_all(
    std::string_view text) const {
  std::vector<std::pair<uint32_t, ByteRange>> matches;
  for (std::size_t start = 0; start < text.size();) {
    if (!first_bytes_[static_cast<unsigned char>(text[start])]) {
      ++start;
      continue;
    }
    std::optional<std::pair<uint32_t, std::size_t>> longest;
    std::size_t node = 0;
    for (std::size_t pos = start; pos < text.size(); ++pos) {
      const auto it = nodes_[node].children.find(static_cast<unsigned char>(text[pos]));
      if (it == nodes_[node].children.end()) break;
      node = it->second;
      if (nodes_[node].id) longest = std::make_pair(*nodes_[node].id, pos + 1);
    }
    if (longest) {
      matches.push_back({longest->first, {start, longest->second}});
      start = longest->second;
    } else {
      ++start;
    }
  }
  return matches;
}

void AddedVocabulary::add_tokens(const std::vector<AddedToken>& tokens, const Model& model,
                                 const Normalizer* normalizer) {
  const auto model_size = static_cast<uint32_t>(model.vocab_size());
  uint32_t next_id = model_size;
  if (!tokens_.empty()) {
    const uint32_t max_id = tokens_.rbegin()->first;
    next_id = max_id >= model_size || model_size == 0 ? max_id + 1 : model_size;
  }
  for (const AddedToken& token : tokens) {
    if (token.content.empty()) continue;
    if (auto existing = find_id(ids_, token.content)) {
      if (tokens_.count(*existing) && tokens_.at(*existing) == token) continue;
    }
    uint32_t id;
    if (auto known = find_id(ids_, token.content)) {
      id = *known;
    } else if (auto in_model = model.token_to_id(token.content)) {
      id = *in_model;
    } else {
      id = next_id++;
    }
    if (token.normalized && normalizer) {
      NormalizedString normalized(token.content);
      normalizer->normalize(normalized);
      if (normalized.get() != token.content) normalized_forms_[id] = normalized.get();
    }
    ids_[token.content] = id;
    if (token.special) special_.insert(token.content);
    tokens_[id] = token;
  }
  rebuild_matchers();
}

void AddedVocabulary::rebuild_matchers() {
  raw_matcher_ = Matcher();
  normalized_matcher_ = Matcher();
  for (const auto& [id, token] : tokens_) {
    if (token.normalized) {
      const auto it = normalized_forms_.find(id);
      normalized_matcher_.add(it != normalized_forms_.end() ? it->second : token.content, id);
    } else {
      raw_matcher_.add(token.content, id);
    }
  }
}

std::optional<std::string> AddedVocabulary::id_to_token(uint32_t id) const {
  const auto it = tokens_.find(id);
  if (it == tokens_.end()) return std::nullopt;
  return it->second.content;
}

std::vector<Split> AddedVocabulary::split_with_indices(NormalizedString&& text,
                                                       const Matcher& matcher) const {
  std::vector<Split> splits;
  if (text.empty()) return splits;
  if (matcher.empty()) {
    // Still a slice: it narrows the original to what the normalized text covers.
    splits.push_back(Split{text.slice({0, text.get().size()}), std::nullopt});
    return splits;
  }
  const std::string& s = text.get();
  std::size_t start_offset = 0;
  auto add_plain = [&](std::size_t from, std::size_t to) {
    splits.push_back(Split{text.slice({from, to}), std::nullopt});
  };
  for (const auto& [id, range] : matcher.find_all(s)) {
    auto [start, stop] = range;
    const AddedToken& token = tokens_.at(id);
    if (token.single_word) {
      auto word_before = last_char(std::string_view(s).substr(0, start));
      auto word_after = first_char(std::string_view(s).substr(stop));
      const bool start_space = start == 0 || !(word_before && is_word_char(*word_before));
      const bool stop_space = stop == s.size() || !(word_after && is_word_char(*word_after));
      if (!start_space || !stop_space) continue;
    }
    if (token.lstrip) {
      start = std::max(trailing_space_start(std::string_view(s).substr(0, start)), start_offset);
    }
    if (token.rstrip) stop += leading_space_length(std::string_view(s).substr(stop));
    if (start_offset < start) add_plain(start_offset, start);
    NormalizedString piece = text.slice({start, stop});
    std::string value = piece.get();
    const std::size_t length = value.size();
    splits.push_back(
        Split{std::move(piece), std::vector<Token>{Token{id, std::move(value), {0, length}}}});
    start_offset = stop;
  }
  if (start_offset != s.size()) add_plain(start_offset, s.size());
  return splits;
}

PreTokenizedString AddedVocabulary::extract_and_normalize(const Normalizer* normalizer,
                                                          const std::string& text) const {
  PreTokenizedString pre_tokenized(text);
  pre_tokenized.split([this](std::size_t, NormalizedString&& piece) {
    return split_with_indices(std::move(piece), raw_matcher_);
  });
  pre_tokenized.split([this, normalizer](std::size_t, NormalizedString&& piece) {
    if (normalizer) normalizer->normalize(piece);
    return split_with_indices(std::move(piece), normalized_matcher_);
  });
  return pre_tokenized;
}

}  // namespace tessera::tokenizers
