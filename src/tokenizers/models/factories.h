#pragma once
// Constructors of the model kinds, dispatched on by make_model.
#include <memory>

#include "tokenizers/components.h"
#include "tokenizers/model_sections.h"

namespace tessera::tokenizers {

// model.vocab in the form a model of `model_type` reads; fails with a clear message otherwise.
std::span<const TokenId> require_token_ids(const ModelSections& sections,
                                           const std::string& model_type);
std::span<const ScoredPiece> require_scored_pieces(const ModelSections& sections);

std::unique_ptr<Model> make_wordpiece(const Json& json, const ModelSections& sections);
std::unique_ptr<Model> make_bpe(const Json& json, const ModelSections& sections);
std::unique_ptr<Model> make_unigram(const Json& json, const ModelSections& sections);

}  // namespace tessera::tokenizers
