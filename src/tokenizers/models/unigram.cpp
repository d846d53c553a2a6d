// Unigram language model: SentencePiece's Viterbi segmentation over a trie of pieces, with the
// unknown-piece penalty and fusion of consecutive unknown characters.
#include <cstdio>
#include <limits>
#include <memory>

#include "tokenizers/components.h"
#include "tokenizers/models/factories.h"
#include "tokenizers/u64_map.h"
#include "tokenizers/unicode.h"
#include "tokenizers/vocabulary.h"

namespace tessera::tokenizers {
namespace {

constexpr double kUnknownPenalty = 10.0;

// Byte trie over the pieces, answering "which pieces start here" in order of length. Its edges
// live in one flat hash table keyed by (node, byte): a 250k-piece vocabulary has ~1M nodes, and
// a map per node made building it take over a second.
class PieceTrie {
 public:
  explicit PieceTrie(std::size_t expected_nodes = 0) : edges_(expected_nodes) {}

  // A piece inserted twice keeps the last id.
  void insert(std::string_view piece, uint32_t id) {
    uint32_t node = 0;
    for (unsigned char byte : piece) {
      const uint64_t key = edge_key(node, byte);
      if (const uint32_t* child = edges_.find(key)) {
        node = *child;
        continue;
      }
      const auto child = static_cast<uint32_t>(piece_of_node_.size());
      piece_of_node_.push_back(kNoPiece);
      edges_.insert(key, child);
      node = child;
    }
    piece_of_node_[node] = id;
  }

  // Calls visit(length, id) for every piece that is a prefix of `text`, shortest first.
  template <typename Visit>
  void prefixes(std::string_view text, Visit visit) const {
    uint32_t node = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
      const uint32_t* child = edges_.find(edge_key(node, static_cast<unsigned char>(text[i])));
      if (!child) return;
      node = *child;
      if (piece_of_node_[node] != kNoPiece) visit(i + 1, piece_of_node_[node]);
    }
  }

 private:
  static constexpr uint32_t kNoPiece = UINT32_MAX;
  static uint64_t edge_key(uint32_t node, unsigned char byte) {
    return (uint64_t{node} << 8) | byte;
  }

  U64Map<uint32_t> edges_;
  std::vector<uint32_t> piece_of_node_ = std::vector<uint32_t>(1, kNoPiece);
};

std::vector<TokenId> pieces_with_ids(std::span<const ScoredPiece> pieces) {
  std::vector<TokenId> entries;
  entries.reserve(pieces.size());
  for (const ScoredPiece& piece : pieces) {
    entries.push_back(TokenId{piece.piece, static_cast<uint32_t>(entries.size())});
  }
  return entries;
}

class Unigram final : public Model {
 public:
  Unigram(const Json& json, const ModelSections& sections)
      : Unigram(json, require_scored_pieces(sections)) {}

  Unigram(const Json& json, std::span<const ScoredPiece> vocab)
      : ids_(pieces_with_ids(vocab)), trie_(vocab.size() * 4) {
    std::size_t bytes = 0;
    for (const ScoredPiece& entry : vocab) bytes += entry.piece.size();
    piece_bytes_.reserve(bytes);
    pieces_.reserve(vocab.size());
    double min_score = std::numeric_limits<double>::infinity();
    for (const ScoredPiece& entry : vocab) {
      trie_.insert(entry.piece, static_cast<uint32_t>(pieces_.size()));
      pieces_.push_back(Piece{piece_bytes_.size(), entry.piece.size(), entry.score});
      piece_bytes_.append(entry.piece);
      min_score = std::min(min_score, entry.score);
    }
    unknown_score_ = min_score - kUnknownPenalty;
    if (json.contains("unk_id") && !json["unk_id"].is_null()) {
      unk_id_ = json["unk_id"].get<uint32_t>();
      if (pieces_.empty()) fail_config("Unigram vocabulary is empty");
      if (*unk_id_ >= pieces_.size()) fail_config("Unigram unk_id is not in the vocabulary");
    }
    byte_fallback_ = optional_bool(json, "byte_fallback", false);
  }

