#pragma once
// GPT-2's reversible byte <-> printable character mapping, shared by the ByteLevel normalizer,
// pre-tokenizer, post-processor and decoder.
#include <array>
#include <optional>
#include <string>

#include "tessera/tokenizer.h"
#include "tokenizers/normalized_string.h"

namespace tessera::tokenizers {

// The printable character that stands for `byte`.
char32_t byte_to_char(unsigned char byte);
// The byte a printable character stands for, if it is one of the 256.
std::optional<unsigned char> char_to_byte(char32_t c);
// Replaces every byte of the normalized text by its printable character, keeping alignments.
void apply_byte_level_alphabet(NormalizedString& text);
// Moves token offsets off the leading/trailing spaces they cover (ByteLevel trim_offsets).
void trim_byte_level_offsets(Encoding& encoding, bool add_prefix_space);

}  // namespace tessera::tokenizers
