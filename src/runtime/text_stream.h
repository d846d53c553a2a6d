#pragma once
// Incremental detokenization: turns generated ids into text as they arrive. A piece is released
// only once it is final: not the first bytes of a UTF-8 character still being spelled out by
// byte-level tokens, and not possibly the start of a stop string (which must never be shown).
#include <cstdint>
#include <string>
#include <vector>

#include "tessera/tokenizer.h"

namespace tessera {

class TextStream {
 public:
  TextStream(const Tokenizer& tokenizer, std::vector<std::string> stop_strings);
  // Adds a token; returns the newly final text (possibly empty).
  std::string push(int64_t id);
  // The rest once generation ends (held-back text that turned out not to be a stop string).
  std::string finish();
  bool stopped() const { return stopped_; }  // a stop string appeared; text ends before it
  const std::string& text() const { return text_; }

 private:
  const Tokenizer& tokenizer_;
  std::vector<std::string> stop_strings_;
  std::vector<uint32_t> ids_;
  std::string text_;
  size_t released_ = 0;
  bool stopped_ = false;
};

}  // namespace tessera
