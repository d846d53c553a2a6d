#include "tokenizers/pattern.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <optional>

#include "tessera/error.h"

namespace tessera::tokenizers {

std::vector<PatternMatch> invert(std::vector<PatternMatch> matches) {
  for (auto& match : matches) match.is_match = !match.is_match;
  return matches;
}

namespace {

// Rewrites the Oniguruma classes whose Unicode meaning PCRE2 (10.42, UCP) does not share:
// Oniguruma's \w also takes marks and connector punctuation, and its \s also takes NEL (U+85).
std::string translate_oniguruma(const std::string& pattern) {
  static constexpr std::string_view kWord = R"(\p{L}\p{M}\p{Nd}\p{Pc})";
  static constexpr std::string_view kSpace = R"(\s\x{85})";
  std::string out;
  out.reserve(pattern.size());
  bool in_class = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[++i];
      const bool negated = next == 'W' || next == 'S';
      std::string_view members;
      if (next == 'w' || next == 'W') members = kWord;
      if (next == 's' || next == 'S') members = kSpace;
      if (members.empty() || (in_class && negated)) {
        out += c;
        out += next;
      } else if (in_class) {
        out += members;
      } else {
        out += negated ? "[^" : "[";
        out += members;
        out += ']';
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

}  // namespace

struct Regex::Compiled {
  pcre2_code* code = nullptr;
};

Regex::Regex(const std::string& pattern, bool literal) : compiled_(std::make_unique<Compiled>()) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  // PCRE2_LITERAL refuses PCRE2_UCP, which only matters to patterns anyway.
  const uint32_t options = PCRE2_UTF | PCRE2_NO_UTF_CHECK | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  const std::string source = literal ? pattern : translate_oniguruma(pattern);
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(),
                                  options, &error_code, &error_offset, nullptr);
  if (!compiled_->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    fail("tokenizer", "invalid regex '" + pattern + "' at offset " + std::to_string(error_offset) +
                          ": " + reinterpret_cast<const char*>(message));
  }
  pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter
}

Regex::~Regex() { pcre2_code_free(compiled_->code); }

std::vector<PatternMatch> Regex::find_matches(std::string_view text) const {
  std::vector<PatternMatch> out;
  if (text.empty()) {
    out.push_back({{0, 0}, false});
    return out;
  }
  // One ovector pair is all we read; a per-thread buffer avoids an allocation per call.
  thread_local struct MatchData {
    pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
    ~MatchData() { pcre2_match_data_free(data); }
  } match_data;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t search_from = 0;
  std::size_t previous = 0;
  std::optional<std::size_t> last_match_end;
  while (search_from <= text.size()) {
    const int rc = pcre2_match(compiled_->code, subject, text.size(), search_from,
                               PCRE2_NO_UTF_CHECK, match_data.data, nullptr);
    if (rc < 0) break;
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data.data);
    const std::size_t start = ovector[0], end = ovector[1];
    if (start == end && last_match_end == end) {
      search_from += search_from < text.size()
                         ? utf8_length(static_cast<unsigned char>(text[search_from]))
                         : 1;
      continue;
    }
    search_from = end;
    last_match_end = end;
    if (previous != start) out.push_back({{previous, start}, false});
    out.push_back({{start, end}, true});
    previous = end;
  }
  if (previous != text.size()) out.push_back({{previous, text.size()}, false});
  return out;
}

}  // namespace tessera::tokenizers
