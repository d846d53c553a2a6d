#pragma once
// Constructors of the model kinds, dispatched on by make_model.
#include <memory>

#include "tokenizers/components.h"

namespace tessera::tokenizers {

std::unique_ptr<Model> make_wordpiece(const Json& json);
std::unique_ptr<Model> make_bpe(const Json& json);
std::unique_ptr<Model> make_unigram(const Json& json);

}  // namespace tessera::tokenizers
