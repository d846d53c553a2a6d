// WordPiece: greedy longest-match-first over the vocabulary, BERT style.
#include <memory>

#include "tokenizers/components.h"
#include "tokenizers/models/factories.h"
#include "tokenizers/unicode.h"
#include "tokenizers/vocabulary.h"

namespace tessera::tokenizers {
namespace {

class WordPiece final : public Model {
 public:
  WordPiece(const Json& json, const ModelSections& sections)
      : ids_(require_token_ids(sections, "WordPiece")),
        unk_token_(json.value("unk_token", std::string("[UNK]"))),
        prefix_(json.value("continuing_subword_prefix", std::string("##"))),
        max_input_chars_per_word_(json.value("max_input_chars_per_word", std::size_t{100})) {}

  std::vector<Token> tokenize(std::string_view word) const override {
    if (count_code_points(word) > max_input_chars_per_word_) return {unknown(word)};
    std::vector<Token> pieces;
    std::string candidate;
    std::size_t start = 0;
    while (start < word.size()) {
      std::size_t end = word.size();
      bool found = false;
      while (start < end) {
        candidate.clear();
        if (start > 0) candidate = prefix_;
        candidate.append(word.substr(start, end - start));
        if (auto id = ids_.find(candidate)) {
          pieces.push_back(Token{*id, candidate, {start, end}});
          found = true;
          break;
        }
        do {
          --end;
        } while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80);
      }
      if (!found) return {unknown(word)};
      start = end;
    }
    return pieces;
  }

  std::optional<uint32_t> token_to_id(std::string_view token) const override {
    return ids_.find(token);
  }
  std::optional<std::string> id_to_token(uint32_t id) const override {
    if (auto token = ids_.token(id)) return std::string(*token);
    return std::nullopt;
  }
  std::size_t vocab_size() const override { return ids_.size(); }

 private:
  Token unknown(std::string_view word) const {
    const auto id = ids_.find(unk_token_);
    if (!id) fail("tokenizer", "WordPiece unk_token '" + unk_token_ + "' is not in the vocabulary");
    return Token{*id, unk_token_, {0, word.size()}};
  }

  Vocabulary ids_;
  std::string unk_token_;
  std::string prefix_;
  std::size_t max_input_chars_per_word_;
};

}  // namespace

std::unique_ptr<Model> make_wordpiece(const Json& json, const ModelSections& sections) {
  return std::make_unique<WordPiece>(json, sections);
}

}  // namespace tessera::tokenizers
