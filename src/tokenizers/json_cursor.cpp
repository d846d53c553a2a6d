#include "tokenizers/json_cursor.h"

#include <bit>
#include <charconv>
#include <cstring>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "tessera/error.h"
#include "tokenizers/unicode.h"
#include "tokenizers/utf8_blocks.h"

namespace tessera::tokenizers {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

#ifndef __SSE2__
// Without SSE2 the scans below work on 8-byte words.
constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHighBits = 0x8080808080808080ull;

// The high bit of every byte of `word` equal to `c` (exact: no false positives).
uint64_t bytes_equal(uint64_t word, char c) {
  const uint64_t x = word ^ (kOnes * static_cast<unsigned char>(c));
  return ~(((x & ~kHighBits) + ~kHighBits) | x | ~kHighBits);
}
#endif

}  // namespace

void JsonCursor::fail_at(std::size_t pos, const std::string& what) const {
  std::string where = "at byte " + std::to_string(pos);
  if (!section_.empty()) where += " (in " + std::string(section_) + ")";
  tessera::fail("tokenizer", "invalid tokenizer.json " + where + ": " + what);
}

void JsonCursor::fail_expecting(char c) const {
  fail(pos_ < text_.size() ? std::string("expected '") + c + "'" : "unexpected end of text");
}

char JsonCursor::peek_after_whitespace() {
  std::size_t pos = pos_;
  const std::size_t size = text_.size();
#ifdef __SSE2__
  while (pos + 16 <= size) {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text_.data() + pos));
    const __m128i whitespace =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(block, _mm_set1_epi8(' ')),
                                  _mm_cmpeq_epi8(block, _mm_set1_epi8('\n'))),
                     _mm_or_si128(_mm_cmpeq_epi8(block, _mm_set1_epi8('\r')),
                                  _mm_cmpeq_epi8(block, _mm_set1_epi8('\t'))));
    const auto other = static_cast<uint32_t>(~_mm_movemask_epi8(whitespace)) & 0xFFFF;
    if (other != 0) {
      pos_ = pos + static_cast<std::size_t>(std::countr_zero(other));
      return text_[pos_];
    }
    pos += 16;
  }
#else
  while (pos + sizeof(uint64_t) <= size) {
    uint64_t word;
    std::memcpy(&word, text_.data() + pos, sizeof(word));
    const uint64_t whitespace = bytes_equal(word, ' ') | bytes_equal(word, '\n') |
                                bytes_equal(word, '\r') | bytes_equal(word, '\t');
    const uint64_t other = ~whitespace & kHighBits;
    if (other != 0) {
      pos_ = pos + static_cast<std::size_t>(std::countr_zero(other) / 8);
      return text_[pos_];
    }
    pos += sizeof(word);
  }
#endif
  for (; pos < size; ++pos) {
    if (!is_whitespace(text_[pos])) {
      pos_ = pos;
      return text_[pos];
    }
  }
  pos_ = size;
  return '\0';
}

uint32_t JsonCursor::read_hex4() {
  if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = text_[pos_++];
    value <<= 4;
    if (is_digit(c)) {
      value |= static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      value |= static_cast<uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      value |= static_cast<uint32_t>(c - 'A' + 10);
    } else {
      fail("invalid \\u escape");
    }
  }
  return value;
}

