#include <string>

#include "tokenizers/components.h"
#include "tokenizers/models/factories.h"

namespace tessera::tokenizers {

std::span<const TokenId> require_token_ids(const ModelSections& sections,
                                           const std::string& model_type) {
  if (sections.token_ids) return *sections.token_ids;
  if (sections.scored_pieces) fail_config(model_type + " vocab must be an object {token: id}");
  fail_config("missing field 'vocab'");
}

std::span<const ScoredPiece> require_scored_pieces(const ModelSections& sections) {
  if (sections.scored_pieces) return *sections.scored_pieces;
  if (sections.token_ids) fail_config("Unigram vocab entries are [piece, score]");
  fail_config("missing field 'vocab'");
}

std::unique_ptr<Model> make_model(const Json& json, const ModelSections& sections) {
  if (!json.is_object()) fail_config("tokenizer.json has no model");
  std::string type = json.value("type", std::string());
  // Older files leave the type out; the fields tell the kind apart.
  if (type.empty()) {
    if (json.contains("merges")) {
      type = "BPE";
    } else if (json.contains("continuing_subword_prefix") ||
               json.contains("max_input_chars_per_word")) {
      type = "WordPiece";
    } else if (sections.scored_pieces) {
      type = "Unigram";
    }
  }
  if (type == "WordPiece") return make_wordpiece(json, sections);
  if (type == "BPE") return make_bpe(json, sections);
  if (type == "Unigram") return make_unigram(json, sections);
  fail_config("unsupported model type '" + type + "'");
}

}  // namespace tessera::tokenizers
