// Pre-tokenizers: cut the normalized text into the pieces the model sees one at a time.
#include <memory>

#include "tokenizers/byte_level.h"
#include "tokenizers/components.h"
#include "tokenizers/pattern.h"
#include "tokenizers/unicode.h"

namespace tessera::tokenizers {
namespace {

// Splits every untokenized piece on the characters `is_delimiter` accepts.
template <typename Predicate>
void split_on_chars(PreTokenizedString& text, Predicate is_delimiter, SplitBehavior behavior) {
  text.split_normalized([&](std::size_t, NormalizedString&& piece) {
    return piece.split(find_char_matches(piece.get(), is_delimiter), behavior);
  });
}

class BertPreTokenizer final : public PreTokenizer {
 public:
  void pre_tokenize(PreTokenizedString& text) const override {
    split_on_chars(text, is_whitespace, SplitBehavior::kRemoved);
    split_on_chars(text, is_bert_punctuation, SplitBehavior::kIsolated);
  }
};

// `\w+|[^\w\s]+`: runs of word characters and runs of other non-space characters.
class Whitespace final : public PreTokenizer {
 public:
  void pre_tokenize(PreTokenizedString& text) const override {
    text.split_normalized([](std::size_t, NormalizedString&& piece) {
      return piece.split(find_runs(piece.get()), SplitBehavior::kRemoved);
    });
  }

 private:
  // Matched ranges are the spaces between runs (the regex's matches, inverted).
  static std::vector<PatternMatch> find_runs(std::string_view s) {
    enum class Kind { kSpace, kWord, kOther };
    auto kind_of = [](char32_t c) {
      return is_word_char(c) ? Kind::kWord : is_whitespace(c) ? Kind::kSpace : Kind::kOther;
    };
    std::vector<PatternMatch> out;
    if (s.empty()) {
      out.push_back({{0, 0}, true});
      return out;
    }
    std::size_t pos = 0;
    std::size_t gap_start = 0;
    while (pos < s.size()) {
      std::size_t next = pos;
      const Kind kind = kind_of(decode_utf8(s, next));
      if (kind == Kind::kSpace) {
        pos = next;
        continue;
      }
      const std::size_t run_start = pos;
      pos = next;
      while (pos < s.size()) {
        std::size_t after = pos;
        if (kind_of(decode_utf8(s, after)) != kind) break;
        pos = after;
      }
      if (gap_start != run_start) out.push_back({{gap_start, run_start}, true});
      out.push_back({{run_start, pos}, false});
      gap_start = pos;
    }
    if (gap_start != s.size()) out.push_back({{gap_start, s.size()}, true});
    return out;
  }
};

class WhitespaceSplit final : public PreTokenizer {
 public:
  void pre_tokenize(PreTokenizedString& text) const override {
    split_on_chars(text, is_whitespace, SplitBehavior::kRemoved);
  }
};

class Punctuation final : public PreTokenizer {
 public:
  explicit Punctuation(const Json& json)
      : behavior_(json.contains("behavior") ? parse_split_behavior(json["behavior"])
                                            : SplitBehavior::kIsolated) {}
  void pre_tokenize(PreTokenizedString& text) const override {
    split_on_chars(text, is_bert_punctuation, behavior_);
  }

 private:
  SplitBehavior behavior_;
};

class Digits final : public PreTokenizer {
 public:
  explicit Digits(const Json& json)
      : individual_digits_(optional_bool(json, "individual_digits", false)) {}
  void pre_tokenize(PreTokenizedString& text) const override {
    split_on_chars(text, is_numeric,
                   individual_digits_ ? SplitBehavior::kIsolated : SplitBehavior::kContiguous);
  }

 private:
  bool individual_digits_;
};

class CharDelimiterSplit final : public PreTokenizer {
 public:
  explicit CharDelimiterSplit(const Json& json) {
    const auto chars = decode_all(require_string(json, "delimiter"));
    if (chars.size() != 1) fail_config("CharDelimiterSplit delimiter must be one character");
    delimiter_ = chars[0];
  }
  void pre_tokenize(PreTokenizedString& text) const override {
    const char32_t delimiter = delimiter_;
    split_on_chars(
        text, [delimiter](char32_t c) { return c == delimiter; }, SplitBehavior::kRemoved);
  }

 private:
  char32_t delimiter_;
};

class SplitPattern final : public PreTokenizer {
 public:
  explicit SplitPattern(const Json& json)
      : behavior_(parse_split_behavior(require(json, "behavior"))),
        invert_(optional_bool(json, "invert", false)) {
    regex_ = parse_pattern(require(json, "pattern"), "Split");
  }
  void pre_tokenize(PreTokenizedString& text) const override {
    text.split_normalized([this](std::size_t, NormalizedString&& piece) {
      auto matches = regex_->find_matches(piece.get());
      return piece.split(invert_ ? invert(std::move(matches)) : std::move(matches), behavior_);
    });
  }

