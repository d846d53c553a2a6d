// Normalizers: each rewrites the text while NormalizedString keeps the alignments.
#include <memory>

#include "tokenizers/byte_level.h"
#include "tokenizers/components.h"
#include "tokenizers/pattern.h"
#include "tokenizers/precompiled_charsmap.h"
#include "tokenizers/unicode.h"

namespace tessera::tokenizers {
namespace {

bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

class BertNormalizer final : public Normalizer {
 public:
  explicit BertNormalizer(const Json& json)
      : clean_text_(optional_bool(json, "clean_text", true)),
        handle_chinese_chars_(optional_bool(json, "handle_chinese_chars", true)),
        lowercase_(optional_bool(json, "lowercase", true)) {
    const auto it = json.find("strip_accents");
    strip_accents_ = it == json.end() || it->is_null() ? lowercase_ : it->get<bool>();
  }

  void normalize(NormalizedString& text) const override {
    if (clean_text_) {
      text.filter([](char32_t c) {
        const bool is_control = c != '\t' && c != '\n' && c != '\r' && is_other(c);
        return !(c == 0 || c == 0xFFFD || is_control);
      });
      text.map([](char32_t c) {
        return c == '\t' || c == '\n' || c == '\r' || is_whitespace(c) ? U' ' : c;
      });
    }
    if (handle_chinese_chars_) {
      std::vector<CharChange> changes;
      changes.reserve(text.get().size());
      bool any = false;
      for (char32_t c : decode_all(text.get())) {
        if (is_chinese_char(c)) {
          changes.push_back({U' ', 0});
          changes.push_back({c, 1});
          changes.push_back({U' ', 1});
          any = true;
        } else {
          changes.push_back({c, 0});
        }
      }
      if (any) text.transform(changes, 0);
    }
    if (strip_accents_) {
      text.nfd();
      text.filter([](char32_t c) { return !is_mark_nonspacing(c); });
    }
    if (lowercase_) text.lowercase();
  }

 private:
  bool clean_text_;
  bool handle_chinese_chars_;
  bool lowercase_;
  bool strip_accents_;
};

class UnicodeNormalizer final : public Normalizer {
 public:
  enum class Form { kNfc, kNfd, kNfkc, kNfkd };
  explicit UnicodeNormalizer(Form form) : form_(form) {}
  void normalize(NormalizedString& text) const override {
    switch (form_) {
      case Form::kNfc:
        text.nfc();
        break;
      case Form::kNfd:
        text.nfd();
        break;
      case Form::kNfkc:
        text.nfkc();
        break;
      case Form::kNfkd:
        text.nfkd();
        break;
    }
  }

 private:
  Form form_;
};

class Lowercase final : public Normalizer {
 public:
  void normalize(NormalizedString& text) const override { text.lowercase(); }
};

class Strip final : public Normalizer {
 public:
  explicit Strip(const Json& json)
      : left_(optional_bool(json, "strip_left", true)),
        right_(optional_bool(json, "strip_right", true)) {}
  void normalize(NormalizedString& text) const override {
    if (left_ && right_) {
      text.strip(true, true);
    } else {
      if (left_) text.strip(true, false);
      if (right_) text.strip(false, true);
    }
  }

 private:
  bool left_;
  bool right_;
};

class StripAccents final : public Normalizer {
 public:
  void normalize(NormalizedString& text) const override {
    text.filter([](char32_t c) { return !is_combining_mark(c); });
  }
};

class Replace final : public Normalizer {
 public:
  explicit Replace(const Json& json) : content_(require_string(json, "content")) {
    regex_ = parse_pattern(require(json, "pattern"), "Replace");
  }
  void normalize(NormalizedString& text) const override {
    text.replace(regex_->find_matches(text.get()), content_);
  }

 private:
  std::string content_;
  std::unique_ptr<Regex> regex_;
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(const Json& json) : prefix_(require_string(json, "prepend")) {}
  void normalize(NormalizedString& text) const override {
    if (!text.empty()) text.prepend(prefix_);
  }

 private:
  std::string prefix_;
};

class Precompiled final : public Normalizer {
 public:
  explicit Precompiled(const Json& json)
      : charsmap_(decode_base64(require_string(json, "precompiled_charsmap"))) {}
  void normalize(NormalizedString& text) const override { charsmap_.normalize(text); }

 private:
  PrecompiledCharsmap charsmap_;
};

// SentencePiece's NMT normalization: drop control characters, map odd spaces to ' '.
class Nmt final : public Normalizer {
 public:
  void normalize(NormalizedString& text) const override {
    text.filter([](char32_t c) {
      return !((c >= 0x1 && c <= 0x8) || c == 0xB || (c >= 0xE && c <= 0x1F) || c == 0x7F ||
               c == 0x8F || c == 0x9F);
    });
    text.map([](char32_t c) -> char32_t {
      switch (c) {
        case 0x9:
        case 0xA:
        case 0xC:
        case 0xD:
        case 0x1680:
        case 0x2028:
        case 0x2029:
        case 0x2581:
        case 0xFEFF:
        case 0xFFFD:
          return U' ';
        default:
          return c >= 0x200B && c <= 0x200F ? U' ' : c;
      }
    });
  }
};

class ByteLevelNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedString& text) const override { apply_byte_level_alphabet(text); }
};

class NormalizerSequence final : public Normalizer {
 public:
  explicit NormalizerSequence(const Json& json) {
    for (const Json& item : require(json, "normalizers")) {
      if (auto normalizer = make_normalizer(item)) normalizers_.push_back(std::move(normalizer));
    }
  }
  void normalize(NormalizedString& text) const override {
    for (const auto& normalizer : normalizers_) normalizer->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> normalizers_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const Json& json) {
  if (json.is_null()) return nullptr;
  const std::string type = require_string(json, "type");
  using Form = UnicodeNormalizer::Form;
  if (type == "BertNormalizer") return std::make_unique<BertNormalizer>(json);
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(Form::kNfc);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(Form::kNfd);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(Form::kNfkc);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(Form::kNfkd);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Strip") return std::make_unique<Strip>(json);
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "Replace") return std::make_unique<Replace>(json);
  if (type == "Prepend") return std::make_unique<Prepend>(json);
  if (type == "Precompiled") return std::make_unique<Precompiled>(json);
  if (type == "Nmt") return std::make_unique<Nmt>();
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  if (type == "Sequence") return std::make_unique<NormalizerSequence>(json);
  fail_config("unknown normalizer type '" + type + "'");
}

}  // namespace tessera::tokenizers
