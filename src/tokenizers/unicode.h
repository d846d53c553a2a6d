#pragma once
// Code point helpers with the semantics the Hugging Face tokenizers (Rust) library relies on:
// Rust's `char` predicates, the `unicode_categories` crate, and UTF-8 handling.
#include <cstddef>
#include <string>
#include <string_view>

namespace tessera::tokenizers {

// Decodes the code point starting at `pos` of valid UTF-8 and advances `pos` past it.
char32_t decode_utf8(std::string_view text, std::size_t& pos);
// Byte length of the UTF-8 sequence whose first byte is `lead`.
inline std::size_t utf8_length(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}
inline std::size_t utf8_length(char32_t c) {
  return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
}
// Writes the UTF-8 bytes of `c` to `out` (room for 4); returns how many.
inline std::size_t write_utf8(char32_t c, char* out) {
  if (c < 0x80) {
    out[0] = static_cast<char>(c);
    return 1;
  }
  if (c < 0x800) {
    out[0] = static_cast<char>(0xC0 | (c >> 6));
    out[1] = static_cast<char>(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = static_cast<char>(0xE0 | (c >> 12));
    out[1] = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out[2] = static_cast<char>(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = static_cast<char>(0xF0 | (c >> 18));
  out[1] = static_cast<char>(0x80 | ((c >> 12) & 0x3F));
  out[2] = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
  out[3] = static_cast<char>(0x80 | (c & 0x3F));
  return 4;
}
void append_utf8(std::string& out, char32_t c);
std::string to_utf8(char32_t c);
std::size_t count_code_points(std::string_view text);

// True when `text` is well-formed UTF-8 (no surrogates, no overlongs). On failure `error_at`
// receives the byte offset of the first invalid sequence.
bool is_valid_utf8(std::string_view text, std::size_t* error_at = nullptr);
// Rust's String::from_utf8_lossy: each maximal invalid subpart becomes U+FFFD.
std::string from_utf8_lossy(std::string_view bytes);

// Rust char::is_whitespace (the White_Space property).
bool is_whitespace(char32_t c);
// Rust char::is_numeric (general categories Nd, Nl, No).
bool is_numeric(char32_t c);
// Rust regex's Unicode \w: Alphabetic, marks, decimal digits, connector punctuation, joiners.
bool is_word_char(char32_t c);
// unicode_categories: is_other (Cc, Cf, Co as that crate lists them).
bool is_other(char32_t c);
// unicode_categories: is_mark_nonspacing (Mn).
bool is_mark_nonspacing(char32_t c);
// char::is_ascii_punctuation || unicode_categories is_punctuation: the BERT punctuation test.
bool is_bert_punctuation(char32_t c);
// unicode_normalization's is_combining_mark (general category M*).
bool is_combining_mark(char32_t c);
// Canonical combining class.
int combining_class(char32_t c);

// Appends Rust's char::to_lowercase(c) (full case mapping) to `out`.
void append_lowercase(char32_t c, std::u32string& out);

// Appends the full canonical (or compatibility) decomposition of `c`, unordered.
void append_decomposition(char32_t c, bool compatibility, std::u32string& out);
// Canonical primary composite of (first, second), or 0 when they do not compose.
char32_t compose_pair(char32_t first, char32_t second);

// Splits `text` into extended grapheme clusters; returns the byte offset where each one ends.
void grapheme_boundaries(std::string_view text, std::basic_string<std::size_t>& ends);

}  // namespace tessera::tokenizers
