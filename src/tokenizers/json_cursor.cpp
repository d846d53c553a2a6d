#include "tokenizers/json_cursor.h"

#include <bit>
#include <charconv>
#include <cstring>

#include "tessera/error.h"
#include "tokenizers/unicode.h"

namespace tessera::tokenizers {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHighBits = 0x8080808080808080ull;

// The high bit of every byte of `word` equal to `c` (exact: no false positives).
uint64_t bytes_equal(uint64_t word, char c) {
  const uint64_t x = word ^ (kOnes * static_cast<unsigned char>(c));
  return ~(((x & ~kHighBits) + ~kHighBits) | x | ~kHighBits);
}

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

std::string_view JsonCursor::read_string(std::string& scratch) {
  expect('"');
  const std::size_t start = pos_;
  // Fast path: most tokens have no escape, so the text itself is the value. Eight bytes at a
  // time until a quote, a backslash or a control character; non-ASCII bytes are only noted, and
  // the string is checked for well-formed UTF-8 once at its end. (A local position: pos_ is a
  // member the compiler would store on every step, as the text's chars may alias it.)
  auto has_zero_byte = [](uint64_t word) { return (word - kOnes) & ~word & kHighBits; };
  const std::size_t size = text_.size();
  std::size_t pos = start;
  uint64_t seen = 0;  // the OR of the string's bytes: its high bits tell whether it is ASCII
  while (pos + sizeof(uint64_t) <= size) {
    uint64_t word;
    std::memcpy(&word, text_.data() + pos, sizeof(word));
    // Exact for the lowest flagged byte (a borrow only flags bytes above a true match).
    const uint64_t special = has_zero_byte(word ^ (kOnes * '"')) |
                             has_zero_byte(word ^ (kOnes * '\\')) |
                             ((word - kOnes * 0x20) & ~word & kHighBits);  // a byte below 0x20
    if (special != 0) {
      const int before = std::countr_zero(special) & ~7;  // bits of the bytes before it
      seen |= word & ((uint64_t{1} << before) - 1);
      pos += static_cast<std::size_t>(before / 8);
      break;
    }
    seen |= word;
    pos += sizeof(word);
  }
  for (; pos < size; ++pos) {
    const auto c = static_cast<unsigned char>(text_[pos]);
    if (c == '"' || c == '\\' || c < 0x20) break;
    seen |= c;
  }
  pos_ = pos;
  if (pos_ >= size) fail("unterminated string");
  if ((seen & kHighBits) != 0) check_utf8(start, pos_);
  const char stop = text_[pos_];
  if (stop == '"') return text_.substr(start, pos_++ - start);
  if (stop != '\\') fail("control character in a string");
  scratch.assign(text_.substr(start, pos_ - start));
  while (pos_ < text_.size()) {
    const auto c = static_cast<unsigned char>(text_[pos_]);
    if (c == '"') {
      ++pos_;
      return scratch;
    }
    if (c < 0x20) fail("control character in a string");
    if (c >= 0x80) {
      const std::size_t sequence_start = pos_;
      skip_utf8_sequence();
      scratch.append(text_.substr(sequence_start, pos_ - sequence_start));
      continue;
    }
    ++pos_;
    if (c != '\\') {
      scratch.push_back(static_cast<char>(c));
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

void JsonCursor::check_utf8(std::size_t begin, std::size_t end) const {
  std::size_t error_at = 0;
  if (!is_valid_utf8(text_.substr(begin, end - begin), &error_at)) {
    fail_at(begin + error_at, "ill-formed UTF-8");
  }
}

void JsonCursor::skip_utf8_sequence() {
  const auto lead = static_cast<unsigned char>(text_[pos_]);
  const std::size_t length = lead >= 0xC2 && lead <= 0xDF   ? 2
                             : lead >= 0xE0 && lead <= 0xEF ? 3
                             : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                            : 0;
  if (length == 0 || pos_ + length > text_.size() || !is_valid_utf8(text_.substr(pos_, length))) {
    fail("ill-formed UTF-8");
  }
  pos_ += length;
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