 private:
  SplitBehavior behavior_;
  bool invert_;
  std::unique_ptr<Regex> regex_;
};

class ByteLevel final : public PreTokenizer {
 public:
  explicit ByteLevel(const Json& json)
      : add_prefix_space_(optional_bool(json, "add_prefix_space", true)),
        use_regex_(optional_bool(json, "use_regex", true)) {}
  void pre_tokenize(PreTokenizedString& text) const override {
    text.split_normalized([this](std::size_t, NormalizedString&& piece) {
      if (add_prefix_space_ && piece.get().rfind(' ', 0) != 0) piece.prepend(" ");
      std::vector<NormalizedString> pieces;
      if (use_regex_)
        return piece.split(gpt2_regex().find_matches(piece.get()), SplitBehavior::kIsolated);
      pieces.push_back(std::move(piece));
      return pieces;
    });
    text.normalize(apply_byte_level_alphabet);
  }

 private:
  static const Regex& gpt2_regex() {
    static const Regex regex(
        R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)", false);
    return regex;
  }
  bool add_prefix_space_;
  bool use_regex_;
};

class Metaspace final : public PreTokenizer {
 public:
  enum class PrependScheme { kFirst, kNever, kAlways };

  explicit Metaspace(const Json& json) : split_(optional_bool(json, "split", true)) {
    const auto replacement = decode_all(require_string(json, "replacement"));
    if (replacement.size() != 1) fail_config("Metaspace replacement must be one character");
    replacement_ = replacement[0];
    replacement_text_ = to_utf8(replacement_);
    const std::string scheme =
        json.contains("prepend_scheme") ? json["prepend_scheme"].get<std::string>() : "always";
    if (scheme == "always") {
      scheme_ = PrependScheme::kAlways;
    } else if (scheme == "first") {
      scheme_ = PrependScheme::kFirst;
    } else if (scheme == "never") {
      scheme_ = PrependScheme::kNever;
    } else {
      fail_config("unknown Metaspace prepend_scheme '" + scheme + "'");
    }
    if (!optional_bool(json, "add_prefix_space", true)) {
      if (scheme_ != PrependScheme::kNever) {
        fail_config("add_prefix_space does not match declared prepend_scheme");
      }
    }
  }

  void pre_tokenize(PreTokenizedString& text) const override {
    text.split_normalized([this](std::size_t, NormalizedString&& piece) {
      piece.replace(find_char_matches(piece.get(), [](char32_t c) { return c == U' '; }),
                    replacement_text_);
      const bool starts_with_replacement = piece.get().rfind(replacement_text_, 0) == 0;
      if (!starts_with_replacement &&
          (scheme_ == PrependScheme::kAlways ||
           (scheme_ == PrependScheme::kFirst && piece.offsets_original().first == 0))) {
        piece.prepend(replacement_text_);
      }
      std::vector<NormalizedString> pieces;
      if (split_) {
        const char32_t replacement = replacement_;
        return piece.split(
            find_char_matches(piece.get(), [replacement](char32_t c) { return c == replacement; }),
            SplitBehavior::kMergedWithNext);
      }
      pieces.push_back(std::move(piece));
      return pieces;
    });
  }

 private:
  char32_t replacement_;
  std::string replacement_text_;
  PrependScheme scheme_;
  bool split_;
};

class PreTokenizerSequence final : public PreTokenizer {
 public:
  explicit PreTokenizerSequence(const Json& json) {
    for (const Json& item : require(json, "pretokenizers")) {
      if (auto pre_tokenizer = make_pre_tokenizer(item)) {
        pre_tokenizers_.push_back(std::move(pre_tokenizer));
      }
    }
  }
  void pre_tokenize(PreTokenizedString& text) const override {
    for (const auto& pre_tokenizer : pre_tokenizers_) pre_tokenizer->pre_tokenize(text);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> pre_tokenizers_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& json) {
  if (json.is_null()) return nullptr;
  const std::string type = require_string(json, "type");
  if (type == "BertPreTokenizer") return std::make_unique<BertPreTokenizer>();
  if (type == "Whitespace") return std::make_unique<Whitespace>();
  if (type == "WhitespaceSplit") return std::make_unique<WhitespaceSplit>();
  if (type == "Punctuation") return std::make_unique<Punctuation>(json);
  if (type == "Digits") return std::make_unique<Digits>(json);
  if (type == "CharDelimiterSplit") return std::make_unique<CharDelimiterSplit>(json);
  if (type == "Split") return std::make_unique<SplitPattern>(json);
  if (type == "ByteLevel") return std::make_unique<ByteLevel>(json);
  if (type == "Metaspace") return std::make_unique<Metaspace>(json);
  if (type == "Sequence") return std::make_unique<PreTokenizerSequence>(json);
  fail_config("unknown pre-tokenizer type '" + type + "'");
}

}  // namespace tessera::tokenizers
