#include "tokenizers/unicode.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdint>
#include <cstring>


#include "tokenizers/unicode_category_tables.h"
#include "tokenizers/utf8_blocks.h"

namespace tessera::tokenizers {
namespace {

bool in_ranges(std::span<const unicode_tables::CodePointRange> ranges, char32_t c) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), c,
                             [](char32_t value, const auto& range) { return value < range.first; });
  return it != ranges.begin() && c <= std::prev(it)->last;
}

utf8proc_category_t category(char32_t c) {
  return static_cast<utf8proc_category_t>(utf8proc_category(static_cast<utf8proc_int32_t>(c)));
}

// Bounds of the second byte of a UTF-8 sequence, which depend on the lead byte (RFC 3629).
bool valid_second_byte(unsigned char lead, unsigned char second) {
  switch (lead) {
    case 0xE0:
      return second >= 0xA0 && second <= 0xBF;
    case 0xED:
      return second >= 0x80 && second <= 0x9F;
    case 0xF0:
      return second >= 0x90 && second <= 0xBF;
    case 0xF4:
      return second >= 0x80 && second <= 0x8F;
    default:
      return second >= 0x80 && second <= 0xBF;
  }
}

// Length of the sequence a lead byte announces, 0 for bytes that cannot start one.
std::size_t announced_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// Length of the valid prefix of the sequence at `pos` (== announced length when complete).
std::size_t valid_prefix(std::string_view bytes, std::size_t pos, std::size_t expected) {
  const auto lead = static_cast<unsigned char>(bytes[pos]);
  std::size_t length = 1;
  while (length < expected && pos + length < bytes.size()) {
    const auto next = static_cast<unsigned char>(bytes[pos + length]);
    const bool ok = length == 1 ? valid_second_byte(lead, next) : (next >= 0x80 && next <= 0xBF);
    if (!ok) break;
    ++length;
  }
  return length;
}

}  // namespace

char32_t decode_utf8(std::string_view text, std::size_t& pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  const std::size_t length = utf8_length(lead);
  char32_t c = lead & (0xFF >> (length + 1));
  for (std::size_t i = 1; i < length; ++i)
    c = (c << 6) | (static_cast<unsigned char>(text[pos + i]) & 0x3F);
  pos += length;
  return c;
}

void append_utf8(std::string& out, char32_t c) {
  char bytes[4];
  out.append(bytes, write_utf8(c, bytes));
}

std::string to_utf8(char32_t c) {
  std::string out;
  append_utf8(out, c);
  return out;
}

std::size_t count_code_points(std::string_view text) {
  std::size_t count = 0;
  for (char byte : text) count += (static_cast<unsigned char>(byte) & 0xC0) != 0x80;
  return count;
}

namespace {

// Validates the sequences that start in [pos, until): returns where the last one ends (a
// sequence boundary at or after `until`), or npos after storing the first invalid one's offset.
std::size_t validate_sequences(std::string_view text, std::size_t pos, std::size_t until,
                               std::size_t* error_at) {
  while (pos < until) {
    // ASCII runs, 8 bytes at a time (ASCII bytes are all sequence boundaries).
    uint64_t word;
    if (pos + sizeof(word) <= text.size()) {
      std::memcpy(&word, text.data() + pos, sizeof(word));
      if ((word & 0x8080808080808080ull) == 0) {
        pos += sizeof(word);
        continue;
      }
    }
    const auto lead = static_cast<unsigned char>(text[pos]);
    if (lead < 0x80) {
      ++pos;
      continue;
    }
    // Two-byte sequences (Latin, Cyrillic, the byte-level alphabet's "Ġ") are checked inline.
    if (lead >= 0xC2 && lead <= 0xDF && pos + 1 < text.size() &&
        (static_cast<unsigned char>(text[pos + 1]) & 0xC0) == 0x80) {
      pos += 2;
      continue;
    }
    const std::size_t expected = announced_length(lead);
    if (expected == 0 || valid_prefix(text, pos, expected) != expected) {
      if (error_at) *error_at = pos;
      return std::string_view::npos;
    }
    pos += expected;
  }
  return pos;
}

#ifdef __SSE2__
// How many bytes from `bytes` (16 readable, starting at a sequence boundary) are whole, valid
// sequences of one or two bytes, when the 16 bytes hold nothing else (utf8_blocks.h): 16, or 15
// when the last byte is a two-byte lead. 0 otherwise, for the byte-wise check.
std::size_t one_and_two_byte_block(const char* bytes) {
  const Utf8Masks masks = utf8_masks(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes)));
  if (masks.high == 0) return 16;
  // Nothing but leads and continuations, and a continuation right after each lead and nowhere
  // else (a lead in the last byte has its continuation in the next block).
  if ((masks.leads | masks.continuations) != masks.high ||
      masks.continuations != ((masks.leads << 1) & 0xFFFF)) {
    return 0;
  }
  return (masks.leads & 0x8000) != 0 ? 15 : 16;
}
#endif

}  // namespace

