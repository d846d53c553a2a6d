#pragma once
// UTF-8 checked 16 bytes at a time for the common case of one- and two-byte sequences only: a
// byte-level BPE's tokenizer.json has nothing else (its alphabet is U+0021-U+0143), and neither
// does most Latin, Greek and Cyrillic text. A block is three compares and three masks instead of
// a loop with a branch per character; blocks with anything else (three- and four-byte
// sequences, errors) are left to the byte-wise check, which also names the offending byte.
#ifdef __SSE2__
#include <emmintrin.h>

#include <cstdint>

namespace tessera::tokenizers {

// Bit i of each mask describes byte i of the block.
struct Utf8Masks {
  uint32_t high;           // bytes >= 0x80
  uint32_t leads;          // leads of two-byte sequences, 0xC2-0xDF
  uint32_t continuations;  // 0x80-0xBF
};

inline Utf8Masks utf8_masks(__m128i block) {
  // As signed bytes, leads 0xC2-0xDF are -62..-33 and continuations 0x80-0xBF are -128..-65.
  const __m128i is_lead = _mm_and_si128(_mm_cmpgt_epi8(block, _mm_set1_epi8(-63)),
                                        _mm_cmpgt_epi8(_mm_set1_epi8(-32), block));
  const __m128i is_continuation = _mm_cmpgt_epi8(_mm_set1_epi8(-64), block);
  return Utf8Masks{static_cast<uint32_t>(_mm_movemask_epi8(block)),
                   static_cast<uint32_t>(_mm_movemask_epi8(is_lead)),
                   static_cast<uint32_t>(_mm_movemask_epi8(is_continuation))};
}

// The blocks of one string as a scanner reads them, in order. Each call answers whether the
// string so far is well-formed as far as blocks of one- and two-byte sequences can tell; after a
// false, the string needs the byte-wise check.
class Utf8Blocks {
 public:
  // The next 16 bytes of the string.
  bool next(__m128i block) {
    const Utf8Masks masks = utf8_masks(block);
    // Nothing but leads and continuations, and a continuation right after each lead (the
    // previous block's last byte included) and nowhere else.
    const uint32_t expected = ((masks.leads << 1) | carry_) & 0xFFFF;
    const bool valid = (masks.leads | masks.continuations) == masks.high &&
                       masks.continuations == expected;
    carry_ = masks.leads >> 15;  // a lead in the last byte: its continuation comes next
    return valid;
  }
  // The string's last `count` (< 16) bytes, at the start of `block`.
  bool last(__m128i block, int count) {
    const uint32_t bytes = (uint32_t{1} << count) - 1;
    const Utf8Masks masks = utf8_masks(block);
    const uint32_t leads = masks.leads & bytes;
    // Bit `count` of `expected` is a lead in the string's last byte: it must differ from the
    // continuations, which stop at bit count - 1.
    const uint32_t expected = (leads << 1) | carry_;
    return (leads | (masks.continuations & bytes)) == (masks.high & bytes) &&
           (masks.continuations & bytes) == expected;
  }

 private:
  uint32_t carry_ = 0;
};

}  // namespace tessera::tokenizers
#endif
