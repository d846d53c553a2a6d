// Post-processors: add the special tokens around the sequences and set the type ids.
#include <map>
#include <memory>

#include "tokenizers/byte_level.h"
#include "tokenizers/components.h"

namespace tessera::tokenizers {
namespace {

struct SpecialToken {
  std::vector<uint32_t> ids;
  std::vector<std::string> tokens;
};

Encoding special_encoding(const SpecialToken& special, uint32_t type_id) {
  Encoding encoding;
  const std::size_t n = special.ids.size();
  encoding.ids = special.ids;
  encoding.tokens = special.tokens;
  encoding.type_ids.assign(n, type_id);
  encoding.offsets.assign(n, {0, 0});
  encoding.special_tokens_mask.assign(n, 1);
  encoding.attention_mask.assign(n, 1);
  encoding.word_ids.assign(n, std::nullopt);
  encoding.sequence_ids.assign(n, std::nullopt);
  return encoding;
}

void mark_sequence(Encoding& encoding, std::size_t sequence, std::optional<uint32_t> type_id) {
  encoding.sequence_ids.assign(encoding.size(), static_cast<uint32_t>(sequence));
  if (type_id) encoding.type_ids.assign(encoding.size(), *type_id);
}

SpecialToken parse_token_pair(const Json& json, const char* key) {
  const Json& pair = require(json, key);
  if (!pair.is_array() || pair.size() != 2) fail_config(std::string(key) + " must be [token, id]");
  return SpecialToken{{pair[1].get<uint32_t>()}, {pair[0].get<std::string>()}};
}

// [CLS] A [SEP] (B [SEP]), as BertProcessing and RobertaProcessing build it.
class ClsSepProcessing final : public PostProcessor {
 public:
  enum class Kind { kBert, kRoberta };
  ClsSepProcessing(const Json& json, Kind kind)
      : kind_(kind),
        cls_(parse_token_pair(json, "cls")),
        sep_(parse_token_pair(json, "sep")),
        trim_offsets_(kind == Kind::kRoberta && optional_bool(json, "trim_offsets", true)),
        add_prefix_space_(optional_bool(json, "add_prefix_space", true)) {}

  std::size_t added_tokens(bool is_pair) const override {
    return is_pair ? 4 - (kind_ == Kind::kBert) : 2;
  }

  std::vector<Encoding> process(std::vector<Encoding> encodings,
                                bool add_special_tokens) const override {
    if (trim_offsets_) {
      for (auto& encoding : encodings) trim_byte_level_offsets(encoding, add_prefix_space_);
    }
    if (kind_ == Kind::kRoberta) {
      for (auto& encoding : encodings) encoding.type_ids.assign(encoding.size(), 0);
    }
    if (!add_special_tokens) return encodings;
    std::vector<Encoding> out;
    for (std::size_t i = 0; i < encodings.size(); ++i) {
      const uint32_t type_id = kind_ == Kind::kBert && i > 0 ? 1 : 0;
      mark_sequence(encodings[i], i, type_id);
      if (i == 0) {
        out.push_back(special_encoding(cls_, 0));
      } else if (kind_ == Kind::kRoberta) {
        out.push_back(special_encoding(sep_, 0));
      }
      out.push_back(std::move(encodings[i]));
      out.push_back(special_encoding(sep_, type_id));
    }
    return out;
  }

 private:
  Kind kind_;
  SpecialToken cls_;
  SpecialToken sep_;
  bool trim_offsets_;
  bool add_prefix_space_;
};

class TemplateProcessing final : public PostProcessor {
 public:
  explicit TemplateProcessing(const Json& json) {
    for (const auto& [name, token] : require(json, "special_tokens").items()) {
      SpecialToken special;
      for (const Json& id : require(token, "ids")) special.ids.push_back(id.get<uint32_t>());
      for (const Json& t : require(token, "tokens")) special.tokens.push_back(t.get<std::string>());
      special_tokens_[name] = std::move(special);
    }
    single_ = parse_template(require(json, "single"));
    pair_ = parse_template(require(json, "pair"));
  }

  std::size_t added_tokens(bool is_pair) const override {
    std::size_t count = 0;
    for (const Piece& piece : is_pair ? pair_ : single_) {
      if (!piece.is_sequence) count += special_tokens_.at(piece.name).ids.size();
    }
    return count;
  }

