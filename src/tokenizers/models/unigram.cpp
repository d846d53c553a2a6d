// Unigram language model: SentencePiece's Viterbi segmentation over a trie of pieces, with the
// unknown-piece penalty and fusion of consecutive unknown characters.
#include <array>
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

// Trie over the pieces' characters, answering "which pieces start here" in order of length.
// Its edges live in one flat hash table keyed by (node, the character's UTF-8 bytes): a map per
// node made building it take over a second for a 250k-piece vocabulary. Edges per character
// rather than per byte: half the nodes and steps for non-Latin scripts (1.8M -> 0.94M nodes for
// the XLM-R-size benchmark vocabulary), and pieces and texts are valid UTF-8, so a piece always
// ends on a character boundary.
class PieceTrie {
 public:
  PieceTrie() = default;

  // Builds the trie of `pieces`; a piece listed twice keeps its last index. Each step of an
  // insertion is a lookup at a random place of a table far larger than the caches, and depends
  // on the step before: kInFlight insertions advance in turn, each prefetching its next edge,
  // so that their cache misses overlap.
  explicit PieceTrie(std::span<const ScoredPiece> pieces) {
    std::size_t bytes = 0;
    for (const ScoredPiece& piece : pieces) bytes += piece.piece.size();
    // Sized for a node per three bytes of the pieces (0.29 for the benchmark vocabulary above);
    // the table grows if there are more. A node per byte at most.
    edges_ = U64Map<uint32_t>(bytes / 3);
    piece_of_node_.reserve(bytes + 1);
    piece_of_node_.push_back(kNoPiece);

    struct Insertion {
      uint32_t piece = kNoPiece;
      uint32_t node = 0;
      std::size_t pos = 0;  // bytes of the piece already in the trie
    };
    constexpr std::size_t kInFlight = 8;
    std::array<Insertion, kInFlight> insertions;
    std::size_t next_piece = 0;
    auto finish = [&](const Insertion& insertion) {
      uint32_t& owner = piece_of_node_[insertion.node];
      // Insertions finish out of order: of a repeated piece, keep the greatest index.
      if (owner == kNoPiece || owner < insertion.piece) owner = insertion.piece;
    };
    // Starts the next piece in `insertion`; false when there is none left.
    auto start = [&](Insertion& insertion) {
      while (next_piece < pieces.size()) {
        insertion = Insertion{static_cast<uint32_t>(next_piece++), 0, 0};
        if (!pieces[insertion.piece].piece.empty()) {
          edges_.prefetch(edge_key(0, pieces[insertion.piece].piece));
          return true;
        }
        finish(insertion);  // the empty piece: the root, which no search visits
      }
      insertion.piece = kNoPiece;
      return false;
    };
    std::size_t active = 0;
    for (Insertion& insertion : insertions) active += start(insertion) ? 1 : 0;
    while (active > 0) {
      for (Insertion& insertion : insertions) {
        if (insertion.piece == kNoPiece) continue;
        const std::string_view rest = pieces[insertion.piece].piece.substr(insertion.pos);
        const uint64_t key = edge_key(insertion.node, rest);
        if (const uint32_t* child = edges_.find(key)) {
          insertion.node = *child;
        } else {
          insertion.node = static_cast<uint32_t>(piece_of_node_.size());
          piece_of_node_.push_back(kNoPiece);
          edges_.insert(key, insertion.node);
        }
        insertion.pos += character_length(rest);
        if (insertion.pos < pieces[insertion.piece].piece.size()) {
          edges_.prefetch(edge_key(insertion.node, rest.substr(character_length(rest))));
          continue;
        }
        finish(insertion);
        if (!start(insertion)) --active;
      }
    }
  }

  // Calls visit(length, id) for every piece that is a prefix of `text`, shortest first.
  template <typename Visit>
  void prefixes(std::string_view text, Visit visit) const {
    uint32_t node = 0;
    for (std::size_t pos = 0; pos < text.size();) {
      const std::string_view rest = text.substr(pos);
      const uint32_t* child = edges_.find(edge_key(node, rest));
      if (!child) return;
      node = *child;
      pos += character_length(rest);
      if (piece_of_node_[node] != kNoPiece) visit(pos, piece_of_node_[node]);
    }
  }

 private:
  static constexpr uint32_t kNoPiece = UINT32_MAX;

  static std::size_t character_length(std::string_view text) {
    return std::min(utf8_length(static_cast<unsigned char>(text[0])), text.size());
  }
  // (node, the bytes of the first character of `text`, zero-padded): UTF-8 is prefix-free, so
  // distinct characters give distinct keys. Never the empty key (0xFF is no UTF-8 byte).
  static uint64_t edge_key(uint32_t node, std::string_view text) {
    uint64_t character = 0;
    const std::size_t length = character_length(text);
    for (std::size_t i = 0; i < length; ++i) {
      character |= uint64_t{static_cast<unsigned char>(text[i])} << (8 * i);
    }
    return uint64_t{node} << 32 | character;
  }

  U64Map<uint32_t> edges_;
  std::vector<uint32_t> piece_of_node_;
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
      : ids_(pieces_with_ids(vocab)), trie_(vocab) {
    std::size_t bytes = 0;
    for (const ScoredPiece& entry : vocab) bytes += entry.piece.size();
    piece_bytes_.reserve(bytes);
    pieces_.reserve(vocab.size());
    double min_score = std::numeric_limits<double>::infinity();
    for (const ScoredPiece& entry : vocab) {
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
