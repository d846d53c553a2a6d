// is_valid_utf8, and the tokenizer.json scanner as it reads strings, check 16-byte blocks of
// one- and two-byte sequences with vector compares and everything else byte-wise: both must
// agree with a plain reading of RFC 3629 (is_valid_utf8 also on the offset of the first invalid
// sequence), wherever sequences fall relative to the blocks and to the ends of strings.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tessera/error.h"
#include "tessera/tokenizer.h"
#include "tokenizers/unicode.h"

namespace {

// The offset of the first ill-formed sequence, byte by byte (RFC 3629's table of well-formed
// byte sequences).
std::optional<std::size_t> first_error(const std::string& text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto lead = static_cast<unsigned char>(text[pos]);
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // bounds of the second byte
    if (lead < 0x80) {
      length = 1;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    } else {
      return pos;
    }
    if (pos + length > text.size()) return pos;
    for (std::size_t i = 1; i < length; ++i) {
      const auto byte = static_cast<unsigned char>(text[pos + i]);
      const unsigned char min = i == 1 ? low : 0x80;
      const unsigned char max = i == 1 ? high : 0xBF;
      if (byte < min || byte > max) return pos;
    }
    pos += length;
  }
  return std::nullopt;
}

void expect_agrees(const std::string& text) {
  std::size_t error_at = 12345;
  const bool valid = tessera::tokenizers::is_valid_utf8(text, &error_at);
  const std::optional<std::size_t> expected = first_error(text);
  ASSERT_EQ(valid, !expected.has_value());
  if (expected) {
    ASSERT_EQ(error_at, *expected);
  }
}

// Text made of pieces: mostly ASCII and two-byte characters, as in a byte-level tokenizer.json,
// with three- and four-byte characters, and with one ill-formed piece in a third of the texts.
class PieceText {
 public:
  std::string operator()(std::size_t max_pieces) {
    std::string text;
    const std::size_t pieces = random_() % (max_pieces + 1);
    const bool with_error = random_() % 3 == 0;
    const std::size_t error_piece = pieces == 0 ? 0 : random_() % pieces;
    for (std::size_t i = 0; i < pieces; ++i) {
      if (with_error && i == error_piece) {
        text += kInvalid[random_() % kInvalid.size()];
      } else {
        const std::size_t choice = random_() % 8;
        text += choice < 6 ? kValid[random_() % 5] : kValid[random_() % kValid.size()];
      }
    }
    return text;
  }

 private:
  // Pieces that make block boundaries fall inside sequences at every offset: ASCII, the
  // byte-level alphabet's two-byte characters, three- and four-byte characters, and the edge
  // cases of each (overlongs, surrogates, past U+10FFFF, lone continuations, truncations).
  const std::vector<std::string> kValid = {
      "a", "bc", " ", "\xC4\xA0", "\xC5\x82", "\xC2\x80", "\xDF\xBF", "\xE3\x81\x82",
      "\xE0\xA0\x80", "\xED\x9F\xBF", "\xEF\xBF\xBF", "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF"};
  const std::vector<std::string> kInvalid = {
      "\x80", "\xBF", "\xC0\x80", "\xC1\xBF", "\xC4", "\xE0\x80\x80", "\xED\xA0\x80", "\xE3\x81",
      "\xF0\x80\x80\x80", "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFF", "\xC4\xC4\xA0"};
  std::mt19937 random_{20261122};
};

TEST(Utf8Validation, AgreesWithAByteWiseReadingOfTheStandard) {
  PieceText piece_text;
  for (int round = 0; round < 20000; ++round) {
    SCOPED_TRACE(round);
    expect_agrees(piece_text(40));
  }
  // Every single byte, alone and after 15 ASCII bytes (the last byte of a block).
  for (int byte = 0; byte < 256; ++byte) {
    expect_agrees(std::string(1, static_cast<char>(byte)));
    expect_agrees(std::string(15, 'x') + static_cast<char>(byte) + "\xA0" + std::string(20, 'y'));
  }
}

TEST(Utf8Validation, TokenizerJsonStringsAreCheckedWhereverTheyEnd) {
  PieceText piece_text;
  std::mt19937 random(7);
  for (int round = 0; round < 4000; ++round) {
    // A token in model.vocab, a merge's tokens in model.merges ("a b" and ["a", "b"] forms),
    // after a key of random length (so the string starts at any offset of a block) and with an
    // escape in some (so the byte-wise path reads it).
    const std::string token = piece_text(30) + (round % 5 == 0 ? "\\n" : "");
    const std::string padding(random() % 16, 'p');
    const int place = round % 3;
    std::string json = R"({"model": {"type": "BPE", "vocab": {")" + padding + R"(": 0, ")" +
                       (place == 0 ? token : "t") + R"(": 1}, "merges": [)";
    if (place == 1) json += R"("t )" + token + R"("]}})";
    if (place == 2) json += R"(["t", ")" + token + R"("]]}})";
    if (place == 0) json += "]}}";
    SCOPED_TRACE(json);
    std::string error = "(none)";
    try {
      tessera::Tokenizer::from_json(json);
    } catch (const tessera::Error& e) {
      error = e.what();
    }
    const bool ill_formed = first_error(token).has_value();
    ASSERT_EQ(error.find("ill-formed UTF-8") != std::string::npos, ill_formed) << error;
  }
}

}  // namespace