bool is_valid_utf8(std::string_view text, std::size_t* error_at) {
  std::size_t pos = 0;
#ifdef __SSE2__
  // Block by block; a block with anything else is checked byte-wise, from a sequence boundary
  // to the first boundary past it.
  while (pos + 16 <= text.size()) {
    const std::size_t valid = one_and_two_byte_block(text.data() + pos);
    if (valid != 0) {
      pos += valid;
      continue;
    }
    pos = validate_sequences(text, pos, pos + 16, error_at);
    if (pos == std::string_view::npos) return false;
  }
#endif
  return validate_sequences(text, pos, text.size(), error_at) != std::string_view::npos;
}

std::string from_utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const auto lead = static_cast<unsigned char>(bytes[pos]);
    const std::size_t expected = announced_length(lead);
    if (expected == 1) {
      out.push_back(static_cast<char>(lead));
      ++pos;
      continue;
    }
    const std::size_t length = expected == 0 ? 1 : valid_prefix(bytes, pos, expected);
    if (expected != 0 && length == expected) {
      out.append(bytes.substr(pos, length));
    } else {
      out.append("\xEF\xBF\xBD");
    }
    pos += length;
  }
  return out;
}

bool is_whitespace(char32_t c) {
  switch (c) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool is_numeric(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  const auto cat = category(c);
  return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
}

bool is_word_char(char32_t c) {
  if (c < 0x80) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  }
  if (c == 0x200C || c == 0x200D) return true;
  // Symbols with the Other_Alphabetic property (circled and squared Latin letters).
  if ((c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) ||
      (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189)) {
    return true;
  }
  switch (category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

bool is_other(char32_t c) {
  return in_ranges(unicode_tables::kOtherControl, c) ||
         in_ranges(unicode_tables::kOtherFormat, c) ||
         in_ranges(unicode_tables::kOtherPrivateUse, c);
}

bool is_mark_nonspacing(char32_t c) {
  return c >= 0x300 && in_ranges(unicode_tables::kMarkNonspacing, c);
}

bool is_bert_punctuation(char32_t c) {
  if (c < 0x80) {
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
  }
  return in_ranges(unicode_tables::kPunctuation, c);
}

bool is_combining_mark(char32_t c) {
  if (c < 0x300) return false;
  const auto cat = category(c);
  return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC || cat == UTF8PROC_CATEGORY_ME;
}

int combining_class(char32_t c) {
  if (c < 0x300) return 0;
  return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class;
}

void append_lowercase(char32_t c, std::u32string& out) {
  // The one unconditional multi-character lowercase mapping (SpecialCasing.txt); utf8proc only
  // knows the simple mappings.
  if (c == 0x130) {
    out.push_back(U'i');
    out.push_back(0x307);
    return;
  }
  if (c < 0x80) {
    out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
    return;
  }
  out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
}

void append_decomposition(char32_t c, bool compatibility, std::u32string& out) {
  utf8proc_int32_t buffer[32];
  int boundclass = 0;
  const auto options =
      static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | (compatibility ? UTF8PROC_COMPAT : 0));
  const utf8proc_ssize_t n =
      utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buffer, 32, options, &boundclass);
  if (n <= 0 || n > 32) {
    out.push_back(c);
    return;
  }
  for (utf8proc_ssize_t i = 0; i < n; ++i) out.push_back(static_cast<char32_t>(buffer[i]));
}

char32_t compose_pair(char32_t first, char32_t second) {
  utf8proc_int32_t buffer[2] = {static_cast<utf8proc_int32_t>(first),
                                static_cast<utf8proc_int32_t>(second)};
  const utf8proc_ssize_t n = utf8proc_normalize_utf32(buffer, 2, UTF8PROC_COMPOSE);
  return n == 1 ? static_cast<char32_t>(buffer[0]) : 0;
}

void grapheme_boundaries(std::string_view text, std::basic_string<std::size_t>& ends) {
  ends.clear();
  std::size_t pos = 0;
  utf8proc_int32_t state = 0;
  char32_t previous = 0;
  bool first = true;
  while (pos < text.size()) {
    const std::size_t start = pos;
    const char32_t c = decode_utf8(text, pos);
    if (!first && utf8proc_grapheme_break_stateful(static_cast<utf8proc_int32_t>(previous),
                                                   static_cast<utf8proc_int32_t>(c), &state)) {
      ends.push_back(start);
    }
    first = false;
    previous = c;
  }
  if (!text.empty()) ends.push_back(text.size());
}

}  // namespace tessera::tokenizers
