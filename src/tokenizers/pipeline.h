#pragma once
// The whole tokenizer.json pipeline: added tokens, normalizer, pre-tokenizer, model,
// truncation, post-processor, padding; and decoding.
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "tessera/tokenizer.h"
#include "tokenizers/added_vocabulary.h"
#include "tokenizers/components.h"

namespace tessera::tokenizers {

class TokenizerPipeline {
 public:
  // `json` is the file without model.vocab and model.merges, which come in `sections`.
  TokenizerPipeline(const Json& json, const ModelSections& sections);

  Encoding encode(std::string_view text, std::optional<std::string_view> pair,
                  bool add_special_tokens) const;
  std::string decode(const std::vector<uint32_t>& ids, bool skip_special_tokens) const;
  void pad(std::span<Encoding> encodings) const;

  std::optional<uint32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(uint32_t id) const;
  std::size_t vocab_size() const;

  std::optional<TruncationParams> truncation;
  std::optional<PaddingParams> padding;

 private:
  Encoding encode_sequence(std::string_view text, uint32_t type_id) const;
  std::pair<Encoding, std::optional<Encoding>> truncate(Encoding encoding,
                                                        std::optional<Encoding> pair,
                                                        bool add_special_tokens) const;

  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::unique_ptr<Decoder> decoder_;
  AddedVocabulary added_vocabulary_;
};

}  // namespace tessera::tokenizers
