// WordPiece: greedy longest-match-first over the vocabulary, BERT style.
#include <memory>

#include "tokenizers/components.h"
#include "tokenizers/models/factories.h"
#include "tokenizers/unicode.h"
#include "tokenizers/vocab.h"

namespace tessera::tokenizers {
namespace {

class WordPiece final : public Model {
 public:
  explicit WordPiece(const Json& json)
      : unk_token_(json.value("unk_token", std::string("[UNK]"))),
        prefix_(json.value("continuing_subword_prefix", std::string("##"))),
        max_input_chars_per_word_(json.value("max_input_chars_per_word", std::size_t{100})) {
    for (const auto& [token, id] : require(json, "vocab").items()) ids_[token] = id.get<uint32_t>();
    tokens_.assign(ids_);
  }

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
        if (auto id = find_id(ids_, candidate)) {
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
    return find_id(ids_, token);
  }
  std::optional<std::string> id_to_token(uint32_t id) const override { return tokens_.find(id); }
  std::size_t vocab_size() const override { return ids_.size(); }

 private:
  Token unknown(std::string_view word) const {
    const auto id = find_id(ids_, unk_token_);
    if (!id) fail("tokenizer", "WordPiece unk_token '" + unk_token_ + "' is not in the vocabulary");
    return Token{*id, unk_token_, {0, word.size()}};
  }

  TokenIds ids_;
  IdTokens tokens_;
  std::string unk_token_;
  std::string prefix_;
  std::size_t max_input_chars_per_word_;
};

}  // namespace

std::unique_ptr<Model> make_wordpiece(const Json& json) {
  return std::make_unique<WordPiece>(json);
}

}  // namespace tessera::tokenizers
