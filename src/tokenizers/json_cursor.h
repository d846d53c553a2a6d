#pragma once
// A forward-only reader over JSON text: the few operations the scanner of tokenizer.json's large
// model sections needs, working on the raw bytes (no DOM, no allocation for strings without
// escapes). Every syntax error throws tessera::Error naming the byte offset.
#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::tokenizers {

class JsonCursor {
 public:
  explicit JsonCursor(std::string_view text) : text_(text) {}

  // Names the part being read (e.g. "model.vocab") in error messages.
  void set_section(std::string_view section) { section_ = section; }

  std::size_t position() const { return pos_; }
  std::size_t remaining() const { return text_.size() - pos_; }
  // The next significant character ('\0' at the end of the text); skips whitespace.
  // Inline with consume() and expect(): they run a few times per vocabulary entry.
  char peek() {
    if (pos_ < text_.size() && !is_whitespace(text_[pos_])) return text_[pos_];
    return peek_after_whitespace();
  }
  // Consumes `c` if it is the next significant character.
  bool consume(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!consume(c)) fail_expecting(c);
  }

  // Reads a string value, refusing ill-formed UTF-8 as a DOM parser does. The result views the
  // text itself when the string has no escapes, otherwise `scratch`, which receives the
  // unescaped bytes.
  std::string_view read_string(std::string& scratch) { return read_string<false>(scratch, nullptr); }
  // The same for a merge written "a b", also giving the offset of its first space in the value
  // and whether there is another: found in the same pass over the bytes (searching each of
  // Llama 3's 280k merges again took 4% of its load).
  struct Spaces {
    std::size_t first = std::string_view::npos;
    bool several = false;
  };
  std::string_view read_string(std::string& scratch, Spaces& spaces) {
    return read_string<true>(scratch, &spaces);
  }
  // A non-negative integer below 2^32 - 1 (the all-ones id is reserved by the hash tables).
  uint32_t read_id();
  double read_number();
  // Skips one value of any kind. Only its extent is checked: whatever is skipped is parsed
  // later by the DOM parser, which reports its errors.
  void skip_value();

  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
  [[noreturn]] void fail_at(std::size_t pos, const std::string& what) const;

 private:
  static bool is_whitespace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
  // Pretty-printed files indent every entry (a third of a 10 MB file can be spaces), so runs of
  // whitespace are skipped eight bytes at a time.
  char peek_after_whitespace();
  [[noreturn]] void fail_expecting(char c) const;
  template <bool kFindSpaces>
  std::string_view read_string(std::string& scratch, Spaces* spaces);
  // The rest of a string from its first backslash, unescaped into `scratch`.
  std::string_view read_escaped(std::size_t start, std::string& scratch);
  // Fails naming the first byte of [begin, end) that is not part of well-formed UTF-8.
  void check_utf8(std::size_t begin, std::size_t end) const;
  void skip_string();
  uint32_t read_hex4();

  std::string_view text_;
  std::size_t pos_ = 0;
  std::string_view section_;
};

}  // namespace tessera::tokenizers