// Strings are scanned 16 bytes at a time up to the closing quote, a backslash or a control
// character: one compare-and-mask step for most tokens (a loop with a branch per byte, or per 8
// bytes, mispredicts on every token's length). The same blocks give the spaces of a merge and
// check the string's UTF-8 (utf8_blocks.h); a string they cannot vouch for (three- or four-byte
// characters, or an error) is checked byte-wise once its end is known. Without SSE2, 8 bytes at
// a time in a word, and merges are searched for spaces afterwards.
template <bool kFindSpaces>
std::string_view JsonCursor::read_string(std::string& scratch, Spaces* spaces) {
  expect('"');
  const std::size_t start = pos_;
  // A local position: pos_ is a member the compiler would store on every step, as the text's
  // chars may alias it.
  const std::size_t size = text_.size();
  const char* text = text_.data();
  std::size_t pos = start;
  bool check_bytewise = false;  // whether the string's UTF-8 still needs the byte-wise check
#ifdef __SSE2__
  constexpr bool kScanFindsSpaces = true;
  std::size_t first_space = std::string_view::npos;
  bool several_spaces = false;
  auto note_spaces = [&](uint32_t mask, std::size_t at) {  // bit i: a space at `at` + i
    if (!kFindSpaces || mask == 0) return;
    if (first_space != std::string_view::npos) {
      several_spaces = true;
      return;
    }
    first_space = at - start + static_cast<std::size_t>(std::countr_zero(mask));
    several_spaces = (mask & (mask - 1)) != 0;
  };
  Utf8Blocks utf8;
  while (pos + 16 <= size) {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text + pos));
    const __m128i special =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(block, _mm_set1_epi8('"')),
                                  _mm_cmpeq_epi8(block, _mm_set1_epi8('\\'))),
                     _mm_cmpeq_epi8(_mm_min_epu8(block, _mm_set1_epi8(0x1F)), block));  // < 0x20
    const auto stops = static_cast<uint32_t>(_mm_movemask_epi8(special));
    uint32_t block_spaces = 0;
    if constexpr (kFindSpaces) {
      block_spaces =
          static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(block, _mm_set1_epi8(' '))));
    }
    if (stops != 0) {
      const int before = std::countr_zero(stops);
      note_spaces(block_spaces & ((uint32_t{1} << before) - 1), pos);
      check_bytewise |= !utf8.last(block, before);
      pos += static_cast<std::size_t>(before);
      break;
    }
    note_spaces(block_spaces, pos);
    check_bytewise |= !utf8.next(block);
    pos += 16;
  }
  if (pos + 16 > size) {  // the last bytes of the text, byte by byte
    check_bytewise = true;
    for (; pos < size; ++pos) {
      const auto c = static_cast<unsigned char>(text[pos]);
      if (c == '"' || c == '\\' || c < 0x20) break;
      if (c == ' ') note_spaces(1, pos);
    }
  }
#else
  constexpr bool kScanFindsSpaces = false;
  check_bytewise = true;
  auto has_zero_byte = [](uint64_t word) { return (word - kOnes) & ~word & kHighBits; };
  while (pos + sizeof(uint64_t) <= size) {
    uint64_t word;
    std::memcpy(&word, text + pos, sizeof(word));
    // Exact for the lowest flagged byte (a borrow only flags bytes above a true match).
    const uint64_t special = has_zero_byte(word ^ (kOnes * '"')) |
                             has_zero_byte(word ^ (kOnes * '\\')) |
                             ((word - kOnes * 0x20) & ~word & kHighBits);  // a byte below 0x20
    if (special != 0) {
      pos += static_cast<std::size_t>(std::countr_zero(special) / 8);
      break;
    }
    pos += sizeof(word);
  }
  for (; pos < size; ++pos) {
    const auto c = static_cast<unsigned char>(text[pos]);
    if (c == '"' || c == '\\' || c < 0x20) break;
  }
#endif
  pos_ = pos;
  if (pos_ >= size) fail("unterminated string");
  const char stop = text_[pos_];
  if (stop != '"' && stop != '\\') fail("control character in a string");
  const bool escaped = stop == '\\';
  const std::string_view value =
      escaped ? read_escaped(start, scratch) : text_.substr(start, pos_++ - start);
  // The raw bytes between the quotes: escapes are ASCII, so they are well-formed UTF-8 exactly
  // when the string they stand for is.
  if (check_bytewise || escaped) check_utf8(start, pos_ - 1);
  if constexpr (kFindSpaces) {
    if (kScanFindsSpaces && !escaped) {
#ifdef __SSE2__
      *spaces = Spaces{first_space, several_spaces};
#endif
    } else {
      spaces->first = value.find(' ');
      spaces->several = spaces->first != std::string_view::npos &&
                        value.find(' ', spaces->first + 1) != std::string_view::npos;
    }
  }
  return value;
}

template std::string_view JsonCursor::read_string<false>(std::string&, Spaces*);
template std::string_view JsonCursor::read_string<true>(std::string&, Spaces*);

void JsonCursor::check_utf8(std::size_t begin, std::size_t end) const {
  std::size_t error_at = 0;
  if (!is_valid_utf8(text_.substr(begin, end - begin), &error_at)) {
    fail_at(begin + error_at, "ill-formed UTF-8");
  }
}

