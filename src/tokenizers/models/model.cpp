#include <string>

#include "tokenizers/components.h"
#include "tokenizers/models/factories.h"

namespace tessera::tokenizers {

std::unique_ptr<Model> make_model(const Json& json) {
  if (!json.is_object()) fail_config("tokenizer.json has no model");
  std::string type = json.value("type", std::string());
  // Older files leave the type out; the fields tell the kind apart.
  if (type.empty()) {
    if (json.contains("merges")) {
      type = "BPE";
    } else if (json.contains("continuing_subword_prefix") ||
               json.contains("max_input_chars_per_word")) {
      type = "WordPiece";
    } else if (json.contains("vocab") && json["vocab"].is_array()) {
      type = "Unigram";
    }
  }
  if (type == "WordPiece") return make_wordpiece(json);
  if (type == "BPE") return make_bpe(json);
  if (type == "Unigram") return make_unigram(json);
  fail_config("unsupported model type '" + type + "'");
}

}  // namespace tessera::tokenizers