  std::vector<Token> tokenize(std::string_view text) const override {
    std::vector<Token> tokens;
    std::size_t offset = 0;
    for (const std::string& piece : segment(text)) {
      const std::size_t length = piece.size();
      const ByteRange range{offset, offset + length};
      offset += length;
      if (auto id = ids_.find(piece)) {
        tokens.push_back(Token{*id, piece, range});
        continue;
      }
      if (byte_fallback_ && add_byte_tokens(piece, range, tokens)) continue;
      if (!unk_id_) fail("tokenizer", "Unigram model has no unk_id for an unknown piece");
      tokens.push_back(Token{*unk_id_, piece, range});
    }
    return tokens;
  }

  std::optional<uint32_t> token_to_id(std::string_view token) const override {
    return ids_.find(token);
  }
  std::optional<std::string> id_to_token(uint32_t id) const override {
    if (id >= pieces_.size()) return std::nullopt;
    return std::string(text_of(pieces_[id]));
  }
  std::size_t vocab_size() const override { return pieces_.size(); }

 private:
  struct Piece {
    std::size_t offset;  // into piece_bytes_
    std::size_t length;
    double score;
  };
  std::string_view text_of(const Piece& piece) const {
    return std::string_view(piece_bytes_).substr(piece.offset, piece.length);
  }

  // The best segmentation's pieces, consecutive unknown pieces fused into one string.
  std::vector<std::string> segment(std::string_view text) const {
    if (text.empty()) return {};
    struct BestPath {
      uint32_t id = 0;
      double score = 0.0;
      std::optional<std::size_t> starts_at;
    };
    std::vector<BestPath> best(text.size() + 1);
    for (std::size_t start = 0; start < text.size();) {
      const double score_here = best[start].score;
      const std::size_t char_length = utf8_length(static_cast<unsigned char>(text[start]));
      bool has_single_char_piece = false;
      trie_.prefixes(text.substr(start), [&](std::size_t length, uint32_t id) {
        BestPath& target = best[start + length];
        const double candidate = pieces_[id].score + score_here;
        if (!target.starts_at || candidate > target.score) {
          target = BestPath{id, candidate, start};
        }
        if (length == char_length) has_single_char_piece = true;
      });
      if (!has_single_char_piece) {
        BestPath& target = best[start + char_length];
        const double candidate = unknown_score_ + score_here;
        if (!target.starts_at || candidate > target.score) {
          if (!unk_id_) fail("tokenizer", "Unigram model has no unk_id for an unknown character");
          target = BestPath{*unk_id_, candidate, start};
        }
      }
      start += char_length;
    }
    std::vector<std::string> reversed;
    std::vector<std::string_view> unknown_parts;
    auto flush_unknown = [&] {
      if (unknown_parts.empty()) return;
      std::string fused;
      for (auto it = unknown_parts.rbegin(); it != unknown_parts.rend(); ++it) fused.append(*it);
      reversed.push_back(std::move(fused));
      unknown_parts.clear();
    };
    for (std::size_t end = text.size(); end > 0;) {
      const BestPath& node = best[end];
      const std::size_t start = *node.starts_at;
      const std::string_view piece = text.substr(start, end - start);
      if (unk_id_ && node.id == *unk_id_) {
        unknown_parts.push_back(piece);
      } else {
        flush_unknown();
        reversed.emplace_back(piece);
      }
      end = start;
    }
    flush_unknown();
    return {reversed.rbegin(), reversed.rend()};
  }

  bool add_byte_tokens(const std::string& piece, ByteRange range,
                       std::vector<Token>& tokens) const {
    std::vector<Token> bytes;
    char name[8];
    for (unsigned char byte : piece) {
      std::snprintf(name, sizeof(name), "<0x%02X>", byte);
      const auto id = ids_.find(name);
      if (!id) return false;
      bytes.push_back(Token{*id, name, range});
    }
    tokens.insert(tokens.end(), bytes.begin(), bytes.end());
    return true;
  }

  Vocabulary ids_;
  PieceTrie trie_;
  std::string piece_bytes_;  // every piece, one after the other
  std::vector<Piece> pieces_;
  double unknown_score_ = 0.0;
  std::optional<uint32_t> unk_id_;
  bool byte_fallback_ = false;
};

}  // namespace

std::unique_ptr<Model> make_unigram(const Json& json, const ModelSections& sections) {
  return std::make_unique<Unigram>(json, sections);
}

}  // namespace tessera::tokenizers
