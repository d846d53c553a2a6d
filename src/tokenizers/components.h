#pragma once
// The stages of the tokenizer.json pipeline, each built from its JSON description.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/error.h"
#include "tessera/tokenizer.h"
#include "tokenizers/normalized_string.h"
#include "tokenizers/pre_tokenized_string.h"

namespace tessera::tokenizers {

class Regex;

using Json = nlohmann::json;
struct ModelSections;

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NormalizedString& text) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(PreTokenizedString& text) const = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  // Tokens of one pre-token; offsets are bytes of `word`.
  virtual std::vector<Token> tokenize(std::string_view word) const = 0;
  virtual std::optional<uint32_t> token_to_id(std::string_view token) const = 0;
  virtual std::optional<std::string> id_to_token(uint32_t id) const = 0;
  virtual std::size_t vocab_size() const = 0;
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual std::size_t added_tokens(bool is_pair) const = 0;
  // Receives one encoding per sequence, type ids already set to the sequence index.
  virtual std::vector<Encoding> process(std::vector<Encoding> encodings,
                                        bool add_special_tokens) const = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual std::vector<std::string> decode_chain(std::vector<std::string> tokens) const = 0;
};

// Factories: null JSON gives a null pointer; an unknown type or a malformed description throws
// tessera::Error. The model reads its vocabulary and merges from `sections`, not from `json`.
std::unique_ptr<Normalizer> make_normalizer(const Json& json);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& json);
std::unique_ptr<Model> make_model(const Json& json, const ModelSections& sections);
std::unique_ptr<PostProcessor> make_post_processor(const Json& json);
std::unique_ptr<Decoder> make_decoder(const Json& json);

// Helpers shared by the factories.
[[noreturn]] void fail_config(const std::string& message);
const Json& require(const Json& json, const char* key);
std::string require_string(const Json& json, const char* key);
bool optional_bool(const Json& json, const char* key, bool fallback);
SplitBehavior parse_split_behavior(const Json& json);
// A {"String": literal} or {"Regex": pattern} object; `component` names the owner in errors.
std::unique_ptr<Regex> parse_pattern(const Json& pattern, const char* component);
// Concatenation of encodings (sequence after sequence), as Encoding::merge does.
Encoding merge_encodings(std::vector<Encoding> encodings);

}  // namespace tessera::tokenizers
