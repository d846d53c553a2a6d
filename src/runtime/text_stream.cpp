#include "runtime/text_stream.h"

#include <algorithm>

namespace tessera {

namespace {
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD: an incomplete UTF-8 sequence
}

TextStream::TextStream(const Tokenizer& tokenizer, std::vector<std::string> stop_strings)
    : tokenizer_(tokenizer), stop_strings_(std::move(stop_strings)) {
  std::erase(stop_strings_, std::string());
}

std::string TextStream::push(int64_t id) {
  if (stopped_) return {};
  ids_.push_back(uint32_t(id));
  // Decoding the whole generation (not the new token alone) keeps the decoders' context (spaces,
  // byte fallback, merged bytes) exactly as a one-shot decode has it.
  text_ = tokenizer_.decode(ids_);
  size_t stop = std::string::npos;
  for (const std::string& s : stop_strings_) stop = std::min(stop, text_.find(s, released_ > s.size() ? released_ - s.size() : 0));
  if (stop != std::string::npos) {
    stopped_ = true;
    text_.resize(stop);
    return finish();
  }
  size_t safe = text_.size();
  if (std::string_view(text_).ends_with(kReplacement)) safe -= kReplacement.size();
  // Hold back a tail that could still grow into a stop string.
  for (const std::string& s : stop_strings_)
    for (size_t n = std::min(s.size() - 1, safe); n > 0; --n)
      if (std::string_view(text_).substr(safe - n, n) == std::string_view(s).substr(0, n)) {
        safe -= n;
        break;
      }
  if (safe <= released_) return {};
  std::string piece = text_.substr(released_, safe - released_);
  released_ = safe;
  return piece;
}

std::string TextStream::finish() {
  std::string rest = released_ < text_.size() ? text_.substr(released_) : std::string();
  released_ = text_.size();
  return rest;
}

}  // namespace tessera
