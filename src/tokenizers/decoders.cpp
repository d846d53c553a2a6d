// Decoders: turn tokens back into text, each stage rewriting the list of token strings.
#include <memory>

#include "tokenizers/byte_level.h"
#include "tokenizers/components.h"
#include "tokenizers/pattern.h"
#include "tokenizers/unicode.h"

namespace tessera::tokenizers {
namespace {

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  std::size_t pos = 0;
  for (std::size_t hit; (hit = text.find(from, pos)) != std::string::npos;
       pos = hit + from.size()) {
    out.append(text, pos, hit - pos);
    out.append(to);
  }
  out.append(text, pos);
  text = std::move(out);
}

char32_t single_char(const Json& json, const char* key) {
  const auto chars = decode_all(require_string(json, key));
  if (chars.size() != 1) fail_config(std::string(key) + " must be one character");
  return chars[0];
}

class WordPieceDecoder final : public Decoder {
 public:
  explicit WordPieceDecoder(const Json& json)
      : prefix_(json.value("prefix", std::string("##"))),
        cleanup_(optional_bool(json, "cleanup", true)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string& token = tokens[i];
      if (i != 0) {
        if (token.rfind(prefix_, 0) == 0) {
          token.erase(0, prefix_.size());
        } else {
          token.insert(0, " ");
        }
      }
      if (cleanup_) cleanup(token);
    }
    return tokens;
  }

 private:
  static void cleanup(std::string& token) {
    static const std::pair<const char*, const char*> kRules[] = {
        {" .", "."},   {" ?", "?"},     {" !", "!"},    {" ,", ","},
        {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},  {" do not", " don't"},
        {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : kRules) replace_all(token, from, to);
  }
  std::string prefix_;
  bool cleanup_;
};

class ByteLevelDecoder final : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string bytes;
    for (const std::string& token : tokens) {
      const std::size_t rollback = bytes.size();
      bool all_mapped = true;
      for (char32_t c : decode_all(token)) {
        const auto byte = char_to_byte(c);
        if (!byte) {
          all_mapped = false;
          break;
        }
        bytes.push_back(static_cast<char>(*byte));
      }
      if (!all_mapped) {
        bytes.resize(rollback);
        bytes.append(token);
      }
    }
    return {from_utf8_lossy(bytes)};
  }
};

class MetaspaceDecoder final : public Decoder {
 public:
  explicit MetaspaceDecoder(const Json& json)
      : replacement_(single_char(json, "replacement")),
        prepend_(json.value("prepend_scheme", std::string("always")) != "never" &&
                 optional_bool(json, "add_prefix_space", true)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      for (char32_t c : decode_all(tokens[i])) {
        if (c == replacement_) {
          if (i == 0 && prepend_) continue;
          out.push_back(' ');
        } else {
          append_utf8(out, c);
        }
      }
      tokens[i] = std::move(out);
    }
    return tokens;
  }

 private:
  char32_t replacement_;
  bool prepend_;
};

class BpeDecoder final : public Decoder {
 public:
  explicit BpeDecoder(const Json& json) : suffix_(json.value("suffix", std::string("</w>"))) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      replace_all(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
    }
    return tokens;
  }

 private:
  std::string suffix_;
};

class ByteFallbackDecoder final : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (is_valid_utf8(pending)) {
        out.push_back(pending);
      } else {
        for (std::size_t i = 0; i < pending.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (std::string& token : tokens) {
      if (auto byte = parse_byte_token(token)) {
        pending.push_back(static_cast<char>(*byte));
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    flush();
    return out;
  }

 private:
  static std::optional<unsigned char> parse_byte_token(const std::string& token) {
    if (token.size() != 6 || token.rfind("<0x", 0) != 0 || token.back() != '>') return std::nullopt;
    auto hex = [](char ch) -> int {
      if (ch >= '0' && ch <= '9') return ch - '0';
      if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
      if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
      return -1;
    };
    const int high = hex(token[3]), low = hex(token[4]);
    if (high < 0 || low < 0) return std::nullopt;
    return static_cast<unsigned char>(high * 16 + low);
  }
};

class FuseDecoder final : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string joined;
    for (const auto& token : tokens) joined += token;
    return {joined};
  }
};

class StripDecoder final : public Decoder {
 public:
  explicit StripDecoder(const Json& json)
      : content_(single_char(json, "content")),
        start_(json.value("start", std::size_t{0})),
        stop_(json.value("stop", std::size_t{0})) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (auto& token : tokens) {
      const auto chars = decode_all(token);
      std::size_t start_cut = 0;
      for (std::size_t i = 0; i < std::min(start_, chars.size()) && chars[i] == content_; ++i) {
        start_cut = i + 1;
      }
      std::size_t stop_cut = chars.size();
      for (std::size_t i = 0; i < stop_ && i < chars.size(); ++i) {
        const std::size_t index = chars.size() - i - 1;
        if (chars[index] != content_) break;
        stop_cut = index;
      }
      std::string out;
      for (std::size_t i = start_cut; i < stop_cut; ++i) append_utf8(out, chars[i]);
      token = std::move(out);
    }
    return tokens;
  }

 private:
  char32_t content_;
  std::size_t start_;
  std::size_t stop_;
};

class ReplaceDecoder final : public Decoder {
 public:
  explicit ReplaceDecoder(const Json& json) : content_(require_string(json, "content")) {
    regex_ = parse_pattern(require(json, "pattern"), "Replace");
  }
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (auto& token : tokens) {
      std::string out;
      for (const PatternMatch& m : regex_->find_matches(token)) {
        if (m.is_match) {
          out += content_;
        } else {
          out.append(token, m.range.first, m.range.second - m.range.first);
        }
      }
      token = std::move(out);
    }
    return tokens;
  }

 private:
  std::string content_;
  std::unique_ptr<Regex> regex_;
};

class DecoderSequence final : public Decoder {
 public:
  explicit DecoderSequence(const Json& json) {
    for (const Json& item : require(json, "decoders")) {
      if (auto decoder = make_decoder(item)) decoders_.push_back(std::move(decoder));
    }
  }
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (const auto& decoder : decoders_) tokens = decoder->decode_chain(std::move(tokens));
    return tokens;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> decoders_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const Json& json) {
  if (json.is_null()) return nullptr;
  const std::string type = require_string(json, "type");
  if (type == "WordPiece") return std::make_unique<WordPieceDecoder>(json);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") return std::make_unique<MetaspaceDecoder>(json);
  if (type == "BPEDecoder") return std::make_unique<BpeDecoder>(json);
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") return std::make_unique<StripDecoder>(json);
  if (type == "Replace") return std::make_unique<ReplaceDecoder>(json);
  if (type == "Sequence") return std::make_unique<DecoderSequence>(json);
  fail_config("unknown decoder type '" + type + "'");
}

}  // namespace tessera::tokenizers
