#pragma once
// Patterns that cut a string into matched and unmatched ranges, with the iteration rules of
// tokenizers: a character predicate, or an Oniguruma-compatible regex (run on PCRE2).
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizers/normalized_string.h"
#include "tokenizers/unicode.h"

namespace tessera::tokenizers {

// Each character for which `predicate` holds is a match of its own.
template <typename Predicate>
std::vector<PatternMatch> find_char_matches(std::string_view text, Predicate predicate) {
  std::vector<PatternMatch> matches;
  if (text.empty()) {
    matches.push_back({{0, 0}, false});
    return matches;
  }
  std::size_t last_offset = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t start = pos;
    const char32_t c = decode_utf8(text, pos);
    if (predicate(c)) {
      if (last_offset < start) matches.push_back({{last_offset, start}, false});
      matches.push_back({{start, pos}, true});
      last_offset = pos;
    }
  }
  if (last_offset < text.size()) matches.push_back({{last_offset, text.size()}, false});
  return matches;
}

std::vector<PatternMatch> invert(std::vector<PatternMatch> matches);

class Regex {
 public:
  // Compiles an Oniguruma-syntax pattern, or a literal string when `literal` is set.
  Regex(const std::string& pattern, bool literal);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Successive matches as Oniguruma's find_iter yields them (an empty match right after the
  // previous match is skipped), interleaved with the unmatched ranges between them.
  std::vector<PatternMatch> find_matches(std::string_view text) const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace tessera::tokenizers
