#pragma once
// The two large sections of a tokenizer.json, model.vocab (up to ~250k entries) and model.merges
// (up to ~300k), read by a dedicated scanner instead of the DOM parser: building a DOM node and a
// std::string per entry is what made a 10 MB file take ~0.5 s to load. The rest of the file is
// small and goes through nlohmann::json as before, with those sections replaced by null.
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizers/huge_page_allocator.h"
#include "tokenizers/vocabulary.h"

namespace tessera::tokenizers {

struct ScoredPiece {
  std::string_view piece;
  double score;
};

using MergePair = std::pair<std::string_view, std::string_view>;

// Up to ~10 MB each, filled front to back once: on huge pages, that is a few page faults rather
// than thousands.
template <typename T>
using SectionVector = std::vector<T, HugePageAllocator<T>>;

// Views into the tokenizer.json text (which must outlive this) or into `unescaped`.
struct ModelSections {
  std::optional<SectionVector<TokenId>> token_ids;          // model.vocab as {"token": id, ...}
  std::optional<SectionVector<ScoredPiece>> scored_pieces;  // model.vocab as [[piece, score], ...]
  std::optional<SectionVector<MergePair>> merges;           // model.merges: "a b" or ["a", "b"]
  std::vector<char> unescaped;  // reserved once to the text's size, so it never moves
};

struct SplitTokenizerJson {
  std::string rest;  // the text with the sections above replaced by null, for the DOM parser
  ModelSections sections;
};

// Reads the sections of the last "model" object, the one a DOM parser keeps (and within it the
// last "vocab" and "merges", likewise). A text whose top level is not an object comes back whole
// in `rest`. Throws tessera::Error naming the byte offset of anything malformed in the sections.
SplitTokenizerJson split_tokenizer_json(std::string_view text);

}  // namespace tessera::tokenizers