std::string_view JsonCursor::read_escaped(std::size_t start, std::string& scratch) {
  scratch.assign(text_.substr(start, pos_ - start));
  while (pos_ < text_.size()) {
    const auto c = static_cast<unsigned char>(text_[pos_]);
    if (c == '"') {
      ++pos_;
      return scratch;
    }
    if (c < 0x20) fail("control character in a string");
    ++pos_;
    if (c != '\\') {
      scratch.push_back(static_cast<char>(c));  // the caller checks the raw bytes' UTF-8
      continue;
    }
    if (pos_ >= text_.size()) break;
    switch (text_[pos_++]) {
      case '"':
        scratch.push_back('"');
        break;
      case '\\':
        scratch.push_back('\\');
        break;
      case '/':
        scratch.push_back('/');
        break;
      case 'b':
        scratch.push_back('\b');
        break;
      case 'f':
        scratch.push_back('\f');
        break;
      case 'n':
        scratch.push_back('\n');
        break;
      case 'r':
        scratch.push_back('\r');
        break;
      case 't':
        scratch.push_back('\t');
        break;
      case 'u': {
        char32_t code_point = read_hex4();
        if (code_point >= 0xDC00 && code_point <= 0xDFFF) fail("lone low surrogate");
        if (code_point >= 0xD800 && code_point <= 0xDBFF) {
          if (text_.substr(pos_, 2) != "\\u") fail("high surrogate without its low half");
          pos_ += 2;
          const char32_t low = read_hex4();
          if (low < 0xDC00 || low > 0xDFFF) fail("high surrogate without its low half");
          code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
        }
        append_utf8(scratch, code_point);
        break;
      }
      default:
        --pos_;
        fail("invalid escape");
    }
  }
  fail("unterminated string");
}

uint32_t JsonCursor::read_id() {
  peek();
  const std::size_t start = pos_;
  uint64_t value = 0;
  while (pos_ < text_.size() && is_digit(text_[pos_]) && value < UINT32_MAX) {
    value = value * 10 + static_cast<uint64_t>(text_[pos_++] - '0');
  }
  if (pos_ == start) fail("expected a token id");
  if (text_[start] == '0' && pos_ - start > 1) fail("leading zero in a number");
  if (value >= UINT32_MAX) fail("token id out of range");
  if (pos_ < text_.size() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E')) {
    fail("token id is not an integer");
  }
  return static_cast<uint32_t>(value);
}

double JsonCursor::read_number() {
  peek();
  const std::size_t start = pos_;
  // The JSON number grammar, so that from_chars sees nothing JSON would refuse.
  auto digits = [&] {
    const std::size_t from = pos_;
    while (pos_ < text_.size() && is_digit(text_[pos_])) ++pos_;
    if (pos_ == from) fail("expected a number");
  };
  if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
  const std::size_t integer_start = pos_;
  digits();
  if (text_[integer_start] == '0' && pos_ - integer_start > 1) fail("leading zero in a number");
  if (pos_ < text_.size() && text_[pos_] == '.') {
    ++pos_;
    digits();
  }
  if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
    ++pos_;
    if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
    digits();
  }
  double value = 0.0;
  const auto [end, error] = std::from_chars(text_.data() + start, text_.data() + pos_, value);
  if (error != std::errc() || end != text_.data() + pos_) fail("number out of range");
  return value;
}

void JsonCursor::skip_string() {
  for (++pos_; pos_ < text_.size(); ++pos_) {
    if (text_[pos_] == '\\') {
      ++pos_;
    } else if (text_[pos_] == '"') {
      ++pos_;
      return;
    }
  }
  fail("unterminated string");
}

void JsonCursor::skip_value() {
  const char first = peek();
  if (first == '"') {
    skip_string();
    return;
  }
  if (first == '{' || first == '[') {
    std::size_t depth = 0;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '"') {
        skip_string();
        continue;
      }
      ++pos_;
      if (c == '{' || c == '[') ++depth;
      if ((c == '}' || c == ']') && --depth == 0) return;
    }
    fail("unexpected end of text");
  }
  // A number or a literal: everything up to the next delimiter.
  const std::size_t start = pos_;
  while (pos_ < text_.size()) {
    const char c = text_[pos_];
    if (c == ',' || c == '}' || c == ']' || c == ' ' || c == '\n' || c == '\r' || c == '\t') break;
    ++pos_;
  }
  if (pos_ == start) fail(pos_ < text_.size() ? "expected a value" : "unexpected end of text");
}

}  // namespace tessera::tokenizers
