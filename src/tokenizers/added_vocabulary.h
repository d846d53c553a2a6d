#pragma once
// Tokens added on top of the model's vocabulary (special tokens and user tokens). They are cut
// out of the text before the model runs, with the lstrip/rstrip/single_word/normalized rules.
#include <bitset>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tokenizers/components.h"
#include "tokenizers/vocab.h"

namespace tessera::tokenizers {

struct AddedToken {
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
  bool operator==(const AddedToken&) const = default;
};

class AddedVocabulary {
 public:
  // Registers tokens as tokenizers' add_tokens does: an existing token keeps its id, a new one
  // takes the next id after the model vocabulary.
  void add_tokens(const std::vector<AddedToken>& tokens, const Model& model,
                  const Normalizer* normalizer);

  // Splits out the added tokens, normalizing what lies between them.
  PreTokenizedString extract_and_normalize(const Normalizer* normalizer,
                                           const std::string& text) const;

  std::optional<uint32_t> token_to_id(std::string_view token) const { return find_id(ids_, token); }
  std::optional<std::string> id_to_token(uint32_t id) const;
  bool is_special(const std::string& token) const { return special_.count(token) > 0; }
  std::size_t size() const { return ids_.size(); }

 private:
  // Byte trie answering leftmost-longest matches of a set of patterns.
  class Matcher {
   public:
    void add(const std::string& pattern, uint32_t id);
    bool empty() const { return nodes_.size() == 1; }
    // Non-overlapping leftmost-longest matches: (id, byte range).
    std::vector<std::pair<uint32_t, ByteRange>> find_all(std::string_view text) const;

   private:
    struct Node {
      std::map<unsigned char, uint32_t> children;
      std::optional<uint32_t> id;
    };
    std::vector<Node> nodes_ = std::vector<Node>(1);
    // Bytes that start a pattern: most text positions are rejected with one bit test.
    std::bitset<256> first_bytes_;
  };

  std::vector<Split> split_with_indices(NormalizedString&& text, const Matcher& matcher) const;
  void rebuild_matchers();

  TokenIds ids_;
  std::map<uint32_t, AddedToken> tokens_;
  std::set<std::string> special_;
  std::map<uint32_t, std::string> normalized_forms_;
  Matcher raw_matcher_;
  Matcher normalized_matcher_;
};

}  // namespace tessera::tokenizers