  std::vector<Encoding> process(std::vector<Encoding> encodings,
                                bool add_special_tokens) const override {
    const std::vector<Piece>& pieces = encodings.size() == 2 ? pair_ : single_;
    // A sequence is moved into its last use in the template and copied only into earlier ones.
    std::vector<std::size_t> uses_left(encodings.size(), 0);
    for (const Piece& piece : pieces) {
      if (piece.is_sequence && sequence_index(piece) < encodings.size()) {
        ++uses_left[sequence_index(piece)];
      }
    }
    std::vector<Encoding> out;
    for (const Piece& piece : pieces) {
      if (piece.is_sequence) {
        const std::size_t index = sequence_index(piece);
        if (index >= encodings.size()) fail("tokenizer", "template refers to a missing sequence");
        Encoding copy = --uses_left[index] == 0 ? std::move(encodings[index]) : encodings[index];
        mark_sequence(copy, index, piece.type_id);
        out.push_back(std::move(copy));
      } else if (add_special_tokens) {
        out.push_back(special_encoding(special_tokens_.at(piece.name), piece.type_id));
      }
    }
    return out;
  }

 private:
  struct Piece {
    bool is_sequence;
    std::string name;  // "A"/"B" for sequences, the special token's key otherwise
    uint32_t type_id;
  };

  static std::size_t sequence_index(const Piece& piece) { return piece.name == "A" ? 0 : 1; }

  std::vector<Piece> parse_template(const Json& pieces) const {
    std::vector<Piece> out;
    for (const Json& piece : pieces) {
      if (piece.contains("Sequence")) {
        const Json& sequence = piece["Sequence"];
        out.push_back(Piece{true, require_string(sequence, "id"), sequence.value("type_id", 0u)});
      } else if (piece.contains("SpecialToken")) {
        const Json& special = piece["SpecialToken"];
        std::string name = require_string(special, "id");
        if (!special_tokens_.count(name))
          fail_config("template uses unknown special token '" + name + "'");
        out.push_back(Piece{false, std::move(name), special.value("type_id", 0u)});
      } else {
        fail_config("template pieces are {\"Sequence\": ...} or {\"SpecialToken\": ...}");
      }
    }
    return out;
  }

  std::map<std::string, SpecialToken> special_tokens_;
  std::vector<Piece> single_;
  std::vector<Piece> pair_;
};

class ByteLevelProcessing final : public PostProcessor {
 public:
  explicit ByteLevelProcessing(const Json& json)
      : trim_offsets_(optional_bool(json, "trim_offsets", true)),
        add_prefix_space_(optional_bool(json, "add_prefix_space", true)) {}
  std::size_t added_tokens(bool) const override { return 0; }
  std::vector<Encoding> process(std::vector<Encoding> encodings, bool) const override {
    for (std::size_t i = 0; i < encodings.size(); ++i) {
      if (trim_offsets_) trim_byte_level_offsets(encodings[i], add_prefix_space_);
      encodings[i].sequence_ids.assign(encodings[i].size(), static_cast<uint32_t>(i));
    }
    return encodings;
  }

 private:
  bool trim_offsets_;
  bool add_prefix_space_;
};

class ProcessorSequence final : public PostProcessor {
 public:
  explicit ProcessorSequence(const Json& json) {
    for (const Json& item : require(json, "processors")) {
      if (auto processor = make_post_processor(item)) processors_.push_back(std::move(processor));
    }
  }
  std::size_t added_tokens(bool is_pair) const override {
    std::size_t count = 0;
    for (const auto& processor : processors_) count += processor->added_tokens(is_pair);
    return count;
  }
  std::vector<Encoding> process(std::vector<Encoding> encodings,
                                bool add_special_tokens) const override {
    for (const auto& processor : processors_) {
      encodings = processor->process(std::move(encodings), add_special_tokens);
    }
    return encodings;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> processors_;
};

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const Json& json) {
  if (json.is_null()) return nullptr;
  const std::string type = require_string(json, "type");
  using Kind = ClsSepProcessing::Kind;
  if (type == "BertProcessing") return std::make_unique<ClsSepProcessing>(json, Kind::kBert);
  if (type == "RobertaProcessing") return std::make_unique<ClsSepProcessing>(json, Kind::kRoberta);
  if (type == "TemplateProcessing") return std::make_unique<TemplateProcessing>(json);
  if (type == "ByteLevel") return std::make_unique<ByteLevelProcessing>(json);
  if (type == "Sequence") return std::make_unique<ProcessorSequence>(json);
  fail_config("unknown post-processor type '" + type + "'");
}

}  // namespace tessera::tokenizers
