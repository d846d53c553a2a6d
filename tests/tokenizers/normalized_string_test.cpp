// The shortcuts of NormalizedString (the byte map of byte-level BPE, and transform() skipping
// change lists that leave the text as it is) must align every byte exactly as the general
// transform_range does; offsets reported to users come from these alignments.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "tokenizers/byte_level.h"
#include "tokenizers/normalized_string.h"
#include "tokenizers/unicode.h"

namespace {

using tessera::tokenizers::ByteRange;
using tessera::tokenizers::CharChange;
using tessera::tokenizers::NormalizedString;

// The normalized text and the original range of each of its bytes.
struct Snapshot {
  std::string text;
  std::vector<std::optional<ByteRange>> alignments;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const NormalizedString& s) {
  Snapshot out{s.get(), {}};
  for (std::size_t i = 0; i < s.get().size(); ++i) {
    out.alignments.push_back(s.normalized_to_original({i, i + 1}));
  }
  return out;
}

// Strings in the states the pipeline produces: fresh, after a prefix insertion, sliced, and
// after a normalization that changed byte lengths.
std::vector<NormalizedString> samples() {
  std::vector<NormalizedString> out;
  for (const std::string text : {"", "a", "hello world", "Grüße, 世界 😀!", "e\xCC\x81t\xC3\xA9"}) {
    out.emplace_back(text);
    NormalizedString prefixed(text);
    prefixed.prepend(" ");
    out.push_back(prefixed);
    if (text.size() > 3) out.push_back(NormalizedString(text).slice({1, text.size()}));
    NormalizedString composed(text);
    composed.nfc();
    out.push_back(composed);
  }
  return out;
}

TEST(NormalizedString, ByteMapAlignsLikeTheChangeList) {
  std::array<char32_t, 256> alphabet{};
  for (int b = 0; b < 256; ++b) alphabet[b] = tessera::tokenizers::byte_to_char(b);
  for (const NormalizedString& sample : samples()) {
    SCOPED_TRACE(sample.get());
    std::vector<CharChange> changes;
    const std::string& text = sample.get();
    for (std::size_t pos = 0; pos < text.size();) {
      const std::size_t length = tessera::tokenizers::utf8_length(static_cast<unsigned char>(text[pos]));
      for (std::size_t i = 0; i < length; ++i) {
        changes.push_back({alphabet[static_cast<unsigned char>(text[pos + i])], i > 0 ? 1 : 0});
      }
      pos += length;
    }
    NormalizedString expected = sample;
    expected.transform(changes, 0);
    NormalizedString mapped = sample;
    ASSERT_TRUE(mapped.try_map_bytes(alphabet));
    EXPECT_EQ(snapshot(mapped), snapshot(expected));
  }
}

TEST(NormalizedString, IdentityTransformChangesNothing) {
  for (const NormalizedString& sample : samples()) {
    SCOPED_TRACE(sample.get());
    std::vector<CharChange> same;
    for (char32_t c : tessera::tokenizers::decode_all(sample.get())) same.push_back({c, 0});
    NormalizedString rebuilt = sample;  // the general path, which transform() now skips
    rebuilt.transform_range({0, sample.get().size()}, same, 0);
    NormalizedString skipped = sample;
    skipped.transform(same, 0);
    EXPECT_EQ(snapshot(skipped), snapshot(rebuilt));
    EXPECT_EQ(snapshot(skipped), snapshot(sample));
  }
}

}  // namespace
