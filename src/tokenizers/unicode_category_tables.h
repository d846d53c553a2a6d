#pragma once
// Character classes exactly as the `unicode_categories` Rust crate 0.1.1 defines them (see
// generate_category_tables.py for why these are not taken from current Unicode data).
#include <cstdint>
#include <span>

namespace tessera::tokenizers::unicode_tables {

struct CodePointRange {
  char32_t first;
  char32_t last;
};

extern const std::span<const CodePointRange> kOtherControl;
extern const std::span<const CodePointRange> kOtherFormat;
extern const std::span<const CodePointRange> kOtherPrivateUse;
extern const std::span<const CodePointRange> kMarkNonspacing;
extern const std::span<const CodePointRange> kPunctuation;

}  // namespace tessera::tokenizers::unicode_tables
